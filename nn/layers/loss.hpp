// Loss modules: CrossEntropyLoss, NLLLoss, MSELoss, BCEWithLogitsLoss. Each calls its
// nn::functional twin; class weights are buffers (saved, converted by to()).
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
EMBER_MODULE(ember::nn::BCEWithLogitsLoss, weight, pos_weight);
