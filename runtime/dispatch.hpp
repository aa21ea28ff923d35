// The dispatcher: the one entry every op passes through (op, inputs, attributes -> outputs).
// It is the single place where autograd records and, later, the JIT's tracer intercepts.
#pragma once

#include <initializer_list>
#include <span>
#include <vector>

#include "runtime/op.hpp"
#include "runtime/tensor.hpp"

namespace ember {

using TensorList = std::vector<Tensor>;
/// A CPU kernel: computes the outputs from the inputs (undefined Tensors for absent optionals).
using Kernel = TensorList (*)(std::span<const Tensor> inputs, const Attrs& attrs);

struct OpInfo {
  const char* name = "?";
  Kernel kernel = nullptr;
};

/// Installs the CPU kernel for op (each ops/*.cpp registers its family once).
void register_kernel(Op op, Kernel k);
const OpInfo& op_info(Op op);

/// Runs op: tracer hook first, then the kernel, then the autograd hook.
TensorList dispatch(Op op, std::span<const Tensor> inputs, const Attrs& attrs = {});
inline TensorList dispatch(Op op, std::initializer_list<Tensor> inputs, const Attrs& attrs = {}) {
  return dispatch(op, std::span<const Tensor>(inputs.begin(), inputs.size()), attrs);
}
/// The kernel and the autograd hook, without the tracer: what dispatch runs when nothing traces.
TensorList run_kernel(Op op, std::span<const Tensor> inputs, const Attrs& attrs);
/// dispatch for ops with one output (the first output of multi-output ops).
Tensor dispatch1(Op op, std::initializer_list<Tensor> inputs, const Attrs& attrs = {});

/// Called after the kernel when grad mode is on and an input requires grad (set by autograd).
using AutogradHook = void (*)(Op op, std::span<const Tensor> inputs, const Attrs& attrs,
                              TensorList& outputs);
/// Called instead of the kernel while a trace records; returns false to run eagerly.
using TraceHook = bool (*)(Op op, std::span<const Tensor> inputs, const Attrs& attrs,
                           TensorList& outputs);
void set_autograd_hook(AutogradHook h);
void set_trace_hook(TraceHook h);
/// Whether ops dispatched here now are recorded by a trace (a jit::Region on this thread, outside
/// a kernel): then code that could run a loop over raw memory itself (the dsl's fused backward
/// loops) dispatches ops instead, so that the trace sees them. Set by the JIT.
bool ops_traced();
void set_thread_traces(bool on);
bool thread_traces();

/// Grad mode (on by default, per thread); NoGradGuard turns it off in a scope.
struct GradMode {
  static bool is_enabled();
  static void set_enabled(bool on);
};
class NoGradGuard {
 public:
  NoGradGuard() : prev_(GradMode::is_enabled()) { GradMode::set_enabled(false); }
  ~NoGradGuard() { GradMode::set_enabled(prev_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};
class EnableGradGuard {
 public:
  EnableGradGuard() : prev_(GradMode::is_enabled()) { GradMode::set_enabled(true); }
  ~EnableGradGuard() { GradMode::set_enabled(prev_); }
  EnableGradGuard(const EnableGradGuard&) = delete;
  EnableGradGuard& operator=(const EnableGradGuard&) = delete;

 private:
  bool prev_;
};

namespace detail {
// Each op family's registration, called once before the first dispatch.
void register_unary_kernels();
void register_binary_kernels();
void register_copy_kernels();
void register_reduce_kernels();
void register_view_kernels();
void register_movement_kernels();
void register_matmul_kernels();
void register_conv_kernels();
void register_pool_kernels();
// The output sizes of conv2d and the pools, after the kernels' own checks (which throw
// their errors): the JIT records these ops as library steps of a graph without running them.
Dims conv2d_sizes(const Tensor& input, const Tensor& weight, const Tensor& bias,
                  const ConvAttrs& a);
Dims avg_pool2d_sizes(const Tensor& input, const PoolAttrs& a);
Dims max_pool2d_sizes(const Tensor& input, const PoolAttrs& a);
Dims adaptive_avg_pool2d_sizes(const Tensor& input, const Dims& size);
void register_norm_kernels();
void register_loss_kernels();
void register_softmax_kernels();
void register_embedding_kernels();
void register_scatter_kernels();
void register_sort_kernels();
void register_scan_kernels();
void register_conv_backward_kernels();
void register_pool_backward_kernels();
void register_loss_backward_kernels();
}  // namespace detail

}  // namespace ember
