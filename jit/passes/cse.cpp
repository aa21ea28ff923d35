#include "jit/passes/passes.hpp"

namespace ember::jit {

Graph cse(const Graph& g) {
  // Graph::add returns the existing node for an equal one; rebuilding with operands remapped to
  // their representatives merges every pair of equal sub-expressions, bottom up.
  Graph out;
  std::vector<int32_t> remap(g.size());
  for (size_t i = 0; i < g.size(); ++i) {
    IrNode n = g[static_cast<int32_t>(i)];
    for (int32_t& a : n.args) a = remap[static_cast<size_t>(a)];
    remap[i] = out.add(std::move(n));
  }
  out.take_results(g, remap);
  return out;
}

}  // namespace ember::jit
