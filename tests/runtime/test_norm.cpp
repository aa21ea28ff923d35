// batch_norm, layer_norm, dropout and embedding against double-precision references written
// with plain loops, on seeded random shapes, both float dtypes and non-contiguous inputs.
#include <cmath>
#include <random>

#include "support/reference.hpp"

using namespace ember;
namespace F = ember::nn::functional;

namespace {

// The input as given, or a non-contiguous twin with the same values.
Tensor layout(const Tensor& t, bool strided) { return strided ? test::noncontiguous(t) : t; }

double tol_for(DType d) { return d == kFloat64 ? 1e-10 : 2e-5; }

std::string describe(const char* op, const Dims& shape, DType d, bool strided, uint64_t seed) {
  std::ostringstream os;
  os << op << " shape " << shape << " " << dtype_name(d) << (strided ? " strided" : "") << " seed "
     << seed;
  return os.str();
}

struct BnRef {
  std::vector<double> out, mean, invstd, running_mean, running_var;
};

// Batch norm in double with plain loops over every element.
BnRef batch_norm_ref(const Tensor& x, const std::vector<double>& w, const std::vector<double>& b,
                     std::vector<double> rm, std::vector<double> rv, bool training, double momentum,
                     double eps) {
  const Dims& s = x.sizes();
  const int64_t C = s[1], n = x.numel(), count = n / C;
  std::vector<double> xs = test::values(x);
  BnRef r;
  r.mean.assign(C, 0.0);
  std::vector<double> var(C, 0.0);
  if (training) {
    for (int64_t i = 0; i < n; ++i) r.mean[test::unravel(i, s)[1]] += xs[i];
    for (int64_t c = 0; c < C; ++c) r.mean[c] /= double(count);
    for (int64_t i = 0; i < n; ++i) {
      int64_t c = test::unravel(i, s)[1];
      var[c] += (xs[i] - r.mean[c]) * (xs[i] - r.mean[c]);
    }
    for (int64_t c = 0; c < C; ++c) {
      var[c] /= double(count);
      rm[c] = (1 - momentum) * rm[c] + momentum * r.mean[c];
      rv[c] = (1 - momentum) * rv[c] + momentum * var[c] * double(count) / double(count - 1);
    }
  } else {
    r.mean = rm;
    var = rv;
  }
  for (int64_t c = 0; c < C; ++c) r.invstd.push_back(1 / std::sqrt(var[c] + eps));
  for (int64_t i = 0; i < n; ++i) {
    int64_t c = test::unravel(i, s)[1];
    r.out.push_back((xs[i] - r.mean[c]) * r.invstd[c] * w[c] + b[c]);
  }
  r.running_mean = rm;
  r.running_var = rv;
  return r;
}

}  // namespace

TEST_CASE("batch_norm matches a double reference in training and eval", "[nn][batch_norm]") {
  std::mt19937 gen(1234);
  const std::vector<Dims> shapes = {{4, 3}, {2, 3, 5}, {3, 2, 4, 5}, {5, 1, 7}, {2, 4, 1, 1}};
  uint64_t seed = 10;
  for (const Dims& shape : shapes)
    for (DType d : {kFloat32, kFloat64})
      for (bool strided : {false, true})
        for (bool affine : {false, true})
          for (bool training : {true, false}) {
            ++seed;
            const int64_t C = shape[1];
            Tensor x = layout(test::seeded_randn(shape, seed, d) * 3 + 1, strided);
            Tensor w = affine ? test::seeded_randn({C}, seed + 1000, d) : Tensor();
            Tensor b = affine ? test::seeded_randn({C}, seed + 2000, d) : Tensor();
            Tensor rm = test::seeded_randn({C}, seed + 3000, d);
            Tensor rv = rand({C}, d) + 0.5;
            std::vector<double> wv = affine ? test::values(w) : std::vector<double>(C, 1.0);
            std::vector<double> bv = affine ? test::values(b) : std::vector<double>(C, 0.0);
            double momentum = std::uniform_real_distribution<double>(0.05, 0.9)(gen);
            BnRef ref = batch_norm_ref(x, wv, bv, test::values(rm), test::values(rv), training,
                                       momentum, 1e-5);
            NormAttrs attrs;
            attrs.training = training;
            attrs.momentum = momentum;
            TensorList outs = dispatch(Op::BatchNorm, {x, w, b, rm, rv}, attrs);
            std::string what = describe("batch_norm", shape, d, strided, seed) +
                               (training ? " training" : " eval") + (affine ? " affine" : "");
            double tol = tol_for(d);
            test::require_close(outs[0], shape, ref.out, what + " out", tol, tol);
            CHECK(outs[0].dtype() == d);
            test::require_close(outs[1], {C}, ref.mean, what + " mean", tol, tol);
            test::require_close(outs[2], {C}, ref.invstd, what + " invstd", tol, tol);
            test::require_close(rm, {C}, ref.running_mean, what + " running_mean", tol, tol);
            test::require_close(rv, {C}, ref.running_var, what + " running_var", tol, tol);
          }
}

