// Pooling layers: MaxPool2d, AvgPool2d, AdaptiveAvgPool2d.
#pragma once

#include "nn/functional.hpp"
#include "nn/module.hpp"

namespace ember::nn {

using functional::Pair;
/// {.stride (default: the kernel size), .padding, .dilation, .ceil_mode}
using MaxPool2dOptions = functional::MaxPool2dOptions;
/// {.stride (default: the kernel size), .padding, .ceil_mode, .count_include_pad,
///  .divisor_override}
using AvgPool2dOptions = functional::AvgPool2dOptions;

struct MaxPool2d : Module<MaxPool2d> {
  Pair kernel_size;
  MaxPool2dOptions options;
  explicit MaxPool2d(Pair kernel_size, MaxPool2dOptions options = {});
  Tensor forward(const Tensor& input);
  std::string extra_repr() const override;
};

struct AvgPool2d : Module<AvgPool2d> {
  Pair kernel_size;
  AvgPool2dOptions options;
  explicit AvgPool2d(Pair kernel_size, AvgPool2dOptions options = {});
  Tensor forward(const Tensor& input);
  std::string extra_repr() const override;
};

/// Averages into an output_size grid whatever the input's height and width.
struct AdaptiveAvgPool2d : Module<AdaptiveAvgPool2d> {
  Pair output_size;
  explicit AdaptiveAvgPool2d(Pair output_size);
  Tensor forward(const Tensor& input);
  std::string extra_repr() const override;
};

}  // namespace ember::nn
