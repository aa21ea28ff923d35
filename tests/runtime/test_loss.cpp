// nll_loss, cross_entropy, mse_loss and binary_cross_entropy_with_logits against double
// references written with plain loops: every reduction, class weights, ignore_index,
// label_smoothing, spatial targets, broadcasting and non-contiguous inputs.
#include <cmath>
#include <limits>
#include <random>
#include <sstream>

#include "support/reference.hpp"

using namespace ember;
namespace F = ember::nn::functional;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
const Reduction kReductions[] = {Reduction::None, Reduction::Sum, Reduction::Mean};

const char* reduction_name(Reduction r) {
  return r == Reduction::None ? "none" : r == Reduction::Sum ? "sum" : "mean";
}

double tol_for(DType d) { return d == kFloat64 ? 1e-10 : 2e-5; }

// Elementwise losses reduced as the op would: none keeps them, sum adds, mean divides by `denom`.
std::vector<double> reduce_ref(const std::vector<double>& loss, Reduction r, double denom) {
  if (r == Reduction::None) return loss;
  double s = 0;
  for (double v : loss) s += v;
  return {r == Reduction::Sum ? s : s / denom};
}

Dims reduced_shape(const Dims& none_shape, Reduction r) {
  return r == Reduction::None ? none_shape : Dims{};
}

// A classification problem: input [N, C, d...] (or [C]), int64 targets with some set to
// ignore_index, and per-class weights.
struct Problem {
  Dims input_shape, target_shape;
  int64_t N = 1, C = 0, S = 1;
};

Problem make_problem(const Dims& input_shape) {
  Problem p;
  p.input_shape = input_shape;
  if (input_shape.size() == 1) {
    p.C = input_shape[0];
    return p;
  }
  p.N = input_shape[0];
  p.C = input_shape[1];
  p.target_shape = Dims{p.N};
  for (size_t d = 2; d < input_shape.size(); ++d) {
    p.target_shape.push_back(input_shape[d]);
    p.S *= input_shape[d];
  }
  return p;
}

// Element (n, c, s) of an input laid out as [N, C, S] in row-major order.
double elem(const std::vector<double>& v, const Problem& p, int64_t n, int64_t c, int64_t s) {
  return v[(n * p.C + c) * p.S + s];
}

Tensor random_targets(const Problem& p, uint64_t seed, int64_t ignore_index, bool with_ignored) {
  manual_seed(seed);
  Tensor t = randint(0, p.C, p.target_shape);
  if (with_ignored && t.numel() > 1) {
    int64_t* d = t.data_ptr<int64_t>();
    for (int64_t i = 0; i < t.numel(); i += 3) d[i] = ignore_index;
  }
  return t;
}

std::string describe(const char* op, const Dims& shape, DType d, Reduction r, uint64_t seed) {
  std::ostringstream os;
  os << op << " input " << shape << " " << dtype_name(d) << " reduction " << reduction_name(r)
     << " seed " << seed;
  return os.str();
}

// log_softmax over the class dim of an [N, C, S] problem, in double.
std::vector<double> log_softmax_ref(const std::vector<double>& x, const Problem& p) {
  std::vector<double> out(x.size());
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t s = 0; s < p.S; ++s) {
      double m = -std::numeric_limits<double>::infinity(), z = 0;
      for (int64_t c = 0; c < p.C; ++c) m = std::max(m, elem(x, p, n, c, s));
      for (int64_t c = 0; c < p.C; ++c) z += std::exp(elem(x, p, n, c, s) - m);
      for (int64_t c = 0; c < p.C; ++c)
        out[(n * p.C + c) * p.S + s] = elem(x, p, n, c, s) - m - std::log(z);
    }
  return out;
}

}  // namespace