TEST_CASE("batch_norm functional updates running stats in place", "[nn][batch_norm]") {
  Tensor x = tensor({{1, 10}, {3, 20}, {5, 60}});  // channel means 3 and 30
  Tensor rm = zeros({2}), rv = ones({2});
  uint32_t v0 = rm.version();
  Tensor y = F::batch_norm(x, rm, rv, {}, {}, {.training = true, .momentum = 0.5});
  // Biased variances 8/3 and 1400/3 normalise; the unbiased 4 and 700 enter running_var.
  test::require_close(rm, {2}, {1.5, 15}, "running_mean");
  test::require_close(rv, {2}, {0.5 + 0.5 * 4, 0.5 + 0.5 * 700}, "running_var", 1e-6);
  CHECK(rm.version() != v0);
  double inv0 = 1 / std::sqrt(8.0 / 3 + 1e-5);
  test::require_close(y.select(1, 0), {3}, {-2 * inv0, 0, 2 * inv0}, "normalised channel 0");

  // Eval mode normalises with the running statistics and leaves them alone.
  Tensor z = F::batch_norm(x, rm, rv, tensor({2, 1}), tensor({0, 1}));
  test::require_close(
      z.select(0, 0), {2},
      {2 * (1 - 1.5) / std::sqrt(2.5 + 1e-5), (10 - 15) / std::sqrt(350.5 + 1e-5) + 1}, "eval");
  test::require_close(rm, {2}, {1.5, 15}, "running_mean unchanged in eval");

  // Training without running statistics just normalises.
  Tensor u = F::batch_norm(x, {}, {}, {}, {}, {.training = true});
  test::require_close(u.select(1, 1), {3},
                      {-20 / std::sqrt(1400.0 / 3 + 1e-5), -10 / std::sqrt(1400.0 / 3 + 1e-5),
                       30 / std::sqrt(1400.0 / 3 + 1e-5)},
                      "no running stats", 1e-5);
}

TEST_CASE("batch_norm writes through strided running stats", "[nn][batch_norm]") {
  Tensor x = test::seeded_randn({6, 3, 4}, 77, kFloat64);
  Tensor buf = zeros({6}, kFloat64);
  Tensor rm = buf.slice(0, 0, 6, 2);  // every other element
  Tensor rv = ones({3}, kFloat32);    // float32 stats for a float64 input
  F::batch_norm(x, rm, rv, {}, {}, {.training = true, .momentum = 1.0});
  BnRef ref = batch_norm_ref(x, {1, 1, 1}, {0, 0, 0}, {0, 0, 0}, {1, 1, 1}, true, 1.0, 1e-5);
  test::require_close(rm, {3}, ref.running_mean, "strided running_mean", 1e-12, 1e-12);
  test::require_close(buf.slice(0, 1, 6, 2), {3}, {0, 0, 0}, "gaps untouched");
  test::require_close(rv, {3}, ref.running_var, "float32 running_var", 1e-6, 1e-6);
}

