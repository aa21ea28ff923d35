// Library steps of a compiled graph: nodes run by calling an op's eager kernel (matmul, conv2d,
// the pools, cat, ...), a write through a view, and the kernels with several results whose
// nodes one call computes (see library_results in jit/trace/trace.cpp).
#include "jit/library_call.hpp"

#include <bit>
#include <map>
#include <tuple>

#include "runtime/dispatch.hpp"
#include "runtime/ops.hpp"

namespace ember::jit {
namespace {

// A Copy_ node (a write through a view, as a pure op): a copy of base's memory with the
// elements its layout selects replaced by value, converted and broadcast.
Tensor write_through_view(const IrNode& n, const Tensor& base, const Tensor& value) {
  Tensor out = copy_of(base);
  Tensor view =
      make_view(out, std::get<ShapeAttrs>(n.attrs).sizes, n.strides, static_cast<int64_t>(n.value));
  const Tensor args[] = {view, value};
  op_info(Op::Copy_).kernel(std::span<const Tensor>(args), {});
  return out;
}

// Which result of its kernel a library node is (see library_results in jit/trace/trace.cpp):
// the gradient conv2d_backward's mask names, max_pool2d's values or (int64) indices, dropout's
// mask.
size_t result_index(const IrNode& n) {
  if (n.op == Op::MaxPool2d) return n.dtype == kInt64 ? 1 : 0;
  if (n.op == Op::Dropout) return 1;  // the mask (the output is a fused product)
  if (n.op != Op::Conv2dBackward) return 0;
  const auto& m = std::get<ConvAttrs>(n.attrs).output_mask;
  return m[0] ? 0 : m[1] ? 1 : 2;
}

}  // namespace

Tensor copy_of(const Tensor& v) {
  return op_info(Op::Clone).kernel(std::span<const Tensor>(&v, 1), {})[0];
}

Tensor constant(const IrNode& n) {
  switch (n.dtype) {
    case kBool:
      return wrapped_scalar(Scalar(n.value != 0));
    case kInt64:
      return wrapped_scalar(Scalar(static_cast<int64_t>(n.value)));
    default:
      return wrapped_scalar(Scalar(n.value));
  }
}

std::vector<Tensor> operands(const Graph& g, const IrNode& n, const std::vector<Tensor>& vals) {
  std::vector<Tensor> args;
  for (int32_t a : n.args)
    args.push_back(g[a].kind == Kind::Const ? constant(g[a]) : vals[static_cast<size_t>(a)]);
  return args;
}

Tensor run_library(const Graph& g, const IrNode& n, std::vector<Tensor>& vals) {
  std::vector<Tensor> args = operands(g, n, vals);
  if (n.op == Op::Copy_) return write_through_view(n, args[0], args[1]);
  if (n.op == Op::Dropout) {  // the stream's seed and offset are the node's runtime scalars
    auto a = std::get<DropoutAttrs>(n.attrs);
    a.seed = std::bit_cast<uint64_t>(args[1].item<int64_t>());
    a.offset = std::bit_cast<uint64_t>(args[2].item<int64_t>());
    return op_info(n.op).kernel(std::span<const Tensor>(args.data(), 1), a)[result_index(n)];
  }
  Tensor r = op_info(n.op).kernel(args, n.attrs)[result_index(n)];
  // A pointwise node may be larger than its operands (a write's value broadcast to its memory).
  return r.sizes() == n.sizes ? r : r.expand(n.sizes);
}

// The nodes of one library call's results (conv2d_backward's gradients, max_pool2d's values and
// indices: see library_results in jit/trace/trace.cpp) of the same operands and attributes are
// computed by one call of the kernel, which shares its work between them (the operands'
// layouts, the output gradient's reorder; the windows' maxima and where they are): per node,
// the group it belongs to (itself included), or empty.
std::vector<std::vector<int32_t>> joint_calls(const Graph& g) {
  std::vector<std::vector<int32_t>> joint(g.size());
  std::map<std::tuple<Op, std::vector<int32_t>, std::string>, std::vector<int32_t>> groups;
  for (size_t i = 0; i < g.size(); ++i) {
    const IrNode& n = g[static_cast<int32_t>(i)];
    if (n.kind != Kind::Apply || (n.op != Op::Conv2dBackward && n.op != Op::MaxPool2d)) continue;
    Attrs a = n.attrs;
    if (auto* c = std::get_if<ConvAttrs>(&a))
      c->output_mask[0] = c->output_mask[1] = c->output_mask[2] = false;
    groups[{n.op, n.args, attrs_to_string(a)}].push_back(static_cast<int32_t>(i));
  }
  for (const auto& [key, nodes] : groups)
    if (nodes.size() > 1)
      for (int32_t v : nodes) joint[static_cast<size_t>(v)] = nodes;
  return joint;
}

// Runs the library nodes of one joint group as one call: each takes its own result.
void run_joint(const Graph& g, const std::vector<int32_t>& nodes, std::vector<Tensor>& vals) {
  const IrNode& first = g[nodes.front()];
  Attrs a = first.attrs;
  if (auto* c = std::get_if<ConvAttrs>(&a))  // every gradient the group asks for
    for (int32_t v : nodes)
      for (int k = 0; k < 3; ++k)
        c->output_mask[k] |= std::get<ConvAttrs>(g[v].attrs).output_mask[k];
  TensorList rs = op_info(first.op).kernel(operands(g, first, vals), a);
  for (int32_t v : nodes) vals[static_cast<size_t>(v)] = rs[result_index(g[v])];
}

}  // namespace ember::jit