TEST_CASE("nll_loss matches a double reference", "[nn][nll_loss]") {
  const std::vector<Dims> shapes = {{5, 4}, {3, 6, 2}, {2, 3, 2, 3}, {7}, {1, 1}, {0, 3}};
  uint64_t seed = 50;
  for (const Dims& shape : shapes)
    for (DType d : {kFloat32, kFloat64})
      for (bool strided : {false, true})
        for (bool weighted : {false, true})
          for (int64_t ignore : {int64_t{-100}, int64_t{1}})
            for (Reduction r : kReductions) {
              ++seed;
              Problem p = make_problem(shape);
              Tensor x = test::seeded_randn(shape, seed, d);
              if (strided) x = test::noncontiguous(x);
              Tensor target = random_targets(p, seed + 1, ignore, ignore == -100);
              Tensor weight = weighted ? rand({p.C}, d) + 0.5 : Tensor();
              std::vector<double> xs = test::values(x), ts = test::values(target);
              std::vector<double> ws =
                  weighted ? test::values(weight) : std::vector<double>(p.C, 1.0);
              std::vector<double> loss;
              double total_weight = 0;
              for (int64_t n = 0; n < p.N; ++n)
                for (int64_t s = 0; s < p.S; ++s) {
                  auto t = static_cast<int64_t>(ts[n * p.S + s]);
                  if (t == ignore) {
                    loss.push_back(0);
                    continue;
                  }
                  loss.push_back(-ws[t] * elem(xs, p, n, t, s));
                  total_weight += ws[t];
                }
              std::string what = describe("nll_loss", shape, d, r, seed) +
                                 (weighted ? " weighted" : "") + " ignore " +
                                 std::to_string(ignore) + (strided ? " strided" : "");
              Tensor got = F::nll_loss(x, target, {weight, ignore, r});
              CHECK(got.dtype() == d);
              test::require_close(got, reduced_shape(p.target_shape, r),
                                  reduce_ref(loss, r, total_weight), what, tol_for(d), tol_for(d));
            }
}

TEST_CASE("nll_loss mean divides by the total target weight", "[nn][nll_loss]") {
  Tensor x = tensor({{-1.0, -2.0, -3.0}, {-4.0, -5.0, -6.0}});
  Tensor t = tensor(std::vector<int64_t>{2, 0});
  Tensor w = tensor({1.0, 0.0, 3.0});
  test::require_close(F::nll_loss(x, t, {.weight = w}), {}, {(9.0 + 4.0) / 4.0}, "weighted mean");
  test::require_close(F::nll_loss(x, t, {.weight = w, .reduction = Reduction::Sum}), {}, {13},
                      "weighted sum");
  // Every target ignored: mean is 0/0 = NaN and sum is 0, as PyTorch.
  Tensor ign = tensor(std::vector<int64_t>{-100, -100});
  test::require_close(F::nll_loss(x, ign), {}, {kNaN}, "all ignored mean");
  test::require_close(F::nll_loss(x, ign, {.reduction = Reduction::Sum}), {}, {0}, "ignored sum");
  test::require_close(F::nll_loss(x, ign, {.reduction = Reduction::None}), {2}, {0, 0},
                      "ignored none");
  // A [C] input takes a 0-d target.
  test::require_close(F::nll_loss(x[1], scalar_tensor(1, kInt64)), {}, {5}, "unbatched");
}

