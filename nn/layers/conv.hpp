// Convolutions: Conv1d, Conv2d, ConvTranspose2d.
#pragma once

#include "nn/functional.hpp"
#include "nn/module.hpp"

namespace ember::nn {

using functional::Pair;

struct Conv2dOptions {
  Pair stride = 1, padding = 0, dilation = 1;
  int64_t groups = 1;
  bool bias = true;
};

/// 2-d convolution over [N, C, H, W] (or [C, H, W]) input: weight [out, in / groups, kh, kw],
/// bias [out]; initialised as PyTorch's (kaiming_uniform_(a = sqrt(5)), bias U(+-1/sqrt(fan_in))).
struct Conv2d : Module<Conv2d> {
  Parameter weight, bias;  ///< bias is undefined with {.bias = false}
  int64_t in_channels = 0, out_channels = 0;
  Pair kernel_size;
  Conv2dOptions options;

  Conv2d(int64_t in_channels, int64_t out_channels, Pair kernel_size, Conv2dOptions options = {});
  Tensor forward(const Tensor& input);
  /// Draws fresh weights as the constructor does.
  void reset_parameters();
  std::string extra_repr() const override;
};

struct Conv1dOptions {
  int64_t stride = 1, padding = 0, dilation = 1, groups = 1;
  bool bias = true;
};

/// 1-d convolution over [N, C, L] (or [C, L]) input: weight [out, in / groups, k], bias [out];
/// PyTorch's initialisation. Runs as conv2d over a [N, C, 1, L] view.
struct Conv1d : Module<Conv1d> {
  Parameter weight, bias;
  int64_t in_channels = 0, out_channels = 0, kernel_size = 0;
  Conv1dOptions options;

  Conv1d(int64_t in_channels, int64_t out_channels, int64_t kernel_size,
         Conv1dOptions options = {});
  Tensor forward(const Tensor& input);
  void reset_parameters();
  std::string extra_repr() const override;
};

struct ConvTranspose2dOptions {
  Pair stride = 1, padding = 0, output_padding = 0;
  int64_t groups = 1;
  bool bias = true;
  Pair dilation = 1;
};

/// Transposed 2-d convolution (the adjoint of Conv2d): weight [in, out / groups, kh, kw], bias
/// [out]; output size (H - 1) stride - 2 padding + dilation (kh - 1) + output_padding + 1.
/// PyTorch's initialisation (kaiming_uniform_(a = sqrt(5)) with fan_in from weight dim 1).
struct ConvTranspose2d : Module<ConvTranspose2d> {
  Parameter weight, bias;
  int64_t in_channels = 0, out_channels = 0;
  Pair kernel_size;
  ConvTranspose2dOptions options;

  ConvTranspose2d(int64_t in_channels, int64_t out_channels, Pair kernel_size,
                  ConvTranspose2dOptions options = {});
  Tensor forward(const Tensor& input);
  void reset_parameters();
  std::string extra_repr() const override;
};

}  // namespace ember::nn

EMBER_MODULE(ember::nn::Conv2d, weight, bias);
EMBER_MODULE(ember::nn::Conv1d, weight, bias);
EMBER_MODULE(ember::nn::ConvTranspose2d, weight, bias);
