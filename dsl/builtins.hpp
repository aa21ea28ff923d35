// The built-in pointwise ops, each defined once as a dsl formula. Their eager kernels
// (runtime/ops/unary.cpp, binary.cpp) evaluate these formulas, and their rows in the derivative
// table differentiate them: the two can never drift apart. Exceptions, hand-written in the
// kernels (each file says why): bool inputs, and float and integer pow (binary.cpp).
#pragma once

#include "dsl/expr.hpp"

namespace ember::dsl::builtin {

// A formula of one or two inputs, as a type.
template <class F1>
struct Def1 {
  static constexpr auto expr = F1{}(Var<0>{});
};
template <class F2>
struct Def2 {
  static constexpr auto expr = F2{}(Var<0>{}, Var<1>{});
};

#define EMBER_DSL_DEF1(name, ...)                                   \
  struct name##_fn {                                                \
    constexpr auto operator()(auto x) const { return __VA_ARGS__; } \
  };                                                                \
  using name = Def1<name##_fn>;
/// A formula of one input and two run-time scalars (an activation's options): `expr` holds
/// placeholders (its type is what compile-time rules read), `with(p, q)` the call's values.
template <class F>
struct DefP {
  static constexpr auto expr = F{}(Var<0>{}, Param{0}, Param{0});
  static constexpr auto with(double p, double q) { return F{}(Var<0>{}, Param{p}, Param{q}); }
};
#define EMBER_DSL_DEFP(name, ...)                                                               \
  struct name##_fn {                                                                            \
    constexpr auto operator()(auto x, [[maybe_unused]] auto p, [[maybe_unused]] auto q) const { \
      return __VA_ARGS__;                                                                       \
    }                                                                                           \
  };                                                                                            \
  using name = DefP<name##_fn>;
#define EMBER_DSL_DEF2(name, ...)                                           \
  struct name##_fn {                                                        \
    constexpr auto operator()(auto x, auto y) const { return __VA_ARGS__; } \
  };                                                                        \
  using name = Def2<name##_fn>;

EMBER_DSL_DEF1(neg, -x)
EMBER_DSL_DEF1(abs, dsl::abs(x))
EMBER_DSL_DEF1(exp, dsl::exp(x))
EMBER_DSL_DEF1(log, dsl::log(x))
EMBER_DSL_DEF1(log1p, dsl::log1p(x))
EMBER_DSL_DEF1(expm1, dsl::expm1(x))
EMBER_DSL_DEF1(sqrt, dsl::sqrt(x))
EMBER_DSL_DEF1(rsqrt, dsl::rsqrt(x))
EMBER_DSL_DEF1(sin, dsl::sin(x))
EMBER_DSL_DEF1(cos, dsl::cos(x))
EMBER_DSL_DEF1(tanh, dsl::tanh(x))
EMBER_DSL_DEF1(sigmoid, dsl::sigmoid(x))
EMBER_DSL_DEF1(erf, dsl::erf(x))
EMBER_DSL_DEF1(sign, dsl::sign(x))
// relu(x) = x where x > 0 or x is NaN (PyTorch propagates NaN), else 0
EMBER_DSL_DEF1(relu, dsl::where((x > c<0>)+(x != x), x, c<0>))
// silu(x) = x sigmoid(x)
EMBER_DSL_DEF1(silu, x* dsl::sigmoid(x))
// gelu(x) = x Phi(x) = x/2 (1 + erf(x / sqrt 2))
EMBER_DSL_DEF1(gelu, c<1, 2>* x*(c<1> + dsl::erf(x * Param{0.7071067811865476})))
// gelu, tanh form: x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
EMBER_DSL_DEF1(gelu_tanh, c<1, 2>* x*(c<1> + dsl::tanh(Param{0.7978845608028654} *
                                                       (x + Param{0.044715} * x * x * x))))

