// Collectives over MPI on every dtype and layout, checked against the values each rank can
// compute for all ranks; errors name the collective, the rank and MPI's message.
#include <catch2/catch.hpp>

#include "ember.hpp"

using namespace ember;

namespace {

// Rank r's input for element i: distinct per rank and element, exact in every dtype.
double value(int r, int64_t i) { return (r + 1) * 10.0 + static_cast<double>(i % 7) - 3 * r; }

Tensor rank_tensor(int r, const Dims& sizes, DType d) {
  Tensor t = empty(sizes, kFloat64);
  double* p = t.data_ptr<double>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = value(r, i);
  return t.to(d);
}

// The elements of t (any layout) in row-major order.
std::vector<double> flat(const Tensor& t) {
  return t.contiguous().to(kFloat64).to_vector<double>();
}

}  // namespace

TEST_CASE("all_reduce sums, averages, takes max and min on every dtype and layout", "[mpi]") {
  const int r = distributed::rank(), n = distributed::world_size();
  const Dims sizes{3, 5};
  for (DType d : {kFloat32, kFloat64, kInt64}) {
    for (auto op : {distributed::ReduceOp::sum, distributed::ReduceOp::mean,
                    distributed::ReduceOp::max, distributed::ReduceOp::min}) {
      if (op == distributed::ReduceOp::mean && d == kInt64) continue;
      std::vector<double> want(15);
      for (int64_t i = 0; i < 15; ++i) {
        double acc = value(0, i);
        for (int q = 1; q < n; ++q) {
          double v = value(q, i);
          if (op == distributed::ReduceOp::max)
            acc = std::max(acc, v);
          else if (op == distributed::ReduceOp::min)
            acc = std::min(acc, v);
          else
            acc += v;
        }
        want[static_cast<size_t>(i)] = op == distributed::ReduceOp::mean ? acc / n : acc;
      }
      INFO("dtype " << dtype_name(d) << " op " << static_cast<int>(op));
      // Contiguous: reduced in place.
      Tensor a = rank_tensor(r, sizes, d);
      uint32_t version = a.version();
      distributed::all_reduce(a, op);
      CHECK(a.version() > version);
      std::vector<double> got = flat(a);
      for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(want[i]).epsilon(1e-6));

      // A transposed view: same values in its own (row-major) order.
      Tensor view = rank_tensor(r, sizes, d).t().contiguous().t();  // [3,5] strides (1,3)
      CHECK(!view.is_contiguous());
      distributed::all_reduce(view, op);
      got = flat(view);
      for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(want[i]).epsilon(1e-6));

      // A strided slice of a larger tensor: the elements outside it are untouched.
      Tensor wide = full({3, 10}, -1.0, d);
      Tensor cols = wide.narrow(1, 0, 10).view({3, 5, 2}).select(2, 0);  // every other column
      {
        NoGradGuard g;
        cols.copy_(rank_tensor(r, sizes, d));
      }
      CHECK(!cols.is_contiguous());
      distributed::all_reduce(cols, op);
      got = flat(cols);
      for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(want[i]).epsilon(1e-6));
      std::vector<double> untouched = flat(wide.view({3, 5, 2}).select(2, 1));
      for (double v : untouched) CHECK(v == -1.0);
    }
  }
}

