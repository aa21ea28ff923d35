// Gathers and joins (runtime/ops/movement.cpp): cat, stack, split, chunk, unbind, index_select,
// gather against plain double references on seeded random shapes, dims and layouts.
#include <random>
#include <sstream>

#include "runtime/shape.hpp"
#include "support/reference.hpp"

using namespace ember;

namespace {

const DType kDTypes[] = {kFloat32, kFloat64, kInt64, kBool};

// Seeded values of any dtype (ints in about [-30, 30], bools about half true).
Tensor random_tensor(const Dims& sizes, uint64_t seed, DType d) {
  Tensor x = test::seeded_randn(sizes, seed, kFloat64);
  if (d == kInt64) return (x * 10).to(kInt64);
  if (d == kBool) return x > 0;
  return x.to(d);
}

// The same values as t in one of three layouts: contiguous, strided last dim, or transposed
// storage (dims 0 and last swapped in memory).
Tensor layout(const Tensor& t, int which) {
  if (which == 1) return test::noncontiguous(t);
  if (which == 2 && t.dim() >= 2) return t.transpose(0, -1).contiguous().transpose(0, -1);
  return t;
}

Dims random_sizes(std::mt19937& rng, int min_dim, int max_dim, int min_size, int max_size) {
  int nd = std::uniform_int_distribution<int>(min_dim, max_dim)(rng);
  Dims s;
  for (int i = 0; i < nd; ++i)
    s.push_back(std::uniform_int_distribution<int>(min_size, max_size)(rng));
  return s;
}

int64_t pick(std::mt19937& rng, int64_t lo, int64_t hi) {
  return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
}

bool skipped(const Tensor& t) { return t.dim() == 1 && t.size(0) == 0; }

// out[idx] = the input whose slot along `dim` holds idx[dim], at idx[dim] minus the slot start.
std::vector<double> cat_reference(const std::vector<Tensor>& ts, int64_t dim, const Dims& sizes) {
  std::vector<double> out;
  for (int64_t i = 0; i < product(sizes); ++i) {
    std::vector<int64_t> idx = test::unravel(i, sizes);
    for (const Tensor& t : ts) {
      if (skipped(t)) continue;
      if (idx[dim] < t.size(dim)) {
        out.push_back(test::at(t, idx));
        break;
      }
      idx[dim] -= t.size(dim);
    }
  }
  return out;
}

}  // namespace

TEST_CASE("cat matches a reference on random shapes, dims, dtypes and layouts", "[movement]") {
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 40; ++trial) {
    Dims base = random_sizes(rng, 1, 4, 1, 4);
    int64_t nd = static_cast<int64_t>(base.size());
    int64_t dim = pick(rng, -nd, nd - 1), w = dim < 0 ? dim + nd : dim;
    int count = static_cast<int>(pick(rng, 1, 4));
    std::vector<Tensor> ts;
    std::ostringstream desc;
    for (int k = 0; k < count; ++k) {
      Dims s = base;
      s[w] = pick(rng, 0, 3);
      // Mostly one dtype per trial; every fifth trial mixes them.
      DType d = kDTypes[trial % 5 == 4 ? pick(rng, 0, 3) : trial % 4];
      int lay = static_cast<int>(pick(rng, 0, 2));
      ts.push_back(layout(random_tensor(s, 100 * trial + k, d), lay));
      desc << " " << s << dtype_name(d) << "/layout" << lay;
    }
    INFO("trial " << trial << " dim " << dim << " inputs" << desc.str());
    Tensor out = cat(ts, dim);
    Dims sizes = base;
    sizes[w] = 0;
    for (const Tensor& t : ts) sizes[w] += t.size(w);
    CHECK(out.dtype() == result_type(std::span<const Tensor>(ts)));
    CHECK(out.is_contiguous());
    test::require_close(out, sizes, cat_reference(ts, w, sizes), "cat", 0, 0);
  }
}

