// nn::functional losses composed of differentiable tensor ops (no kernel or derivative row of
// their own): l1_loss, smooth_l1_loss, huber_loss, kl_div, binary_cross_entropy. Autograd, the
// JIT's tracer and create_graph see only the ops they are made of.
#include <cmath>

#include "nn/functional.hpp"
#include "runtime/dispatch.hpp"
#include "runtime/shape.hpp"

namespace ember::nn::functional {

namespace {

// The promoted dtype of input and target, which must be floating (as mse_loss's kernel).
void check_pair(const Tensor& input, const Tensor& target, const char* op) {
  EMBER_CHECK(input.defined() && target.defined(), Error, op, ": an input is undefined");
  const Tensor both[] = {input, target};
  EMBER_CHECK(is_floating(result_type(both)), DTypeError, op,
              ": expected floating point inputs, got ", dtype_name(input.dtype()), " and ",
              dtype_name(target.dtype()));
  // PyTorch broadcasts input against target (with a warning); sizes that do not broadcast are
  // an error naming the op.
  broadcast_shapes(input.sizes(), target.sizes(), op);
}

Tensor reduce(const Tensor& loss, Reduction r) {
  switch (r) {
    case Reduction::None:
      return loss;
    case Reduction::Sum:
      return sum(loss);
    case Reduction::Mean:
      break;
  }
  return mean(loss);  // NaN for no elements, as PyTorch
}

// log(v) clamped below at -100 (PyTorch's binary_cross_entropy), for v in [0, 1]. Where v is 0
// the log is taken of 1 instead and replaced, so the gradient there is 0 (the derivative of the
// clamped log), not 0 * inf = NaN.
Tensor clamped_log(const Tensor& v) {
  Tensor positive = v > 0;
  Tensor safe = where(positive, v, wrapped_scalar(1.0));
  return clamp(where(positive, log(safe), wrapped_scalar(-100.0)), -100.0);
}

}  // namespace

Tensor l1_loss(const Tensor& input, const Tensor& target, const L1LossOptions& o) {
  check_pair(input, target, "l1_loss");
  return reduce(abs(input - target), o.reduction);
}

Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, const SmoothL1LossOptions& o) {
  check_pair(input, target, "smooth_l1_loss");
  EMBER_CHECK(o.beta >= 0, ValueError,
              "smooth_l1_loss does not support negative values for beta, got beta=", o.beta);
  Tensor z = abs(input - target);
  if (o.beta == 0) return reduce(z, o.reduction);  // PyTorch's shortcut: no 0 / 0
  Tensor loss = where(z < o.beta, z * z * (0.5 / o.beta), z - 0.5 * o.beta);
  return reduce(loss, o.reduction);
}

Tensor huber_loss(const Tensor& input, const Tensor& target, const HuberLossOptions& o) {
  check_pair(input, target, "huber_loss");
  EMBER_CHECK(o.delta > 0, ValueError,
              "huber_loss does not support non-positive values for delta, got delta=", o.delta);
  Tensor z = abs(input - target);
  Tensor loss = where(z < o.delta, z * z * 0.5, (z - 0.5 * o.delta) * o.delta);
  return reduce(loss, o.reduction);
}

Tensor kl_div(const Tensor& input, const Tensor& target, const KLDivOptions& o) {
  check_pair(input, target, "kl_div");
  Tensor loss;
  if (o.log_target) {
    loss = exp(target) * (target - input);
  } else {
    // xlogy(target, target) - target * input: 0 where target is 0 (log taken of 1 there).
    Tensor safe = where(target == 0.0, wrapped_scalar(1.0), target);
    loss = target * log(safe) - target * input;
  }
  switch (o.reduction.kind) {
    case KLDivReduction::None:
      return loss;
    case KLDivReduction::Sum:
      return sum(loss);
    case KLDivReduction::Mean:
      return mean(loss);
    case KLDivReduction::BatchMean:
      break;
  }
  // The batch is input's first dim; a 0-d input has none and gives the sum.
  return input.dim() == 0 ? sum(loss) : sum(loss) / double(input.size(0));
}

Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const BceOptions& o) {
  const char* name = "binary_cross_entropy";
  EMBER_CHECK(input.defined() && target.defined(), Error, name, ": an input is undefined");
  EMBER_CHECK(target.sizes() == input.sizes(), ValueError, name, ": Using a target size (",
              target.sizes(), ") that is different to the input size (", input.sizes(),
              ") is deprecated. Please ensure they have the same size.");
  check_pair(input, target, name);
  if (o.weight.defined()) {
    EMBER_CHECK(is_floating(o.weight.dtype()), DTypeError, name,
                ": expected a floating point weight, got ", dtype_name(o.weight.dtype()));
    Dims shape = broadcast_shapes(input.sizes(), o.weight.sizes(), name);
    EMBER_CHECK(shape == input.sizes(), ShapeError, name, ": weight of shape ", o.weight.sizes(),
                " cannot be broadcast to the input's shape ", input.sizes());
  }
  // PyTorch's kernel refuses probabilities outside [0, 1] (and NaN). Checking reads the values,
  // so it is done on eager inputs only: inside a jit::Region it would force the trace to run.
  if (input.numel() > 0 && !input.storage()->pending) {
    NoGradGuard no_grad;
    const double lo = amin(input).item<double>(), hi = amax(input).item<double>();
    EMBER_CHECK(lo >= 0 && hi <= 1, ValueError, name,
                ": all elements of input should be between 0 and 1, got values in [", lo, ", ", hi,
                "]");
  }
  Tensor loss = -(target * clamped_log(input) + (1 - target) * clamped_log(1 - input));
  if (o.weight.defined()) loss = loss * o.weight;
  return reduce(loss, o.reduction);
}

}  // namespace ember::nn::functional
