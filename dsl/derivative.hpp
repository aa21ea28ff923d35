// Symbolic differentiation at compile time: diff<I>(e) is the formula for d e / d x_I, built
// from the simplifying constructors, so d/dx (x*x) is the type of x + x and d/dx c is Const<0>.
#pragma once

#include "dsl/expr.hpp"

namespace ember::dsl {

template <int I, int J>
constexpr auto diff(const Var<J>&) {
  if constexpr (I == J)
    return Const<1>{};
  else
    return Const<0>{};
}
template <int I, std::intmax_t N, std::intmax_t D>
constexpr auto diff(const Const<N, D>&) {
  return Const<0>{};
}
template <int I>
constexpr auto diff(const Param&) {
  return Const<0>{};
}
template <int I, int K>
constexpr auto diff(const PRef<K>&) {
  return Const<0>{};
}

template <int I, Fn F, class... A>
constexpr auto diff(const Call<F, A...>& e) {
  constexpr double two_over_sqrt_pi = 1.1283791670955126;
  const auto& args = e.args;
  if constexpr (sizeof...(A) == 1) {
    const auto& a = hana::at_c<0>(args);
    auto da = diff<I>(a);
    if constexpr (is_zero_v<decltype(da)>) return Const<0>{};
    // d -a = -da
    else if constexpr (F == Fn::Neg)
      return neg(da);
    // d e^a = e^a da
    else if constexpr (F == Fn::Exp)
      return mul(da, e);
    // d log a = da / a
    else if constexpr (F == Fn::Log)
      return div(da, a);
    // d log(1 + a) = da / (1 + a)
    else if constexpr (F == Fn::Log1p)
      return div(da, add(Const<1>{}, a));
    // d (e^a - 1) = (y + 1) da
    else if constexpr (F == Fn::Expm1)
      return mul(da, add(e, Const<1>{}));
    // d sqrt a = da / (2 y)
    else if constexpr (F == Fn::Sqrt)
      return div(da, mul(Const<2>{}, e));
    // d a^-1/2 = -1/2 y / a da
    else if constexpr (F == Fn::Rsqrt)
      return mul(da, mul(Const<-1, 2>{}, div(e, a)));
    // d |a| = sign(a) da
    else if constexpr (F == Fn::Abs)
      return mul(da, sign(a));
    // d sign a = 0 almost everywhere
    else if constexpr (F == Fn::Sign)
      return Const<0>{};
    // d sin a = cos a da
    else if constexpr (F == Fn::Sin)
      return mul(da, cos(a));
    // d cos a = -sin a da
    else if constexpr (F == Fn::Cos)
      return neg(mul(da, sin(a)));
    // d tanh a = (1 - y^2) da
    else if constexpr (F == Fn::Tanh)
      return mul(da, sub(Const<1>{}, mul(e, e)));
    // d sigmoid a = y (1 - y) da
    else if constexpr (F == Fn::Sigmoid)
      return mul(da, mul(e, sub(Const<1>{}, e)));
    // d erf a = 2/sqrt(pi) e^(-a^2) da
    else
      return mul(da, mul(Param{two_over_sqrt_pi}, exp(neg(mul(a, a)))));
  } else if constexpr (sizeof...(A) == 2) {
    const auto& a = hana::at_c<0>(args);
    const auto& b = hana::at_c<1>(args);
    auto da = diff<I>(a);
    auto db = diff<I>(b);
    using DA = decltype(da);
    using DB = decltype(db);
    if constexpr (F == Fn::Lt || F == Fn::Le || F == Fn::Gt || F == Fn::Ge || F == Fn::Eq ||
                  F == Fn::Ne)
      return Const<0>{};  // comparisons are piecewise constant
    else if constexpr (is_zero_v<DA> && is_zero_v<DB>)
      return Const<0>{};
    // d (a + b) = da + db
    else if constexpr (F == Fn::Add)
      return add(da, db);
    // d (a - b) = da - db
    else if constexpr (F == Fn::Sub)
      return sub(da, db);
    // d (a b) = da b + a db
    else if constexpr (F == Fn::Mul)
      return add(mul(da, b), mul(a, db));
    // d (a / b) = da / b - a db / b^2
    else if constexpr (F == Fn::Div)
      return sub(div(da, b), div(mul(a, db), mul(b, b)));
    // d a^b = b a^(b-1) da + a^b log(a) db
    else if constexpr (F == Fn::Pow)
      return add(mul(da, mul(b, pow(a, sub(b, Const<1>{})))), mul(db, mul(e, log(a))));
    // d max(a, b): da where a > b, db where b > a, the mean of both at ties (as PyTorch)
    else if constexpr (F == Fn::Max)
      return where(make<Fn::Gt>(a, b), da,
                   where(make<Fn::Lt>(a, b), db, mul(Const<1, 2>{}, add(da, db))));
    else  // Min
      return where(make<Fn::Lt>(a, b), da,
                   where(make<Fn::Gt>(a, b), db, mul(Const<1, 2>{}, add(da, db))));
  } else {
    // d where(c, a, b) = where(c, da, db)
    const auto& cnd = hana::at_c<0>(args);
    auto da = diff<I>(hana::at_c<1>(args));
    auto db = diff<I>(hana::at_c<2>(args));
    if constexpr (is_zero_v<decltype(da)> && is_zero_v<decltype(db)>)
      return Const<0>{};
    else
      return where(cnd, da, db);
  }
}

}  // namespace ember::dsl
