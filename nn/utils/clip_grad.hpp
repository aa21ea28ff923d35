// Gradient clipping, as torch.nn.utils.clip_grad_norm_ and clip_grad_value_: call between
// backward() and the optimizer's step().
//
//   loss.backward();
//   Tensor norm = nn::utils::clip_grad_norm_(net.parameters(), 1.0);  // the norm before clipping
//   opt.step();
#pragma once

#include <vector>

#include "runtime/tensor.hpp"

namespace ember::nn::utils {

/// Scales every defined gradient in place by min(1, max_norm / (total_norm + 1e-6)), where
/// total_norm is the norm_type-norm of all gradients together (norm_type > 0, or INFINITY for the
/// largest |g|). Returns total_norm as a 0-d tensor (0 when no parameter has a gradient), which
/// stays lazy inside a jit::Region. error_if_nonfinite: a NaN or infinite norm is a ValueError
/// (reading the value, as PyTorch's check does).
Tensor clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm,
                       double norm_type = 2.0, bool error_if_nonfinite = false);
Tensor clip_grad_norm_(const Tensor& parameter, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);

/// Clamps every defined gradient in place to [-clip_value, clip_value].
void clip_grad_value_(const std::vector<Tensor>& parameters, double clip_value);
void clip_grad_value_(const Tensor& parameter, double clip_value);

}  // namespace ember::nn::utils
