// Loss modules: CrossEntropyLoss, NLLLoss, MSELoss, L1Loss, SmoothL1Loss, HuberLoss, KLDivLoss,
// BCELoss, BCEWithLogitsLoss. Each calls its nn::functional twin; weights are buffers (saved,
// converted by to()).
//
//   nn::CrossEntropyLoss criterion({.label_smoothing = 0.1});
//   Tensor loss = criterion(logits, labels);
#pragma once

#include "nn/functional.hpp"
#include "nn/module.hpp"

namespace ember::nn {

struct CrossEntropyLossOptions {
  double label_smoothing = 0.0;
  Reduction reduction = Reduction::Mean;
  int64_t ignore_index = -100;
  Tensor weight{};  ///< per-class weights [C], or undefined
};

/// log_softmax over dim 1 followed by nll_loss, with optional label smoothing.
struct CrossEntropyLoss : Module<CrossEntropyLoss> {
  Buffer weight;
  CrossEntropyLossOptions options;
  explicit CrossEntropyLoss(CrossEntropyLossOptions options = {});
  /// input [N, C] (or [N, C, d...]) logits; target class indices or class probabilities.
  Tensor forward(const Tensor& input, const Tensor& target);
  std::string extra_repr() const override;
};

struct NLLLossOptions {
  Reduction reduction = Reduction::Mean;
  int64_t ignore_index = -100;
  Tensor weight{};
};

/// Negative log-likelihood of class indices under log-probabilities input [N, C].
struct NLLLoss : Module<NLLLoss> {
  Buffer weight;
  NLLLossOptions options;
  explicit NLLLoss(NLLLossOptions options = {});
  Tensor forward(const Tensor& input, const Tensor& target);
  std::string extra_repr() const override;
};

struct MSELossOptions {
  Reduction reduction = Reduction::Mean;
};

/// Squared error (input - target)^2, reduced.
struct MSELoss : Module<MSELoss> {
  MSELossOptions options;
  explicit MSELoss(MSELossOptions options = {}) : options(options) {}
  Tensor forward(const Tensor& input, const Tensor& target);
  std::string extra_repr() const override;
};

struct L1LossOptions {
  Reduction reduction = Reduction::Mean;
};

/// Absolute error |input - target|, reduced.
struct L1Loss : Module<L1Loss> {
  L1LossOptions options;
  explicit L1Loss(L1LossOptions options = {}) : options(options) {}
  Tensor forward(const Tensor& input, const Tensor& target);
  std::string extra_repr() const override;
};

struct SmoothL1LossOptions {
  Reduction reduction = Reduction::Mean;
  double beta = 1.0;
};

/// Squared error below beta (divided by beta), absolute error above (PyTorch's SmoothL1Loss).
struct SmoothL1Loss : Module<SmoothL1Loss> {
  SmoothL1LossOptions options;
  explicit SmoothL1Loss(SmoothL1LossOptions options = {});
  Tensor forward(const Tensor& input, const Tensor& target);
  std::string extra_repr() const override;
};

struct HuberLossOptions {
  Reduction reduction = Reduction::Mean;
  double delta = 1.0;
};

/// Squared error below delta, delta-scaled absolute error above (SmoothL1Loss times beta).
struct HuberLoss : Module<HuberLoss> {
  HuberLossOptions options;
  explicit HuberLoss(HuberLossOptions options = {});
  Tensor forward(const Tensor& input, const Tensor& target);
  std::string extra_repr() const override;
};

struct KLDivLossOptions {
  functional::KLDivReduction reduction = functional::KLDivReduction::Mean;
  bool log_target = false;
};

/// KL divergence of log-probabilities input against target (probabilities, or log-probabilities
/// with log_target); reduction batchmean gives the true KL divergence per sample.
struct KLDivLoss : Module<KLDivLoss> {
  KLDivLossOptions options;
  explicit KLDivLoss(KLDivLossOptions options = {}) : options(options) {}
  Tensor forward(const Tensor& input, const Tensor& target);
  std::string extra_repr() const override;
};

struct BCELossOptions {
  Tensor weight{};  ///< rescales each element's loss (broadcast to the input)
  Reduction reduction = Reduction::Mean;
};

/// Binary cross entropy of probabilities in [0, 1] (logs clamped at -100, as PyTorch's).
struct BCELoss : Module<BCELoss> {
  Buffer weight;
  BCELossOptions options;
  explicit BCELoss(BCELossOptions options = {});
  Tensor forward(const Tensor& input, const Tensor& target);
  std::string extra_repr() const override;
};

struct BCEWithLogitsLossOptions {
  Reduction reduction = Reduction::Mean;
  Tensor weight{};      ///< rescales each element's loss (broadcast to the input)
  Tensor pos_weight{};  ///< weight of positive examples, per class
};

/// Binary cross entropy on logits (sigmoid folded in, numerically stable).
struct BCEWithLogitsLoss : Module<BCEWithLogitsLoss> {
  Buffer weight, pos_weight;
  BCEWithLogitsLossOptions options;
  explicit BCEWithLogitsLoss(BCEWithLogitsLossOptions options = {});
  Tensor forward(const Tensor& input, const Tensor& target);
  std::string extra_repr() const override;
};

}  // namespace ember::nn

EMBER_MODULE(ember::nn::CrossEntropyLoss, weight);
EMBER_MODULE(ember::nn::NLLLoss, weight);
EMBER_MODULE(ember::nn::BCELoss, weight);
EMBER_MODULE(ember::nn::BCEWithLogitsLoss, weight, pos_weight);