TEST_CASE("all_reduce of tensors of many blocks is exact on every layout, also mixed over ranks",
          "[mpi]") {
  const int r = distributed::rank(), n = distributed::world_size();
  // Values k / 4 for integers |k| <= 1000: every sum is exact in any order, so the result must
  // equal, bit for bit, the sum of all ranks' tensors (all_gather) divided once for mean.
  auto values_of = [](int rank, const Dims& sizes, DType d) {
    manual_seed(1000 + static_cast<uint64_t>(rank));
    return (randint(-1000, 1001, sizes).to(kFloat64) / 4).to(d);
  };
  // Layouts of a tensor of logical shape `sizes` holding `v`: by name, so that ranks can differ.
  auto laid_out = [](const Tensor& v, int layout) -> Tensor {
    NoGradGuard g;
    const Dims& s = v.sizes();
    switch (v.dim() < 2 && layout != 2 ? 0 : layout) {
      case 0:
        return v.clone();
      case 1: {  // transposed (the last two dims swapped in memory)
        Tensor base = v.transpose(-1, -2).contiguous();
        return base.transpose(-1, -2);
      }
      case 2: {  // every other element of the last dim of a twice-as-wide tensor
        Dims wide = s;
        wide.back() *= 2;
        Tensor w = full(wide, -7.0, v.dtype());
        Dims split = s;
        split.push_back(2);
        Tensor view = w.view(split).select(-1, 0);
        view.copy_(v);
        return view;
      }
      default: {  // dims reversed in memory
        std::vector<int64_t> rev;
        for (int64_t d = v.dim(); d-- > 0;) rev.push_back(d);
        Tensor base = v.permute(rev).contiguous();
        return base.permute(rev);
      }
    }
  };
  const std::vector<Dims> shapes = {{300000}, {333, 700}, {4100, 70}, {70, 4100}, {9, 130, 97}};
  for (const Dims& sizes : shapes) {
    for (DType d : {kFloat32, kFloat64, kInt64}) {
      for (auto op : {distributed::ReduceOp::sum, distributed::ReduceOp::mean,
                      distributed::ReduceOp::max, distributed::ReduceOp::min}) {
        if (op == distributed::ReduceOp::mean && d == kInt64) continue;
        Tensor mine = values_of(r, sizes, d);
        // The expected result from every rank's values, gathered.
        std::vector<Tensor> all = distributed::all_gather(mine);
        Tensor want = all[0].clone();
        for (int q = 1; q < n; ++q) {
          if (op == distributed::ReduceOp::max)
            want = maximum(want, all[static_cast<size_t>(q)]);
          else if (op == distributed::ReduceOp::min)
            want = minimum(want, all[static_cast<size_t>(q)]);
          else
            want = want + all[static_cast<size_t>(q)];
        }
        if (op == distributed::ReduceOp::mean) want = want / n;
        for (int layout = 0; layout < 4; ++layout) {
          for (bool mixed : {false, true}) {  // mixed: rank r uses layout + r
            const int mine_layout = mixed ? (layout + r) % 4 : layout;
            Tensor t = laid_out(mine, mine_layout);
            INFO("shape " << sizes << " dtype " << dtype_name(d) << " op " << static_cast<int>(op)
                          << " layout " << mine_layout << " mixed " << mixed);
            distributed::all_reduce(t, op);
            CHECK(equal(t, want));
            if (mine_layout == 2) {  // the other half of the wide tensor is untouched
              Tensor other = make_view(t, t.sizes(), t.strides(), t.storage_offset() + 1);
              CHECK(equal(other, full(other.sizes(), -7.0, other.dtype())));
            }
          }
        }
      }
    }
  }
}

TEST_CASE("broadcast copies the root's tensor into every rank, any layout", "[mpi]") {
  const int r = distributed::rank(), n = distributed::world_size();
  for (DType d : {kFloat32, kFloat64, kInt64}) {
    for (int root : {0, n - 1}) {
      Tensor a = rank_tensor(r, {4, 3}, d);
      distributed::broadcast(a, root);
      CHECK(flat(a) == flat(rank_tensor(root, {4, 3}, d)));
      Tensor view = rank_tensor(r, {4, 3}, d).t().contiguous().t();
      distributed::broadcast(view, root);
      CHECK(flat(view) == flat(rank_tensor(root, {4, 3}, d)));
    }
  }
}

TEST_CASE("all_gather returns every rank's tensor in rank order", "[mpi]") {
  const int r = distributed::rank(), n = distributed::world_size();
  for (DType d : {kFloat32, kFloat64, kInt64}) {
    Tensor mine = rank_tensor(r, {2, 3}, d).t();  // non-contiguous input
    std::vector<Tensor> parts = distributed::all_gather(mine);
    CHECK(parts.size() == static_cast<size_t>(n));
    for (int q = 0; q < n && q < static_cast<int>(parts.size()); ++q) {
      CHECK(parts[static_cast<size_t>(q)].sizes() == Dims{3, 2});
      CHECK(parts[static_cast<size_t>(q)].dtype() == d);
      CHECK(flat(parts[static_cast<size_t>(q)]) == flat(rank_tensor(q, {2, 3}, d).t()));
    }
  }
}

TEST_CASE("collective errors name the collective, the rank and MPI's message", "[mpi][error]") {
  const int r = distributed::rank(), n = distributed::world_size();
  Tensor t = zeros({4});
  CHECK_THROWS_WITH(distributed::broadcast(t, n),
                    Catch::Contains("distributed::broadcast failed on rank " + std::to_string(r) +
                                    " of " + std::to_string(n) + ": MPI_ERR_ROOT: invalid root"));
  CHECK_THROWS_WITH(distributed::all_reduce(zeros({2}, kBool)),
                    Catch::Contains("distributed::all_reduce: expected a float32, float64 or int64 "
                                    "tensor, got bool"));
  CHECK_THROWS_WITH(distributed::all_reduce(zeros({2}, kInt64), distributed::ReduceOp::mean),
                    Catch::Contains("distributed::all_reduce: ReduceOp::mean needs a floating "
                                    "tensor, got int64"));
  // The world is still usable afterwards.
  Tensor one = ones({1});
  distributed::all_reduce(one);
  CHECK(one.item<float>() == static_cast<float>(n));
  distributed::barrier();
}
