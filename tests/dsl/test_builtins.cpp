// The built-in pointwise ops under their public names in user formulas (dsl/builtins.hpp): each
// is the very formula the eager op evaluates (a compile-time check of its type), and a kernel
// calling it gives the eager op's values.
#include "dsl/builtins.hpp"
#include "dsl/pointwise.hpp"
#include "support/reference.hpp"

using namespace ember;
namespace d = ember::dsl;
namespace b = ember::dsl::builtin;

namespace {
constexpr d::Var<0> x{};
constexpr d::Var<1> y{};

template <class F1, class E>
constexpr bool same_formula(const E&) {
  return std::is_same_v<E, std::decay_t<decltype(F1::expr)>>;
}
}  // namespace

// One per built-in: the public function on a placeholder is the built-in's definition.
static_assert(same_formula<b::neg>(d::neg(x)) && same_formula<b::neg>(-x));
static_assert(same_formula<b::abs>(d::abs(x)));
static_assert(same_formula<b::exp>(d::exp(x)));
static_assert(same_formula<b::log>(d::log(x)));
static_assert(same_formula<b::log1p>(d::log1p(x)));
static_assert(same_formula<b::expm1>(d::expm1(x)));
static_assert(same_formula<b::sqrt>(d::sqrt(x)));
static_assert(same_formula<b::rsqrt>(d::rsqrt(x)));
static_assert(same_formula<b::sin>(d::sin(x)));
static_assert(same_formula<b::cos>(d::cos(x)));
static_assert(same_formula<b::tanh>(d::tanh(x)));
static_assert(same_formula<b::sigmoid>(d::sigmoid(x)));
static_assert(same_formula<b::erf>(d::erf(x)));
static_assert(same_formula<b::sign>(d::sign(x)));
static_assert(same_formula<b::relu>(d::relu(x)));
static_assert(same_formula<b::silu>(d::silu(x)));
static_assert(same_formula<b::gelu>(d::gelu(x)));
static_assert(same_formula<b::gelu_tanh>(d::gelu_tanh(x)));
static_assert(same_formula<b::softplus>(d::softplus(x)));
static_assert(same_formula<b::add>(x + y));
static_assert(same_formula<b::sub>(x - y));
static_assert(same_formula<b::mul>(x * y));
static_assert(same_formula<b::div>(x / y));
static_assert(same_formula<b::pow>(d::pow(x, y)));
static_assert(same_formula<b::maximum>(d::maximum(x, y)) && same_formula<b::maximum>(d::max(x, y)));
static_assert(same_formula<b::minimum>(d::minimum(x, y)) && same_formula<b::minimum>(d::min(x, y)));
// On a sub-formula: the definition with the sub-formula for x.
static_assert(std::is_same_v<decltype(d::silu(x * y)), decltype((x * y) * d::sigmoid(x * y))>);

namespace {
// Kernels calling each one-input built-in by name on a sub-formula (x * 1.5, so that the name
// really composes), against the eager op on the same values.
#define EMBER_BUILTIN_KERNEL(name) \
  constexpr auto k_##name = d::pointwise([](auto v) { return d::name(v * 1.5); }, #name);
EMBER_BUILTIN_KERNEL(neg)
EMBER_BUILTIN_KERNEL(abs)
EMBER_BUILTIN_KERNEL(exp)
EMBER_BUILTIN_KERNEL(log)
EMBER_BUILTIN_KERNEL(log1p)
EMBER_BUILTIN_KERNEL(expm1)
EMBER_BUILTIN_KERNEL(sqrt)
EMBER_BUILTIN_KERNEL(rsqrt)
EMBER_BUILTIN_KERNEL(sin)
EMBER_BUILTIN_KERNEL(cos)
EMBER_BUILTIN_KERNEL(tanh)
EMBER_BUILTIN_KERNEL(sigmoid)
EMBER_BUILTIN_KERNEL(erf)
EMBER_BUILTIN_KERNEL(sign)
EMBER_BUILTIN_KERNEL(relu)
EMBER_BUILTIN_KERNEL(silu)
EMBER_BUILTIN_KERNEL(gelu)
EMBER_BUILTIN_KERNEL(gelu_tanh)
EMBER_BUILTIN_KERNEL(softplus)
#undef EMBER_BUILTIN_KERNEL
constexpr auto k_maximum = d::pointwise([](auto u, auto v) { return d::maximum(u, v * 2); });
constexpr auto k_minimum = d::pointwise([](auto u, auto v) { return d::minimum(u, v * 2); });
constexpr auto k_clamp = d::pointwise([](auto u) { return d::clamp(u, -0.5, 0.75); });
constexpr auto k_softplus2 = d::pointwise([](auto u) { return d::softplus(u, 2.0, 3.0); });
}  // namespace

