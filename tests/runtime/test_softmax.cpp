// softmax and log_softmax against double-precision references along every dim of seeded random
// shapes, on contiguous, strided and permuted inputs.
#include <cmath>
#include <limits>
#include <random>
#include <sstream>

#include "support/reference.hpp"

using namespace ember;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Reference softmax and log_softmax of t along dim (wrapped), in row-major order.
struct Ref {
  std::vector<double> soft, logsoft;
};
Ref reference(const Tensor& t, int64_t dim) {
  std::vector<double> v = test::values(t);
  const Dims& sizes = t.sizes();
  Ref r{std::vector<double>(v.size()), std::vector<double>(v.size())};
  if (t.dim() == 0) {
    r.soft = {1.0};
    r.logsoft = {0.0};
    return r;
  }
  // Each line along dim is identified by its first element's multi-index.
  int64_t n = sizes[dim];
  for (int64_t i = 0; i < int64_t(v.size()); ++i) {
    std::vector<int64_t> idx = test::unravel(i, sizes);
    if (idx[dim] != 0) continue;
    std::vector<int64_t> line(n);
    double m = -kInf;
    for (int64_t k = 0; k < n; ++k) {
      idx[dim] = k;
      line[k] = test::ravel(idx, sizes);
      m = std::max(m, v[line[k]]);
    }
    double s = 0;
    for (int64_t k = 0; k < n; ++k) s += std::exp(v[line[k]] - m);
    for (int64_t k = 0; k < n; ++k) {
      r.soft[line[k]] = std::exp(v[line[k]] - m) / s;
      r.logsoft[line[k]] = v[line[k]] - m - std::log(s);
    }
  }
  return r;
}

// Sums of the values of t along dim (t contiguous in logical order via values()).
std::vector<double> line_sums(const Tensor& t, int64_t dim) {
  std::vector<double> v = test::values(t), sums;
  for (int64_t i = 0; i < int64_t(v.size()); ++i) {
    std::vector<int64_t> idx = test::unravel(i, t.sizes());
    if (idx[dim] != 0) continue;
    double s = 0;
    for (int64_t k = 0; k < t.size(dim); ++k) {
      idx[dim] = k;
      s += v[test::ravel(idx, t.sizes())];
    }
    sums.push_back(s);
  }
  return sums;
}

Tensor permuted_randn(const Dims& sizes, uint64_t seed, DType dt) {
  Dims rev, perm;
  for (int64_t i = int64_t(sizes.size()) - 1; i >= 0; --i) {
    rev.push_back(sizes[i]);
    perm.push_back(i);
  }
  return test::seeded_randn(rev, seed, dt).permute(perm);
}

void check_softmax(const Tensor& a, int64_t dim, const std::string& ctx) {
  double tol = a.dtype() == kFloat64 ? 1e-12 : 2e-6;
  int64_t d = a.dim() == 0 ? 0 : (dim < 0 ? dim + a.dim() : dim);
  Ref ref = reference(a, d);
  std::ostringstream what;
  what << ctx << " dim " << dim;
  Tensor s = softmax(a, dim), ls = log_softmax(a, dim);
  DType want = is_floating(a.dtype()) ? a.dtype() : kFloat32;
  INFO(what.str());
  REQUIRE(s.dtype() == want);
  REQUIRE(ls.dtype() == want);
  test::require_close(s, a.sizes(), ref.soft, "softmax " + what.str(), tol, tol);
  test::require_close(ls, a.sizes(), ref.logsoft, "log_softmax " + what.str(), tol, tol);
  if (a.dim() > 0 && a.numel() > 0) {
    std::vector<double> sums = line_sums(s, d);
    test::require_close(tensor(sums), {int64_t(sums.size())}, std::vector<double>(sums.size(), 1),
                        "softmax lines sum to 1 " + what.str(), tol, tol);
  }
  // log_softmax is the log of softmax (where softmax does not underflow).
  std::vector<double> sv = test::values(s), lv = test::values(ls);
  for (size_t i = 0; i < sv.size(); ++i) {
    if (sv[i] < 1e-30) continue;
    INFO("element " << i);
    REQUIRE(std::abs(std::log(sv[i]) - lv[i]) <= 10 * tol * std::max(1.0, std::abs(lv[i])));
  }
}

}  // namespace

