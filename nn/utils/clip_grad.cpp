#include "nn/utils/clip_grad.hpp"

#include <cmath>

#include "runtime/dispatch.hpp"
#include "runtime/ops.hpp"

namespace ember::nn::utils {

namespace {

// torch.norm(t, p) for p > 0 or inf, over every element.
Tensor norm_of(const Tensor& t, double p) {
  if (std::isinf(p)) return amax(abs(t));
  if (p == 2) return sqrt(sum(t * t));
  if (p == 1) return sum(abs(t));
  return pow(sum(pow(abs(t), p)), 1.0 / p);
}

}  // namespace

Tensor clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm, double norm_type,
                       bool error_if_nonfinite) {
  EMBER_CHECK(norm_type > 0 && !std::isnan(norm_type), ValueError,
              "clip_grad_norm_: norm_type must be positive or inf, got ", norm_type);
  NoGradGuard no_grad;
  std::vector<Tensor> grads;
  for (const Tensor& p : parameters) {
    EMBER_CHECK(p.defined(), Error, "clip_grad_norm_: a parameter is undefined");
    Tensor g = p.grad();
    if (g.defined()) grads.push_back(g);
  }
  if (grads.empty()) return scalar_tensor(0.0);
  // Each gradient's norm, then the norm of those norms (PyTorch's order of rounding).
  std::vector<Tensor> norms;
  DType dtype = grads[0].dtype();
  for (const Tensor& g : grads) {
    EMBER_CHECK(g.is_floating_point(), DTypeError,
                "clip_grad_norm_: expected floating point gradients, got ", dtype_name(g.dtype()));
    norms.push_back(norm_of(g, norm_type));
    dtype = promote(dtype, g.dtype());
  }
  for (Tensor& n : norms) n = n.to(dtype);
  Tensor total = norms.size() == 1 ? norms[0] : norm_of(stack(norms), norm_type);
  if (error_if_nonfinite) {
    const double v = total.item<double>();
    EMBER_CHECK(std::isfinite(v), ValueError, "clip_grad_norm_: The total norm of order ",
                norm_type, " for gradients from `parameters` is non-finite (", v,
                "), so it cannot be clipped. To disable this error and scale the gradients by the "
                "non-finite norm anyway, set `error_if_nonfinite=false`");
  }
  Tensor coef = clamp(max_norm / (total + 1e-6), std::nullopt, 1.0);
  for (const Tensor& g : grads) g.mul_(coef.to(g.dtype()));
  return total;
}

Tensor clip_grad_norm_(const Tensor& parameter, double max_norm, double norm_type,
                       bool error_if_nonfinite) {
  return clip_grad_norm_(std::vector<Tensor>{parameter}, max_norm, norm_type, error_if_nonfinite);
}

void clip_grad_value_(const std::vector<Tensor>& parameters, double clip_value) {
  EMBER_CHECK(!std::isnan(clip_value), ValueError, "clip_grad_value_: clip_value is NaN");
  NoGradGuard no_grad;
  for (const Tensor& p : parameters) {
    EMBER_CHECK(p.defined(), Error, "clip_grad_value_: a parameter is undefined");
    Tensor g = p.grad();
    if (g.defined()) g.clamp_(-clip_value, clip_value);
  }
}

void clip_grad_value_(const Tensor& parameter, double clip_value) {
  clip_grad_value_(std::vector<Tensor>{parameter}, clip_value);
}

}  // namespace ember::nn::utils