TEST_CASE("every built-in is callable by name in a user formula, with eager values", "[dsl]") {
  // Values from -24 to 24 (softplus's threshold 20 on both sides) and positive ones for log.
  Tensor a = test::seeded_randn({4, 33}, 3) * 8;
  Tensor p = a.abs() + 0.25;
  auto check = [](const Tensor& got, const Tensor& want, const char* what) {
    test::require_close(got, want.sizes(), test::values(want), what, 1e-5, 1e-6);
  };
  const Tensor s = a * 1.5, sp = p * 1.5;
  check(k_neg(a), neg(s), "neg");
  check(k_abs(a), abs(s), "abs");
  check(k_exp(a * 0.1), exp(s * 0.1), "exp");
  check(k_log(p), log(sp), "log");
  check(k_log1p(p), log1p(sp), "log1p");
  check(k_expm1(a * 0.1), expm1(s * 0.1), "expm1");
  check(k_sqrt(p), sqrt(sp), "sqrt");
  check(k_rsqrt(p), rsqrt(sp), "rsqrt");
  check(k_sin(a), sin(s), "sin");
  check(k_cos(a), cos(s), "cos");
  check(k_tanh(a), tanh(s), "tanh");
  check(k_sigmoid(a), sigmoid(s), "sigmoid");
  check(k_erf(a), erf(s), "erf");
  check(k_sign(a), sign(s), "sign");
  check(k_relu(a), relu(s), "relu");
  check(k_silu(a), silu(s), "silu");
  check(k_gelu(a), gelu(s), "gelu");
  check(k_gelu_tanh(a), gelu(s, "tanh"), "gelu tanh");
  check(k_softplus(a), softplus(s), "softplus");
  Tensor c = test::seeded_randn({4, 33}, 4);
  check(k_maximum(a, c), maximum(a, c * 2), "maximum");
  check(k_minimum(a, c), minimum(a, c * 2), "minimum");
  check(k_clamp(c), clamp(c, -0.5, 0.75), "clamp");
  check(k_softplus2(a), softplus(a, 2.0, 3.0), "softplus beta 2 threshold 3");
}

TEST_CASE("softplus matches PyTorch's values and gradient", "[dsl]") {
  // torch.nn.functional.softplus(torch.tensor([-30., -1, 0, 1, 19.5, 20, 20.5, 100])) and the
  // gradient of its sum (torch 1.13): e^x / (1 + e^x) up to the threshold, 1 past it.
  Tensor x = tensor({-30.0, -1.0, 0.0, 1.0, 19.5, 20.0, 20.5, 100.0}).to(kFloat64);
  x.requires_grad_();
  Tensor y = softplus(x);
  test::require_close(y, {8},
                      {9.357622968839737e-14, 0.31326168751822286, 0.6931471805599453,
                       1.3132616875182228, 19.500000003398267, 20.000000002061153, 20.5, 100.0},
                      "softplus", 1e-12, 1e-15);
  y.sum().backward();
  test::require_close(x.grad(), {8},
                      {9.3576229688393e-14, 0.2689414213699951, 0.5, 0.7310585786300049,
                       0.9999999966017322, 0.9999999979388464, 1.0, 1.0},
                      "softplus grad", 1e-12, 1e-15);
  // beta and threshold: log(1 + e^(2x)) / 2, x where 2x > 3
  Tensor z = tensor({-1.0, 1.0, 1.75}).to(kFloat64);
  test::require_close(softplus(z, 2.0, 3.0), {3}, {0.06346400552148625, 1.0634640055214863, 1.75},
                      "softplus beta 2", 1e-12, 1e-15);
}