TEST_CASE("softmax and log_softmax match the reference along every dim", "[reduce][softmax]") {
  std::mt19937 rng(99);
  std::vector<Dims> shapes = {{}, {1}, {5}, {0, 3}, {2, 0}};
  for (int nd = 1; nd <= 4; ++nd)
    for (int rep = 0; rep < 2; ++rep) {
      Dims s;
      for (int i = 0; i < nd; ++i) s.push_back(1 + rng() % (nd <= 2 ? 9 : 5));
      shapes.push_back(s);
    }
  uint64_t seed = 0;
  for (const Dims& shape : shapes) {
    int64_t nd = int64_t(shape.size());
    for (DType dt : {kFloat32, kFloat64}) {
      for (int layout = 0; layout < 3; ++layout) {
        ++seed;
        Tensor a = layout == 2 && nd >= 2 ? permuted_randn(shape, seed, dt)
                                          : test::seeded_randn(shape, seed, dt) * 3;
        if (layout == 1) a = test::noncontiguous(a);
        std::ostringstream ctx;
        ctx << dtype_name(dt) << " " << shape << " layout " << layout << " seed " << seed;
        for (int64_t d = -std::max<int64_t>(nd, 1); d < std::max<int64_t>(nd, 1); ++d)
          check_softmax(a, d, ctx.str());
      }
    }
  }
}

TEST_CASE("softmax over long rows and wide column tiles", "[reduce][softmax]") {
  // Last dim (row path), first dim with 3 columns, and a middle dim with two column tiles.
  check_softmax(test::seeded_randn({3, 5000}, 1) * 4, -1, "[3, 5000]");
  check_softmax(test::seeded_randn({3000, 3}, 2) * 4, 0, "[3000, 3]");
  check_softmax(test::seeded_randn({3, 100, 260}, 3, kFloat64) * 4, 1, "[3, 100, 260]");
  check_softmax(test::seeded_randn({300, 40}, 4).t(), 1, "transposed [40, 300]");
}

TEST_CASE("softmax and log_softmax backward match a double reference", "[reduce][softmax]") {
  // Along the last dim (rows), a middle and a first dim (column tiles, two of them for 300
  // columns), on contiguous and non-contiguous inputs, through the fused kernel (plain backward)
  // and the composed ops (create_graph).
  struct Case {
    Dims shape;
    int64_t dim;
  };
  const std::vector<Case> cases = {{{16, 4, 130}, -1}, {{3, 4, 5}, 1}, {{6, 300}, 0},
                                   {{2, 5, 7}, 0},     {{9}, 0},       {{3, 0}, 1}};
  uint64_t seed = 500;
  for (const Case& c : cases)
    for (DType dt : {kFloat32, kFloat64})
      for (bool log : {false, true})
        for (bool create_graph : {false, true}) {
          ++seed;
          Tensor x = test::seeded_randn(c.shape, seed, dt) * 3;
          if (seed % 2) x = test::noncontiguous(x);
          x.requires_grad_();
          Tensor g = test::seeded_randn(c.shape, seed + 1, dt);
          Tensor y = log ? log_softmax(x, c.dim) : softmax(x, c.dim);
          y.backward(g, false, create_graph);
          // dx = y (g - sum(g y)) for softmax, g - softmax sum(g) for log_softmax, per line.
          const int64_t d = c.dim < 0 ? c.dim + x.dim() : c.dim;
          Ref r = reference(x, d);
          std::vector<double> gv = test::values(g), want(gv.size());
          for (int64_t i = 0; i < int64_t(gv.size()); ++i) {
            std::vector<int64_t> idx = test::unravel(i, c.shape);
            double s = 0;
            for (int64_t k = 0; k < c.shape[d]; ++k) {
              idx[d] = k;
              int64_t j = test::ravel(idx, c.shape);
              s += log ? gv[j] : gv[j] * r.soft[j];
            }
            want[i] = log ? gv[i] - r.soft[i] * s : r.soft[i] * (gv[i] - s);
          }
          std::ostringstream what;
          what << (log ? "log_softmax" : "softmax") << " backward " << c.shape << " dim " << c.dim
               << " " << dtype_name(dt) << (create_graph ? " create_graph" : "") << " seed "
               << seed;
          const double tol = dt == kFloat64 ? 1e-12 : 1e-5;
          test::require_close(x.grad(), c.shape, want, what.str(), tol, tol);
        }
}