TEST_CASE("batch_norm statistics stay accurate on large offset float data", "[nn][batch_norm]") {
  // 40000 values per channel around 1000 with spread 0.01: a float running sum would lose the
  // variance entirely.
  Tensor x = (test::seeded_randn({400, 2, 100}, 5) * 0.01 + 1000).contiguous();
  BnRef ref = batch_norm_ref(x, {1, 1}, {0, 0}, {0, 0}, {1, 1}, true, 0.1, 1e-5);
  TensorList outs = dispatch(Op::BatchNorm, {x, {}, {}, {}, {}}, [] {
    NormAttrs a;
    a.training = true;
    return a;
  }());
  test::require_close(outs[1], {2}, ref.mean, "mean", 1e-7, 0);
  test::require_close(outs[2], {2}, ref.invstd, "invstd", 1e-5, 0);
}

TEST_CASE("batch_norm edge cases and errors", "[nn][batch_norm][error]") {
  Tensor rm = zeros({3}), rv = ones({3});
  CHECK_THROWS_WITH(F::batch_norm(zeros({1, 3}), rm, rv, {}, {}, {.training = true}),
                    Catch::Contains("Expected more than 1 value per channel when training, got "
                                    "input size [1, 3]"));
  CHECK_THROWS_AS(F::batch_norm(zeros({1, 3, 1, 1}), rm, rv, {}, {}, {.training = true}),
                  ValueError);
  // One sample but several values per channel is fine; eval with a single value is fine.
  CHECK_NOTHROW(F::batch_norm(randn({1, 3, 2}), rm, rv, {}, {}, {.training = true}));
  CHECK_NOTHROW(F::batch_norm(randn({1, 3}), rm, rv));
  CHECK_THROWS_WITH(F::batch_norm(zeros({2, 4}), rm, rv),
                    Catch::Contains("running_mean should contain 4 elements not 3"));
  CHECK_THROWS_WITH(F::batch_norm(zeros({2, 3}), rm, rv, ones({4})),
                    Catch::Contains("weight should contain 3 elements not 4"));
  CHECK_THROWS_WITH(F::batch_norm(zeros({2, 3}), {}, {}),
                    Catch::Contains("running_mean must be defined in evaluation mode"));
  CHECK_THROWS_WITH(F::batch_norm(zeros({3}), rm, rv), Catch::Contains("[N, C, ...]"));
  CHECK_THROWS_AS(F::batch_norm(zeros({2, 3}, kInt64), rm, rv), DTypeError);

  // An empty batch gives an empty output and leaves the running statistics alone.
  rm = zeros({3});
  rv = ones({3});
  Tensor y = F::batch_norm(zeros({0, 3, 2}), rm, rv, {}, {}, {.training = true});
  CHECK(y.sizes() == Dims{0, 3, 2});
  test::require_close(rm, {3}, {0, 0, 0}, "running_mean after empty batch");
  test::require_close(rv, {3}, {1, 1, 1}, "running_var after empty batch");
}

TEST_CASE("layer_norm matches a double reference", "[nn][layer_norm]") {
  struct Case {
    Dims shape, normalized;
  };
  const std::vector<Case> cases = {{{4, 6}, {6}}, {{2, 3, 5}, {5}}, {{2, 3, 5}, {3, 5}},
                                   {{7}, {7}},    {{3, 1}, {1}},    {{2, 2, 3, 4}, {4}},
                                   {{0, 5}, {5}}};
  uint64_t seed = 300;
  for (const Case& c : cases)
    for (DType d : {kFloat32, kFloat64})
      for (bool strided : {false, true})
        for (bool affine : {false, true}) {
          ++seed;
          Tensor x = layout(test::seeded_randn(c.shape, seed, d) * 2 - 5, strided);
          Tensor w = affine ? test::seeded_randn(c.normalized, seed + 1, d) : Tensor();
          Tensor b = affine ? test::seeded_randn(c.normalized, seed + 2, kFloat64).to(d) : Tensor();
          const int64_t cols = product(c.normalized), rows = x.numel() / cols;
          std::vector<double> xs = test::values(x), out(xs.size()), mean(rows), rstd(rows);
          std::vector<double> wv = affine ? test::values(w) : std::vector<double>(cols, 1);
          std::vector<double> bv = affine ? test::values(b) : std::vector<double>(cols, 0);
          for (int64_t r = 0; r < rows; ++r) {
            double s = 0, q = 0;
            for (int64_t j = 0; j < cols; ++j) s += xs[r * cols + j];
            mean[r] = s / double(cols);
            for (int64_t j = 0; j < cols; ++j)
              q += (xs[r * cols + j] - mean[r]) * (xs[r * cols + j] - mean[r]);
            rstd[r] = 1 / std::sqrt(q / double(cols) + 1e-5);
            for (int64_t j = 0; j < cols; ++j)
              out[r * cols + j] = (xs[r * cols + j] - mean[r]) * rstd[r] * wv[j] + bv[j];
          }
          NormAttrs attrs;
          attrs.normalized_shape = c.normalized;
          TensorList outs = dispatch(Op::LayerNorm, {x, w, b}, attrs);
          Dims stat = c.shape;
          for (size_t k = c.shape.size() - c.normalized.size(); k < c.shape.size(); ++k)
            stat[k] = 1;
          std::string what = describe("layer_norm", c.shape, d, strided, seed);
          double tol = tol_for(d);
          test::require_close(outs[0], c.shape, out, what + " out", tol, tol);
          test::require_close(outs[1], stat, mean, what + " mean", tol, tol);
          test::require_close(outs[2], stat, rstd, what + " rstd", tol, tol);
          test::require_close(F::layer_norm(x, c.normalized, w, b), c.shape, out,
                              what + " functional", tol, tol);
        }
}

