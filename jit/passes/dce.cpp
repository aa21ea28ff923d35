#include "jit/passes/passes.hpp"

namespace ember::jit {

Graph dce(const Graph& g) {
  std::vector<bool> live(g.size(), false);
  for (int32_t o : g.outputs) live[static_cast<size_t>(o)] = true;
  for (const Graph::Write& w : g.writes) live[static_cast<size_t>(w.node)] = true;
  for (size_t i = g.size(); i-- > 0;)
    if (live[i])
      for (int32_t a : g[static_cast<int32_t>(i)].args) live[static_cast<size_t>(a)] = true;
  // Inputs stay (the executor binds them by index), even when unused.
  Graph out;
  std::vector<int32_t> remap(g.size(), -1);
  for (size_t i = 0; i < g.size(); ++i) {
    IrNode n = g[static_cast<int32_t>(i)];
    if (!live[i] && n.kind != Kind::Input) continue;
    for (int32_t& a : n.args) a = remap[static_cast<size_t>(a)];
    remap[i] = out.add(std::move(n));
  }
  out.take_results(g, remap);
  return out;
}

}  // namespace ember::jit
