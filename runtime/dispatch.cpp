#include "runtime/dispatch.hpp"

#include <array>
#include <mutex>

#include "runtime/autograd/engine.hpp"

namespace ember {
namespace {

AutogradHook g_autograd_hook = nullptr;
TraceHook g_trace_hook = nullptr;
thread_local bool t_grad_enabled = true;

std::array<OpInfo, static_cast<size_t>(Op::NumOps)> g_table;

void register_all() {
  for (size_t i = 0; i < g_table.size(); ++i) g_table[i].name = op_name(static_cast<Op>(i));
  detail::register_unary_kernels();
  detail::register_binary_kernels();
  detail::register_copy_kernels();
  detail::register_reduce_kernels();
  detail::register_view_kernels();
  detail::register_movement_kernels();
  detail::register_matmul_kernels();
  detail::register_conv_kernels();
  detail::register_pool_kernels();
  detail::register_norm_kernels();
  detail::register_loss_kernels();
  detail::register_softmax_kernels();
  detail::register_embedding_kernels();
  detail::register_scatter_kernels();
  detail::register_sort_kernels();
  detail::register_scan_kernels();
  detail::register_conv_backward_kernels();
  detail::register_pool_backward_kernels();
  detail::register_loss_backward_kernels();
  autograd::install();
}

const std::array<OpInfo, static_cast<size_t>(Op::NumOps)>& table() {
  static std::once_flag once;
  std::call_once(once, register_all);
  return g_table;
}

}  // namespace

void register_kernel(Op op, Kernel k) { g_table[static_cast<size_t>(op)].kernel = k; }

const OpInfo& op_info(Op op) { return table()[static_cast<size_t>(op)]; }

bool GradMode::is_enabled() { return t_grad_enabled; }
void GradMode::set_enabled(bool on) { t_grad_enabled = on; }

void set_autograd_hook(AutogradHook h) { g_autograd_hook = h; }
void set_trace_hook(TraceHook h) { g_trace_hook = h; }

namespace {
thread_local bool t_traces = false;
}  // namespace
void set_thread_traces(bool on) { t_traces = on; }
bool thread_traces() { return t_traces; }

namespace {
// Ops a kernel dispatches are part of its implementation: the tracer sees only the outermost.
thread_local int t_kernel_depth = 0;
struct KernelScope {
  KernelScope() { ++t_kernel_depth; }
  ~KernelScope() { --t_kernel_depth; }
};
}  // namespace

namespace {
// Gives the outputs of op their autograd history when an input requires grad.
void record_history(Op op, std::span<const Tensor> inputs, const Attrs& attrs, TensorList& out) {
  if (!g_autograd_hook || !t_grad_enabled) return;
  for (const Tensor& t : inputs)
    if (t.defined() && t.impl()->requires_grad) {
      g_autograd_hook(op, inputs, attrs, out);
      return;
    }
}
}  // namespace

bool ops_traced() { return t_traces && t_kernel_depth == 0; }

TensorList dispatch(Op op, std::span<const Tensor> inputs, const Attrs& attrs) {
  TensorList out;
  if (g_trace_hook) [[unlikely]] {
    // A traced op's outputs are lazy values, and get their history as computed ones would: the
    // autograd node saves the lazy tensors, and a backward run inside the region traces too.
    if (t_kernel_depth == 0 && g_trace_hook(op, inputs, attrs, out)) {
      (void)table();  // installs the autograd hook: a traced op may be the process's first op
      record_history(op, inputs, attrs, out);
      return out;
    }
    KernelScope scope;
    return run_kernel(op, inputs, attrs);
  }
  return run_kernel(op, inputs, attrs);
}

TensorList run_kernel(Op op, std::span<const Tensor> inputs, const Attrs& attrs) {
  TensorList out;
  const OpInfo& info = op_info(op);
  EMBER_ASSERT(info.kernel, "no CPU kernel registered for ", info.name);
  out = info.kernel(inputs, attrs);
  record_history(op, inputs, attrs, out);
  return out;
}

Tensor dispatch1(Op op, std::initializer_list<Tensor> inputs, const Attrs& attrs) {
  TensorList out = dispatch(op, std::span<const Tensor>(inputs.begin(), inputs.size()), attrs);
  return std::move(out[0]);
}

}  // namespace ember
