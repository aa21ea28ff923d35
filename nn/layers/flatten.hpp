// Flatten.
#pragma once

#include "nn/module.hpp"

namespace ember::nn {

/// Flattens dims start_dim..end_dim into one (by default all but the batch dim).
struct Flatten : Module<Flatten> {
  int64_t start_dim, end_dim;
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1)
      : start_dim(start_dim), end_dim(end_dim) {}
  Tensor forward(const Tensor& input) { return input.flatten(start_dim, end_dim); }
  std::string extra_repr() const override {
    return "start_dim=" + std::to_string(start_dim) + ", end_dim=" + std::to_string(end_dim);
  }
};

}  // namespace ember::nn
