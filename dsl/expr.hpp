// dsl expressions: pointwise formulas as types. A formula is written once, with placeholders
// for its inputs, and the type it builds is evaluated as a fused loop, differentiated
// symbolically (dsl/derivative.hpp) and described at run time for the JIT (dsl/describe.hpp).
//
//   auto e = x * sigmoid(x);        // x = Var<0>: the type Call<Fn::Mul, Var<0>, Call<...>>
//   float y = eval<float>(e, 2.f);   // 2 * sigmoid(2)
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <boost/hana/at.hpp>
#include <boost/hana/tuple.hpp>
#include <boost/hana/unpack.hpp>
#include <cmath>
#include <cstdint>
#include <ratio>
#include <tuple>
#include <type_traits>
#include <utility>

#include "dsl/math.hpp"

namespace ember::dsl {

namespace hana = boost::hana;

/// Every function a formula may use. One enum: the runtime description and the JIT speak it.
enum class Fn : uint8_t {
  // unary
  Neg,
  Exp,
  Log,
  Log1p,
  Expm1,
  Sqrt,
  Rsqrt,
  Abs,
  Sign,
  Sin,
  Cos,
  Tanh,
  Sigmoid,
  Erf,
  // binary
  Add,
  Sub,
  Mul,
  Div,
  Pow,
  Min,
  Max,
  Lt,
  Le,
  Gt,
  Ge,
  Eq,
  Ne,
  // ternary
  Where,
};
/// "exp", "add", ...
const char* fn_name(Fn f);

/// Input number I of the formula.
template <int I>
struct Var {
  static constexpr int index = I;
};
/// A compile-time rational constant N/D: folded and simplified away at compile time.
template <std::intmax_t N, std::intmax_t D = 1>
struct Const {
  using ratio = typename std::ratio<N, D>::type;
  static constexpr double value = static_cast<double>(ratio::num) / static_cast<double>(ratio::den);
};
/// A number known only at run time (a C++ double in the formula): kept as a value.
struct Param {
  double value;
};
/// Function F applied to its operands. (Named Call, not Node: autograd::Node and jit::IrNode
/// are the graph nodes; this is a formula's call of a built-in.)
template <Fn F, class... A>
struct Call {
  hana::tuple<A...> args;
};
/// The former name of Call.
template <Fn F, class... A>
using Node [[deprecated("dsl::Node is now dsl::Call")]] = Call<F, A...>;

/// dsl::c<2>, dsl::c<1, 2>: compile-time constants in formulas.
template <std::intmax_t N, std::intmax_t D = 1>
inline constexpr Const<N, D> c{};

template <class T>
struct is_expr : std::false_type {};
template <int I>
struct is_expr<Var<I>> : std::true_type {};
template <std::intmax_t N, std::intmax_t D>
struct is_expr<Const<N, D>> : std::true_type {};
template <>
struct is_expr<Param> : std::true_type {};
template <Fn F, class... A>
struct is_expr<Call<F, A...>> : std::true_type {};
template <class T>
inline constexpr bool is_expr_v = is_expr<std::decay_t<T>>::value;

template <class T>
struct is_const : std::false_type {};
template <std::intmax_t N, std::intmax_t D>
struct is_const<Const<N, D>> : std::true_type {};
template <class T>
inline constexpr bool is_zero_v = std::is_same_v<T, Const<0>>;
template <class T>
inline constexpr bool is_one_v = std::is_same_v<T, Const<1>>;

/// Number of inputs a formula reads (1 + the largest Var index).
template <class E>
struct arity : std::integral_constant<int, 0> {};
template <int I>
struct arity<Var<I>> : std::integral_constant<int, I + 1> {};
template <Fn F, class... A>
struct arity<Call<F, A...>> : std::integral_constant<int, std::max({0, arity<A>::value...})> {};

/// Bit I set when the formula reads input I.
template <class E>
struct vars_used : std::integral_constant<unsigned, 0u> {};
template <int I>
struct vars_used<Var<I>> : std::integral_constant<unsigned, 1u << I> {};
template <Fn F, class... A>
struct vars_used<Call<F, A...>>
    : std::integral_constant<unsigned, (vars_used<A>::value | ... | 0u)> {};

/// Number of costly functions in a formula (exp, log, erf, sigmoid, division, ...: each tens of
/// instructions per element). A formula with two or more is compute-bound, and runs its loops as
/// loops::Work::Heavy.
constexpr bool is_costly(Fn f) {
  switch (f) {
    case Fn::Exp:
    case Fn::Log:
    case Fn::Log1p:
    case Fn::Expm1:
    case Fn::Sin:
    case Fn::Cos:
    case Fn::Tanh:
    case Fn::Sigmoid:
    case Fn::Erf:
    case Fn::Pow:
    case Fn::Div:
      return true;
    default:
      return false;
  }
}
template <class E>
struct costly_fns : std::integral_constant<int, 0> {};
template <Fn F, class... A>
struct costly_fns<Call<F, A...>>
    : std::integral_constant<int, (is_costly(F) ? 1 : 0) + (costly_fns<A>::value + ... + 0)> {};

/// Lifts a C++ number into a formula (a Param); formulas pass through.
template <class T>
constexpr auto lift(const T& v) {
  if constexpr (is_expr_v<T>)
    return v;
  else
    return Param{static_cast<double>(v)};
}

template <Fn F, class... A>
constexpr Call<F, A...> make(const A&... a) {
  return Call<F, A...>{hana::make_tuple(a...)};
}

// ---- constructors that simplify at compile time: x+0, x*1, x*0, --x, constant folding ----

template <class T>
struct is_neg : std::false_type {};
template <class A>
struct is_neg<Call<Fn::Neg, A>> : std::true_type {};

template <class A>
constexpr auto neg(const A& a) {
  if constexpr (is_const<A>::value)
    return Const<-A::ratio::num, A::ratio::den>{};
  else if constexpr (is_neg<A>::value)
    return hana::at_c<0>(a.args);  // --a = a
  else
    return make<Fn::Neg>(a);
}

template <class A, class B>
constexpr auto add(const A& a, const B& b) {
  if constexpr (is_zero_v<A>)
    return b;
  else if constexpr (is_zero_v<B>)
    return a;
  else if constexpr (is_const<A>::value && is_const<B>::value) {
    using R = std::ratio_add<typename A::ratio, typename B::ratio>;
    return Const<R::num, R::den>{};
  } else
    return make<Fn::Add>(a, b);
}

template <class A, class B>
constexpr auto sub(const A& a, const B& b) {
  if constexpr (is_zero_v<B>)
    return a;
  else if constexpr (is_zero_v<A>)
    return neg(b);
  else if constexpr (is_const<A>::value && is_const<B>::value) {
    using R = std::ratio_subtract<typename A::ratio, typename B::ratio>;
    return Const<R::num, R::den>{};
  } else
    return make<Fn::Sub>(a, b);
}

template <class A, class B>
constexpr auto mul(const A& a, const B& b) {
  if constexpr (is_zero_v<A> || is_zero_v<B>)
    return Const<0>{};
  else if constexpr (is_one_v<A>)
    return b;
  else if constexpr (is_one_v<B>)
    return a;
  else if constexpr (std::is_same_v<A, Const<-1>>)
    return neg(b);
  else if constexpr (std::is_same_v<B, Const<-1>>)
    return neg(a);
  else if constexpr (is_const<A>::value && is_const<B>::value) {
    using R = std::ratio_multiply<typename A::ratio, typename B::ratio>;
    return Const<R::num, R::den>{};
  } else
    return make<Fn::Mul>(a, b);
}

template <class A, class B>
constexpr auto div(const A& a, const B& b) {
  if constexpr (is_zero_v<A>)
    return Const<0>{};
  else if constexpr (is_one_v<B>)
    return a;
  else if constexpr (is_const<A>::value && is_const<B>::value) {
    using R = std::ratio_divide<typename A::ratio, typename B::ratio>;
    return Const<R::num, R::den>{};
  } else
    return make<Fn::Div>(a, b);
}

template <class C, class A, class B>
constexpr auto where(const C& cnd, const A& a, const B& b) {
  if constexpr (std::is_same_v<A, B> && std::is_empty_v<A>)
    return a;  // both branches equal
  else
    return make<Fn::Where>(lift(cnd), lift(a), lift(b));
}

// ---- the user vocabulary: operators and functions on formulas ----

template <class A, class B>
concept ExprOperands =
    (is_expr_v<A> || is_expr_v<B>) && (is_expr_v<A> || std::is_arithmetic_v<A>) &&
    (is_expr_v<B> || std::is_arithmetic_v<B>);

template <class A, class B>
  requires ExprOperands<A, B>
constexpr auto operator+(const A& a, const B& b) {
  return add(lift(a), lift(b));
}
template <class A, class B>
  requires ExprOperands<A, B>
constexpr auto operator-(const A& a, const B& b) {
  return sub(lift(a), lift(b));
}
template <class A, class B>
  requires ExprOperands<A, B>
constexpr auto operator*(const A& a, const B& b) {
  return mul(lift(a), lift(b));
}
template <class A, class B>
  requires ExprOperands<A, B>
constexpr auto operator/(const A& a, const B& b) {
  return div(lift(a), lift(b));
}
template <class A>
  requires is_expr_v<A>
constexpr auto operator-(const A& a) {
  return neg(a);
}

#define EMBER_DSL_COMPARE(op, F)              \
  template <class A, class B>                 \
    requires ExprOperands<A, B>               \
  constexpr auto op(const A& a, const B& b) { \
    return make<Fn::F>(lift(a), lift(b));     \
  }
EMBER_DSL_COMPARE(operator<, Lt)
EMBER_DSL_COMPARE(operator<=, Le)
EMBER_DSL_COMPARE(operator>, Gt)
EMBER_DSL_COMPARE(operator>=, Ge)
EMBER_DSL_COMPARE(operator==, Eq)
EMBER_DSL_COMPARE(operator!=, Ne)
EMBER_DSL_COMPARE(min, Min)
EMBER_DSL_COMPARE(max, Max)
#undef EMBER_DSL_COMPARE

#define EMBER_DSL_UNARY(name, F)    \
  template <class A>                \
    requires is_expr_v<A>           \
  constexpr auto name(const A& a) { \
    return make<Fn::F>(a);          \
  }
EMBER_DSL_UNARY(exp, Exp)
EMBER_DSL_UNARY(log, Log)
EMBER_DSL_UNARY(log1p, Log1p)
EMBER_DSL_UNARY(expm1, Expm1)
EMBER_DSL_UNARY(sqrt, Sqrt)
EMBER_DSL_UNARY(rsqrt, Rsqrt)
EMBER_DSL_UNARY(abs, Abs)
EMBER_DSL_UNARY(sign, Sign)
EMBER_DSL_UNARY(sin, Sin)
EMBER_DSL_UNARY(cos, Cos)
EMBER_DSL_UNARY(tanh, Tanh)
EMBER_DSL_UNARY(sigmoid, Sigmoid)
EMBER_DSL_UNARY(erf, Erf)
#undef EMBER_DSL_UNARY

/// a to the power e (e a constant, a runtime scalar, or another formula).
template <class A, class E>
  requires ExprOperands<A, E>
constexpr auto pow(const A& a, const E& e) {
  if constexpr (is_one_v<E>)
    return lift(a);
  else
    return make<Fn::Pow>(lift(a), lift(e));
}

// ---- runtime scalars, numbered: a kernel evaluates number_params(e), whose K-th runtime
// scalar is PRef<K>, its value read from one array. The copies of a scalar that derivative
// formulas make then stay one value to the compiler, which computes the sub-expressions the
// formulas share (t = x a + b, erf(t), sigmoid(x)) once per element. ----

/// The K-th runtime scalar of a numbered formula.
template <int K>
struct PRef {};
template <int K>
struct is_expr<PRef<K>> : std::true_type {};

/// Number of runtime scalars (Params) in a formula.
template <class E>
struct param_count : std::integral_constant<int, 0> {};
template <>
struct param_count<Param> : std::integral_constant<int, 1> {};
template <Fn F, class... A>
struct param_count<Call<F, A...>> : std::integral_constant<int, (0 + ... + param_count<A>::value)> {
};

/// Params in the operands before operand J.
template <size_t J, class... A>
constexpr int params_before() {
  constexpr int count[] = {0, param_count<A>::value...};
  int s = 0;
  for (size_t k = 1; k <= J; ++k) s += count[k];
  return s;
}

/// The formula with its Params, depth-first, replaced by PRef<Base>, PRef<Base + 1>, ...
template <int Base, class E>
constexpr E number_params(const E& e) {
  return e;
}
template <int Base>
constexpr PRef<Base> number_params(const Param&) {
  return {};
}
template <int Base, Fn F, class... A>
constexpr auto number_params(const Call<F, A...>& n) {
  return [&]<size_t... J>(std::index_sequence<J...>) {
    return make<F>(number_params<Base + params_before<J, A...>()>(hana::at_c<J>(n.args))...);
  }(std::index_sequence_for<A...>{});
}

/// The values of a formula's Params in T, in number_params order; PRef<K> reads v[K]. A plain
/// array member, not std::array: its operator[] is a call in an unoptimised build.
template <class T, size_t K>
struct ParamValues {
  static constexpr size_t count = K;
  T v[K > 0 ? K : 1];
};

template <class T, class E>
ParamValues<T, param_count<E>::value> param_values(const E& e) {
  ParamValues<T, param_count<E>::value> out{};
  T* p = out.v;
  auto walk = [&p](const auto& self, const auto& x) -> void {
    using X = std::decay_t<decltype(x)>;
    if constexpr (std::is_same_v<X, Param>)
      *p++ = static_cast<T>(x.value);
    else if constexpr (param_count<X>::value > 0)
      hana::unpack(x.args, [&](const auto&... a) { (self(self, a), ...); });
  };
  walk(walk, e);
  return out;
}

// ---- evaluation: the formula as scalar code in T, inlined into the caller's loop ----
// Forced inline: a deep formula otherwise exceeds g++'s inlining limits, and one call left in
// the loop body keeps it from vectorising.
#define EMBER_DSL_INLINE [[gnu::always_inline]] inline

using math::select;  // c ? a : b without a branch (dsl/math.hpp)

// Signed integers wrap around (two's complement, as PyTorch's int64 ops) where C++'s signed
// overflow is undefined behaviour: -INT64_MIN and INT64_MAX + 1 computed through uint64_t.
template <class T>
inline constexpr bool kWrapInt = std::is_integral_v<T> && std::is_signed_v<T>;
template <class T>
EMBER_DSL_INLINE auto as_unsigned(T a) {
  return static_cast<std::make_unsigned_t<T>>(a);
}

template <Fn F, class T>
EMBER_DSL_INLINE T apply(T a) {
  if constexpr (F == Fn::Neg && kWrapInt<T>)
    return static_cast<T>(-as_unsigned(a));
  else if constexpr (F == Fn::Abs && kWrapInt<T>)
    return a < 0 ? static_cast<T>(-as_unsigned(a)) : a;
  else if constexpr (F == Fn::Neg)
    return -a;
  else if constexpr (F == Fn::Exp)
    return math::exp(a);
  else if constexpr (F == Fn::Log)
    return math::log(a);
  else if constexpr (F == Fn::Log1p)
    return math::log1p(a);
  else if constexpr (F == Fn::Expm1)
    return math::expm1(a);
  else if constexpr (F == Fn::Sqrt)
    return math::sqrt(a);
  else if constexpr (F == Fn::Rsqrt)
    return T(1) / math::sqrt(a);
  else if constexpr (F == Fn::Abs)
    return math::abs(a);
  else if constexpr (F == Fn::Sign)
    return T((T(0) < a) - (a < T(0)));
  else if constexpr (F == Fn::Sin)
    return math::sin(a);
  else if constexpr (F == Fn::Cos)
    return math::cos(a);
  else if constexpr (F == Fn::Tanh)
    return math::tanh(a);
  else if constexpr (F == Fn::Sigmoid)
    return T(1) / (T(1) + math::exp(-a));
  else
    return math::erf(a);
}

template <Fn F, class T>
EMBER_DSL_INLINE T apply(T a, T b) {
  if constexpr (F == Fn::Add && kWrapInt<T>)
    return static_cast<T>(as_unsigned(a) + as_unsigned(b));
  else if constexpr (F == Fn::Sub && kWrapInt<T>)
    return static_cast<T>(as_unsigned(a) - as_unsigned(b));
  else if constexpr (F == Fn::Mul && kWrapInt<T>)
    return static_cast<T>(as_unsigned(a) * as_unsigned(b));
  else if constexpr (F == Fn::Add)
    return a + b;
  else if constexpr (F == Fn::Sub)
    return a - b;
  else if constexpr (F == Fn::Mul)
    return a * b;
  else if constexpr (F == Fn::Div)
    return a / b;
  else if constexpr (F == Fn::Pow)
    return math::pow(a, b);
  // NaN propagates through min/max, as PyTorch's minimum/maximum (dsl/math.hpp).
  else if constexpr (F == Fn::Min)
    return math::minimum(a, b);
  else if constexpr (F == Fn::Max)
    return math::maximum(a, b);
  else if constexpr (F == Fn::Lt)
    return select(a < b, T(1), T(0));
  else if constexpr (F == Fn::Le)
    return select(a <= b, T(1), T(0));
  else if constexpr (F == Fn::Gt)
    return select(a > b, T(1), T(0));
  else if constexpr (F == Fn::Ge)
    return select(a >= b, T(1), T(0));
  else if constexpr (F == Fn::Eq)
    return select(a == b, T(1), T(0));
  else
    return select(a != b, T(1), T(0));
}

// The evaluation below calls only always-inline functions, so that a row loop compiled with
// optimisation in an unoptimised translation unit (loops::row_v3) inlines all of it: no std::get,
// std::array::operator[] or hana::at_c, each a call at -O0.

/// x_I of x...
template <int I, class X0, class... X>
EMBER_DSL_INLINE const auto& nth(const X0& x0, const X&... x) {
  if constexpr (I == 0)
    return x0;
  else
    return nth<I - 1>(x...);
}
/// True when a formula holds no number (no Param): every node of a numbered formula.
template <class X>
struct stateless : std::is_empty<X> {};
template <Fn F, class... A>
struct stateless<Call<F, A...>> : std::bool_constant<(stateless<A>::value && ...)> {};

/// Operand J of a formula node: made afresh when it holds no number, else the stored one.
template <size_t J, class... A>
EMBER_DSL_INLINE decltype(auto) operand(const hana::tuple<A...>& args) {
  using X = std::tuple_element_t<J, std::tuple<A...>>;
  if constexpr (stateless<X>::value)
    return X{};
  else
    return hana::at_c<J>(args);
}

/// The formula's value in T for inputs x... (Var<I> reads x_I, PRef<K> reads pv.v[K]).
template <class T, class PV, int I, class... X>
EMBER_DSL_INLINE T eval_with(const Var<I>&, const PV&, const X&... x) {
  return static_cast<T>(nth<I>(x...));
}
template <class T, class PV, std::intmax_t N, std::intmax_t D, class... X>
EMBER_DSL_INLINE T eval_with(const Const<N, D>&, const PV&, const X&...) {
  return static_cast<T>(N) / static_cast<T>(D);
}
template <class T, class PV, class... X>
EMBER_DSL_INLINE T eval_with(const Param& p, const PV&, const X&...) {
  return static_cast<T>(p.value);
}
template <class T, class PV, int K, class... X>
EMBER_DSL_INLINE T eval_with(const PRef<K>&, const PV& pv, const X&...) {
  static_assert(K < static_cast<int>(PV::count), "dsl: PRef<K> without its value");
  return pv.v[K];
}
template <class T, class PV, Fn F, class... A, class... X>
EMBER_DSL_INLINE T eval_with(const Call<F, A...>& n, const PV& pv, const X&... x) {
  // __attribute__, not [[gnu::always_inline]]: on a lambda, g++ applies the latter to the
  // lambda's type and ignores it; at -O2 this call per node and element then stayed a call.
  return [&]<size_t... J>(std::index_sequence<J...>) __attribute__((always_inline)) -> T {
    if constexpr (F == Fn::Where) {
      const T c = eval_with<T>(operand<0>(n.args), pv, x...);
      const T a = eval_with<T>(operand<1>(n.args), pv, x...);
      const T b = eval_with<T>(operand<2>(n.args), pv, x...);
      return select(c != T(0), a, b);
    } else {
      return apply<F, T>(eval_with<T>(operand<J>(n.args), pv, x...)...);
    }
  }(std::make_index_sequence<sizeof...(A)>{});
}

/// The formula's value in T for inputs x... (Var<I> reads x_I).
template <class T, class E, class... X>
EMBER_DSL_INLINE T eval(const E& e, const X&... x) {
  return eval_with<T>(e, ParamValues<T, 0>{}, x...);
}

#undef EMBER_DSL_INLINE

}  // namespace ember::dsl