TEST_CASE("nll_loss errors name the target, classes and shapes", "[nn][nll_loss][error]") {
  Tensor x = zeros({3, 4});
  CHECK_THROWS_AS(F::nll_loss(x, tensor(std::vector<int64_t>{0, 1, 5})), IndexError);
  CHECK_THROWS_WITH(F::nll_loss(x, tensor(std::vector<int64_t>{0, 1, 5})),
                    Catch::Contains("Target 5 is out of bounds") && Catch::Contains("4 classes"));
  CHECK_THROWS_WITH(F::nll_loss(x, tensor(std::vector<int64_t>{0, -1, 2})),
                    Catch::Contains("Target -1 is out of bounds"));
  CHECK_THROWS_WITH(
      F::nll_loss(x, tensor(std::vector<int64_t>{1, 2})),
      Catch::Contains("Expected input batch_size (3) to match target batch_size (2)"));
  CHECK_THROWS_WITH(F::nll_loss(x, tensor({1.0, 2.0, 3.0})),
                    Catch::Contains("expected target of dtype int64"));
  CHECK_THROWS_WITH(F::nll_loss(x, tensor(std::vector<int64_t>{1, 2, 3}), {.weight = ones({3})}),
                    Catch::Contains("weight tensor should be defined either for all 4 classes or "
                                    "no classes but got weight tensor of shape: [3]"));
  CHECK_THROWS_WITH(F::nll_loss(zeros({2, 3, 4, 5}), zeros({2, 4}, kInt64)),
                    Catch::Contains("expected target of shape [2, 4, 5]"));
  CHECK_THROWS_AS(F::nll_loss(zeros({4}), zeros({1}, kInt64)), ShapeError);
}

TEST_CASE("mse_loss matches a double reference with broadcasting", "[nn][mse_loss]") {
  struct Case {
    Dims a, b;
  };
  const std::vector<Case> cases = {{{4, 5}, {4, 5}}, {{3}, {2, 3}}, {{2, 1, 4}, {3, 1}},
                                   {{}, {}},         {{6}, {}},     {{0, 3}, {0, 3}}};
  uint64_t seed = 700;
  for (const Case& c : cases)
    for (DType d : {kFloat32, kFloat64})
      for (bool strided : {false, true})
        for (Reduction r : kReductions) {
          ++seed;
          Tensor a = test::seeded_randn(c.a, seed, d), b = test::seeded_randn(c.b, seed + 1, d);
          if (strided) {
            a = test::noncontiguous(a);
            b = test::noncontiguous(b);
          }
          Dims shape = broadcast_shapes(c.a, c.b);
          std::vector<double> loss;
          for (int64_t i = 0; i < product(shape); ++i) {
            std::vector<int64_t> idx = test::unravel(i, shape), ia, ib;
            for (size_t k = shape.size() - c.a.size(); k < shape.size(); ++k)
              ia.push_back(a.size(k - (shape.size() - c.a.size())) == 1 ? 0 : idx[k]);
            for (size_t k = shape.size() - c.b.size(); k < shape.size(); ++k)
              ib.push_back(b.size(k - (shape.size() - c.b.size())) == 1 ? 0 : idx[k]);
            double diff = test::at(a, ia) - test::at(b, ib);
            loss.push_back(diff * diff);
          }
          test::require_close(F::mse_loss(a, b, {r}), reduced_shape(shape, r),
                              reduce_ref(loss, r, double(loss.size())),
                              describe("mse_loss", c.a, d, r, seed), tol_for(d), tol_for(d));
        }
  // Mixed dtypes promote; integer inputs are refused.
  CHECK(F::mse_loss(ones({2}), ones({2}, kFloat64)).dtype() == kFloat64);
  CHECK_THROWS_AS(F::mse_loss(ones({2}, kInt64), ones({2}, kInt64)), DTypeError);
  CHECK_THROWS_WITH(F::mse_loss(ones({2}), ones({3})), Catch::Contains("mse_loss"));
}

