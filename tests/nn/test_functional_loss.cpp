// The composed losses (nn/functional_loss.cpp) and their modules: values and gradients against
// PyTorch 1.13 (Debian's python3-torch, float64, the numbers printed by torch and pasted here),
// reductions, gradcheck, and PyTorch's errors.
#include <cmath>
#include <limits>
#include <sstream>

#include "support/reference.hpp"

using namespace ember;
namespace F = ember::nn::functional;

namespace {

using Vec = std::vector<double>;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The inputs of every regression-loss case below (PyTorch's x and y).
Tensor x_in(DType d) { return tensor({{0.2, -1.5, 3.0}, {0.7, 0.05, -0.3}}, kFloat64).to(d); }
Tensor y_in(DType d) { return tensor({{0.0, -1.0, 1.0}, {2.0, 0.1, -0.35}}, kFloat64).to(d); }

double tol(DType d) { return d == kFloat64 ? 1e-12 : 1e-5; }

// One PyTorch result: the loss for reduction none / sum / mean, and d(loss or its sum)/dx.
struct Expected {
  Vec none, grad_none;
  double sum, mean;
  Vec grad_mean;  // grad of the sum reduction is grad_none
};

// Checks a loss fn(x, y, reduction) against PyTorch's numbers in float64 and float32, and each
// reduction's gradient with respect to x.
template <class Fn>
void check_loss(const std::string& what, Fn fn, const Expected& e) {
  for (DType d : {kFloat64, kFloat32}) {
    const std::string tag = what + " " + dtype_name(d);
    for (Reduction r : {Reduction::None, Reduction::Sum, Reduction::Mean}) {
      Tensor x = x_in(d).requires_grad_();
      Tensor out = fn(x, y_in(d), r);
      CHECK(out.dtype() == d);
      if (r == Reduction::None) {
        test::require_close(out, {2, 3}, e.none, tag + " none", tol(d), tol(d));
        out.sum().backward();
        test::require_close(x.grad(), {2, 3}, e.grad_none, tag + " none grad", tol(d), tol(d));
      } else if (r == Reduction::Sum) {
        test::require_close(out, {}, {e.sum}, tag + " sum", tol(d), tol(d));
        out.backward();
        test::require_close(x.grad(), {2, 3}, e.grad_none, tag + " sum grad", tol(d), tol(d));
      } else {
        test::require_close(out, {}, {e.mean}, tag + " mean", tol(d), tol(d));
        out.backward();
        test::require_close(x.grad(), {2, 3}, e.grad_mean, tag + " mean grad", tol(d), tol(d));
      }
    }
  }
}

const Vec kL1None = {0.2, 0.5, 2.0, 1.3, 0.05, 0.04999999999999999};
const Vec kSign = {1.0, -1.0, 1.0, -1.0, -1.0, 1.0};
const Vec kSign6 = {1.0 / 6, -1.0 / 6, 1.0 / 6, -1.0 / 6, -1.0 / 6, 1.0 / 6};

}  // namespace

TEST_CASE("l1_loss matches PyTorch", "[nn][loss]") {
  check_loss("l1_loss",
             [](const Tensor& x, const Tensor& y, Reduction r) { return F::l1_loss(x, y, {r}); },
             {kL1None, kSign, 4.1, 0.6833333333333332, kSign6});
  // Broadcasting target [3] against input [2, 3], as PyTorch (which warns).
  test::require_close(
      F::l1_loss(x_in(kFloat64), tensor({0.5, -1.0, 2.0}, kFloat64), {Reduction::None}), {2, 3},
      {0.3, 0.5, 1.0, 0.19999999999999996, 1.05, 2.3}, "broadcast");
  // |u| has gradient 0 at u = 0 (PyTorch's sign).
  Tensor x = tensor({1.0, 2.0}, kFloat64).requires_grad_();
  F::l1_loss(x, tensor({1.0, 3.0}, kFloat64), {Reduction::Sum}).backward();
  test::require_close(x.grad(), {2}, {0.0, -1.0}, "l1 grad at a tie");
  // Mean over no elements is NaN, as PyTorch.
  test::require_close(F::l1_loss(zeros({0}), zeros({0})), {}, {kNaN}, "empty mean");
}

TEST_CASE("smooth_l1_loss matches PyTorch for several betas", "[nn][loss]") {
  check_loss(
      "smooth_l1 beta=1",
      [](const Tensor& x, const Tensor& y, Reduction r) { return F::smooth_l1_loss(x, y, {r}); },
      {{0.020000000000000004, 0.125, 1.5, 0.8, 0.0012500000000000002, 0.0012499999999999994},
       {0.2, -0.5, 1.0, -1.0, -0.05, 0.04999999999999999},
       2.4475,
       0.40791666666666665,
       {0.03333333333333333, -0.08333333333333333, 0.16666666666666666, -0.16666666666666666,
        -0.008333333333333333, 0.008333333333333331}});
  check_loss("smooth_l1 beta=0.5",
             [](const Tensor& x, const Tensor& y, Reduction r) {
               return F::smooth_l1_loss(x, y, {r, 0.5});
             },
             {{0.04000000000000001, 0.25, 1.75, 1.05, 0.0025000000000000005, 0.0024999999999999988},
              {0.4, -1.0, 1.0, -1.0, -0.1, 0.09999999999999998},
              3.0949999999999998,
              0.5158333333333333,
              {0.06666666666666667, -0.16666666666666666, 0.16666666666666666, -0.16666666666666666,
               -0.016666666666666666, 0.016666666666666663}});
  check_loss("smooth_l1 beta=0",
             [](const Tensor& x, const Tensor& y, Reduction r) {
               return F::smooth_l1_loss(x, y, {r, 0.0});
             },
             {kL1None, kSign, 4.1, 0.6833333333333332, kSign6});
}

TEST_CASE("huber_loss matches PyTorch for several deltas", "[nn][loss]") {
  check_loss(
      "huber delta=0.5",
      [](const Tensor& x, const Tensor& y, Reduction r) { return F::huber_loss(x, y, {r, 0.5}); },
      {{0.020000000000000004, 0.125, 0.875, 0.525, 0.0012500000000000002, 0.0012499999999999994},
       {0.2, -0.5, 0.5, -0.5, -0.05, 0.04999999999999999},
       1.5474999999999999,
       0.2579166666666666,
       {0.03333333333333333, -0.08333333333333333, 0.08333333333333333, -0.08333333333333333,
        -0.008333333333333333, 0.008333333333333331}});
  check_loss(
      "huber delta=2.5",
      [](const Tensor& x, const Tensor& y, Reduction r) { return F::huber_loss(x, y, {r, 2.5}); },
      {{0.020000000000000004, 0.125, 2.0, 0.8450000000000001, 0.0012500000000000002,
        0.0012499999999999994},
       {0.2, -0.5, 2.0, -1.3, -0.05, 0.04999999999999999},
       2.9925,
       0.49875,
       {0.03333333333333333, -0.08333333333333333, 0.3333333333333333, -0.21666666666666667,
        -0.008333333333333333, 0.008333333333333331}});
  // delta = 1 equals smooth_l1 with beta = 1.
  CHECK(allclose(F::huber_loss(x_in(kFloat64), y_in(kFloat64)),
                 F::smooth_l1_loss(x_in(kFloat64), y_in(kFloat64)), 1e-15, 0));
}

TEST_CASE("kl_div matches PyTorch with every reduction and log_target", "[nn][loss]") {
  const Tensor input = tensor({{-1.2, -0.5, -2.0}, {-0.1, -3.0, -0.7}}, kFloat64);
  const Tensor prob = tensor({{0.2, 0.0, 0.8}, {0.5, 0.25, 0.25}}, kFloat64);
  const Tensor logt = tensor({{-1.6, -0.3, -0.2}, {-0.7, -1.4, -2.5}}, kFloat64);
  struct Case {
    bool log_target;
    F::KLDivReduction reduction;
    Dims shape;
    Vec value, grad;
  };
  const Vec none_p = {-0.0818875824868201, 0.0,
                      1.4214851589486324,  -0.29657359027997265,
                      0.40342640972002736, -0.17157359027997265};
  const Vec grad_p = {-0.2, -0.0, -0.8, -0.5, -0.25, -0.25};
  const Vec none_l = {-0.08075860719786218, 0.1481636441363436, 1.4737153555403673,
                      -0.2979511822748457,  0.3945551423065704, -0.14775299752301785};
  const Vec grad_l = {-0.20189651799465538, -0.7408182206817179, -0.8187307530779818,
                      -0.4965853037914095,  -0.2465969639416065, -0.0820849986238988};
  auto scaled = [](Vec v, double s) {
    for (double& x : v) x *= s;
    return v;
  };
  using K = F::KLDivReduction;
  const std::vector<Case> cases = {
      {false, K::None, {2, 3}, none_p, grad_p},
      {false, K::Sum, {}, {1.2748768056218942}, grad_p},
      {false, K::Mean, {}, {0.21247946760364902}, scaled(grad_p, 1.0 / 6)},
      {false, K::BatchMean, {}, {0.6374384028109471}, scaled(grad_p, 0.5)},
      {true, K::None, {2, 3}, none_l, grad_l},
      {true, K::Sum, {}, {1.4899713549875555}, grad_l},
      {true, K::Mean, {}, {0.2483285591645926}, scaled(grad_l, 1.0 / 6)},
      {true, K::BatchMean, {}, {0.7449856774937778}, scaled(grad_l, 0.5)},
  };
  for (const Case& c : cases) {
    for (DType d : {kFloat64, kFloat32}) {
      const std::string tag = std::string("kl_div log_target=") + (c.log_target ? "1" : "0") +
                              " reduction=" + std::to_string(int(c.reduction.kind)) + " " +
                              dtype_name(d);
      Tensor x = input.to(d).detach().requires_grad_();
      Tensor out = F::kl_div(x, (c.log_target ? logt : prob).to(d),
                             {.reduction = c.reduction, .log_target = c.log_target});
      test::require_close(out, c.shape, c.value, tag, tol(d), tol(d));
      out.sum().backward();
      test::require_close(x.grad(), {2, 3}, c.grad, tag + " grad", tol(d), tol(d));
    }
  }
  // Reduction converts: {.reduction = Reduction::Sum} is KLDivReduction::Sum.
  test::require_close(F::kl_div(input, prob, {.reduction = Reduction::Sum}), {},
                      {1.2748768056218942}, "Reduction::Sum", 1e-12, 1e-12);
  // The target's gradient (log t + 1 - input), where the target is not 0.
  Tensor t = prob.clone().requires_grad_();
  F::kl_div(input, t, {.reduction = Reduction::Sum}).backward();
  Vec tg = test::values(t.grad());
  const Vec expect_tg = {0.5905620875658997, 0,
                         2.7768564486857903, 0.4068528194400547,
                         2.613705638880109,  0.3137056388801094};
  for (int i : {0, 2, 3, 4, 5}) CHECK(tg[i] == Approx(expect_tg[i]).epsilon(1e-12));
  // A 0-d input has no batch dim: batchmean is the sum.
  test::require_close(F::kl_div(scalar_tensor(-0.5, kFloat64), scalar_tensor(0.3, kFloat64),
                                {.reduction = F::KLDivReduction::BatchMean}),
                      {}, {-0.21119184129778082}, "0-d batchmean", 1e-12, 1e-12);
}

TEST_CASE("binary_cross_entropy matches PyTorch, clamps its logs at -100", "[nn][loss]") {
  // x holds exact 0 and 1 (the clamp) and 0.999 (a large but finite term).
  const Tensor x = tensor({{0.2, 0.9, 0.5}, {0.0, 1.0, 0.999}}, kFloat64);
  const Tensor x2 = tensor({{0.2, 0.9, 0.5}, {0.01, 0.7, 0.999}}, kFloat64);
  const Tensor y = tensor({{0.0, 1.0, 0.3}, {0.0, 1.0, 0.0}}, kFloat64);
  const Tensor w = tensor({0.5, 2.0, 1.0}, kFloat64);
  struct Case {
    Reduction r;
    bool weighted;
    Vec value, value2, grad2;
  };
  const Vec grad = {1.2499999999999998, -1.1111111111111112, 0.8,
                    1.01010101010101,   -1.4285714285714286, 999.999999999999};
  const Vec grad_w = {0.6249999999999999, -2.2222222222222223, 0.8,
                      0.505050505050505,  -2.857142857142857,  999.999999999999};
  auto scaled = [](Vec v, double s) {
    for (double& e : v) e *= s;
    return v;
  };
  const std::vector<Case> cases = {
      {Reduction::None,
       false,
       {0.2231435513142097, 0.10536051565782628, 0.6931471805599453, 0.0, 0.0, 6.907755278982136},
       {0.2231435513142097, 0.10536051565782628, 0.6931471805599453, 0.01005033585350145,
        0.35667494393873245, 6.907755278982136},
       grad},
      {Reduction::None,
       true,
       {0.11157177565710485, 0.21072103131565256, 0.6931471805599453, 0.0, 0.0, 6.907755278982136},
       {0.11157177565710485, 0.21072103131565256, 0.6931471805599453, 0.005025167926750725,
        0.7133498878774649, 6.907755278982136},
       grad_w},
      {Reduction::Sum, false, {7.929406526514117}, {8.29613180630635}, grad},
      {Reduction::Sum, true, {7.923195266514839}, {8.641570322319055}, grad_w},
      {Reduction::Mean, false, {1.3215677544190194}, {1.3826886343843918}, scaled(grad, 1.0 / 6)},
      {Reduction::Mean, true, {1.3205325444191398}, {1.4402617203865091}, scaled(grad_w, 1.0 / 6)},
  };
  for (const Case& c : cases) {
    for (DType d : {kFloat64, kFloat32}) {
      const std::string tag = std::string("bce reduction=") + std::to_string(int(c.r)) +
                              (c.weighted ? " weighted " : " ") + dtype_name(d);
      const double t = d == kFloat64 ? 1e-12 : 2e-4;  // 1 - 0.999 in float32 loses digits
      F::BceOptions o{.weight = c.weighted ? w.to(d) : Tensor(), .reduction = c.r};
      Dims shape = c.r == Reduction::None ? Dims{2, 3} : Dims{};
      test::require_close(F::binary_cross_entropy(x.to(d), y.to(d), o), shape, c.value, tag, t, t);
      Tensor a = x2.to(d).detach().requires_grad_();
      Tensor out = F::binary_cross_entropy(a, y.to(d), o);
      test::require_close(out, shape, c.value2, tag + " x2", t, t);
      out.sum().backward();
      test::require_close(a.grad(), {2, 3}, c.grad2, tag + " grad", t, t);
    }
  }
  // log(0) is clamped to -100 in both dtypes; a term weighted by 0 is 0, never NaN.
  for (DType d : {kFloat64, kFloat32}) {
    Tensor p = tensor({0.0, 1.0, 0.0, 1.0}, kFloat64).to(d).requires_grad_();
    Tensor out = F::binary_cross_entropy(p, tensor({1.0, 0.0, 0.0, 1.0}, kFloat64).to(d),
                                         {.reduction = Reduction::None});
    test::require_close(out, {4}, {100.0, 100.0, 0.0, 0.0}, "clamp", 0, 0);
    out.sum().backward();
    // The gradient of the clamped log is 0 where the clamp holds; no NaN anywhere.
    for (double g : test::values(p.grad())) CHECK(std::isfinite(g));
  }
}

TEST_CASE("the composed losses pass gradcheck", "[nn][loss][gradcheck]") {
  // Inputs away from the kinks (|x - y| = beta or delta, x = y) and inside (0, 1) for BCE.
  Tensor x = tensor({{0.3, -1.2, 2.1}, {0.65, 0.05, -0.4}}, kFloat64).requires_grad_();
  Tensor y = tensor({{0.0, -1.0, 1.0}, {2.0, 0.12, -0.33}}, kFloat64).requires_grad_();
  auto check = [](const char* what, auto fn, const std::vector<Tensor>& in) {
    auto r = gradcheck([&](const std::vector<Tensor>& v) { return fn(v[0], v[1]); }, in);
    INFO(what << ": " << r.report);
    CHECK(r.ok);
  };
  check("l1_loss", [](const Tensor& a, const Tensor& b) { return F::l1_loss(a, b); }, {x, y});
  check("smooth_l1_loss",
        [](const Tensor& a, const Tensor& b) { return F::smooth_l1_loss(a, b, {.beta = 0.5}); },
        {x, y});
  check("huber_loss",
        [](const Tensor& a, const Tensor& b) { return F::huber_loss(a, b, {.delta = 0.5}); },
        {x, y});
  Tensor logp = tensor({{-1.2, -0.5, -2.0}, {-0.1, -3.0, -0.7}}, kFloat64).requires_grad_();
  Tensor prob = tensor({{0.2, 0.1, 0.7}, {0.5, 0.25, 0.25}}, kFloat64).requires_grad_();
  check("kl_div",
        [](const Tensor& a, const Tensor& b) {
          return F::kl_div(a, b, {.reduction = F::KLDivReduction::BatchMean});
        },
        {logp, prob});
  check("kl_div log_target",
        [](const Tensor& a, const Tensor& b) { return F::kl_div(a, b, {.log_target = true}); },
        {logp, (logp * 1.5).detach().requires_grad_()});
  Tensor p = tensor({{0.2, 0.9, 0.5}, {0.01, 0.7, 0.95}}, kFloat64).requires_grad_();
  check("binary_cross_entropy",
        [](const Tensor& a, const Tensor& b) {
          return F::binary_cross_entropy(a, b, {.reduction = Reduction::Sum});
        },
        {p, prob});
}

TEST_CASE("loss errors are PyTorch's, naming the op and the shapes", "[nn][loss][error]") {
  Tensor a = zeros({2, 3}), b = zeros({4});
  CHECK_THROWS_AS(F::l1_loss(a, b), ShapeError);
  CHECK_THROWS_WITH(F::l1_loss(a, b),
                    Catch::Contains("l1_loss: The size of tensor a (3) must match the size of "
                                    "tensor b (4) at non-singleton dimension 1"));
  CHECK_THROWS_WITH(F::smooth_l1_loss(a, b),
                    Catch::Contains("smooth_l1_loss: The size of tensor a (3)"));
  CHECK_THROWS_WITH(F::huber_loss(a, b), Catch::Contains("huber_loss: The size of tensor a (3)"));
  CHECK_THROWS_WITH(F::kl_div(a, b), Catch::Contains("kl_div: The size of tensor a (3)"));
  CHECK_THROWS_AS(F::smooth_l1_loss(a, a, {.beta = -1}), ValueError);
  CHECK_THROWS_WITH(F::smooth_l1_loss(a, a, {.beta = -1}),
                    Catch::Contains("smooth_l1_loss does not support negative values for beta, "
                                    "got beta=-1"));
  CHECK_THROWS_WITH(F::huber_loss(a, a, {.delta = 0}),
                    Catch::Contains("huber_loss does not support non-positive values for delta, "
                                    "got delta=0"));
  Tensor i = zeros({3}, kInt64);
  CHECK_THROWS_AS(F::l1_loss(i, i), DTypeError);
  CHECK_THROWS_WITH(
      F::l1_loss(i, i),
      Catch::Contains("l1_loss: expected floating point inputs, got int64 and int64"));
  CHECK_THROWS_WITH(F::kl_div(Tensor(), a), Catch::Contains("kl_div: an input is undefined"));

  // binary_cross_entropy: the shapes must be equal (no broadcasting), values in [0, 1].
  CHECK_THROWS_AS(F::binary_cross_entropy(zeros({3}), zeros({4})), ValueError);
  CHECK_THROWS_WITH(F::binary_cross_entropy(zeros({2, 3}), zeros({3})),
                    Catch::Contains("binary_cross_entropy: Using a target size ([3]) that is "
                                    "different to the input size ([2, 3]) is deprecated. Please "
                                    "ensure they have the same size."));
  CHECK_THROWS_WITH(F::binary_cross_entropy(tensor({0.5, 1.5}), ones({2})),
                    Catch::Contains("binary_cross_entropy: all elements of input should be "
                                    "between 0 and 1, got values in [0.5, 1.5]"));
  CHECK_THROWS_WITH(F::binary_cross_entropy(tensor({0.5, kNaN}), ones({2})),
                    Catch::Contains("all elements of input should be between 0 and 1"));
  CHECK_THROWS_WITH(F::binary_cross_entropy(full({2}, 0.5), ones({2}), {.weight = ones({3})}),
                    Catch::Contains("binary_cross_entropy: The size of tensor a (2) must match the "
                                    "size of tensor b (3) at non-singleton dimension 0"));
  CHECK_THROWS_WITH(F::binary_cross_entropy(full({3}, 0.5), ones({3}), {.weight = ones({2, 3})}),
                    Catch::Contains("binary_cross_entropy: weight of shape [2, 3] cannot be "
                                    "broadcast to the input's shape [3]"));
  CHECK_THROWS_AS(F::binary_cross_entropy(full({3}, 0.5), ones({3}), {.weight = ones({3}, kInt64)}),
                  DTypeError);
}

TEST_CASE("loss modules call their functional twins", "[nn][loss][module]") {
  Tensor x = x_in(kFloat64), y = y_in(kFloat64);
  CHECK(equal(nn::L1Loss()(x, y), F::l1_loss(x, y)));
  CHECK(equal(nn::L1Loss({Reduction::None})(x, y), F::l1_loss(x, y, {Reduction::None})));
  CHECK(equal(nn::SmoothL1Loss({.reduction = Reduction::Sum, .beta = 0.5})(x, y),
              F::smooth_l1_loss(x, y, {Reduction::Sum, 0.5})));
  CHECK(equal(nn::HuberLoss({.delta = 2.5})(x, y), F::huber_loss(x, y, {.delta = 2.5})));
  Tensor logp = log_softmax(x, 1), logq = log_softmax(y, 1);
  CHECK(equal(
      nn::KLDivLoss({.reduction = F::KLDivReduction::BatchMean, .log_target = true})(logp, logq),
      F::kl_div(logp, logq, {F::KLDivReduction::BatchMean, true})));
  Tensor p = sigmoid(x), t = sigmoid(y);
  Tensor w = tensor({0.5, 2.0, 1.0}, kFloat64);
  nn::BCELoss bce({.weight = w, .reduction = Reduction::Sum});
  CHECK(equal(bce(p, t), F::binary_cross_entropy(p, t, {w, Reduction::Sum})));
  CHECK(equal(nn::BCELoss()(p, t), F::binary_cross_entropy(p, t)));

  // BCELoss keeps its weight as a buffer; the others hold no state.
  CHECK(bce.state_dict().keys() == std::vector<std::string>{"weight"});
  CHECK(nn::L1Loss().state_dict().empty());
  CHECK(nn::KLDivLoss().state_dict().empty());
  CHECK(nn::BCELoss().state_dict().empty());
  std::ostringstream os;
  os << nn::SmoothL1Loss({.beta = 0.5}) << " "
     << nn::KLDivLoss({.reduction = F::KLDivReduction::BatchMean});
  CHECK(os.str() == "SmoothL1Loss(reduction=mean, beta=0.5) KLDivLoss(reduction=batchmean)");
  CHECK_THROWS_WITH(nn::HuberLoss({.delta = -1}),
                    Catch::Contains("HuberLoss: huber_loss does not support non-positive values "
                                    "for delta, got delta=-1"));
  CHECK_THROWS_WITH(nn::BCELoss({.weight = ones({3}, kInt64)}),
                    Catch::Contains("BCELoss: weight must be a floating point tensor"));
}

TEST_CASE("the composed losses trace into a jit::Region and match eager", "[nn][loss][jit]") {
  jit::clear_cache();
  const Tensor x = x_in(kFloat32), y = y_in(kFloat32);
  const Tensor p = sigmoid(x), t = sigmoid(y), logp = log_softmax(x, 1), q = softmax(y, 1);
  using Fn = std::function<Tensor(const Tensor&)>;
  const std::vector<std::pair<std::string, Fn>> losses = {
      {"l1_loss", [&](const Tensor& a) { return F::l1_loss(a, y); }},
      {"smooth_l1_loss", [&](const Tensor& a) { return F::smooth_l1_loss(a, y, {.beta = 0.5}); }},
      {"huber_loss", [&](const Tensor& a) { return F::huber_loss(a, y, {.delta = 0.5}); }},
      {"kl_div",
       [&](const Tensor& a) {
         return F::kl_div(log_softmax(a, 1), q, {.reduction = F::KLDivReduction::BatchMean});
       }},
      {"binary_cross_entropy",
       [&](const Tensor& a) { return F::binary_cross_entropy(sigmoid(a), t); }},
  };
  for (const auto& [name, fn] : losses) {
    Tensor e = x.detach().requires_grad_();
    Tensor eager = fn(e);
    eager.backward();
    // Three runs: the first ones run the trace eagerly, later ones compiled (EMBER_JIT_HOT).
    for (int run = 0; run < 3; ++run) {
      Tensor a = x.detach().requires_grad_();
      Tensor loss;
      {
        jit::Region r("loss_" + name);
        loss = fn(a);
        loss.backward();
      }
      INFO(name << " run " << run);
      CHECK(loss.item<float>() == Approx(eager.item<float>()).epsilon(1e-5));
      CHECK(allclose(a.grad(), e.grad(), 1e-5, 1e-6));
    }
  }
}
