// The run-time description of a dsl formula: a small op tree with constants, for the JIT to
// lower the same definition to LLVM IR, and for printing.
#pragma once

#include <string>
#include <vector>

#include "dsl/expr.hpp"

namespace ember::dsl {

/// One node of a formula's tree.
struct ExprTree {
  enum class Kind : uint8_t { Var, Const, Apply } kind = Kind::Const;
  Fn fn = Fn::Add;   ///< for Apply
  int var = 0;       ///< for Var
  double value = 0;  ///< for Const (compile-time constants and runtime scalars alike)
  std::vector<ExprTree> args;

  /// "mul(x0, sigmoid(x0))".
  std::string to_string() const;
  friend bool operator==(const ExprTree&, const ExprTree&) = default;
};

template <int I>
ExprTree describe(const Var<I>&) {
  ExprTree t;
  t.kind = ExprTree::Kind::Var;
  t.var = I;
  return t;
}
template <std::intmax_t N, std::intmax_t D>
ExprTree describe(const Const<N, D>&) {
  ExprTree t;
  t.value = Const<N, D>::value;
  return t;
}
inline ExprTree describe(const Param& p) {
  ExprTree t;
  t.value = p.value;
  return t;
}
template <Fn F, class... A>
ExprTree describe(const Call<F, A...>& n) {
  ExprTree t;
  t.kind = ExprTree::Kind::Apply;
  t.fn = F;
  hana::unpack(n.args, [&](const auto&... a) { (t.args.push_back(describe(a)), ...); });
  return t;
}

}  // namespace ember::dsl
