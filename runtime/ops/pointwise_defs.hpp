// Which dsl formula defines each built-in pointwise Op (internal): the eager kernels evaluate it
// and the derivative table differentiates it.
#pragma once

#include "dsl/builtins.hpp"
#include "runtime/op.hpp"

namespace ember {

/// DslDef<op>::type is the op's dsl definition (dsl/builtins.hpp); void for ops without one.
template <Op op>
struct DslDef {
  using type = void;
};
#define EMBER_DEF(O, D)           \
  template <>                     \
  struct DslDef<Op::O> {          \
    using type = dsl::builtin::D; \
  };
EMBER_DEF(Neg, neg)
EMBER_DEF(Abs, abs)
EMBER_DEF(Exp, exp)
EMBER_DEF(Log, log)
EMBER_DEF(Log1p, log1p)
EMBER_DEF(Expm1, expm1)
EMBER_DEF(Sqrt, sqrt)
EMBER_DEF(Rsqrt, rsqrt)
EMBER_DEF(Sin, sin)
EMBER_DEF(Cos, cos)
EMBER_DEF(Tanh, tanh)
EMBER_DEF(Sigmoid, sigmoid)
EMBER_DEF(Erf, erf)
EMBER_DEF(Sign, sign)
EMBER_DEF(Relu, relu)
EMBER_DEF(Silu, silu)
EMBER_DEF(Gelu, gelu)  // approximate="tanh" uses dsl::builtin::gelu_tanh
EMBER_DEF(Add, add)
EMBER_DEF(Sub, sub)
EMBER_DEF(Mul, mul)
EMBER_DEF(Div, div)
EMBER_DEF(Pow, pow)
EMBER_DEF(Maximum, maximum)
EMBER_DEF(Minimum, minimum)
#undef EMBER_DEF

template <Op op>
using dsl_def_t = typename DslDef<op>::type;

}  // namespace ember
