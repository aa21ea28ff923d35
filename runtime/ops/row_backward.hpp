// Fused backward kernels of layer_norm and (log_)softmax (internal): what their rows of the
// derivative table run when the backward is neither recorded (create_graph) nor traced by a
// jit::Region; otherwise the rows compose eager ops, which are differentiable and traceable.
#pragma once

#include <array>

#include "runtime/tensor.hpp"

namespace ember::detail {

/// (grad_input, grad_weight, grad_bias) of layer_norm over the trailing dims `normalized` of x,
/// in x's dtype, given the forward's saved mean and rstd (one per row) and w (undefined: none).
/// Only the gradients asked for in `need` are computed; the others come back undefined.
std::array<Tensor, 3> layer_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& w,
                                          const Tensor& mean, const Tensor& rstd,
                                          const Dims& normalized, std::array<bool, 3> need);

/// grad_input of softmax (log: log_softmax) along dim from its output y: y (g - sum(g y)), or
/// g - e^y sum(g), in y's dtype.
Tensor softmax_backward(const Tensor& grad, const Tensor& y, int64_t dim, bool log);

}  // namespace ember::detail