TEST_CASE("binary_cross_entropy_with_logits matches a double reference", "[nn][bce]") {
  // Reference through log-sigmoid, a different formulation from the kernel's:
  // -w (pw t log s(x) + (1 - t) log s(-x)).
  auto log_sigmoid = [](double x) {
    return x < 0 ? x - std::log1p(std::exp(x)) : -std::log1p(std::exp(-x));
  };
  const std::vector<Dims> shapes = {{6}, {4, 3}, {2, 3, 5}, {}, {0, 3}};
  uint64_t seed = 1100;
  for (const Dims& shape : shapes)
    for (DType d : {kFloat32, kFloat64})
      for (bool strided : {false, true})
        for (int extras = 0; extras < 4; ++extras)  // bit 0: weight, bit 1: pos_weight
          for (Reduction r : kReductions) {
            ++seed;
            Tensor x = test::seeded_randn(shape, seed, d) * 8;  // some large logits
            Tensor t = rand(shape, d);
            if (strided) {
              x = test::noncontiguous(x);
              t = test::noncontiguous(t);
            }
            // weight broadcasts over the last dim; pos_weight is per class (the last dim).
            Dims last = shape.empty() ? Dims{} : Dims{shape.back()};
            Tensor w = (extras & 1) ? rand(last, d) + 0.5 : Tensor();
            Tensor pw = (extras & 2) ? rand(last, d) * 3 : Tensor();
            std::vector<double> loss;
            for (int64_t i = 0; i < product(shape); ++i) {
              std::vector<int64_t> idx = test::unravel(i, shape);
              std::vector<int64_t> lidx =
                  shape.empty() ? std::vector<int64_t>{} : std::vector<int64_t>{idx.back()};
              double xv = test::at(x, idx), tv = test::at(t, idx);
              double wv = w.defined() ? test::at(w, lidx) : 1.0;
              double pv = pw.defined() ? test::at(pw, lidx) : 1.0;
              loss.push_back(-wv * (pv * tv * log_sigmoid(xv) + (1 - tv) * log_sigmoid(-xv)));
            }
            std::string what = describe("bce_with_logits", shape, d, r, seed) + " extras " +
                               std::to_string(extras);
            test::require_close(F::binary_cross_entropy_with_logits(x, t, {w, pw, r}),
                                reduced_shape(shape, r), reduce_ref(loss, r, double(loss.size())),
                                what, d == kFloat64 ? 1e-10 : 1e-4, tol_for(d));
          }
}

TEST_CASE("binary_cross_entropy_with_logits is stable for huge logits", "[nn][bce]") {
  Tensor x = tensor({100.0, -100.0, 100.0, -100.0, 0.0});
  Tensor t = tensor({0.0, 1.0, 1.0, 0.0, 1.0});
  Tensor pw = tensor({2.0});
  test::require_close(F::binary_cross_entropy_with_logits(x, t, {.reduction = Reduction::None}),
                      {5}, {100, 100, 0, 0, std::log(2.0)}, "unweighted");
  test::require_close(
      F::binary_cross_entropy_with_logits(x, t, {.pos_weight = pw, .reduction = Reduction::None}),
      {5}, {100, 200, 0, 0, 2 * std::log(2.0)}, "pos_weight");
  CHECK_THROWS_WITH(F::binary_cross_entropy_with_logits(zeros({3}), zeros({2})),
                    Catch::Contains("Target size ([2]) must be the same as input size ([3])"));
  CHECK_THROWS_AS(F::binary_cross_entropy_with_logits(zeros({3}), zeros({2})), ValueError);
  CHECK_THROWS_WITH(
      F::binary_cross_entropy_with_logits(zeros({2, 3}), zeros({2, 3}), {.weight = ones({2})}),
      Catch::Contains("weight of shape [2] cannot be broadcast"));
}

