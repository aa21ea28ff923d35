#include "nn/layers/loss.hpp"

namespace ember::nn {

namespace {

const char* reduction_name(Reduction r) {
  switch (r) {
    case Reduction::None:
      return "none";
    case Reduction::Mean:
      return "mean";
    case Reduction::Sum:
      return "sum";
  }
  return "?";
}

void check_weight(const char* name, const Tensor& w) {
  EMBER_CHECK(!w.defined() || w.is_floating_point(), DTypeError, name,
              ": weight must be a floating point tensor, got ", dtype_name(w.dtype()));
}

}  // namespace

// The options keep no tensors: the buffers are the single copy, so to() and load_state_dict
// reach the tensors the loss uses.
CrossEntropyLoss::CrossEntropyLoss(CrossEntropyLossOptions o) : weight(o.weight), options(o) {
  check_weight("CrossEntropyLoss", o.weight);
  EMBER_CHECK(o.label_smoothing >= 0.0 && o.label_smoothing <= 1.0, ValueError,
              "CrossEntropyLoss: label_smoothing must be between 0.0 and 1.0, got ",
              o.label_smoothing);
  options.weight = Tensor();
}

Tensor CrossEntropyLoss::forward(const Tensor& input, const Tensor& target) {
  return functional::cross_entropy(input, target,
                                   {.weight = weight,
                                    .ignore_index = options.ignore_index,
                                    .reduction = options.reduction,
                                    .label_smoothing = options.label_smoothing});
}

std::string CrossEntropyLoss::extra_repr() const {
  std::string s = std::string("reduction=") + reduction_name(options.reduction);
  if (options.label_smoothing != 0.0)
    s += ember::detail::cat(", label_smoothing=", options.label_smoothing);
  if (options.ignore_index != -100)
    s += ember::detail::cat(", ignore_index=", options.ignore_index);
  if (weight.defined()) s += ember::detail::cat(", weight=", weight.sizes());
  return s;
}

NLLLoss::NLLLoss(NLLLossOptions o) : weight(o.weight), options(o) {
  check_weight("NLLLoss", o.weight);
  options.weight = Tensor();
}

Tensor NLLLoss::forward(const Tensor& input, const Tensor& target) {
  return functional::nll_loss(
      input, target,
      {.weight = weight, .ignore_index = options.ignore_index, .reduction = options.reduction});
}

std::string NLLLoss::extra_repr() const {
  std::string s = std::string("reduction=") + reduction_name(options.reduction);
  if (options.ignore_index != -100)
    s += ember::detail::cat(", ignore_index=", options.ignore_index);
  if (weight.defined()) s += ember::detail::cat(", weight=", weight.sizes());
  return s;
}

Tensor MSELoss::forward(const Tensor& input, const Tensor& target) {
  return functional::mse_loss(input, target, {.reduction = options.reduction});
}

std::string MSELoss::extra_repr() const {
  return std::string("reduction=") + reduction_name(options.reduction);
}

Tensor L1Loss::forward(const Tensor& input, const Tensor& target) {
  return functional::l1_loss(input, target, {.reduction = options.reduction});
}

std::string L1Loss::extra_repr() const {
  return std::string("reduction=") + reduction_name(options.reduction);
}

SmoothL1Loss::SmoothL1Loss(SmoothL1LossOptions o) : options(o) {
  EMBER_CHECK(
      o.beta >= 0, ValueError,
      "SmoothL1Loss: smooth_l1_loss does not support negative values for beta, got beta=", o.beta);
}

Tensor SmoothL1Loss::forward(const Tensor& input, const Tensor& target) {
  return functional::smooth_l1_loss(input, target,
                                    {.reduction = options.reduction, .beta = options.beta});
}

std::string SmoothL1Loss::extra_repr() const {
  return ember::detail::cat("reduction=", reduction_name(options.reduction),
                            ", beta=", options.beta);
}

HuberLoss::HuberLoss(HuberLossOptions o) : options(o) {
  EMBER_CHECK(
      o.delta > 0, ValueError,
      "HuberLoss: huber_loss does not support non-positive values for delta, got delta=", o.delta);
}

Tensor HuberLoss::forward(const Tensor& input, const Tensor& target) {
  return functional::huber_loss(input, target,
                                {.reduction = options.reduction, .delta = options.delta});
}

std::string HuberLoss::extra_repr() const {
  return ember::detail::cat("reduction=", reduction_name(options.reduction),
                            ", delta=", options.delta);
}

Tensor KLDivLoss::forward(const Tensor& input, const Tensor& target) {
  return functional::kl_div(input, target,
                            {.reduction = options.reduction, .log_target = options.log_target});
}

std::string KLDivLoss::extra_repr() const {
  const char* names[] = {"none", "batchmean", "sum", "mean"};
  std::string s = std::string("reduction=") + names[options.reduction.kind];
  if (options.log_target) s += ", log_target=True";
  return s;
}

BCELoss::BCELoss(BCELossOptions o) : weight(o.weight), options(o) {
  check_weight("BCELoss", o.weight);
  options.weight = Tensor();
}

Tensor BCELoss::forward(const Tensor& input, const Tensor& target) {
  return functional::binary_cross_entropy(input, target,
                                          {.weight = weight, .reduction = options.reduction});
}

std::string BCELoss::extra_repr() const {
  std::string s = std::string("reduction=") + reduction_name(options.reduction);
  if (weight.defined()) s += ember::detail::cat(", weight=", weight.sizes());
  return s;
}

BCEWithLogitsLoss::BCEWithLogitsLoss(BCEWithLogitsLossOptions o)
    : weight(o.weight), pos_weight(o.pos_weight), options(o) {
  check_weight("BCEWithLogitsLoss", o.weight);
  check_weight("BCEWithLogitsLoss", o.pos_weight);
  options.weight = options.pos_weight = Tensor();
}

Tensor BCEWithLogitsLoss::forward(const Tensor& input, const Tensor& target) {
  return functional::binary_cross_entropy_with_logits(
      input, target, {.weight = weight, .pos_weight = pos_weight, .reduction = options.reduction});
}

std::string BCEWithLogitsLoss::extra_repr() const {
  return std::string("reduction=") + reduction_name(options.reduction);
}

}  // namespace ember::nn
