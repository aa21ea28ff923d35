// Activation layers: ReLU, GELU, SiLU, Sigmoid, Tanh, LeakyReLU, ELU, Hardtanh, Mish, Hardswish,
// Softmax, LogSoftmax.
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

struct LeakyReLU : Module<LeakyReLU> {
  double negative_slope;
  explicit LeakyReLU(double negative_slope = 0.01) : negative_slope(negative_slope) {}
  Tensor forward(const Tensor& input) { return ember::leaky_relu(input, negative_slope); }
  std::string extra_repr() const override;
};

struct ELU : Module<ELU> {
  double alpha;
  explicit ELU(double alpha = 1.0) : alpha(alpha) {}
  Tensor forward(const Tensor& input) { return ember::elu(input, alpha); }
  std::string extra_repr() const override;
};

/// ValueError unless max_val > min_val (as PyTorch's module asserts).
struct Hardtanh : Module<Hardtanh> {
  double min_val, max_val;
  explicit Hardtanh(double min_val = -1.0, double max_val = 1.0);
  Tensor forward(const Tensor& input) { return ember::hardtanh(input, min_val, max_val); }
  std::string extra_repr() const override;
};

struct Mish : Module<Mish> {
  Tensor forward(const Tensor& input) { return ember::mish(input); }
};

struct Hardswish : Module<Hardswish> {
  Tensor forward(const Tensor& input) { return ember::hardswish(input); }
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