// cross_entropy = log_softmax + nll_loss with PyTorch's label smoothing; log_softmax and sum
// come from other branches.
TEST_CASE("cross_entropy with class indices, weights, ignore_index and label smoothing",
          "[nn][cross_entropy][needs-merge]") {
  const std::vector<Dims> shapes = {{5, 4}, {3, 6, 2}, {6}, {0, 3}};
  uint64_t seed = 1500;
  for (const Dims& shape : shapes)
    for (DType d : {kFloat32, kFloat64})
      for (bool weighted : {false, true})
        for (double ls : {0.0, 0.1, 0.35})
          for (Reduction r : kReductions) {
            ++seed;
            Problem p = make_problem(shape);
            Tensor x = test::noncontiguous(test::seeded_randn(shape, seed, d) * 2);
            Tensor target = random_targets(p, seed + 1, -100, true);
            Tensor weight = weighted ? rand({p.C}, d) + 0.5 : Tensor();
            std::vector<double> lp = log_softmax_ref(test::values(x), p);
            std::vector<double> ts = test::values(target);
            std::vector<double> ws =
                weighted ? test::values(weight) : std::vector<double>(p.C, 1.0);
            std::vector<double> loss;
            double total_weight = 0;
            for (int64_t n = 0; n < p.N; ++n)
              for (int64_t s = 0; s < p.S; ++s) {
                auto t = static_cast<int64_t>(ts[n * p.S + s]);
                if (t == -100) {
                  loss.push_back(0);
                  continue;
                }
                double smooth = 0;
                for (int64_t c = 0; c < p.C; ++c) smooth -= ws[c] * elem(lp, p, n, c, s);
                loss.push_back((1 - ls) * -ws[t] * elem(lp, p, n, t, s) +
                               ls / double(p.C) * smooth);
                total_weight += ws[t];
              }
            std::string what = describe("cross_entropy", shape, d, r, seed) +
                               (weighted ? " weighted" : "") + " label_smoothing " +
                               std::to_string(ls);
            test::require_close(
                F::cross_entropy(x, target,
                                 {.weight = weight, .reduction = r, .label_smoothing = ls}),
                reduced_shape(p.target_shape, r), reduce_ref(loss, r, total_weight), what,
                d == kFloat64 ? 1e-10 : 1e-4, tol_for(d));
          }
}

TEST_CASE("cross_entropy with class-probability targets", "[nn][cross_entropy][needs-merge]") {
  const std::vector<Dims> shapes = {{5, 4}, {2, 3, 4}, {6}};
  uint64_t seed = 1900;
  for (const Dims& shape : shapes)
    for (bool weighted : {false, true})
      for (double ls : {0.0, 0.2})
        for (Reduction r : kReductions) {
          ++seed;
          Problem p = make_problem(shape);
          Tensor x = test::seeded_randn(shape, seed, kFloat64);
          Tensor probs = rand(shape, kFloat64);
          Tensor weight = weighted ? rand({p.C}, kFloat64) + 0.5 : Tensor();
          std::vector<double> lp = log_softmax_ref(test::values(x), p), pr = test::values(probs);
          std::vector<double> ws = weighted ? test::values(weight) : std::vector<double>(p.C, 1.0);
          std::vector<double> loss;
          for (int64_t n = 0; n < p.N; ++n)
            for (int64_t s = 0; s < p.S; ++s) {
              double l = 0;
              for (int64_t c = 0; c < p.C; ++c) {
                double t = elem(pr, p, n, c, s) * (1 - ls) + ls / double(p.C);
                l -= ws[c] * t * elem(lp, p, n, c, s);
              }
              loss.push_back(l);
            }
          test::require_close(
              F::cross_entropy(x, probs, {.weight = weight, .reduction = r, .label_smoothing = ls}),
              reduced_shape(p.target_shape, r), reduce_ref(loss, r, double(p.N * p.S)),
              describe("cross_entropy(probs)", shape, kFloat64, r, seed), 1e-10, 1e-10);
        }
}

