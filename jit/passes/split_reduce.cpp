#include "jit/passes/passes.hpp"

namespace ember::jit {
namespace {

// Whether node n reduces every dim of a floating operand large enough to be worth two steps
// (8 parts at least, each of 1024 elements or more).
bool whole_and_large(const Graph& g, const IrNode& n) {
  if (n.kind != Kind::Apply || !is_reduction(n.op)) return false;
  const IrNode& x = g[n.args[0]];
  if (x.dtype != kFloat32 && x.dtype != kFloat64) return false;
  if (x.sizes.size() < 2 || x.sizes[0] < 8) return false;
  const auto& ra = std::get<ReduceAttrs>(n.attrs);
  if (!ra.dims.empty() && ra.dims.size() != x.sizes.size()) return false;
  int64_t inner = 1;
  for (size_t d = 1; d < x.sizes.size(); ++d) inner *= x.sizes[d];
  return inner >= 1024 && x.sizes[0] * inner >= 65536;
}

}  // namespace

Graph split_reductions(const Graph& g) {
  Graph out;
  std::vector<int32_t> remap(g.size(), -1);
  for (size_t i = 0; i < g.size(); ++i) {
    IrNode n = g[static_cast<int32_t>(i)];
    const bool split = whole_and_large(g, n);
    for (int32_t& a : n.args) a = remap[static_cast<size_t>(a)];
    if (!split) {
      remap[i] = out.add(std::move(n));
      continue;
    }
    const Dims& in = out[n.args[0]].sizes;
    const auto& ra = std::get<ReduceAttrs>(n.attrs);
    Dims rest, all;
    for (size_t d = 0; d < in.size(); ++d) {
      if (d) rest.push_back(static_cast<int64_t>(d));
      all.push_back(static_cast<int64_t>(d));
    }
    // Over every dim but the first, one partial per index of it (parallel over them) ...
    IrNode part = n;
    part.attrs = ReduceAttrs{rest, ra.keepdim, ra.correction};
    part.sizes = ra.keepdim ? Dims(in.size(), 1) : Dims{1};  // [in0, 1, ...] or [in0]
    part.sizes[0] = in[0];
    // ... then the partials (mean of equal-sized means is the mean).
    IrNode whole = n;
    whole.args = {out.add(std::move(part))};
    whole.compute = n.dtype;
    whole.attrs = ReduceAttrs{ra.keepdim ? all : Dims{0}, ra.keepdim, ra.correction};
    remap[i] = out.add(std::move(whole));
  }
  out.take_results(g, remap);
  return out;
}

}  // namespace ember::jit
