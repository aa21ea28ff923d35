// Linear and Identity layers.
#pragma once

#include "nn/functional.hpp"
#include "nn/module.hpp"

namespace ember::nn {

struct LinearOptions {
  bool bias = true;
};

/// y = x W^T + b with weight [out_features, in_features] and bias [out_features]; initialised
/// as PyTorch's: W ~ kaiming_uniform_(a = sqrt(5)), b ~ U(-1/sqrt(in), 1/sqrt(in)).
struct Linear : Module<Linear> {
  Parameter weight, bias;  ///< bias is undefined with {.bias = false}
  int64_t in_features = 0, out_features = 0;

  Linear(int64_t in_features, int64_t out_features, LinearOptions options = {});
  Tensor forward(const Tensor& input);
  /// Draws fresh weights as the constructor does.
  void reset_parameters();
  std::string extra_repr() const override;
};

/// Returns its input unchanged (a placeholder in a Sequential or a skip path).
struct Identity : Module<Identity> {
  Tensor forward(const Tensor& input) { return input; }
};

}  // namespace ember::nn

EMBER_MODULE(ember::nn::Linear, weight, bias);