TEST_CASE("cross_entropy matches PyTorch's label smoothing constants",
          "[nn][cross_entropy][needs-merge]") {
  // torch.nn.functional.cross_entropy(x, t, weight=w, ignore_index=1, label_smoothing=0.2)
  Tensor x = tensor({{0.5, -1.0, 2.0}, {1.5, 0.25, -0.5}, {0.0, 1.0, -2.0}}, kFloat64);
  Tensor t = tensor(std::vector<int64_t>{2, 1, 0});
  Tensor w = tensor({0.5, 2.0, 1.5}, kFloat64);
  auto ce = [&](const Tensor& in, const Tensor& tg, Reduction r) {
    return F::cross_entropy(
        in, tg, {.weight = w, .ignore_index = 1, .reduction = r, .label_smoothing = 0.2});
  };
  test::require_close(ce(x, t, Reduction::None), {3}, {0.8039232350971637, 0, 0.9660081445121242},
                      "none", 1e-12, 1e-12);
  test::require_close(ce(x, t, Reduction::Sum), {}, {1.7699313796092881}, "sum", 1e-12, 0);
  test::require_close(ce(x, t, Reduction::Mean), {}, {0.8849656898046441}, "mean", 1e-12, 0);
  // The same problem laid out spatially: input [1, C, 3], target [1, 3].
  test::require_close(ce(x.t().reshape({1, 3, 3}), t.reshape({1, 3}), Reduction::Mean), {},
                      {0.8849656898046441}, "spatial mean", 1e-12, 0);
  // Class probabilities (ignore_index must stay negative there).
  Tensor probs = tensor({{0.2, 0.3, 0.5}, {1.0, 0.0, 0.0}, {0.1, 0.1, 0.8}}, kFloat64);
  auto cep = [&](Reduction r) {
    return F::cross_entropy(x, probs, {.weight = w, .reduction = r, .label_smoothing = 0.2});
  };
  test::require_close(cep(Reduction::None), {3},
                      {2.354270783230877, 0.6013012425352012, 3.7512574292559466}, "probs none",
                      1e-12, 0);
  test::require_close(cep(Reduction::Sum), {}, {6.706829455022024}, "probs sum", 1e-12, 0);
  test::require_close(cep(Reduction::Mean), {}, {2.235609818340675}, "probs mean", 1e-12, 0);
  CHECK_THROWS_WITH(F::cross_entropy(x, probs, {.ignore_index = 1}),
                    Catch::Contains("ignore_index is not supported for floating point target"));
}

TEST_CASE("cross_entropy argument errors", "[nn][cross_entropy][error]") {
  Tensor x = zeros({2, 3});
  CHECK_THROWS_WITH(
      F::cross_entropy(x, tensor(std::vector<int64_t>{0, 1}), {.label_smoothing = 1.5}),
      Catch::Contains("label_smoothing must be between 0.0 and 1.0. Got: 1.5"));
  CHECK_THROWS_WITH(F::cross_entropy(x, tensor(std::vector<int64_t>{0, 1}), {.weight = ones({4})}),
                    Catch::Contains("weight tensor should be defined either for all 3 classes"));
  CHECK_THROWS_AS(F::cross_entropy(scalar_tensor(1.0), scalar_tensor(0, kInt64)), ShapeError);
}

TEST_CASE("loss reductions are accurate and independent of the thread count", "[nn][mse_loss]") {
  const int prev = get_num_threads();
  // 200000 float squares summed: a serial float accumulator drifts past 1e-6 relative error.
  Tensor a = test::seeded_randn({200000}, 31) + 3, b = test::seeded_randn({200000}, 32);
  Tensor x = test::seeded_randn({30000, 5}, 33);
  manual_seed(34);
  Tensor t = randint(0, 5, {30000});
  std::vector<double> av = test::values(a), bv = test::values(b);
  double ref = 0;
  for (size_t i = 0; i < av.size(); ++i) ref += (av[i] - bv[i]) * (av[i] - bv[i]);
  std::vector<float> got[2];
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    Tensor mse = F::mse_loss(a, b, {Reduction::Sum});
    Tensor nll = F::nll_loss(x, t);
    got[threads - 1] = {mse.item<float>(), nll.item<float>()};
    test::require_close(mse, {}, {ref}, "mse sum of 200000", 1e-7, 0);
  }
  set_num_threads(prev);
  CHECK(got[0] == got[1]);
}
