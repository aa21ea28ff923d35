// Which in-place writes the kernel computing them can store straight into their memory, with no
// copy pass after the graph. Only where no one reads the memory's old content afterwards: every
// step that reads it runs before the writing step, or is that step reading it element for
// element (an optimizer's p.add_(...): p[i] read, p[i] written), and no result is that old
// content.
#include <algorithm>

#include "jit/passes/passes.hpp"
#include "runtime/tensor.hpp"

namespace ember::jit {
namespace {

// The nodes step `st` reads from memory (as the emitter finds them: through the pointwise nodes
// it inlines, stopping at materialised nodes and views).
std::vector<int32_t> memory_read(const Graph& g, const std::vector<bool>& mat, const Group& st) {
  std::vector<int32_t> out;
  std::vector<bool> seen(g.size(), false);
  auto walk = [&](auto& self, int32_t id) -> void {
    if (seen[static_cast<size_t>(id)]) return;
    seen[static_cast<size_t>(id)] = true;
    const IrNode& n = g[id];
    if (n.kind == Kind::Const || n.kind == Kind::Scalar) return;
    if (mat[static_cast<size_t>(id)] || n.kind != Kind::Apply || is_strided_view(n.op)) {
      out.push_back(id);
      return;
    }
    for (int32_t a : n.args) self(self, a);
  };
  for (int32_t r : st.roots)
    for (int32_t a : g[r].args) walk(walk, a);
  return out;
}

}  // namespace

bool reads_as_written(const IrNode& in, const IrNode& value) {
  return in.kind == Kind::Input && in.sizes == value.sizes &&
         in.strides == contiguous_strides(value.sizes) && in.value == 0 && in.dtype == value.dtype;
}

std::vector<InPlaceStore> stores_in_place(const Graph& g, const std::vector<Group>& steps,
                                          const std::vector<bool>& mat) {
  std::vector<InPlaceStore> out;
  if (g.writes.empty()) return out;
  std::vector<int> step_of(g.size(), -1);
  for (size_t s = 0; s < steps.size(); ++s)
    for (int32_t r : steps[s].roots) step_of[static_cast<size_t>(r)] = static_cast<int>(s);
  std::vector<std::vector<int32_t>> reads;
  for (const Group& st : steps) reads.push_back(memory_read(g, mat, st));

  std::vector<bool> taken(g.size(), false);  // a root stores into one memory at most
  for (const Graph::Write& w : g.writes) {
    const IrNode& n = g[w.node];
    int sn = step_of[static_cast<size_t>(w.node)];
    if (n.kind != Kind::Apply || is_strided_view(n.op) || sn < 0 ||
        taken[static_cast<size_t>(w.node)] ||
        steps[static_cast<size_t>(sn)].kind != Group::Kind::Pointwise)
      continue;
    auto old_content = [&](int32_t id) {
      return g[id].kind == Kind::Input && g[id].storage == w.storage;
    };
    // The old content must not be read through a view, nor be a result.
    bool legal = true;
    for (const IrNode& v : g.nodes())
      if (v.kind == Kind::Apply && is_strided_view(v.op) && old_content(v.args[0])) legal = false;
    for (int32_t o : g.outputs) legal = legal && !old_content(o);
    for (const Graph::Write& x : g.writes) legal = legal && !old_content(x.node);
    // Read in memory only by earlier steps, or by the writing step element for element.
    InPlaceStore st{w.node, w.storage, {}};
    for (size_t s = 0; legal && s < steps.size(); ++s)
      for (int32_t r : reads[s]) {
        if (!old_content(r) || static_cast<int>(s) < sn) continue;
        if (static_cast<int>(s) != sn || !reads_as_written(g[r], n))
          legal = false;
        else
          st.inputs.push_back(r);
      }
    if (!legal) continue;
    taken[static_cast<size_t>(w.node)] = true;
    out.push_back(std::move(st));
  }
  return out;
}

}  // namespace ember::jit