// Activations with options: the formula of x and the run-time scalars p, q (the options, in the
// order the op's ActivationAttrs holds them).
// leaky_relu(x; slope) = x where x > 0, else slope x
EMBER_DSL_DEFP(leaky_relu, dsl::where(x > c<0>, x, x* p))
// elu(x; alpha) = alpha (e^x - 1) where x <= 0, else x (NaN takes the x branch, as PyTorch's
// gradient does)
EMBER_DSL_DEFP(elu, dsl::where(x <= c<0>, p* dsl::expm1(x), x))
// hardtanh(x; lo, hi) = min(max(x, lo), hi) as clamp (hi everywhere when lo > hi); d = 1
// strictly inside (lo, hi) only, as PyTorch
EMBER_DSL_DEFP(hardtanh, dsl::where(dsl::where(x <= p, p, x) >= q, q, dsl::where(x <= p, p, x)))
// mish(x) = x tanh(softplus x), softplus x = max(x, 0) + log(1 + e^-|x|): no overflow of e^x
// (log1p(e^x) differentiates to e^x / (1 + e^x), inf / inf for large x)
EMBER_DSL_DEF1(mish, x* dsl::tanh(dsl::max(x, c<0>) + dsl::log1p(dsl::exp(-dsl::abs(x)))))
// hardswish(x) = 0 for x < -3, x (x + 3) / 6 below 3, x from 3 (PyTorch's vectorised branches:
// the derivative is x/3 + 1/2 at -3, 1 at 3 and at NaN)
EMBER_DSL_DEF1(hardswish, dsl::where(x < c<-3>, c<0>, dsl::where(x < c<3>, x*(x + c<3>) / c<6>, x)))
// softplus(x) = log(1 + e^x), and x itself past x > 20 (PyTorch's default threshold, beta 1)
EMBER_DSL_DEF1(softplus, dsl::where(x > c<20>, x, dsl::log1p(dsl::exp(x))))

EMBER_DSL_DEF2(add, x + y)
EMBER_DSL_DEF2(sub, x - y)
EMBER_DSL_DEF2(mul, x* y)
EMBER_DSL_DEF2(div, x / y)
EMBER_DSL_DEF2(pow, dsl::pow(x, y))
EMBER_DSL_DEF2(maximum, dsl::max(x, y))
EMBER_DSL_DEF2(minimum, dsl::min(x, y))

#undef EMBER_DSL_DEF1
#undef EMBER_DSL_DEF2
#undef EMBER_DSL_DEFP

}  // namespace ember::dsl::builtin

// The built-ins that are not already dsl functions (exp, tanh, erf, neg, ... in dsl/expr.hpp),
// under their public names, for user formulas: dsl::gelu(x * 2 + 1) is builtin::gelu's formula with
// x * 2 + 1 for x, the definition the eager gelu evaluates.
namespace ember::dsl {

#define EMBER_DSL_PUBLIC1(name)     \
  template <class A>                \
    requires is_expr_v<A>           \
  constexpr auto name(const A& x) { \
    return builtin::name##_fn{}(x); \
  }
EMBER_DSL_PUBLIC1(relu)
EMBER_DSL_PUBLIC1(silu)
EMBER_DSL_PUBLIC1(gelu)
EMBER_DSL_PUBLIC1(gelu_tanh)
EMBER_DSL_PUBLIC1(softplus)
EMBER_DSL_PUBLIC1(mish)
EMBER_DSL_PUBLIC1(hardswish)
#undef EMBER_DSL_PUBLIC1

/// maximum / minimum (PyTorch's names; also dsl::max / dsl::min): NaN propagates.
template <class A, class B>
  requires ExprOperands<A, B>
constexpr auto maximum(const A& a, const B& b) {
  return builtin::maximum_fn{}(lift(a), lift(b));
}
template <class A, class B>
  requires ExprOperands<A, B>
constexpr auto minimum(const A& a, const B& b) {
  return builtin::minimum_fn{}(lift(a), lift(b));
}

/// softplus(x, beta, threshold) as torch.nn.functional.softplus: log(1 + e^(beta x)) / beta, and
/// x where beta x > threshold.
template <class A>
  requires is_expr_v<A>
constexpr auto softplus(const A& x, double beta, double threshold = 20.0) {
  const auto bx = x * beta;
  return where(bx > threshold, x, log1p(exp(bx)) / beta);
}

/// clamp(x, lo, hi) = min(max(x, lo), hi), NaN propagating (torch.clamp).
template <class A, class L, class H>
  requires is_expr_v<A>
constexpr auto clamp(const A& x, const L& lo, const H& hi) {
  return minimum(maximum(x, lo), hi);
}

}  // namespace ember::dsl