TEST_CASE("cat promotes dtypes as torch.cat", "[movement]") {
  Tensor i = tensor(std::vector<int64_t>{1, -2});
  Tensor f = tensor(std::vector<float>{0.5f});
  Tensor d = tensor(std::vector<double>{0.25});
  Tensor b = tensor(std::vector<int64_t>{0, 3}).to(kBool);
  Tensor c = cat({i, f});
  CHECK(c.dtype() == kFloat32);
  test::require_close(c, {3}, {1, -2, 0.5}, "int64 + float32", 0, 0);
  c = cat({b, i});
  CHECK(c.dtype() == kInt64);
  test::require_close(c, {4}, {0, 1, 1, -2}, "bool + int64", 0, 0);
  CHECK(cat({b, b}).dtype() == kBool);
  c = cat({f, d, i});
  CHECK(c.dtype() == kFloat64);
  test::require_close(c, {4}, {0.5, 0.25, 1, -2}, "float32 + float64 + int64", 0, 0);
  // A skipped [0] tensor still takes part in the promotion.
  c = cat({zeros({0}, kFloat64), f});
  CHECK(c.dtype() == kFloat64);
  test::require_close(c, {1}, {0.5}, "skipped float64 + float32", 0, 0);
}

TEST_CASE("cat skips 1-d tensors of shape [0] (PyTorch's legacy rule)", "[movement]") {
  Tensor a = test::seeded_randn({2, 3}, 7);
  std::vector<double> av = test::values(a);
  test::require_close(cat({zeros({0}), a}, 1), {2, 3}, av, "[0] first", 0, 0);
  test::require_close(cat({a, zeros({0}), a}, -1), {2, 6}, cat_reference({a, a}, 1, {2, 6}),
                      "[0] in the middle", 0, 0);
  CHECK(cat({zeros({0}), zeros({0})}).sizes() == Dims{0});
  CHECK(cat({zeros({0})}, 5).sizes() == Dims{0});  // nothing left to wrap the dim against
  CHECK(cat({zeros({0}, kInt64)}).dtype() == kInt64);
  // Other zero-size tensors are checked and concatenated normally.
  CHECK(cat({zeros({0, 3}), a}).sizes() == Dims{2, 3});
  CHECK(cat({zeros({2, 0}), zeros({2, 0})}, 1).sizes() == Dims{2, 0});
  CHECK_THROWS_WITH(cat({a, zeros({0, 1})}), Catch::Contains("Expected size 3 but got size 1"));
  // A single input is copied, not aliased.
  Tensor one = cat({a});
  CHECK(one.storage() != a.storage());
  test::require_close(one, {2, 3}, av, "cat of one", 0, 0);
}

TEST_CASE("cat errors name the tensor, the dim and the sizes", "[movement][error]") {
  Tensor a = zeros({2, 3}), b = zeros({2, 4});
  CHECK_THROWS_AS(cat({a, b}), ShapeError);
  CHECK_THROWS_WITH(cat({a, b}),
                    Catch::Contains("cat: sizes of tensors must match except in dimension 0. "
                                    "Expected size 3 but got size 4 for tensor number 1 in the "
                                    "list at dimension 1 (shapes [2, 3] and [2, 4])"));
  CHECK_THROWS_WITH(cat({a, a, zeros({3, 3})}, -1),
                    Catch::Contains("except in dimension 1. Expected size 2 but got size 3 for "
                                    "tensor number 2"));
  CHECK_THROWS_WITH(
      cat({a, zeros({2, 3, 1})}),
      Catch::Contains("cat: tensors must have same number of dimensions: got 2 and 3"));
  CHECK_THROWS_WITH(cat({}), Catch::Contains("cat: expected a non-empty list of Tensors"));
  CHECK_THROWS_WITH(cat({a, scalar_tensor(1.0)}),
                    Catch::Contains("cat: zero-dimensional tensor (at position 1) cannot be "
                                    "concatenated"));
  CHECK_THROWS_AS(cat({a, a}, 2), IndexError);
  CHECK_THROWS_WITH(cat({a, a}, -3), Catch::Contains("cat: dimension out of range (expected to "
                                                     "be in range of [-2, 1], but got -3)"));
  CHECK_THROWS_WITH(cat({a, Tensor()}),
                    Catch::Contains("tensor number 1 in the list is undefined"));
}

