// Dropout.
#pragma once

#include "nn/functional.hpp"
#include "nn/module.hpp"

namespace ember::nn {

/// In training, zeroes each element with probability p and scales the rest by 1 / (1 - p);
/// in eval mode, the identity.
struct Dropout : Module<Dropout> {
  double p;
  explicit Dropout(double p = 0.5);
  Tensor forward(const Tensor& input);
  std::string extra_repr() const override;
};

}  // namespace ember::nn
