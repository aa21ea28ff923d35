// Activation layers: ReLU, GELU, SiLU, Sigmoid, Tanh, Softmax, LogSoftmax.
#pragma once

#include <string>

#include "nn/module.hpp"
#include "runtime/ops.hpp"

namespace ember::nn {

struct ReLU : Module<ReLU> {
  Tensor forward(const Tensor& input) { return ember::relu(input); }
};

/// approximate "none" (the erf form) or "tanh".
struct GELU : Module<GELU> {
  std::string approximate;
  explicit GELU(std::string approximate = "none");
  Tensor forward(const Tensor& input) { return ember::gelu(input, approximate); }
  std::string extra_repr() const override { return "approximate=\"" + approximate + "\""; }
};

struct SiLU : Module<SiLU> {
  Tensor forward(const Tensor& input) { return ember::silu(input); }
};

struct Sigmoid : Module<Sigmoid> {
  Tensor forward(const Tensor& input) { return ember::sigmoid(input); }
};

struct Tanh : Module<Tanh> {
  Tensor forward(const Tensor& input) { return ember::tanh(input); }
};

struct Softmax : Module<Softmax> {
  int64_t dim;
  explicit Softmax(int64_t dim) : dim(dim) {}
  Tensor forward(const Tensor& input) { return ember::softmax(input, dim); }
  std::string extra_repr() const override { return "dim=" + std::to_string(dim); }
};

struct LogSoftmax : Module<LogSoftmax> {
  int64_t dim;
  explicit LogSoftmax(int64_t dim) : dim(dim) {}
  Tensor forward(const Tensor& input) { return ember::log_softmax(input, dim); }
  std::string extra_repr() const override { return "dim=" + std::to_string(dim); }
};

}  // namespace ember::nn