TEST_CASE("cat of larger tensors through the block-copy paths", "[movement]") {
  // Sizes big enough for the parallel paths: one long block per input (dim 0) and many rows
  // (dim 1), with a converting and a strided input in the mix.
  Tensor a = test::seeded_randn({300, 400}, 1);
  Tensor b = test::seeded_randn({100, 400}, 2);
  Tensor c = test::seeded_randn({400, 300}, 3);
  Tensor d = test::noncontiguous(test::seeded_randn({400, 50}, 4));
  Tensor e = test::seeded_randn({400, 30}, 5, kFloat64).to(kFloat32);
  std::vector<Tensor> rows{a, b};
  Tensor r = cat(rows, 0);
  std::vector<double> expected = test::values(a), bv = test::values(b);
  expected.insert(expected.end(), bv.begin(), bv.end());
  test::require_close(r, {400, 400}, expected, "cat dim 0", 0, 0);
  std::vector<Tensor> cols{c, d, e.to(kFloat64)};
  Tensor q = cat(cols, 1);
  CHECK(q.dtype() == kFloat64);
  test::require_close(q, {400, 380}, cat_reference(cols, 1, {400, 380}), "cat dim 1", 0, 0);
  std::vector<Tensor> same{c, c.t().contiguous().t(), e};
  test::require_close(cat(same, -1), {400, 630}, cat_reference(same, 1, {400, 630}),
                      "cat dim -1 float32", 0, 0);
}

TEST_CASE("stack matches a reference and checks sizes", "[movement]") {
  std::mt19937 rng(99);
  for (int trial = 0; trial < 20; ++trial) {
    Dims s = random_sizes(rng, 0, 3, 0, 3);
    int64_t nd = static_cast<int64_t>(s.size()) + 1;
    int64_t dim = pick(rng, -nd, nd - 1), w = dim < 0 ? dim + nd : dim;
    int count = static_cast<int>(pick(rng, 1, 3));
    DType dt = kDTypes[trial % 4];
    std::vector<Tensor> ts;
    for (int k = 0; k < count; ++k)
      ts.push_back(layout(random_tensor(s, 10 * trial + k, dt), static_cast<int>(pick(rng, 0, 2))));
    INFO("trial " << trial << " sizes " << s << " dim " << dim << " count " << count);
    Dims out_sizes = s;
    out_sizes.insert(static_cast<size_t>(w), count);
    std::vector<double> expected;
    for (int64_t i = 0; i < product(out_sizes); ++i) {
      std::vector<int64_t> idx = test::unravel(i, out_sizes);
      int64_t k = idx[w];
      idx.erase(idx.begin() + w);
      expected.push_back(test::at(ts[k], idx));
    }
    Tensor out = stack(ts, dim);
    CHECK(out.dtype() == dt);
    test::require_close(out, out_sizes, expected, "stack", 0, 0);
  }
  test::require_close(stack({scalar_tensor(1.0), scalar_tensor(2.0)}), {2}, {1, 2}, "0-d", 0, 0);
  CHECK(stack({zeros({0}), zeros({0})}).sizes() == Dims{2, 0});
  CHECK(stack({zeros({0}), zeros({0})}, 1).sizes() == Dims{0, 2});
  CHECK(stack({zeros({2}, kInt64), zeros({2})}).dtype() == kFloat32);
  CHECK_THROWS_WITH(stack({zeros({2, 3}), zeros({2, 4})}),
                    Catch::Contains("stack: expects each tensor to be equal size, but got [2, 3] "
                                    "at entry 0 and [2, 4] at entry 1"));
  CHECK_THROWS_WITH(stack({}), Catch::Contains("stack: expected a non-empty list"));
  CHECK_THROWS_WITH(stack({zeros({2, 3})}, 3), Catch::Contains("expected to be in range of [-3, "
                                                               "2], but got 3"));
}

