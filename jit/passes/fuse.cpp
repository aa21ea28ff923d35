#include <algorithm>

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
bool is_view(Op op) { return op == Op::View; }

std::vector<bool> materialized(const Graph& g) {
  std::vector<bool> m(g.size(), false);
  for (int32_t o : g.outputs) m[static_cast<size_t>(o)] = true;
  for (size_t i = 0; i < g.size(); ++i) {
    const Node& n = g[static_cast<int32_t>(i)];
    if (n.kind == Kind::Input) m[i] = true;
    if (n.kind != Kind::Apply || is_pointwise(n.op)) continue;
    if (is_view(n.op)) {  // a view reads its operand's buffer
      m[static_cast<size_t>(n.args[0])] = true;
      continue;
    }
    m[i] = true;  // reductions, row ops and library calls write memory
    if (is_library(n.op))
      for (int32_t a : n.args) m[static_cast<size_t>(a)] = g[a].kind != Kind::Const;
  }
  return m;
}

namespace {

// The roots (materialised nodes) node id's value reads, through the pointwise nodes inlined
// into it.
void roots_read(const Graph& g, const std::vector<bool>& mat, int32_t id,
                std::vector<bool>& seen, std::vector<int32_t>& out) {
  for (int32_t a : g[id].args) {
    if (g[a].kind != Kind::Apply || seen[static_cast<size_t>(a)]) continue;
    seen[static_cast<size_t>(a)] = true;
    if (mat[static_cast<size_t>(a)]) out.push_back(a);
    else roots_read(g, mat, a, seen, out);  // inlined pointwise, or a view of a root
  }
}

}  // namespace

std::vector<Group> fuse(const Graph& g) {
  std::vector<bool> mat = materialized(g);
  std::vector<Group> steps;
  std::vector<int> step_of(g.size(), -1);  // root -> the step computing it
  for (size_t i = 0; i < g.size(); ++i) {
    const Node& n = g[static_cast<int32_t>(i)];
    if (n.kind != Kind::Apply || !mat[i] || is_view(n.op)) continue;
    auto id = static_cast<int32_t>(i);
    if (is_pointwise(n.op)) {
      // A pointwise root joins the latest pointwise kernel of the same shape when nothing it
      // reads is computed after that kernel: it then reads its operands from memory computed
      // before, or from registers of the same kernel.
      std::vector<int32_t> reads;
      std::vector<bool> seen(g.size(), false);
      roots_read(g, mat, id, seen, reads);
      int latest_dep = -1;
      for (int32_t r : reads) latest_dep = std::max(latest_dep, step_of[static_cast<size_t>(r)]);
      int join = -1;
      for (int s = static_cast<int>(steps.size()) - 1; s >= 0 && s >= latest_dep; --s)
        if (steps[static_cast<size_t>(s)].kind == Group::Kind::Pointwise &&
            steps[static_cast<size_t>(s)].space == n.sizes) {
          join = s;
          break;
        }
      if (join >= 0) {
        steps[static_cast<size_t>(join)].roots.push_back(id);
        step_of[i] = join;
        continue;
      }
      step_of[i] = static_cast<int>(steps.size());
      steps.push_back({Group::Kind::Pointwise, {id}, n.sizes});
      continue;
    }
    step_of[i] = static_cast<int>(steps.size());
    if (is_reduction(n.op)) steps.push_back({Group::Kind::Reduce, {id}, g[n.args[0]].sizes});
    else if (is_row_op(n.op)) steps.push_back({Group::Kind::Row, {id}, g[n.args[0]].sizes});
    else steps.push_back({Group::Kind::Library, {id}, n.sizes});
  }
  return steps;
}

}  // namespace ember::jit
