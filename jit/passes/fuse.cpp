#include <algorithm>

#include "jit/passes/passes.hpp"

namespace ember::jit {

// The JIT's lists, from the op table (runtime/op_table.hpp).
bool is_pointwise(Op op) { return op_traits(op).jit == JitPolicy::Fuse; }
bool is_reduction(Op op) { return op_traits(op).jit == JitPolicy::Reduce; }
bool is_row_op(Op op) { return op_traits(op).jit == JitPolicy::Row; }
bool is_library(Op op) { return op_traits(op).jit == JitPolicy::Library; }
bool is_strided_view(Op op) { return op == Op::View; }

std::vector<bool> materialized(const Graph& g) {
  std::vector<bool> m(g.size(), false);
  for (int32_t o : g.outputs) m[static_cast<size_t>(o)] = true;
  for (const Graph::Write& w : g.writes) m[static_cast<size_t>(w.node)] = true;
  for (size_t i = 0; i < g.size(); ++i) {
    const IrNode& n = g[static_cast<int32_t>(i)];
    if (n.kind == Kind::Input) m[i] = true;
    if (n.kind != Kind::Apply || is_pointwise(n.op)) continue;
    if (is_strided_view(n.op)) {  // a view reads its operand's buffer
      m[static_cast<size_t>(n.args[0])] = true;
      continue;
    }
    m[i] = true;  // reductions, row ops and library calls write memory
    // amax/amin's input in memory: their gradient's mask `x == amax(x)` must read the values
    // the reduction read, and a pointwise x recomputed in another kernel is not always
    // bit-identical (cos in a vector loop and in a scalar one: a zero gradient, found by the
    // gradient fuzzer).
    if ((n.op == Op::Amax || n.op == Op::Amin) && g[n.args[0]].kind == Kind::Apply &&
        is_pointwise(g[n.args[0]].op))
      m[static_cast<size_t>(n.args[0])] = true;
    if (is_library(n.op))
      for (int32_t a : n.args)
        m[static_cast<size_t>(a)] = g[a].kind != Kind::Const && g[a].kind != Kind::Scalar;
  }
  return m;
}

namespace {

// The roots (materialised nodes) node id's value reads, through the pointwise nodes inlined
// into it; a view of a root is listed as the view (it reads the root's memory at other
// positions, so the root must be complete before: computed by an earlier kernel).
void roots_read(const Graph& g, const std::vector<bool>& mat, int32_t id, std::vector<bool>& seen,
                std::vector<int32_t>& out) {
  for (int32_t a : g[id].args) {
    if (g[a].kind != Kind::Apply || seen[static_cast<size_t>(a)]) continue;
    seen[static_cast<size_t>(a)] = true;
    if (mat[static_cast<size_t>(a)] || is_strided_view(g[a].op))
      out.push_back(a);
    else
      roots_read(g, mat, a, seen, out);  // inlined pointwise
  }
}

// True for a reduction over the last dim only, keeping it (sizes: its operand's, last one 1).
bool row_reduction(const Graph& g, int32_t id) {
  const IrNode& n = g[id];
  if (n.kind != Kind::Apply || !is_reduction(n.op)) return false;
  const auto& ra = std::get<ReduceAttrs>(n.attrs);
  const Dims& in = g[n.args[0]].sizes;
  return !in.empty() && ra.keepdim && ra.dims.size() == 1 &&
         ra.dims[0] == static_cast<int64_t>(in.size()) - 1 && in.back() > 1;
}

// True when node id can be computed in the last pass of RowReduce step `rows`: everything it reads
// through inlined pointwise nodes is computed by an earlier step, or is one of that step's
// reductions, read directly (not through a view) as a per-row value. Sets `reads_step` when it
// reads such a reduction.
bool reads_fit_rows(const Graph& g, const std::vector<bool>& mat, const std::vector<int>& step_of,
                    int rows, int32_t id, std::vector<bool>& seen, bool& reads_step) {
  for (int32_t a : g[id].args) {
    const IrNode& n = g[a];
    if (n.kind != Kind::Apply || seen[static_cast<size_t>(a)]) continue;
    seen[static_cast<size_t>(a)] = true;
    if (is_strided_view(n.op)) {  // reads its operand's memory: that must be complete
      int32_t src = n.args[0];
      if (g[src].kind == Kind::Apply && step_of[static_cast<size_t>(src)] >= rows) return false;
      continue;
    }
    if (mat[static_cast<size_t>(a)]) {
      int s = step_of[static_cast<size_t>(a)];
      if (s < rows) continue;
      if (s > rows || !is_reduction(n.op)) return false;
      reads_step = true;  // a reduction of this RowReduce step: its sizes are the space's, last 1
      continue;
    }
    if (!reads_fit_rows(g, mat, step_of, rows, a, seen, reads_step)) return false;
  }
  return true;
}

}  // namespace

std::vector<Group> fuse(const Graph& g) {
  std::vector<bool> mat = materialized(g);
  std::vector<Group> steps;
  std::vector<int> step_of(g.size(), -1);  // root -> the step computing it
  for (size_t i = 0; i < g.size(); ++i) {
    const IrNode& n = g[static_cast<int32_t>(i)];
    if (n.kind != Kind::Apply || !mat[i] || is_strided_view(n.op)) continue;
    auto id = static_cast<int32_t>(i);
    // A row reduction, or a pointwise root over the same space, joins the latest reduction
    // step over the last dim of that space when it reads nothing computed after that step
    // except the step's own reductions, row by row. (Reductions join only before the step
    // has pointwise roots.)
    if (!steps.empty() && (row_reduction(g, id) || is_pointwise(n.op))) {
      const Dims& space = is_pointwise(n.op) ? n.sizes : g[n.args[0]].sizes;
      for (int s = static_cast<int>(steps.size()) - 1; s >= 0; --s) {
        Group& st = steps[static_cast<size_t>(s)];
        bool chain = (st.kind == Group::Kind::RowReduce ||
                      (st.kind == Group::Kind::Reduce && row_reduction(g, st.roots[0]))) &&
                     st.space == space;
        if (!chain) continue;
        bool open = is_pointwise(n.op) || is_reduction(g[st.roots.back()].op);
        std::vector<bool> seen(g.size(), false);
        bool reads_step = false;  // worth joining only when it reads the step's reductions
        if (open && reads_fit_rows(g, mat, step_of, s, id, seen, reads_step) && reads_step) {
          st.kind = Group::Kind::RowReduce;
          st.roots.push_back(id);
          step_of[i] = s;
        }
        break;  // only the latest such step
      }
      if (step_of[i] >= 0) continue;
    }
    if (is_pointwise(n.op)) {
      // A pointwise root joins the latest pointwise kernel of the same shape when nothing it
      // reads is computed after that kernel: it then reads its operands from memory computed
      // before, or from registers of the same kernel.
      std::vector<int32_t> reads;
      std::vector<bool> seen(g.size(), false);
      roots_read(g, mat, id, seen, reads);
      int latest_dep = -1;
      for (int32_t r : reads) {
        bool view = is_strided_view(g[r].op);
        int dep = step_of[static_cast<size_t>(view ? g[r].args[0] : r)];
        latest_dep = std::max(latest_dep, view && dep >= 0 ? dep + 1 : dep);
      }
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
    if (is_reduction(n.op))
      steps.push_back({Group::Kind::Reduce, {id}, g[n.args[0]].sizes});
    else if (is_row_op(n.op))
      steps.push_back({Group::Kind::Softmax, {id}, g[n.args[0]].sizes});
    else
      steps.push_back({Group::Kind::Library, {id}, n.sizes});
  }
  return steps;
}

}  // namespace ember::jit