// layer_norm's gradients in double with plain loops: xh = (x - mean) rstd, gw = g w,
// dx = rstd (gw - mean(gw) - xh mean(gw xh)), dw = sum over rows of g xh, db = sum of g.
struct LnGrads {
  std::vector<double> dx, dw, db;
};
LnGrads layer_norm_grads_ref(const Tensor& x, const std::vector<double>& w, const Tensor& g,
                             int64_t cols) {
  std::vector<double> xs = test::values(x), gs = test::values(g);
  const int64_t rows = cols ? int64_t(xs.size()) / cols : 0;
  LnGrads r{std::vector<double>(xs.size()), std::vector<double>(cols), std::vector<double>(cols)};
  for (int64_t i = 0; i < rows; ++i) {
    const double* xr = xs.data() + i * cols;
    const double* gr = gs.data() + i * cols;
    double mean = 0, var = 0, s1 = 0, s2 = 0;
    for (int64_t j = 0; j < cols; ++j) mean += xr[j] / double(cols);
    for (int64_t j = 0; j < cols; ++j) var += (xr[j] - mean) * (xr[j] - mean) / double(cols);
    const double rstd = 1 / std::sqrt(var + 1e-5);
    for (int64_t j = 0; j < cols; ++j) {
      s1 += gr[j] * w[j];
      s2 += gr[j] * w[j] * (xr[j] - mean) * rstd;
    }
    for (int64_t j = 0; j < cols; ++j) {
      const double xh = (xr[j] - mean) * rstd;
      r.dx[i * cols + j] = rstd * (gr[j] * w[j] - s1 / double(cols) - xh * s2 / double(cols));
      r.dw[j] += gr[j] * xh;
      r.db[j] += gr[j];
    }
  }
  return r;
}

