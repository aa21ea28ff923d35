#include "jit/trace/trace.hpp"

#include <algorithm>
#include <exception>
#include <iostream>
#include <limits>
#include <mutex>

#include "jit/executor.hpp"
#include "jit/jit.hpp"
#include "jit/passes/passes.hpp"
#include "runtime/allocator.hpp"
#include "runtime/dispatch.hpp"
#include "runtime/error.hpp"
#include "runtime/shape.hpp"

namespace ember::jit {
namespace {

struct ThreadState {
  int depth = 0;
  std::unique_ptr<Trace> trace;
  bool executing = false;  // inside flush: nothing records, nothing flushes
};
thread_local ThreadState t_state;

bool is_view_op(Op op) {
  return op == Op::View || op == Op::Expand || op == Op::Permute || op == Op::Slice ||
         op == Op::Select;
}

// Runs what `t` recorded: the live lazy results become ordinary tensors.
void flush(Trace& t) {
  if (t.graph.size() == 0) return;
  Trace cur = std::move(t);
  t = Trace{};
  t.name = cur.name;

  std::vector<std::shared_ptr<Storage>> outs;
  for (const Trace::Lazy& l : cur.lazies)
    if (auto s = l.storage.lock(); s && s->pending && !s->data) {
      cur.graph.outputs.push_back(l.node);
      outs.push_back(std::move(s));
    }
  for (const Tensor& in : cur.inputs) in.impl()->storage->pending = false;
  for (auto& s : outs) s->pending = false;
  if (outs.empty()) return;

  t_state.executing = true;
  struct Reset {
    ~Reset() { t_state.executing = false; }
  } reset;
  try {
    execute(cur.name, cur.graph, cur.inputs, outs);
  } catch (...) {
    // Never leave a tensor without memory behind: the values are lost, the tensors stay valid.
    for (auto& s : outs)
      if (!s->data) {
        s->data = memory::allocate(s->nbytes);
        std::fill_n(static_cast<unsigned char*>(s->data), s->nbytes, 0xff);  // NaN floats
      }
    throw;
  }
}

void resolve(Storage&) {
  if (t_state.trace && !t_state.executing) flush(*t_state.trace);
}

// ---- recording ----

// The node for operand t: a constant for a wrapped number, the lazy node for a lazy tensor (or
// a View node reading it in another layout), else a graph input. -1 for a lazy tensor this
// trace does not know (the trace must run first).
int32_t operand(Trace& tr, const Tensor& t) {
  TensorImpl* impl = t.impl();
  if (impl->wrapped_number) {
    Node c;
    c.kind = Kind::Const;
    c.dtype = impl->dtype;
    c.value = t.item().to<double>();
    return tr.graph.add(std::move(c));
  }
  const Storage* s = impl->storage.get();
  if (s->pending) {
    if (auto it = tr.lazy_index.find(s); it != tr.lazy_index.end()) {
      const Trace::Lazy& l = tr.lazies[it->second];
      if (l.storage.lock().get() == s) {
        const Node& n = tr.graph[l.node];
        if (impl->offset == 0 && impl->contiguous && impl->sizes == n.sizes) return l.node;
        // A view of the lazy value (made by a view op, which ran eagerly on the metadata):
        // the value goes to memory and fused code reads it with the view's strides.
        Node v;
        v.op = Op::View;
        v.args = {l.node};
        v.dtype = v.compute = n.dtype;
        v.sizes = impl->sizes;
        v.strides = impl->strides;
        v.value = static_cast<double>(impl->offset);
        return tr.graph.add(std::move(v));
      }
    }
  }
  if (auto it = tr.input_node.find(impl); it != tr.input_node.end()) return it->second;
  if (s->pending && !s->data) return -1;  // a lazy result of an earlier trace state
  Node in;
  in.kind = Kind::Input;
  in.dtype = impl->dtype;
  in.sizes = impl->sizes;
  in.strides = impl->strides;
  in.input = static_cast<int32_t>(tr.inputs.size());
  tr.inputs.push_back(t);
  impl->storage->pending = true;  // a data access (a write, say) runs the trace first
  int32_t id = tr.graph.add(std::move(in));
  tr.input_node.emplace(impl, id);
  return id;
}

bool float_dtype(DType d) { return d == kFloat32 || d == kFloat64; }

// Fills n's sizes, dtype and compute dtype for op on `in`; false when the JIT does not handle
// this case (the op then runs eagerly, which also reports any error in its own words).
bool infer(Node& n, std::span<const Tensor> in) {
  const Op op = n.op;
  for (const Tensor& t : in)
    if (!t.defined() || (t.numel() == 0)) return false;
  auto all_float = [&](size_t from) {
    for (size_t i = from; i < in.size(); ++i)
      if (!in[i].impl()->wrapped_number && !float_dtype(in[i].dtype())) return false;
    return true;
  };
  if (is_pointwise(op)) {
    Dims sizes;
    for (const Tensor& t : in) sizes = broadcast_shapes(sizes, t.sizes(), op_name(op));
    n.sizes = sizes;
    switch (op) {
      case Op::Where: {
        if (in.size() != 3 || in[0].dtype() != kBool || !all_float(1)) return false;
        n.compute = n.dtype = result_type(in[1], in[2]);
        return float_dtype(n.dtype);
      }
      case Op::ToDtype: {
        DType to = std::get<DTypeAttrs>(n.attrs).dtype;
        DType from = in[0].dtype();
        n.compute = n.dtype = to;
        return float_dtype(to) && (float_dtype(from) || from == kBool);
      }
      case Op::Eq:
      case Op::Ne:
      case Op::Lt:
      case Op::Le:
      case Op::Gt:
      case Op::Ge:
        if (!all_float(0)) return false;
        n.compute = result_type(in);
        n.dtype = kBool;
        return float_dtype(n.compute);
      default:
        if (!all_float(0)) return false;
        n.compute = n.dtype = result_type(in);
        return float_dtype(n.dtype);
    }
  }
  if (!float_dtype(in[0].dtype()) || in[0].impl()->wrapped_number) return false;
  n.compute = n.dtype = in[0].dtype();
  const Dims& s = in[0].sizes();
  const auto rank = static_cast<int64_t>(s.size());
  if (is_reduction(op)) {
    auto ra = std::get<ReduceAttrs>(n.attrs);
    ra.dims = wrap_dims(ra.dims, rank, op_name(op));
    for (int64_t d = 0; d < rank; ++d) {
      bool red = ra.dims.empty() || std::find(ra.dims.begin(), ra.dims.end(), d) != ra.dims.end();
      if (!red)
        n.sizes.push_back(s[static_cast<size_t>(d)]);
      else if (ra.keepdim)
        n.sizes.push_back(1);
    }
    n.attrs = ra;
    return true;
  }
  if (is_row_op(op)) {
    if (rank == 0) return false;
    n.attrs = DimAttrs{wrap_dim(std::get<DimAttrs>(n.attrs).dim, rank, op_name(op))};
    n.sizes = s;
    return true;
  }
  if (op == Op::Matmul) {
    const Dims& b = in[1].sizes();
    if (rank < 2 || b.size() < 2 || in[1].dtype() != n.dtype) return false;
    if (s[s.size() - 1] != b[b.size() - 2]) return false;
    Dims ba(std::span<const int64_t>(s.begin(), s.size() - 2));
    Dims bb(std::span<const int64_t>(b.begin(), b.size() - 2));
    n.sizes = broadcast_shapes(ba, bb, "matmul");
    n.sizes.push_back(s[s.size() - 2]);
    n.sizes.push_back(b[b.size() - 1]);
    return true;
  }
  return false;
}

bool supported(Op op) {
  return is_pointwise(op) || is_reduction(op) || is_row_op(op) || is_library(op);
}

Tensor lazy_tensor(Trace& tr, int32_t node) {
  const Node& n = tr.graph[node];
  auto impl = std::make_shared<TensorImpl>();
  impl->sizes = n.sizes;
  impl->strides = contiguous_strides(n.sizes);
  impl->dtype = n.dtype;
  impl->numel = product(n.sizes);
  impl->contiguous = true;
  auto st = std::make_shared<Storage>();
  st->nbytes = static_cast<size_t>(impl->numel) * element_size(n.dtype);
  st->pending = true;
  tr.lazy_index[st.get()] = tr.lazies.size();
  tr.lazies.push_back({st, node});
  impl->storage = std::move(st);
  return Tensor(std::move(impl));
}

bool trace_op(Op op, std::span<const Tensor> in, const Attrs& attrs, TensorList& out) {
  ThreadState& ts = t_state;
  if (!ts.trace || ts.executing) return false;
  Trace& tr = *ts.trace;
  bool traceable = supported(op);
  if (traceable && GradMode::is_enabled())
    for (const Tensor& t : in)
      if (t.defined() && t.impl()->requires_grad) traceable = false;
  Node n;
  n.op = op;
  n.attrs = attrs;
  if (traceable) {
    try {
      traceable = infer(n, in);
    } catch (const Error&) {
      traceable = false;  // the eager kernel reports it
    }
  }
  if (traceable) {
    auto operands = [&] {
      n.args.clear();
      for (const Tensor& t : in) n.args.push_back(operand(tr, t));
      return std::none_of(n.args.begin(), n.args.end(), [](int32_t a) { return a < 0; });
    };
    // An operand this trace cannot name needs the trace run first.
    if (!operands()) {
      flush(tr);
      EMBER_ASSERT(operands(), "jit: operand still lazy after running the trace");
    }
    out.clear();
    out.push_back(lazy_tensor(tr, tr.graph.add(std::move(n))));
    return true;
  }
  // A graph break: the op runs eagerly on values in memory. Views only read metadata.
  count_graph_break();
  if (!is_view_op(op)) flush(tr);
  return false;
}

void install_hooks() {
  static std::once_flag once;
  std::call_once(once, [] {
    set_trace_hook(&trace_op);
    set_pending_hook(&resolve);
  });
}

}  // namespace

bool begin_region(const std::string& name) {
  ThreadState& ts = t_state;
  bool outermost = ts.depth++ == 0;
  if (outermost && enabled()) {
    install_hooks();
    ts.trace = std::make_unique<Trace>();
    ts.trace->name = name;
  }
  return outermost;
}

void end_region(bool outermost) {
  ThreadState& ts = t_state;
  --ts.depth;
  if (!outermost || !ts.trace) return;
  std::unique_ptr<Trace> tr = std::move(ts.trace);
  try {
    flush(*tr);
  } catch (const std::exception& e) {
    // A destructor cannot throw; the values of this region are lost (see flush).
    std::cerr << "ember: jit: region '" << tr->name << "' failed: " << e.what() << '\n';
  }
}

void flush_current() {
  if (t_state.trace && !t_state.executing) flush(*t_state.trace);
}

}  // namespace ember::jit