TEST_CASE("split and chunk return views with PyTorch's sizes", "[movement]") {
  auto sizes_along = [](const std::vector<Tensor>& parts, int64_t d) {
    std::vector<int64_t> s;
    for (const Tensor& p : parts) s.push_back(p.size(d));
    return s;
  };
  using V = std::vector<int64_t>;
  Tensor x = layout(test::seeded_randn({7, 5}, 3), 2);
  // Every piece is a view of x at the right offset.
  auto check_pieces = [&](const std::vector<Tensor>& parts, int64_t d) {
    int64_t start = 0;
    for (const Tensor& p : parts) {
      CHECK(p.storage() == x.storage());
      std::vector<double> expected;
      for (int64_t i = 0; i < p.numel(); ++i) {
        auto idx = test::unravel(i, p.sizes());
        idx[d] += start;
        expected.push_back(test::at(x, idx));
      }
      test::require_close(p, p.sizes(), expected, "piece", 0, 0);
      start += p.size(d);
    }
    CHECK(start == x.size(d));
  };
  auto s = x.split(3);
  CHECK(sizes_along(s, 0) == V{3, 3, 1});
  check_pieces(s, 0);
  s = split(x, 2, -1);
  CHECK(sizes_along(s, 1) == V{2, 2, 1});
  check_pieces(s, 1);
  CHECK(sizes_along(split(x, 9, 1), 1) == V{5});
  s = split(x, V{2, 0, 5}, 0);
  CHECK(sizes_along(s, 0) == V{2, 0, 5});
  check_pieces(s, 0);
  CHECK(sizes_along(split(x, V{5}, -1), 1) == V{5});
  CHECK(split(zeros({0, 3}), 2).size() == 1);
  CHECK(split(zeros({0, 3}), 0).size() == 1);

  struct ChunkCase {
    int64_t n, chunks;
    V sizes;
  };
  for (const auto& c :
       {ChunkCase{5, 4, {2, 2, 1}}, ChunkCase{6, 4, {2, 2, 2}}, ChunkCase{0, 4, {0, 0, 0, 0}},
        ChunkCase{3, 5, {1, 1, 1}}, ChunkCase{7, 1, {7}}, ChunkCase{7, 3, {3, 3, 1}}}) {
    INFO("chunk " << c.n << " into " << c.chunks);
    CHECK(sizes_along(chunk(zeros({2, c.n}), c.chunks, -1), 1) == c.sizes);
  }
  check_pieces(x.chunk(3, 1), 1);
  check_pieces(chunk(x, 2, -2), 0);

  // Writing through a piece is visible in the base.
  Tensor base = zeros({4, 2});
  split(base, 2)[1].fill_(1);
  CHECK(base.to_vector<double>() == std::vector<double>{0, 0, 0, 0, 1, 1, 1, 1});
}

TEST_CASE("split and chunk errors", "[movement][error]") {
  Tensor a = zeros({2, 3});
  using V = std::vector<int64_t>;
  CHECK_THROWS_WITH(split(a, V{1, 1}, 1),
                    Catch::Contains("split: split_sizes must sum exactly to 3 (input tensor's size "
                                    "at dimension 1), but got split_sizes=[1, 1]"));
  CHECK_THROWS_WITH(split(a, V{2, -1, 2}, 1), Catch::Contains("must be non-negative, got "
                                                              "split_sizes=[2, -1, 2]"));
  CHECK_THROWS_WITH(split(a, 0, 1), Catch::Contains("split_size can only be 0 if dimension size "
                                                    "is 0, but got dimension size of 3"));
  CHECK_THROWS_WITH(split(a, -1, 1), Catch::Contains("split_size must be non-negative, got -1"));
  CHECK_THROWS_WITH(split(scalar_tensor(1.0), 1), Catch::Contains("split: expects at least a "
                                                                  "1-dimensional tensor"));
  CHECK_THROWS_AS(split(a, 1, 2), IndexError);
  CHECK_THROWS_WITH(chunk(a, 0, 1), Catch::Contains("chunk: expects `chunks` to be greater than "
                                                    "0, got 0"));
  CHECK_THROWS_WITH(chunk(a, -1), Catch::Contains("got -1"));
  CHECK_THROWS_WITH(chunk(scalar_tensor(1.0), 1), Catch::Contains("chunk: expects at least a "
                                                                  "1-dimensional tensor"));
  CHECK_THROWS_AS(chunk(a, 2, -3), IndexError);
}

