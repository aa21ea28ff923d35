// The JIT's pass pipeline as a script (as Halide's Lower.cpp): each pass, then the IR after it
// when EMBER_JIT_DUMP=passes. What a traced graph goes through before code generation.
#include <algorithm>
#include <iostream>
#include <sstream>

#include "jit/dump.hpp"
#include "jit/passes/passes.hpp"

namespace ember::jit {
namespace {

const char* step_kind(Group::Kind k) {
  switch (k) {
    case Group::Kind::Pointwise:
      return "fused pointwise";
    case Group::Kind::Reduce:
      return "fused reduction";
    case Group::Kind::Softmax:
      return "fused softmax";
    case Group::Kind::Library:
      return "library call";
    case Group::Kind::RowReduce:
      return "fused row reductions";
  }
  return "?";
}

}  // namespace

std::string step_label(const Graph& g, const Group& step) {
  std::ostringstream os;
  if (step.kind == Group::Kind::Library) {
    const IrNode& n = g[step.roots[0]];
    os << op_name(n.op);
    const char* sep = " ";
    for (int32_t a : n.args) {
      if (g[a].kind == Kind::Scalar || g[a].kind == Kind::Const) continue;
      os << sep << g[a].sizes;
      sep = n.op == Op::Matmul ? " x " : ", ";
    }
    os << " -> " << n.sizes;
    return os.str();
  }
  os << step_kind(step.kind) << ' ';
  std::vector<const char*> names;  // the roots' ops, each once
  for (int32_t r : step.roots) {
    const char* name = op_name(g[r].op);
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  for (size_t i = 0; i < names.size() && i < 4; ++i) os << (i ? ", " : "") << names[i];
  if (names.size() > 4) os << ", ...";
  os << " (" << step.roots.size() << (step.roots.size() == 1 ? " value" : " values") << ") over "
     << step.space;
  return os.str();
}

std::string steps_to_string(const Lowered& l) {
  std::ostringstream os;
  for (size_t s = 0; s < l.steps.size(); ++s) {
    const Group& gp = l.steps[s];
    os << "  " << s << ": " << step_kind(gp.kind) << " computing";
    for (int32_t r : gp.roots) os << " %" << r;
    os << " over " << gp.space;
    for (const InPlaceStore& st : l.in_place)
      for (int32_t r : gp.roots)
        if (r == st.node) os << " (stores %" << r << " into storage " << st.storage << ")";
    os << '\n';
  }
  return os.str();
}

Lowered run_pipeline(const Graph& traced, const std::string& region) {
  const bool dump = dump_enabled("passes");
  auto after = [&](const char* pass, const Graph& g) {
    if (dump)
      std::cerr << "ember: jit: region '" << region << "' after " << pass << ":\n" << g.to_string();
  };
  if (dump) std::cerr << "ember: jit: region '" << region << "' as traced:\n" << traced.to_string();
  Lowered l;
  l.graph = fold(traced);
  after("fold", l.graph);
  l.graph = cse(l.graph);
  after("cse", l.graph);
  l.graph = dce(l.graph);
  after("dce", l.graph);
  l.graph = split_reductions(l.graph);
  after("split_reductions", l.graph);
  l.graph.verify();
  l.mat = materialized(l.graph);
  l.steps = fuse(l.graph, l.mat);
  l.in_place = stores_in_place(l.graph, l.steps, l.mat);
  if (dump)
    std::cerr << "ember: jit: region '" << region << "' after fuse, store_in_place:\n"
              << steps_to_string(l);
  return l;
}

}  // namespace ember::jit
