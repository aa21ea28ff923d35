#include "jit/passes/passes.hpp"

namespace ember::jit {

bool is_pointwise(Op op) {
  switch (op) {
    case Op::Neg: case Op::Abs: case Op::Exp: case Op::Log: case Op::Log1p: case Op::Expm1:
    case Op::Sqrt: case Op::Rsqrt: case Op::Sin: case Op::Cos: case Op::Tanh: case Op::Sigmoid:
    case Op::Relu: case Op::Silu: case Op::Erf: case Op::Gelu: case Op::Sign: case Op::Clamp:
    case Op::Add: case Op::Sub: case Op::Mul: case Op::Div: case Op::Pow: case Op::Maximum:
    case Op::Minimum: case Op::Eq: case Op::Ne: case Op::Lt: case Op::Le: case Op::Gt:
    case Op::Ge: case Op::Where: case Op::ToDtype:
      return true;
    default: return false;
  }
}
bool is_reduction(Op op) {
  return op == Op::Sum || op == Op::Mean || op == Op::Amax || op == Op::Amin;
}
bool is_row_op(Op op) { return op == Op::Softmax || op == Op::LogSoftmax; }
bool is_library(Op op) { return op == Op::Matmul; }

std::vector<bool> materialized(const Graph& g) {
  std::vector<bool> m(g.size(), false);
  for (int32_t o : g.outputs) m[static_cast<size_t>(o)] = true;
  for (size_t i = 0; i < g.size(); ++i) {
    const Node& n = g[static_cast<int32_t>(i)];
    if (n.kind == Kind::Input) m[i] = true;
    if (n.kind != Kind::Apply || is_pointwise(n.op)) continue;
    m[i] = true;  // reductions, row ops and library calls write memory
    if (is_library(n.op))
      for (int32_t a : n.args) m[static_cast<size_t>(a)] = g[a].kind != Kind::Const;
  }
  return m;
}

std::vector<Group> fuse(const Graph& g) {
  std::vector<bool> mat = materialized(g);
  std::vector<Group> steps;
  for (size_t i = 0; i < g.size(); ++i) {
    const Node& n = g[static_cast<int32_t>(i)];
    if (n.kind != Kind::Apply || !mat[i]) continue;
    auto id = static_cast<int32_t>(i);
    if (is_pointwise(n.op)) {
      // A pointwise root joins the step just before it when that one is a pointwise kernel of
      // the same shape: whatever it reads was computed before that step or inside it.
      if (!steps.empty() && steps.back().kind == Group::Kind::Pointwise &&
          steps.back().space == n.sizes) {
        steps.back().roots.push_back(id);
        continue;
      }
      steps.push_back({Group::Kind::Pointwise, {id}, n.sizes});
    } else if (is_reduction(n.op)) {
      steps.push_back({Group::Kind::Reduce, {id}, g[n.args[0]].sizes});
    } else if (is_row_op(n.op)) {
      steps.push_back({Group::Kind::Row, {id}, g[n.args[0]].sizes});
    } else {
      steps.push_back({Group::Kind::Library, {id}, n.sizes});
    }
  }
  return steps;
}

}  // namespace ember::jit