TEST_CASE("layer_norm backward matches a double reference", "[nn][layer_norm][autograd]") {
  // Row counts that do and do not fill the kernel's blocks of rows (8192 / cols), rows longer
  // than a block, several normalized dims; every affine combination; only some gradients asked
  // for; the fused kernel (plain backward) and the composed ops (create_graph) both checked.
  struct Case {
    Dims shape, normalized;
  };
  const std::vector<Case> cases = {{{70, 256}, {256}}, {{3, 9000}, {9000}}, {{2, 3, 5}, {3, 5}},
                                   {{4, 1}, {1}},      {{0, 5}, {5}},       {{16, 8, 32}, {32}}};
  uint64_t seed = 900;
  for (const Case& c : cases)
    for (DType d : {kFloat32, kFloat64})
      for (int affine = 0; affine < 4; ++affine)  // bit 0: weight, bit 1: bias
        for (int needs = 1; needs < 4; ++needs)   // bit 0: x's gradient, bit 1: w's and b's
          for (bool create_graph : {false, true}) {
            ++seed;
            const bool strided = seed % 2 == 0;
            Tensor x = layout(test::seeded_randn(c.shape, seed, d) * 2 + 3, strided);
            Tensor w = affine & 1 ? test::seeded_randn(c.normalized, seed + 1, d) : Tensor();
            Tensor b = affine & 2 ? test::seeded_randn(c.normalized, seed + 2, d) : Tensor();
            Tensor g = test::seeded_randn(c.shape, seed + 3, d);
            if (needs & 1) x.requires_grad_();
            for (Tensor* p : {&w, &b})
              if (p->defined() && needs & 2) p->requires_grad_();
            Tensor y = F::layer_norm(x, c.normalized, w, b);
            if (!y.requires_grad()) continue;  // nothing needs a gradient (no affine, needs 2)
            // create_graph: each .grad's graph holds its leaf, which holds the .grad (a cycle,
            // as in PyTorch): the gradients are reset when this case ends (LeakSanitizer).
            struct ResetGrads {
              std::vector<Tensor> leaves;
              ~ResetGrads() {
                for (Tensor& t : leaves)
                  if (t.defined()) t.set_grad(Tensor());
              }
            } reset{{x, w, b}};
            y.backward(g, false, create_graph);
            const int64_t cols = product(c.normalized);
            LnGrads r = layer_norm_grads_ref(
                x, w.defined() ? test::values(w) : std::vector<double>(cols, 1), g, cols);
            std::string what = describe("layer_norm backward", c.shape, d, strided, seed) +
                               (create_graph ? " create_graph" : "");
            const double tol = d == kFloat64 ? 1e-9 : 1e-4;
            if (needs & 1) test::require_close(x.grad(), c.shape, r.dx, what + " dx", tol, tol);
            if (needs & 2 && w.defined())
              test::require_close(w.grad(), c.normalized, r.dw, what + " dw", tol, tol);
            if (needs & 2 && b.defined())
              test::require_close(b.grad(), c.normalized, r.db, what + " db", tol, tol);
            if (!(needs & 2)) {
              CHECK_FALSE((w.defined() && w.grad().defined()));
              CHECK_FALSE((b.defined() && b.grad().defined()));
            }
          }
}

TEST_CASE("layer_norm backward over many long rows", "[nn][layer_norm][autograd]") {
  // 260 rows of 16384: more than the kernel's 4M partial elements per gradient in blocks of one
  // row, so blocks of two rows.
  const Dims shape{260, 16384}, normalized{16384};
  Tensor x = test::seeded_randn(shape, 41).requires_grad_();
  Tensor w = test::seeded_randn(normalized, 42).requires_grad_();
  Tensor b = test::seeded_randn(normalized, 43).requires_grad_();
  Tensor g = test::seeded_randn(shape, 44);
  F::layer_norm(x, normalized, w, b).backward(g);
  LnGrads r = layer_norm_grads_ref(x, test::values(w), g, 16384);
  test::require_close(x.grad(), shape, r.dx, "dx", 1e-4, 1e-4);
  test::require_close(w.grad(), normalized, r.dw, "dw", 1e-4, 1e-4);
  test::require_close(b.grad(), normalized, r.db, "db", 1e-4, 1e-4);
}

TEST_CASE("layer_norm backward casts a float64 weight's gradient back", "[nn][layer_norm]") {
  // The forward computes in x's dtype with w cast to it; w's gradient comes back in w's dtype.
  Tensor x = test::seeded_randn({5, 6}, 1).requires_grad_();
  Tensor w = test::seeded_randn({6}, 2, kFloat64).requires_grad_();
  F::layer_norm(x, {6}, w).sum().backward();
  CHECK(x.grad().dtype() == kFloat32);
  CHECK(w.grad().dtype() == kFloat64);
  LnGrads r = layer_norm_grads_ref(x, test::values(w), ones({5, 6}), 6);
  test::require_close(w.grad(), {6}, r.dw, "float64 weight", 1e-4, 1e-4);
  test::require_close(x.grad(), {5, 6}, r.dx, "float32 input", 1e-4, 1e-4);
}