TEST_CASE("unbind returns selects along the dim", "[movement]") {
  Tensor x = layout(test::seeded_randn({3, 4, 2}, 8), 1);
  for (int64_t d : {0, 1, 2, -1, -3}) {
    int64_t w = d < 0 ? d + 3 : d;
    auto parts = unbind(x, d);
    REQUIRE(static_cast<int64_t>(parts.size()) == x.size(w));
    for (int64_t k = 0; k < x.size(w); ++k) {
      INFO("dim " << d << " part " << k);
      CHECK(parts[k].storage() == x.storage());
      std::vector<double> expected;
      for (int64_t i = 0; i < parts[k].numel(); ++i) {
        auto idx = test::unravel(i, parts[k].sizes());
        idx.insert(idx.begin() + w, k);
        expected.push_back(test::at(x, idx));
      }
      test::require_close(parts[k], parts[k].sizes(), expected, "unbind", 0, 0);
    }
  }
  CHECK(unbind(zeros({2, 0, 3}), 1).empty());
  CHECK(unbind(zeros({2})).size() == 2);
  CHECK(unbind(zeros({2}))[1].dim() == 0);
  CHECK_THROWS_WITH(unbind(scalar_tensor(1.0)), Catch::Contains("unbind: dimension specified as "
                                                                "0 but tensor has no dimensions"));
  CHECK_THROWS_AS(unbind(zeros({2}), 1), IndexError);
}

TEST_CASE("index_select matches a reference on random shapes and layouts", "[movement]") {
  std::mt19937 rng(77);
  for (int trial = 0; trial < 40; ++trial) {
    Dims s = random_sizes(rng, 1, 4, 1, 4);
    int64_t nd = static_cast<int64_t>(s.size());
    int64_t dim = pick(rng, -nd, nd - 1), w = dim < 0 ? dim + nd : dim;
    int64_t k = pick(rng, 0, 6);
    DType dt = kDTypes[trial % 4];
    int lay = static_cast<int>(pick(rng, 0, 2));
    Tensor self = layout(random_tensor(s, trial, dt), lay);
    manual_seed(500 + trial);
    Tensor index = randint(0, s[w], {2 * k}, kInt64);
    // Half the time a strided index (every other element of a longer tensor).
    index = trial % 2 ? index.slice(0, 0, 2 * k, 2) : index.narrow(0, 0, k);
    INFO("trial " << trial << " self " << s << " " << dtype_name(dt) << " layout " << lay << " dim "
                  << dim << " index " << Dims(index.to_vector<int64_t>()));
    Dims out_sizes = s;
    out_sizes[w] = k;
    std::vector<double> expected;
    for (int64_t i = 0; i < product(out_sizes); ++i) {
      std::vector<int64_t> idx = test::unravel(i, out_sizes);
      idx[w] = static_cast<int64_t>(test::at(index, {idx[w]}));
      expected.push_back(test::at(self, idx));
    }
    Tensor out = self.index_select(dim, index);
    CHECK(out.dtype() == dt);
    test::require_close(out, out_sizes, expected, "index_select", 0, 0);
  }
}

