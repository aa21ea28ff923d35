// Conv2d.
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

}  // namespace ember::nn

EMBER_MODULE(ember::nn::Conv2d, weight, bias);