TEST_CASE("layer_norm errors name the shapes", "[nn][layer_norm][error]") {
  CHECK_THROWS_WITH(F::layer_norm(zeros({2, 3}), {4}),
                    Catch::Contains("Given normalized_shape=[4], expected input with shape "
                                    "[*, 4], but got input of size[2, 3]"));
  CHECK_THROWS_AS(F::layer_norm(zeros({3}), {2, 3}), ShapeError);
  CHECK_THROWS_WITH(F::layer_norm(zeros({2, 3}), {3}, ones({4})),
                    Catch::Contains("Expected weight to be of same shape as normalized_shape, "
                                    "but got weight of shape [4] and normalized_shape = [3]"));
  CHECK_THROWS_WITH(F::layer_norm(zeros({2, 3}), {3}, {}, ones({1, 3})),
                    Catch::Contains("bias of shape [1, 3]"));
  CHECK_THROWS_WITH(F::layer_norm(zeros({2, 3}), {}), Catch::Contains("must not be empty"));
  CHECK_THROWS_AS(F::layer_norm(zeros({2, 3}, kInt64), {3}), DTypeError);
}

TEST_CASE("dropout zeroes a fraction p and scales the rest by 1/(1-p)", "[nn][dropout]") {
  const int64_t n = 100000;
  for (double p : {0.1, 0.5, 0.8}) {
    manual_seed(42);
    Tensor x = rand({n}, kFloat64) + 1;  // in [1, 2): never zero
    TensorList outs = dispatch(Op::Dropout, {x}, DropoutAttrs{p, true, 7, 0});
    std::vector<double> xs = test::values(x), ys = test::values(outs[0]),
                        ms = test::values(outs[1]);
    int64_t zeros_n = 0;
    bool scaled = true, mask_ok = true;
    for (int64_t i = 0; i < n; ++i) {
      if (ys[i] == 0) {
        ++zeros_n;
        mask_ok = mask_ok && ms[i] == 0;
      } else {
        scaled = scaled && std::abs(ys[i] - xs[i] / (1 - p)) < 1e-12;
        mask_ok = mask_ok && std::abs(ms[i] - 1 / (1 - p)) < 1e-12;
      }
    }
    INFO("p = " << p << ", zeroed " << zeros_n << " of " << n);
    // Standard deviation of the fraction is at most 0.0016; allow five of them.
    CHECK(std::abs(double(zeros_n) / n - p) < 0.008);
    CHECK(scaled);
    CHECK(mask_ok);
  }
}

TEST_CASE("dropout masks depend only on the seed", "[nn][dropout]") {
  const int prev = get_num_threads();
  Tensor x = ones({300, 400});
  auto run = [&](int threads) {
    set_num_threads(threads);
    manual_seed(2024);
    return F::dropout(x, {.p = 0.4}).to_vector<float>();
  };
  std::vector<float> a = run(1), b = run(2), c = run(prev);
  set_num_threads(prev);
  CHECK(a == b);
  CHECK(a == c);
  // The next call draws fresh counters: a different mask.
  manual_seed(2024);
  std::vector<float> first = F::dropout(x, {.p = 0.4}).to_vector<float>();
  std::vector<float> second = F::dropout(x, {.p = 0.4}).to_vector<float>();
  CHECK(first == a);
  CHECK(first != second);
}

TEST_CASE("dropout edge cases and errors", "[nn][dropout][error]") {
  Tensor x = test::seeded_randn({4, 5}, 3);
  CHECK(F::dropout(x, {.p = 0.5, .training = false}).is_same(x));
  test::require_close(F::dropout(x, {.p = 0.0}), {4, 5}, test::values(x), "p = 0");
  Tensor inf = full({3}, std::numeric_limits<double>::infinity());
  test::require_close(F::dropout(inf, {.p = 1.0}), {3}, {0, 0, 0}, "p = 1 gives zeros");
  // Non-contiguous input: every output is 0 or 2x its input.
  Tensor t = x.t();
  Tensor y = F::dropout(t, {.p = 0.5});
  REQUIRE(y.sizes() == Dims{5, 4});
  std::vector<double> tv = test::values(t), yv = test::values(y);
  for (size_t i = 0; i < tv.size(); ++i) CHECK((yv[i] == 0 || std::abs(yv[i] - 2 * tv[i]) < 1e-6));
  CHECK(F::dropout(zeros({0, 3})).sizes() == Dims{0, 3});
  CHECK(F::dropout(scalar_tensor(2.0), {.p = 0.0}).item<float>() == 2.0f);
  CHECK_THROWS_WITH(F::dropout(x, {.p = 1.5}),
                    Catch::Contains("dropout probability has to be between 0 and 1, but got 1.5"));
  CHECK_THROWS_AS(F::dropout(x, {.p = -0.1, .training = false}), ValueError);
  CHECK_THROWS_AS(F::dropout(ones({3}, kInt64)), DTypeError);
}