TEST_CASE("index_select edge cases and errors", "[movement]") {
  Tensor a = tensor({{1, 2, 3}, {4, 5, 6}});
  // A 0-d index keeps the dim with size 1, as PyTorch.
  test::require_close(index_select(a, 1, scalar_tensor(2, kInt64)), {2, 1}, {3, 6}, "0-d index");
  test::require_close(index_select(a, -2, tensor(std::vector<int64_t>{1, 1, 0})), {3, 3},
                      {4, 5, 6, 4, 5, 6, 1, 2, 3}, "repeats");
  CHECK(index_select(a, 0, zeros({0}, kInt64)).sizes() == Dims{0, 3});
  CHECK(index_select(zeros({0, 3}), 0, zeros({0}, kInt64)).sizes() == Dims{0, 3});
  CHECK(index_select(zeros({2, 0}), 0, tensor(std::vector<int64_t>{1})).sizes() == Dims{1, 0});
  Tensor s = scalar_tensor(5.0);
  Tensor r = index_select(s, 0, tensor(std::vector<int64_t>{0}));
  CHECK(r.dim() == 0);
  CHECK(r.item<double>() == 5);
  CHECK(r.storage() != s.storage());

  SECTION("errors") {
    Tensor i5 = tensor(std::vector<int64_t>{0, 5});
    CHECK_THROWS_AS(index_select(a, 1, i5), IndexError);
    CHECK_THROWS_WITH(index_select(a, 1, i5),
                      Catch::Contains("index_select: index 5 is out of range for dimension 1 "
                                      "with size 3"));
    CHECK_THROWS_WITH(index_select(a, 0, tensor(std::vector<int64_t>{-1})),
                      Catch::Contains("index -1 is out of range for dimension 0 with size 2"));
    CHECK_THROWS_WITH(index_select(zeros({0, 3}), 0, tensor(std::vector<int64_t>{0})),
                      Catch::Contains("index 0 is out of range for dimension 0 with size 0"));
    CHECK_THROWS_WITH(index_select(s, 0, tensor(std::vector<int64_t>{1})),
                      Catch::Contains("index 1 is out of range for dimension 0 with size 1"));
    CHECK_THROWS_AS(index_select(a, 0, tensor({0.0})), DTypeError);
    CHECK_THROWS_WITH(index_select(a, 0, tensor({0.0})),
                      Catch::Contains("index_select: expected dtype int64 for index, got float32"));
    CHECK_THROWS_WITH(index_select(a, 0, zeros({1, 1}, kInt64)),
                      Catch::Contains("index is supposed to be a vector, got an index of shape "
                                      "[1, 1]"));
    CHECK_THROWS_WITH(index_select(a, 2, i5), Catch::Contains("expected to be in range of [-2, "
                                                              "1], but got 2"));
  }
}

TEST_CASE("gather matches a reference on random shapes and layouts", "[movement]") {
  std::mt19937 rng(4242);
  for (int trial = 0; trial < 40; ++trial) {
    Dims s = random_sizes(rng, 1, 4, 1, 4);
    int64_t nd = static_cast<int64_t>(s.size());
    int64_t dim = pick(rng, -nd, nd - 1), w = dim < 0 ? dim + nd : dim;
    // Index no larger than self off the gather dim, any size along it.
    Dims is = s;
    for (int64_t d = 0; d < nd; ++d) is[d] = d == w ? pick(rng, 0, 5) : pick(rng, 1, s[d]);
    DType dt = kDTypes[trial % 4];
    int lay = static_cast<int>(pick(rng, 0, 2)), ilay = static_cast<int>(pick(rng, 0, 2));
    Tensor self = layout(random_tensor(s, trial, dt), lay);
    manual_seed(900 + trial);
    Tensor index = layout(randint(0, s[w], is, kInt64), ilay);
    INFO("trial " << trial << " self " << s << " " << dtype_name(dt) << " layout " << lay << " dim "
                  << dim << " index " << is << " layout " << ilay);
    std::vector<double> expected;
    for (int64_t i = 0; i < product(is); ++i) {
      std::vector<int64_t> idx = test::unravel(i, is);
      std::vector<int64_t> src = idx;
      src[w] = static_cast<int64_t>(test::at(index, idx));
      expected.push_back(test::at(self, src));
    }
    Tensor out = gather(self, dim, index);
    CHECK(out.dtype() == dt);
    test::require_close(out, is, expected, "gather", 0, 0);
  }
}

