// Compile-time probe (not built by default; scripts/dsl_compile_time.sh compiles it): one
// translation unit holding 20 distinct dsl kernels, each called on tensors and backward'ed, so
// that every forward loop and fused backward (all input masks, f32 and f64) is instantiated.
// With -DEMBER_DSL_PROBE_KERNELS=0 it holds the same includes and no kernel: the baseline.
#include "dsl/builtins.hpp"
#include "dsl/pointwise.hpp"
#include "ember.hpp"

#ifndef EMBER_DSL_PROBE_KERNELS
#define EMBER_DSL_PROBE_KERNELS 1
#endif

namespace probe {

using ember::Tensor;
namespace dsl = ember::dsl;

#if EMBER_DSL_PROBE_KERNELS
constexpr double kA = 0.75, kB = 0.25;

// one input
constexpr auto swish = dsl::pointwise([](auto x) { return x * dsl::sigmoid(x); }, "swish");
constexpr auto mish =
    dsl::pointwise([](auto x) { return x * dsl::tanh(dsl::log1p(dsl::exp(x))); }, "mish");
constexpr auto chain = dsl::pointwise(
    [](auto x) { return dsl::builtin::gelu_fn{}(x * kA + kB) * dsl::sigmoid(x); }, "chain");
constexpr auto softplus = dsl::pointwise(
    [](auto x) { return dsl::where(x > 20, x, dsl::log1p(dsl::exp(x))); }, "softplus");
constexpr auto elu =
    dsl::pointwise([](auto x) { return dsl::where(x > 0, x, dsl::expm1(x)); }, "elu");
constexpr auto hardswish = dsl::pointwise(
    [](auto x) { return x * dsl::min(dsl::max(x + 3, dsl::c<0>), dsl::c<6>) / 6; }, "hardswish");
constexpr auto poly = dsl::pointwise(
    [](auto x) { return dsl::c<1, 2> * x * x * x - dsl::c<3> * x + dsl::sin(x); }, "poly");
constexpr auto rsq =
    dsl::pointwise([](auto x) { return dsl::rsqrt(x * x + dsl::c<1>) * dsl::cos(x); }, "rsq");
// two inputs
constexpr auto huber = dsl::pointwise(
    [](auto p, auto t) {
      auto d = p - t;
      return dsl::where(dsl::abs(d) < 1, dsl::c<1, 2> * d * d, dsl::abs(d) - dsl::c<1, 2>);
    },
    "huber");
constexpr auto bce = dsl::pointwise(
    [](auto z, auto y) {
      return dsl::max(z, dsl::c<0>) - z * y + dsl::log1p(dsl::exp(-dsl::abs(z)));
    },
    "bce");
constexpr auto glu = dsl::pointwise([](auto a, auto b) { return a * dsl::sigmoid(b); }, "glu");
constexpr auto geglu =
    dsl::pointwise([](auto a, auto b) { return a * dsl::builtin::gelu_tanh_fn{}(b); }, "geglu");
constexpr auto powmix = dsl::pointwise(
    [](auto a, auto b) { return dsl::pow(dsl::abs(a) + 1, 1.5) * dsl::exp(-b * b); }, "powmix");
constexpr auto ratio = dsl::pointwise(
    [](auto a, auto b) { return (a - b) / (dsl::sqrt(a * a + b * b) + dsl::c<1, 100>); }, "ratio");
constexpr auto logistic = dsl::pointwise(
    [](auto a, auto b) { return dsl::log(dsl::sigmoid(a * b) + dsl::c<1, 1000>); }, "logistic");
constexpr auto clampmix = dsl::pointwise(
    [](auto a, auto b) { return dsl::where(a >= b, dsl::erf(a - b), dsl::tanh(b - a) * 2); },
    "clampmix");
// three inputs
constexpr auto lerp =
    dsl::pointwise([](auto a, auto b, auto w) { return a + w * (b - a); }, "lerp");
constexpr auto fma3 = dsl::pointwise(
    [](auto a, auto b, auto c) { return dsl::tanh(a * b + c) * dsl::sigmoid(c); }, "fma3");
constexpr auto select3 = dsl::pointwise(
    [](auto a, auto b, auto c) {
      return dsl::where(a > b, a * dsl::exp(c), dsl::where(b > c, b * b, dsl::log1p(c * c)));
    },
    "select3");
constexpr auto adamish = dsl::pointwise(
    [](auto m, auto v, auto g) {
      return (m * dsl::c<9, 10> + g / 10) /
             (dsl::sqrt(v * dsl::c<999, 1000> + g * g / 1000) + dsl::c<1, 100000000>);
    },
    "adamish");

/// Calls every kernel and backpropagates through it (x, y, z require grad).
double run_all(const Tensor& x, const Tensor& y, const Tensor& z) {
  double s = 0;
  auto go = [&](const Tensor& t) {
    t.sum().backward();
    s += t.sum().item<double>();
  };
  go(swish(x));
  go(mish(x));
  go(chain(x));
  go(softplus(x));
  go(elu(x));
  go(hardswish(x));
  go(poly(x));
  go(rsq(x));
  go(huber(x, y));
  go(bce(x, y));
  go(glu(x, y));
  go(geglu(x, y));
  go(powmix(x, y));
  go(ratio(x, y));
  go(logistic(x, y));
  go(clampmix(x, y));
  go(lerp(x, y, z));
  go(fma3(x, y, z));
  go(select3(x, y, z));
  go(adamish(x, y, z));
  return s;
}
#else
double run_all(const Tensor& x, const Tensor& y, const Tensor& z) {
  return (x + y + z).sum().item<double>();
}
#endif

}  // namespace probe

int main() {
  ember::Tensor x = ember::randn({8}).requires_grad_(), y = ember::randn({8}).requires_grad_();
  ember::Tensor z = ember::rand({8}).requires_grad_();
  return probe::run_all(x, y, z) == 0;
}
