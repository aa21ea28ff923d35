#include <cmath>

#include "jit/passes/passes.hpp"
#include "runtime/dispatch.hpp"
#include "runtime/ops.hpp"

namespace ember::jit {
namespace {

Scalar scalar_of(const IrNode& c) {
  switch (c.dtype) {
    case kBool:
      return Scalar(c.value != 0);
    case kInt64:
      return Scalar(static_cast<int64_t>(c.value));
    default:
      return Scalar(c.value);
  }
}

// The value of op applied to constants, computed by the op's own eager kernel.
IrNode evaluate(const Graph& g, const IrNode& n) {
  std::vector<Tensor> args;
  for (int32_t a : n.args) args.push_back(wrapped_scalar(scalar_of(g[a])));
  Tensor r = op_info(n.op).kernel(args, n.attrs)[0];
  IrNode c;
  c.kind = Kind::Const;
  c.dtype = n.dtype;
  c.value = r.item().to<double>();
  return c;
}

bool is_const(const Graph& g, int32_t id, double v) {
  return g[id].kind == Kind::Const && g[id].value == v;
}

// The operand that x*1, x/1, x+0, x-0 reduce to, or -1.
int32_t identity_operand(const Graph& g, const IrNode& n) {
  if (n.args.size() != 2) return -1;
  int32_t a = n.args[0], b = n.args[1];
  int32_t keep = -1;
  switch (n.op) {
    case Op::Mul:
      keep = is_const(g, b, 1) ? a : is_const(g, a, 1) ? b : -1;
      break;
    case Op::Add:
      keep = is_const(g, b, 0) ? a : is_const(g, a, 0) ? b : -1;
      break;
    case Op::Div:
      keep = is_const(g, b, 1) ? a : -1;
      break;
    case Op::Sub:
      keep = is_const(g, b, 0) ? a : -1;
      break;
    default:
      break;
  }
  if (keep < 0) return -1;
  const IrNode& k = g[keep];
  // Only when nothing else changes: same dtype, same shape (no broadcast), not a constant.
  return k.kind != Kind::Const && k.dtype == n.dtype && k.sizes == n.sizes ? keep : -1;
}

}  // namespace

Graph fold(const Graph& g) {
  std::vector<bool> is_output(g.size(), false);
  for (int32_t o : g.outputs) is_output[static_cast<size_t>(o)] = true;
  for (const Graph::Write& w : g.writes) is_output[static_cast<size_t>(w.node)] = true;
  Graph out;
  std::vector<int32_t> remap(g.size());
  for (size_t i = 0; i < g.size(); ++i) {
    IrNode n = g[static_cast<int32_t>(i)];
    for (int32_t& a : n.args) a = remap[static_cast<size_t>(a)];
    if (n.kind == Kind::Apply && is_pointwise(n.op) && !is_output[i]) {
      bool all_const = !n.args.empty();
      for (int32_t a : n.args) all_const = all_const && out[a].kind == Kind::Const;
      if (all_const && n.sizes.empty()) {
        remap[i] = out.add(evaluate(out, n));
        continue;
      }
      if (int32_t k = identity_operand(out, n); k >= 0) {
        remap[i] = k;
        continue;
      }
    }
    remap[i] = out.add(std::move(n));
  }
  out.take_results(g, remap);
  return out;
}

}  // namespace ember::jit