TEST_CASE("gather edge cases and errors", "[movement]") {
  Tensor a = tensor({{1, 2, 3}, {4, 5, 6}});
  using V = std::vector<int64_t>;
  test::require_close(a.gather(1, tensor(V{2, 0, 1, 1}, {2, 2})), {2, 2}, {3, 1, 5, 5}, "dim 1");
  test::require_close(a.gather(-2, tensor(V{1, 0, 1}, {1, 3})), {1, 3}, {4, 2, 6}, "dim -2");
  // 0-d and 1-d count as the same rank here, as in PyTorch.
  Tensor s = scalar_tensor(5.0);
  CHECK(gather(s, 0, tensor(V{0})).sizes() == Dims{1});
  CHECK(gather(s, 0, scalar_tensor(0, kInt64)).item<double>() == 5);
  CHECK(gather(tensor({7.0}), 0, scalar_tensor(0, kInt64)).sizes() == Dims{});
  // Empty indices skip the size check.
  CHECK(gather(a, 1, zeros({5, 0}, kInt64)).sizes() == Dims{5, 0});
  CHECK(gather(zeros({0, 3}), 1, zeros({0, 1}, kInt64)).sizes() == Dims{0, 1});

  SECTION("errors") {
    CHECK_THROWS_AS(a.gather(0, tensor(V{2}, {1, 1})), IndexError);
    CHECK_THROWS_WITH(a.gather(0, tensor(V{2}, {1, 1})),
                      Catch::Contains("gather: index 2 is out of bounds for dimension 0 with "
                                      "size 2"));
    CHECK_THROWS_WITH(a.gather(1, tensor(V{0, -1}, {1, 2})),
                      Catch::Contains("index -1 is out of bounds for dimension 1 with size 3"));
    CHECK_THROWS_WITH(gather(zeros({2, 0}), 1, zeros({2, 1}, kInt64)),
                      Catch::Contains("index 0 is out of bounds for dimension 1 with size 0"));
    CHECK_THROWS_WITH(gather(s, 0, scalar_tensor(1, kInt64)),
                      Catch::Contains("index 1 is out of bounds for dimension 0 with size 1"));
    CHECK_THROWS_AS(a.gather(1, zeros({3, 4}, kInt64)), ShapeError);
    CHECK_THROWS_WITH(a.gather(1, zeros({3, 4}, kInt64)),
                      Catch::Contains("gather: size does not match at dimension 0: expected index "
                                      "[3, 4] to be no larger than self [2, 3] apart from "
                                      "dimension 1"));
    CHECK_THROWS_WITH(a.gather(1, zeros({2}, kInt64)),
                      Catch::Contains("index tensor must have the same number of dimensions as "
                                      "input tensor"));
    CHECK_THROWS_WITH(a.gather(1, zeros({2, 1})),
                      Catch::Contains("gather: expected dtype int64 for index, got float32"));
    CHECK_THROWS_AS(a.gather(2, zeros({2, 1}, kInt64)), IndexError);
  }
}

TEST_CASE("index_select and gather on larger tensors (parallel paths)", "[movement]") {
  Tensor x = test::seeded_randn({256, 300}, 31);
  manual_seed(32);
  Tensor rows = randint(0, 256, {200}, kInt64);
  Tensor cols = randint(0, 300, {500}, kInt64);
  std::vector<double> xv = test::values(x), rv = test::values(rows), cv = test::values(cols);
  std::vector<double> expected;
  for (int64_t i = 0; i < 200; ++i)
    for (int64_t j = 0; j < 300; ++j) expected.push_back(xv[static_cast<int64_t>(rv[i]) * 300 + j]);
  test::require_close(x.index_select(0, rows), {200, 300}, expected, "index_select rows", 0, 0);
  expected.clear();
  for (int64_t i = 0; i < 256; ++i)
    for (int64_t j = 0; j < 500; ++j) expected.push_back(xv[i * 300 + static_cast<int64_t>(cv[j])]);
  test::require_close(x.index_select(1, cols), {256, 500}, expected, "index_select cols", 0, 0);

  manual_seed(33);
  Tensor gi = randint(0, 300, {256, 400}, kInt64);
  std::vector<double> gv = test::values(gi);
  expected.clear();
  for (int64_t i = 0; i < 256; ++i)
    for (int64_t j = 0; j < 400; ++j)
      expected.push_back(xv[i * 300 + static_cast<int64_t>(gv[i * 400 + j])]);
  test::require_close(x.gather(1, gi), {256, 400}, expected, "gather dim 1", 0, 0);
  Tensor xt = x.t();                     // [300, 256], gather along dim 0 with a transposed index
  Tensor gt = gi.t().narrow(0, 0, 300);  // [300, 256], strided, values in [0, 300)
  std::vector<double> gtv = test::values(gt);
  expected.clear();
  for (int64_t i = 0; i < 300; ++i)
    for (int64_t j = 0; j < 256; ++j)
      expected.push_back(xv[j * 300 + static_cast<int64_t>(gtv[i * 256 + j])]);
  test::require_close(xt.gather(0, gt), {300, 256}, expected, "gather dim 0 transposed", 0, 0);
}
