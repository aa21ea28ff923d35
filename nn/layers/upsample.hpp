// Upsample: F::interpolate as a layer.
#pragma once

#include <string>
#include <vector>

#include "nn/module.hpp"

namespace ember::nn {

struct UpsampleOptions {
  std::vector<int64_t> size{};         ///< output spatial size: one value for all dims, or one each
  std::vector<double> scale_factor{};  ///< or the factor: one value for all dims, or one each
  /// nearest (PyTorch's legacy nearest), linear (3-D input), bilinear (4-D), trilinear (5-D)
  std::string mode = "nearest";
  bool align_corners = false;  ///< linear modes only, as PyTorch's
};

/// Resizes the spatial dims of [N, C, L], [N, C, H, W] or [N, C, D, H, W] input, as
/// torch.nn.Upsample: F::interpolate with these options. nearest: output index i reads input
/// index min(floor(i * scale), in - 1), scale = 1 / scale_factor when given, else in / out; the
/// linear modes interpolate between the two nearest inputs at PyTorch's source coordinates.
/// Differentiable (index_select and a lerp along each spatial dim).
struct Upsample : Module<Upsample> {
  UpsampleOptions options;
  explicit Upsample(UpsampleOptions options);
  Tensor forward(const Tensor& input);
  std::string extra_repr() const override;
};

}  // namespace ember::nn