TEST_CASE("embedding gathers rows for indices of any shape", "[nn][embedding]") {
  uint64_t seed = 900;
  for (DType d : {kFloat32, kFloat64})
    for (bool strided : {false, true})
      for (const Dims& ishape : std::vector<Dims>{{5}, {2, 3}, {}, {0}, {2, 0, 3}}) {
        ++seed;
        Tensor w = layout(test::seeded_randn({7, 4}, seed, d), strided);
        manual_seed(seed);
        Tensor idx = randint(0, 7, ishape);
        if (strided && idx.dim() > 0) idx = test::noncontiguous(idx);
        Dims oshape = ishape;
        oshape.push_back(4);
        std::vector<double> expected;
        std::vector<double> iv = test::values(idx);
        for (double i : iv)
          for (int64_t j = 0; j < 4; ++j) expected.push_back(test::at(w, {int64_t(i), j}));
        test::require_close(F::embedding(idx, w), oshape, expected,
                            describe("embedding", ishape, d, strided, seed), 0, 0);
      }
  Tensor w = arange(6.0).reshape({3, 2});
  test::require_close(F::embedding(tensor(std::vector<int64_t>{2, 0, 2}), w, {.padding_idx = -1}),
                      {3, 2}, {4, 5, 0, 1, 4, 5}, "padding_idx does not change the forward");
}

TEST_CASE("embedding errors name the index and the table size", "[nn][embedding][error]") {
  Tensor w = zeros({3, 2});
  CHECK_THROWS_WITH(F::embedding(tensor(std::vector<int64_t>{0, 5}), w),
                    Catch::Contains("index 5 is out of range") && Catch::Contains("3 embeddings"));
  CHECK_THROWS_AS(F::embedding(tensor(std::vector<int64_t>{-1}), w), IndexError);
  CHECK_THROWS_WITH(F::embedding(tensor(std::vector<int64_t>{0}), w, {.padding_idx = 5}),
                    Catch::Contains("padding_idx must be within num_embeddings (3), got 5"));
  CHECK_THROWS_WITH(F::embedding(tensor(std::vector<int64_t>{0}), zeros({3})),
                    Catch::Contains("'weight' must be 2-D"));
  CHECK_THROWS_AS(F::embedding(tensor({0.0, 1.0}), w), DTypeError);
}

TEST_CASE("functional activations forward to the tensor ops", "[nn][activation]") {
  Tensor x = test::noncontiguous(test::seeded_randn({3, 4}, 61, kFloat64) * 3);
  std::vector<double> xs = test::values(x);
  auto ref = [&](auto f) {
    std::vector<double> out;
    for (double v : xs) out.push_back(f(v));
    return out;
  };
  test::require_close(F::relu(x), {3, 4}, ref([](double v) { return v > 0 ? v : 0; }), "relu");
  test::require_close(F::sigmoid(x), {3, 4}, ref([](double v) { return 1 / (1 + std::exp(-v)); }),
                      "sigmoid", 1e-12, 1e-12);
  test::require_close(F::tanh(x), {3, 4}, ref([](double v) { return std::tanh(v); }), "tanh", 1e-12,
                      1e-12);
  test::require_close(F::silu(x), {3, 4}, ref([](double v) { return v / (1 + std::exp(-v)); }),
                      "silu", 1e-12, 1e-12);
  test::require_close(F::gelu(x), {3, 4},
                      ref([](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }),
                      "gelu", 1e-12, 1e-12);
  test::require_close(F::gelu(x, "tanh"), {3, 4}, ref([](double v) {
                        return 0.5 * v *
                               (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
                      }),
                      "gelu tanh", 1e-12, 1e-12);
}
