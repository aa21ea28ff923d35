#include <algorithm>

#include "jit/passes/passes.hpp"
#include "runtime/ops/pointwise_defs.hpp"

namespace ember::jit {

// The JIT's lists, from the op table (runtime/op_table.hpp).
bool is_pointwise(Op op) { return op_traits(op).jit == JitPolicy::Fuse; }
bool is_reduction(Op op) { return op_traits(op).jit == JitPolicy::Reduce; }
bool is_row_op(Op op) { return op_traits(op).jit == JitPolicy::Row; }
bool is_library(Op op) { return op_traits(op).jit == JitPolicy::Library; }
bool is_strided_view(Op op) { return op == Op::View; }

namespace {

// Costly functions (dsl::is_costly: exp, erf, division, ...) in each op's dsl definition.
template <Op op>
constexpr int op_costly_fns() {
  using Def = dsl_def_t<op>;
  if constexpr (std::is_void_v<Def>)
    return 0;
  else if constexpr (requires { Def::with(0.0, 0.0); })
    return dsl::costly_fns<decltype(Def::with(0.0, 0.0))>::value;
  else
    return dsl::costly_fns<std::remove_cvref_t<decltype(Def::expr)>>::value;
}
constexpr int kCostly[] = {
#define EMBER_COSTLY(O, ...) op_costly_fns<Op::O>(),
    EMBER_OPS(EMBER_COSTLY)
#undef EMBER_COSTLY
};

// The nodes whose value must be in memory: outputs, writes, inputs, what reductions, row ops and
// library calls compute, their library operands, and what views read.
std::vector<bool> required(const Graph& g) {
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

// The latest step computing a root that node `id` reads (through its inlined pointwise cone), or
// -1; a view of a step's result counts as that step plus `view_after`.
int latest_step_read(const Graph& g, const std::vector<bool>& mat, const std::vector<int>& step_of,
                     int32_t id, int view_after) {
  std::vector<int32_t> reads;
  std::vector<bool> seen(g.size(), false);
  roots_read(g, mat, id, seen, reads);
  int latest = -1;
  for (int32_t r : reads) {
    const bool view = is_strided_view(g[r].op);
    const int dep = step_of[static_cast<size_t>(view ? g[r].args[0] : r)];
    latest = std::max(latest, view && dep >= 0 ? dep + view_after : dep);
  }
  return latest;
}

// The step that reduction `id` can join, or -1: a sum or mean over the same operand space,
// dims and result sizes as an earlier Reduce step's (not a row reduction, which has its own
// chains), when `id` reads nothing computed at or after that step. The step then walks its
// space once for both: a batch norm backward's channel sums of g and of g * xh, a layer norm
// backward's column sums for its weight and bias.
int sibling_reduction(const Graph& g, const std::vector<bool>& mat, const std::vector<Group>& steps,
                      const std::vector<int>& step_of, int32_t id) {
  const IrNode& n = g[id];
  if ((n.op != Op::Sum && n.op != Op::Mean) || row_reduction(g, id)) return -1;
  const int latest_dep = latest_step_read(g, mat, step_of, id, 0);
  const auto& rn = std::get<ReduceAttrs>(n.attrs);
  for (int s = static_cast<int>(steps.size()) - 1; s > latest_dep; --s) {
    const Group& st = steps[static_cast<size_t>(s)];
    if (st.kind != Group::Kind::Reduce || st.space != g[n.args[0]].sizes) continue;
    const IrNode& m = g[st.roots[0]];
    const auto& rm = std::get<ReduceAttrs>(m.attrs);
    if ((m.op == Op::Sum || m.op == Op::Mean) && m.sizes == n.sizes && rm.dims == rn.dims &&
        rm.keepdim == rn.keepdim && !row_reduction(g, st.roots[0]))
      return s;
  }
  return -1;
}

std::vector<Group> fuse_with(const Graph& g, const std::vector<bool>& mat) {
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
      const int latest_dep = latest_step_read(g, mat, step_of, id, 1);
      // At most kMaxRoots roots a kernel: an optimizer's update of 1,000 parameters of four
      // shapes made kernels of 750 roots, whose compile grows faster than their size (LLVM's
      // scheduling and alias queries: 17 s, against 0.6 s for 100 parameters).
      constexpr size_t kMaxRoots = 24;
      int join = -1;
      for (int s = static_cast<int>(steps.size()) - 1; s >= 0 && s >= latest_dep; --s)
        if (steps[static_cast<size_t>(s)].kind == Group::Kind::Pointwise &&
            steps[static_cast<size_t>(s)].space == n.sizes &&
            steps[static_cast<size_t>(s)].roots.size() < kMaxRoots) {
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
    if (int s = is_reduction(n.op) ? sibling_reduction(g, mat, steps, step_of, id) : -1; s >= 0) {
      steps[static_cast<size_t>(s)].roots.push_back(id);
      step_of[i] = s;
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

// Materialises the costly pointwise values that several kernels would each recompute. A
// pointwise node that is not a root is inlined into every kernel reading it, which is right for
// cheap chains (a load saved is worth a few instructions) but not for a gelu derivative that the
// row and the column reductions of a layer norm's backward each read: erf and exp per element,
// in four kernels (an MLP step's backward spent 0.8 of its 1.6 ms outside the GEMMs on that).
// Within one kernel a value is computed once (a RowReduce step's passes keep costly values of a
// row in a cache), so the count is of steps. A pointwise node that two or more steps inline, whose
// value costs a costly function (dsl::is_costly) counted back to the roots it reads, becomes a
// root itself: computed once, stored, read by the others. Taken from the top down, a round at a
// time: a shared node whose user is read by exactly as many steps is left to that user, and a
// node reading another one picked in the same round waits for the next round (that pick may
// have made it cheap).
//
// Memory counts too: a value whose cone reads `leaves` arrays of its own size from memory, inlined
// into `readers` steps, reads readers * leaves arrays; stored once it costs leaves + 1 + readers.
// A ReLU's gradient in a residual network (the incoming gradient, masked by the forward's
// output recomputed from a conv's output, its batch statistics and the shortcut's) is read by a
// batch norm backward's two channel sums and its input gradient: 3 x 3 arrays against 7.
void materialize_shared_costly(const Graph& g, std::vector<bool>& m) {
  const size_t n = g.size();
  auto inlined = [&](int32_t a) {
    const IrNode& x = g[a];
    return x.kind == Kind::Apply && !m[static_cast<size_t>(a)] && is_pointwise(x.op);
  };
  for (;;) {
    // readers[v]: the steps inlining v; cost[v]: costly functions v's inlined value computes.
    std::vector<int> readers(n, 0), cost(n, 0), mark(n, -1);
    // leaves[v]: the distinct arrays of v's size that v's inlined value reads (up to kLeaves).
    constexpr size_t kLeaves = 8;
    std::vector<std::vector<int32_t>> leaves(n);
    for (size_t i = 0; i < n; ++i) {
      const IrNode& x = g[static_cast<int32_t>(i)];
      if (x.kind != Kind::Apply || !is_pointwise(x.op)) continue;
      cost[i] = kCostly[static_cast<size_t>(x.op)];
      const int64_t numel = product(x.sizes);
      std::vector<int32_t>& l = leaves[i];
      auto add_leaf = [&](int32_t a) {
        if (l.size() < kLeaves && std::find(l.begin(), l.end(), a) == l.end()) l.push_back(a);
      };
      for (int32_t a : x.args) {
        const auto ai = static_cast<size_t>(a);
        if (inlined(a)) {  // a shared subtree counts twice, so saturate (x = x * x ...)
          cost[i] = std::min(cost[i] + cost[ai], 1 << 20);
          for (int32_t b : leaves[ai]) add_leaf(b);
        } else if (g[a].kind != Kind::Scalar && g[a].kind != Kind::Const &&
                   product(g[a].sizes) == numel) {
          add_leaf(a);
        }
      }
    }
    const std::vector<Group> steps = fuse_with(g, m);
    for (size_t s = 0; s < steps.size(); ++s) {
      std::vector<int32_t> todo;
      for (int32_t r : steps[s].roots) todo.insert(todo.end(), g[r].args.begin(), g[r].args.end());
      while (!todo.empty()) {
        int32_t a = todo.back();
        todo.pop_back();
        if (!inlined(a) || mark[static_cast<size_t>(a)] == static_cast<int>(s)) continue;
        mark[static_cast<size_t>(a)] = static_cast<int>(s);
        ++readers[static_cast<size_t>(a)];
        for (int32_t b : g[a].args) todo.push_back(b);
      }
    }
    // A shared value converted from float to double is stored as the float (half the bytes)
    // and converted where it is read.
    auto widening = [&](size_t v) {
      const IrNode& x = g[static_cast<int32_t>(v)];
      return x.op == Op::ToDtype && inlined(x.args[0]) && x.dtype == kFloat64 &&
             g[x.args[0]].dtype == kFloat32;
    };
    auto candidate = [&](size_t v) {
      if (!inlined(static_cast<int32_t>(v)) || readers[v] < 2 || widening(v)) return false;
      const auto k = static_cast<int64_t>(readers[v]), l = static_cast<int64_t>(leaves[v].size());
      return cost[v] >= 1 || k * l > l + 1 + k;
    };
    std::vector<bool> top(n, false);
    for (size_t v = 0; v < n; ++v) top[v] = candidate(v);
    for (size_t u = 0; u < n; ++u)  // a candidate user as widely read covers its operands
      if (candidate(u))
        for (int32_t a : g[static_cast<int32_t>(u)].args)
          if (readers[static_cast<size_t>(a)] == readers[u]) top[static_cast<size_t>(a)] = false;
    // reads_top[v]: a top is inlined into v (then v waits for the next round).
    std::vector<bool> reads_top(n, false), pick(n, false);
    bool any = false;
    for (size_t v = 0; v < n; ++v) {
      const IrNode& x = g[static_cast<int32_t>(v)];
      if (x.kind != Kind::Apply || !inlined(static_cast<int32_t>(v))) continue;
      bool under = false;
      for (int32_t a : x.args) {
        const auto ai = static_cast<size_t>(a);
        under = under || (inlined(a) && (reads_top[ai] || top[ai]));
      }
      reads_top[v] = under;
      if (top[v] && !under) pick[v] = any = true;
    }
    if (!any) return;
    for (size_t v = 0; v < n; ++v)
      if (pick[v]) m[v] = true;
  }
}

}  // namespace

std::vector<bool> materialized(const Graph& g) {
  std::vector<bool> m = required(g);
  materialize_shared_costly(g, m);
  return m;
}

std::vector<Group> fuse(const Graph& g, const std::vector<bool>& mat) { return fuse_with(g, mat); }

std::vector<Group> fuse(const Graph& g) { return fuse_with(g, materialized(g)); }

}  // namespace ember::jit