TEST_CASE("softmax is stable and handles edge values like PyTorch", "[reduce][softmax]") {
  test::require_close(softmax(tensor({1000.0, 1001.0, 1002.0}), 0), {3},
                      {0.09003057317038046, 0.24472847105479767, 0.6652409557748219}, "large");
  test::require_close(log_softmax(tensor({-1000.0, 0.0}), 0), {2}, {-1000.0, 0.0}, "log, far");
  test::require_close(softmax(tensor({-kInf, 0.0}), 0), {2}, {0.0, 1.0}, "one -inf");
  double nan = std::numeric_limits<double>::quiet_NaN();
  test::require_close(softmax(tensor({-kInf, -kInf}), 0), {2}, {nan, nan}, "all -inf");
  test::require_close(log_softmax(tensor({1.0, nan}), 0), {2}, {nan, nan}, "nan row");
  test::require_close(softmax(scalar_tensor(2.0), 0), {}, {1.0}, "0-d");
  test::require_close(log_softmax(scalar_tensor(2.0), -1), {}, {0.0}, "0-d log");
  CHECK(softmax(zeros({0, 3}), 1).sizes() == Dims{0, 3});
  CHECK(log_softmax(zeros({2, 0}), 1).sizes() == Dims{2, 0});
  // float32 rows long enough for the vectorised max (128, as attention's): a NaN or +inf inside
  // makes the row NaN, a masked (-inf) half gives zeros there and a softmax over the rest.
  for (DType dt : {kFloat32, kFloat64}) {
    INFO(dtype_name(dt));
    Tensor x = test::seeded_randn({3, 128}, 7, dt);
    x[0][70].fill_(nan);
    x[1][5].fill_(kInf);
    x.select(0, 2).narrow(0, 64, 64).fill_(-kInf);
    std::vector<double> y = test::values(softmax(x, -1)), ly = test::values(log_softmax(x, -1));
    for (int64_t j = 0; j < 128; ++j) {
      CHECK(std::isnan(y[j]));
      CHECK(std::isnan(y[128 + j]));
      CHECK(std::isnan(ly[j]));
      CHECK(std::isnan(ly[128 + j]));
    }
    std::vector<double> half = test::values(softmax(x.select(0, 2).narrow(0, 0, 64), 0));
    for (int64_t j = 0; j < 64; ++j) {
      CHECK(y[256 + j] == Approx(half[j]).epsilon(1e-6));
      CHECK(y[256 + 64 + j] == 0.0);
      CHECK(ly[256 + 64 + j] == -kInf);
    }
  }
  // Integer inputs compute in the default floating dtype.
  Tensor i = tensor({1, 2, 3}).to(kInt64);
  check_softmax(i, 0, "int64");
  CHECK(i.softmax(0).dtype() == kFloat32);
}

TEST_CASE("softmax errors name the dim", "[reduce][softmax][error]") {
  Tensor a = zeros({2, 3});
  CHECK_THROWS_AS(softmax(a, 2), IndexError);
  CHECK_THROWS_WITH(softmax(a, 2), Catch::Contains("softmax") &&
                                       Catch::Contains("expected to be in range of [-2, 1], "
                                                       "but got 2"));
  CHECK_THROWS_WITH(log_softmax(a, -3),
                    Catch::Contains("log_softmax") && Catch::Contains("but got -3"));
  CHECK_THROWS_WITH(softmax(Tensor(), 0), Catch::Contains("undefined"));
}
