// Which dsl formula defines each built-in pointwise Op (internal; the op table's last column):
// the eager kernels evaluate it, the derivative table differentiates it, the JIT lowers it.
#pragma once

#include "dsl/builtins.hpp"
#include "runtime/op.hpp"

namespace ember {

/// DslDef<op>::type is the op's dsl definition (dsl/builtins.hpp), from the op table; void for
/// ops without one.
template <Op op>
struct DslDef;
#define EMBER_DSL_DEF(O, name, family, jit, writes, def) \
  template <>                                            \
  struct DslDef<Op::O> {                                 \
    using type = def;                                    \
  };
EMBER_OPS(EMBER_DSL_DEF)
#undef EMBER_DSL_DEF

template <Op op>
using dsl_def_t = typename DslDef<op>::type;

/// The formula of one call of an op defined by Def: Def::expr, or for an activation with
/// options (dsl::builtin::DefP) its formula with the call's ActivationAttrs.
template <class Def>
auto call_expr(const Attrs& attrs) {
  if constexpr (requires { Def::with(0.0, 0.0); }) {
    const auto& a = std::get<ActivationAttrs>(attrs);
    return Def::with(a.p, a.q);
  } else {
    (void)attrs;
    return Def::expr;
  }
}

}  // namespace ember
