#include "jit/trace/trace.hpp"

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <exception>
#include <iostream>
#include <limits>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "jit/dump.hpp"
#include "jit/executor.hpp"
#include "jit/jit.hpp"
#include "jit/passes/passes.hpp"
#include "jit/profiler_record.hpp"
#include "jit/trace/decompose.hpp"
#include "runtime/allocator.hpp"
#include "runtime/dispatch.hpp"
#include "runtime/error.hpp"
#include "runtime/ops.hpp"
#include "runtime/shape.hpp"

namespace ember::jit {
namespace {

struct ThreadState {
  int depth = 0;
  std::unique_ptr<Trace> trace;
  bool executing = false;  // inside flush: nothing records, nothing flushes
  // The outermost region runs untraced (its first compile is in the background): its name and
  // start, for the profiler.
  std::string untraced;
  profiling::Clock::time_point untraced_start;
};
thread_local ThreadState t_state;

// The outermost regions open on all threads, for the error that a lazy tensor read from
// another thread gets (never destroyed: threads may end regions while the process exits).
struct OpenRegion {
  pid_t thread;
  std::string name;
};
struct OpenRegions {
  std::mutex mu;
  std::vector<OpenRegion> all;
};
OpenRegions& open_regions() {
  static OpenRegions& r = *new OpenRegions;
  return r;
}

// "region 'step' on thread 4242" for the open regions of other threads than this one.
std::string other_threads_regions() {
  OpenRegions& r = open_regions();
  std::lock_guard lk(r.mu);
  std::string out;
  const pid_t me = ::gettid();
  for (const OpenRegion& o : r.all)
    if (o.thread != me)
      out += (out.empty() ? "" : ", ") + ("region '" + o.name + "' on thread ") +
             std::to_string(o.thread);
  return out.empty() ? "a region on another thread" : out;
}

// Views run eagerly on metadata: the data stays pending (the op table's Meta policy).
bool is_meta_op(Op op) { return op_traits(op).jit == JitPolicy::Meta; }

// Runs what `t` recorded: the live lazy results become ordinary tensors, and the memory
// written in the region gets its new content.
void flush(Trace& t) {
  if (t.graph.size() == 0) return;
  Trace cur = std::move(t);
  t = Trace{};
  t.name = cur.name;
  t.segment = cur.segment + 1;

  std::vector<std::shared_ptr<Storage>> outs;
  for (const Trace::Lazy& l : cur.lazies)
    if (auto s = l.storage.lock(); s && s->pending && !s->data) {
      cur.graph.outputs.push_back(l.node);
      outs.push_back(std::move(s));
    }
  // Memory nobody holds any more (a temporary written in the region) needs no write-back.
  for (auto [id, node] : cur.written)
    if (cur.storages[static_cast<size_t>(id)].use_count() > 1)
      cur.graph.writes.push_back({node, id});
  for (const auto& s : cur.storages) s->pending = false;
  for (auto& s : outs) s->pending = false;
  if (outs.empty() && cur.graph.writes.empty()) return;

  t_state.executing = true;
  const bool traced = thread_traces();
  set_thread_traces(false);  // the kernels the executor runs are not recorded
  struct Reset {
    bool traced;
    ~Reset() {
      t_state.executing = false;
      set_thread_traces(traced);
    }
  } reset{traced};
  try {
    execute(cur.name, cur.segment, cur.graph, Run{cur.inputs, cur.scalars, cur.storages}, outs);
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

void resolve(Storage& s) {
  if (t_state.trace && !t_state.executing) flush(*t_state.trace);
  // Still without a value: another thread's region computes it (regions and their lazy tensors
  // belong to the thread that opened them), and that region has not run it yet.
  if (s.pending && !s.data) [[unlikely]]
    throw Error(
        "jit: a tensor computed inside a jit::Region on another thread was read before "
        "that region ended (thread " +
        std::to_string(::gettid()) + " read it; open: " + other_threads_regions() +
        "); read it after the region ends, or after jit::sync() on that thread");
}

// ---- recording ----

// The storage id of memory that existed before the trace (its Input nodes and writes carry it).
int32_t storage_of(Trace& tr, const std::shared_ptr<Storage>& s) {
  auto [it, fresh] = tr.storage_id.emplace(s.get(), static_cast<int32_t>(tr.storages.size()));
  if (fresh) tr.storages.push_back(s);
  return it->second;
}

// The node holding storage s's current content in this trace (a lazy result, or memory written
// in the region), or -1.
int32_t current_value(Trace& tr, const Storage* s) {
  if (auto it = tr.lazy_index.find(s); it != tr.lazy_index.end()) {
    const Trace::Lazy& l = tr.lazies[it->second];
    if (l.storage.lock().get() == s) return l.node;
  }
  if (auto it = tr.storage_id.find(s); it != tr.storage_id.end())
    if (auto w = tr.written.find(it->second); w != tr.written.end()) return w->second;
  return -1;
}

// IrNode `value` (a contiguous value covering its memory) as tensor impl sees it: the node itself,
// or a View node reading it with impl's sizes, strides and offset (the value goes to memory and
// fused code reads it in place).
int32_t read_as(Trace& tr, int32_t value, const TensorImpl* impl) {
  const IrNode& n = tr.graph[value];
  if (impl->offset == 0 && impl->contiguous && impl->sizes == n.sizes) return value;
  IrNode v;
  v.op = Op::View;
  v.args = {value};
  v.dtype = v.compute = n.dtype;
  v.sizes = impl->sizes;
  v.strides = impl->strides;
  v.value = static_cast<double>(impl->offset);
  return tr.graph.add(std::move(v));
}

// The node for operand t: a runtime scalar for a wrapped number (each its own kernel argument,
// so that two numbers equal now may differ next time), the node holding t's memory's content
// when the trace computed or wrote it, else a graph input. -1 for a lazy tensor this trace does
// not know (the trace must run first).
int32_t operand(Trace& tr, const Tensor& t) {
  TensorImpl* impl = t.impl();
  if (impl->wrapped_number) {
    IrNode c;
    c.kind = Kind::Scalar;
    c.dtype = impl->dtype;
    c.input = static_cast<int32_t>(tr.scalars.size());
    tr.scalars.push_back(t.item());
    return tr.graph.add(std::move(c));
  }
  const Storage* s = impl->storage.get();
  if (s->pending)
    if (int32_t v = current_value(tr, s); v >= 0) return read_as(tr, v, impl);
  if (auto it = tr.input_node.find(impl); it != tr.input_node.end()) return it->second;
  if (s->pending && !s->data) return -1;  // a lazy result of an earlier trace state
  IrNode in;
  in.kind = Kind::Input;
  in.dtype = impl->dtype;
  in.sizes = impl->sizes;
  in.strides = impl->strides;
  in.value = static_cast<double>(impl->offset);
  in.storage = storage_of(tr, impl->storage);
  in.input = static_cast<int32_t>(tr.inputs.size());
  tr.inputs.push_back(t);
  impl->storage->pending = true;  // a data access (a write, say) runs the trace first
  int32_t id = tr.graph.add(std::move(in));
  tr.input_node.emplace(impl, id);
  return id;
}

bool float_dtype(DType d) { return d == kFloat32 || d == kFloat64; }

// True when idx is a real (computed) int64 tensor whose every element lies in [0, bound): an
// index op with an index out of range runs eagerly instead, which throws its own error where
// the user called it. Reads the memory directly, without running the trace (an index that is a
// lazy value, such as max_pool2d's indices, has no memory yet: the op runs eagerly).
bool indices_within(const Tensor& idx, int64_t bound) {
  const TensorImpl* impl = idx.impl();
  if (impl->dtype != kInt64 || impl->wrapped_number || !impl->storage->data) return false;
  const auto* base = static_cast<const int64_t*>(impl->storage->data) + impl->offset;
  const auto rank = impl->sizes.size();
  std::vector<int64_t> at(rank, 0);
  for (int64_t k = 0; k < impl->numel; ++k) {
    int64_t off = 0;
    for (size_t d = 0; d < rank; ++d) off += at[d] * impl->strides[d];
    if (base[off] < 0 || base[off] >= bound) return false;
    for (size_t d = rank; d-- > 0;) {
      if (++at[d] < impl->sizes[d]) break;
      at[d] = 0;
    }
  }
  return true;
}

// conv2d and the pools and their backward kernels as library calls: sizes from the kernels'
// own shape rules (which throw where the eager call would: the op then runs eagerly and
// reports). conv2d_backward's node computes the first gradient its mask asks for, max_pool2d's
// its values (trace_op makes one node per result: see library_results). False for other ops.
bool infer_conv_pool(IrNode& n, std::span<const Tensor> in) {
  const DType dt = in[0].dtype();
  for (size_t i = 0; i < in.size(); ++i) {
    const bool indices = n.op == Op::MaxPool2dBackward && i == 2;  // max_pool2d's int64 indices
    if (in[i].dtype() != (indices ? kInt64 : dt) || in[i].impl()->wrapped_number) return false;
  }
  switch (n.op) {
    case Op::MaxPool2d:
      n.sizes = detail::max_pool2d_sizes(in[0], std::get<PoolAttrs>(n.attrs));
      return in.size() == 1;
    case Op::MaxPool2dBackward: {  // (grad_out, input, indices)
      if (in.size() != 3) return false;
      const Dims out = detail::max_pool2d_sizes(in[1], std::get<PoolAttrs>(n.attrs));
      n.sizes = in[1].sizes();
      return in[0].sizes() == out && in[2].sizes() == out;
    }
    case Op::Conv2d:
      if (in.size() < 2 || in.size() > 3) return false;
      n.sizes = detail::conv2d_sizes(in[0], in[1], in.size() > 2 ? in[2] : Tensor(),
                                     std::get<ConvAttrs>(n.attrs));
      return true;
    case Op::Conv2dBackward: {  // (grad_out, input, weight)
      if (in.size() != 3) return false;
      const auto& a = std::get<ConvAttrs>(n.attrs);
      if (in[0].sizes() != detail::conv2d_sizes(in[1], in[2], Tensor(), a)) return false;
      const Dims sizes[3] = {in[1].sizes(), in[2].sizes(), Dims{in[2].size(0)}};
      for (int k = 0; k < 3; ++k)
        if (a.output_mask[k]) {
          n.sizes = sizes[k];
          return true;
        }
      return false;
    }
    case Op::AvgPool2d:
      n.sizes = detail::avg_pool2d_sizes(in[0], std::get<PoolAttrs>(n.attrs));
      return in.size() == 1;
    case Op::AdaptiveAvgPool2d:
      n.sizes = detail::adaptive_avg_pool2d_sizes(in[0], std::get<ShapeAttrs>(n.attrs).sizes);
      return in.size() == 1;
    case Op::AvgPool2dBackward:  // (grad_out, input)
      n.sizes = in[1].sizes();
      return in.size() == 2 &&
             in[0].sizes() == detail::avg_pool2d_sizes(in[1], std::get<PoolAttrs>(n.attrs));
    case Op::AdaptiveAvgPool2dBackward:
      n.sizes = in[1].sizes();
      return in.size() == 2 && in[0].sizes() == detail::adaptive_avg_pool2d_sizes(
                                                    in[1], std::get<ShapeAttrs>(n.attrs).sizes);
    default:
      return false;
  }
}

// cat, index_select, gather, embedding, index_add and scatter_add as library calls of their
// eager kernels: sizes for well-formed float cases (any other runs eagerly and reports itself).
bool infer_indexing(IrNode& n, std::span<const Tensor> in) {
  const Tensor& self = in[0];
  const Dims& s = self.sizes();
  const auto rank = static_cast<int64_t>(s.size());
  auto dim_of = [&](int64_t d, int64_t r) -> int64_t {
    if (d < -r || d >= r) return -1;
    return d < 0 ? d + r : d;
  };
  switch (n.op) {
    case Op::Cat: {
      const int64_t d = dim_of(std::get<DimAttrs>(n.attrs).dim, rank);
      if (d < 0) return false;
      n.sizes = s;
      n.sizes[static_cast<size_t>(d)] = 0;
      for (const Tensor& t : in) {
        if (t.dtype() != self.dtype() || t.dim() != rank || t.impl()->wrapped_number) return false;
        for (int64_t k = 0; k < rank; ++k)
          if (k != d && t.size(k) != s[static_cast<size_t>(k)]) return false;
        n.sizes[static_cast<size_t>(d)] += t.size(d);
      }
      n.attrs = DimAttrs{d};
      return true;
    }
    case Op::IndexSelect: {
      const int64_t d = dim_of(std::get<DimAttrs>(n.attrs).dim, rank);
      if (in.size() != 2 || d < 0 || in[1].dim() != 1 ||
          !indices_within(in[1], s[static_cast<size_t>(d)]))
        return false;
      n.sizes = s;
      n.sizes[static_cast<size_t>(d)] = in[1].numel();
      n.attrs = DimAttrs{d};
      return true;
    }
    case Op::Gather: {
      const int64_t d = dim_of(std::get<DimAttrs>(n.attrs).dim, rank);
      if (in.size() != 2 || d < 0 || in[1].dim() != rank ||
          !indices_within(in[1], s[static_cast<size_t>(d)]))
        return false;
      for (int64_t k = 0; k < rank; ++k)
        if (k != d && in[1].size(k) > s[static_cast<size_t>(k)]) return false;
      n.sizes = in[1].sizes();
      n.attrs = DimAttrs{d};
      return true;
    }
    case Op::Embedding: {
      if (in.size() != 2 || rank != 2 || !indices_within(in[1], s[0])) return false;
      n.sizes = in[1].sizes();
      n.sizes.push_back(s[1]);
      return true;
    }
    case Op::IndexAdd:
    case Op::ScatterAdd: {
      const int64_t d = dim_of(std::get<DimAttrs>(n.attrs).dim, rank);
      if (in.size() != 3 || d < 0 || in[2].dtype() != self.dtype() ||
          in[2].impl()->wrapped_number || !indices_within(in[1], s[static_cast<size_t>(d)]))
        return false;
      const Tensor &index = in[1], &src = in[2];
      if (n.op == Op::IndexAdd) {
        if (index.dim() != 1 || src.dim() != rank || src.size(d) != index.numel()) return false;
        for (int64_t k = 0; k < rank; ++k)
          if (k != d && src.size(k) != s[static_cast<size_t>(k)]) return false;
      } else {
        if (index.dim() != rank || src.dim() != rank) return false;
        for (int64_t k = 0; k < rank; ++k)
          if (index.size(k) > src.size(k) || (k != d && index.size(k) > s[static_cast<size_t>(k)]))
            return false;
      }
      n.sizes = s;
      n.attrs = DimAttrs{d};
      return true;
    }
    default:
      return false;
  }
}

// Fills n's sizes, dtype and compute dtype for op on `in`; false when the JIT does not handle
// this case (the op then runs eagerly, which also reports any error in its own words).
bool infer(IrNode& n, std::span<const Tensor> in) {
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
        // From a C++ number of any type too (an autograd row casting a saved `x * 3`).
        return float_dtype(to) && (float_dtype(from) || from == kBool || from == kInt64 ||
                                   in[0].impl()->wrapped_number);
      }
      case Op::Eq:
      case Op::Ne:
      case Op::Lt:
      case Op::Le:
      case Op::Gt:
      case Op::Ge:
        // int64 operands too (indices compared with a padding index): as integers when all are
        // int64, else converted as the eager kernel converts them.
        for (const Tensor& t : in) {
          if (t.dtype() == kInt64 && t.impl()->wrapped_number) {
            // A C++ number reaches a kernel as a double: exact up to 2^53.
            if (std::abs(t.item<int64_t>()) > (int64_t{1} << 53)) return false;
          } else if (t.dtype() != kInt64 && !t.impl()->wrapped_number && !float_dtype(t.dtype())) {
            return false;
          }
        }
        n.compute = result_type(in);
        n.dtype = kBool;
        return float_dtype(n.compute) || n.compute == kInt64;
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
  if (op == Op::Dropout) {  // in training, keeping each element with probability 1 - p > 0
    const auto& a = std::get<DropoutAttrs>(n.attrs);
    n.sizes = s;
    return in.size() == 1 && a.training && a.p >= 0 && a.p < 1;
  }
  if (op == Op::MseLoss || op == Op::NllLoss || op == Op::NllLossBackward) {
    // Library calls of the eager kernels, for the shapes a training step gives them (any other
    // runs eagerly, where the kernel reports what is wrong with it).
    const Reduction red = std::get<LossAttrs>(n.attrs).reduction;
    if (op == Op::MseLoss) {
      if (in.size() != 2 || in[1].sizes() != s || in[1].dtype() != n.dtype) return false;
      n.sizes = red == Reduction::None ? s : Dims{};
      return true;
    }
    // nll_loss: (log_probs [N, C], target [N] int64[, weight [C]]); its backward takes the
    // incoming gradient first and gives the log-probabilities' shape.
    const size_t lp = op == Op::NllLossBackward ? 1 : 0;
    if (in.size() < lp + 2 || in.size() > lp + 3) return false;
    const Tensor &logp = in[lp], &target = in[lp + 1];
    if (logp.dim() != 2 || logp.dtype() != n.dtype || target.dtype() != kInt64 ||
        target.sizes() != Dims{logp.size(0)})
      return false;
    if (in.size() == lp + 3 &&
        (in[lp + 2].dtype() != n.dtype || in[lp + 2].sizes() != Dims{logp.size(1)}))
      return false;
    if (op == Op::NllLossBackward) {
      if (in[0].dtype() != n.dtype) return false;
      n.sizes = logp.sizes();
    } else {
      n.sizes = red == Reduction::None ? target.sizes() : Dims{};
    }
    return true;
  }
  if (op == Op::Cat || op == Op::IndexSelect || op == Op::Gather || op == Op::Embedding ||
      op == Op::IndexAdd || op == Op::ScatterAdd)
    return infer_indexing(n, in);
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
  return infer_conv_pool(n, in);
}

bool supported(Op op) {
  return is_pointwise(op) || is_reduction(op) || is_row_op(op) || is_library(op);
}

Tensor lazy_tensor(Trace& tr, int32_t node) {
  const IrNode& n = tr.graph[node];
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

// A library op with several results as one node per result (IR nodes have one value each),
// computed by one call of the kernel when the graph runs (see joint_calls in executor.cpp):
// conv2d_backward's gradients, each node's mask naming just the one it computes (grad_input,
// grad_weight, grad_bias: undefined where the mask is false, as the kernel returns them), and
// max_pool2d's values and int64 indices (told apart by their dtype).
TensorList library_results(Trace& tr, const IrNode& n, std::span<const Tensor> in) {
  if (n.op == Op::MaxPool2d) {
    IrNode indices = n;
    indices.dtype = indices.compute = kInt64;
    return {lazy_tensor(tr, tr.graph.add(n)), lazy_tensor(tr, tr.graph.add(std::move(indices)))};
  }
  const Dims sizes[3] = {in[1].sizes(), in[2].sizes(), Dims{in[2].size(0)}};
  const auto& a = std::get<ConvAttrs>(n.attrs);
  TensorList out(3);
  for (int k = 0; k < 3; ++k) {
    if (!a.output_mask[k]) continue;
    IrNode one = n;
    auto& oa = std::get<ConvAttrs>(one.attrs);
    for (int j = 0; j < 3; ++j) oa.output_mask[j] = j == k;
    one.sizes = sizes[k];
    out[static_cast<size_t>(k)] = lazy_tensor(tr, tr.graph.add(std::move(one)));
  }
  return out;
}

// dropout(x) in training: its scaled mask (0, or 1 / (1 - p), per element, from the counter-based
// stream the functional layer reserved for it) as a library node of the eager kernel, the
// stream's seed and offset as its runtime scalars (int64, exact: a new stream every step
// compiles nothing anew), and the output x * mask as a fused product, as the kernel computes it.
// Results (out, mask), as the kernel's.
TensorList dropout_nodes(Trace& tr, IrNode n) {
  auto a = std::get<DropoutAttrs>(n.attrs);
  const int32_t x = n.args[0];
  n.args.push_back(operand(tr, wrapped_scalar(Scalar(std::bit_cast<int64_t>(a.seed)))));
  n.args.push_back(operand(tr, wrapped_scalar(Scalar(std::bit_cast<int64_t>(a.offset)))));
  a.seed = a.offset = 0;
  n.attrs = a;
  IrNode mul;
  mul.op = Op::Mul;
  mul.dtype = mul.compute = n.dtype;
  mul.sizes = n.sizes;
  const int32_t mask = tr.graph.add(std::move(n));
  mul.args = {x, mask};
  return {lazy_tensor(tr, tr.graph.add(std::move(mul))), lazy_tensor(tr, mask)};
}

// Which input an in-place op writes, or -1 for a pure op. copy_ and fill_ write their first;
// add/sub/mul/div given a third tensor write the result into it (the fast path of add_ and
// friends, which has checked shapes, dtypes and overlap before).
int written_input(Op op, size_t inputs) {
  switch (op_traits(op).writes) {
    case Writes::First:
      return 0;
    case Writes::Out:
      return inputs == 3 ? 2 : -1;
    case Writes::None:
      return -1;
  }
  return -1;
}

// True when the JIT can write into t: a float tensor, each element its own memory (a write to an
// expanded tensor runs eagerly, which reports it).
bool writable(const Tensor& t) {
  const TensorImpl* impl = t.impl();
  if (!t.defined() || impl->wrapped_number || impl->numel == 0 || !float_dtype(impl->dtype))
    return false;
  for (size_t d = 0; d < impl->sizes.size(); ++d)
    if (impl->strides[d] == 0 && impl->sizes[d] > 1) return false;
  return true;
}

// True when t is the whole of its memory in contiguous order: a write to it gives the memory a
// new value outright.
bool covers_memory(const TensorImpl* impl) {
  return impl->contiguous && impl->offset == 0 &&
         static_cast<size_t>(impl->numel) * element_size(impl->dtype) == impl->storage->nbytes;
}

// An Input node reading all of t's memory as one contiguous vector: the content that a write
// through a view changes part of.
int32_t whole_memory(Trace& tr, const Tensor& t) {
  const int64_t n = static_cast<int64_t>(t.storage()->nbytes / t.element_size());
  return operand(tr, make_view(t, {n}, {1}, 0));
}

// copy_(dst, src) and fill_(dst, value): the source broadcasts to dst and converts.
bool fits_write(Op op, const Tensor& dst, const Tensor& src) {
  if (!src.defined() || src.numel() == 0) return false;
  if (op == Op::Fill_ && src.numel() != 1) return false;
  if (!src.impl()->wrapped_number && !float_dtype(src.dtype()) && src.dtype() != kBool)
    return false;
  return broadcast_shapes(dst.sizes(), src.sizes(), op_name(op)) == dst.sizes();
}

// Records that target's memory now holds node `value`: later reads of it (through any view)
// see the value, and it is written back when the trace runs. The version counter moves now,
// as the eager kernel would move it.
void record_write(Trace& tr, const Tensor& target, int32_t value) {
  TensorImpl* impl = target.impl();
  Storage* s = impl->storage.get();
  if (covers_memory(impl)) {
    // The memory's content is a computed value of its dtype and sizes (broadcast and converted
    // here when it is not: copy_ from another dtype or shape, fill_ from a number).
    const IrNode& v = tr.graph[value];
    if (v.kind != Kind::Apply || is_strided_view(v.op) || v.dtype != impl->dtype ||
        v.sizes != impl->sizes) {
      IrNode c;
      c.op = Op::ToDtype;
      c.attrs = DTypeAttrs{impl->dtype};
      c.dtype = c.compute = impl->dtype;
      c.sizes = impl->sizes;
      c.args = {value};
      value = tr.graph.add(std::move(c));
    }
  } else {
    // A write through a view: the memory's content with the elements the view selects replaced
    // (converted and broadcast as copy_ does).
    int32_t base = current_value(tr, s);
    if (base < 0) base = whole_memory(tr, target);
    IrNode c;
    c.op = Op::Copy_;
    c.args = {base, value};
    c.attrs = ShapeAttrs{impl->sizes};
    c.strides = impl->strides;
    c.value = static_cast<double>(impl->offset);
    c.dtype = c.compute = impl->dtype;
    c.sizes = tr.graph[base].sizes;
    value = tr.graph.add(std::move(c));
  }
  auto lazy = tr.lazy_index.find(s);
  if (lazy != tr.lazy_index.end() && tr.lazies[lazy->second].storage.lock().get() == s) {
    tr.lazies[lazy->second].node = value;  // a value of this trace, not yet in memory
  } else {
    tr.written[storage_of(tr, impl->storage)] = value;
    s->pending = true;  // a data access runs the trace first
  }
  target.bump_version();
}

// Op runs eagerly: what the trace holds runs first (EMBER_JIT_DUMP=breaks names the op and
// its operands).
void graph_break(Trace& tr, Op op, std::span<const Tensor> in) {
  count_graph_break();
  if (dump_enabled("breaks")) {
    std::ostringstream os;
    os << "ember: jit: region '" << tr.name << "': graph break at " << op_name(op) << '(';
    for (size_t i = 0; i < in.size(); ++i) {
      os << (i ? ", " : "");
      if (!in[i].defined())
        os << "undefined";
      else
        os << dtype_name(in[i].dtype()) << in[i].sizes();
    }
    os << ")\n";
    std::cerr << os.str();
  }
  flush(tr);
}

// True when an operand's memory is held by the trace: a lazy value, a graph input, or memory
// the trace writes. An op the JIT does not handle whose operands are all outside the trace (a
// causal mask built from arange, data made before the region) runs eagerly without running
// the graph first: no graph break. Its result joins the graph later as an input, if used.
bool touches_trace(std::span<const Tensor> in) {
  return std::any_of(in.begin(), in.end(),
                     [](const Tensor& t) { return t.defined() && t.storage()->pending; });
}

bool trace_op(Op op, std::span<const Tensor> in, const Attrs& attrs, TensorList& out) {
  ThreadState& ts = t_state;
  if (!ts.trace || ts.executing) return false;
  Trace& tr = *ts.trace;
  if (op_traits(op).jit == JitPolicy::Decompose) {
    if (decompose(op, in, attrs, out)) return true;
    if (touches_trace(in)) graph_break(tr, op, in);
    return false;
  }
  const int w = written_input(op, in.size());
  std::span<const Tensor> args = in;  // the pure op's operands
  if (w == 0) args = in.subspan(1);
  if (w > 0) args = in.first(static_cast<size_t>(w));
  bool traceable = w < 0 ? supported(op) : writable(in[static_cast<size_t>(w)]);
  IrNode n;
  n.op = op;
  n.attrs = attrs;
  if (traceable) {
    try {
      traceable = w == 0 ? fits_write(op, in[0], in[1]) : infer(n, args);
    } catch (const Error&) {
      traceable = false;  // the eager kernel reports it
    }
  }
  if (traceable) {
    // False when an operand (or the target) is a lazy value this trace cannot name.
    auto record_operands = [&] {
      n.args.clear();
      for (const Tensor& t : args) n.args.push_back(operand(tr, t));
      bool named = std::none_of(n.args.begin(), n.args.end(), [](int32_t a) { return a < 0; });
      if (w >= 0) {
        const Storage* s = in[static_cast<size_t>(w)].storage().get();
        named = named && !(s->pending && !s->data && current_value(tr, s) < 0);
      }
      return named;
    };
    if (!record_operands()) {  // the trace must run first
      flush(tr);
      EMBER_ASSERT(record_operands(), "jit: operand still lazy after running the trace");
    }
    out.clear();
    if (op == Op::Conv2dBackward || op == Op::MaxPool2d) {
      out = library_results(tr, n, args);
      return true;
    }
    if (op == Op::Dropout) {
      out = dropout_nodes(tr, std::move(n));
      return true;
    }
    if (w < 0) {
      out.push_back(lazy_tensor(tr, tr.graph.add(std::move(n))));
      return true;
    }
    const Tensor& target = in[static_cast<size_t>(w)];
    record_write(tr, target, w == 0 ? n.args[0] : tr.graph.add(std::move(n)));
    out.push_back(target);
    return true;
  }
  // A graph break: the op runs eagerly on values in memory. Views only read metadata: they run
  // eagerly on lazy tensors too, without running the graph, and are no break.
  if (is_meta_op(op) || !touches_trace(in)) return false;
  graph_break(tr, op, in);
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
  if (!outermost || !enabled()) return outermost;
  if (untraced_run(name)) {
    ts.untraced = name;
    if (profiling::active()) ts.untraced_start = profiling::Clock::now();
  } else {
    install_hooks();
    ts.trace = std::make_unique<Trace>();
    ts.trace->name = name;
    set_thread_traces(true);
    OpenRegions& r = open_regions();
    std::lock_guard lk(r.mu);
    r.all.push_back({::gettid(), name});
  }
  return outermost;
}

void end_region(bool outermost) {
  ThreadState& ts = t_state;
  --ts.depth;
  if (outermost && !ts.untraced.empty()) {
    if (profiling::active())
      profiling::record(ts.untraced, profiling::Event::Eager, ts.untraced_start,
                        profiling::Clock::now());
    ts.untraced.clear();
  }
  if (!outermost || !ts.trace) return;
  std::unique_ptr<Trace> tr = std::move(ts.trace);
  set_thread_traces(false);
  try {
    flush(*tr);
  } catch (const std::exception& e) {
    // A destructor cannot throw; the values of this region are lost (see flush).
    std::cerr << "ember: jit: region '" << tr->name << "' failed: " << e.what() << '\n';
  }
  OpenRegions& r = open_regions();
  std::lock_guard lk(r.mu);
  std::erase_if(r.all, [me = ::gettid()](const OpenRegion& o) { return o.thread == me; });
}

void flush_current() {
  if (t_state.trace && !t_state.executing) flush(*t_state.trace);
}

}  // namespace ember::jit
