// nn::init: in-place initialisers with PyTorch's names and formulas (torch.nn.init). Each runs
// under NoGradGuard, so it can fill parameters that require grad, and returns its argument.
//
//   nn::init::kaiming_normal_(conv.weight, 0, "fan_out", "relu");
//   nn::init::zeros_(conv.bias);
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "runtime/tensor.hpp"

namespace ember::nn::init {

/// The recommended gain for a nonlinearity: "linear", "conv1d/2d/3d", "conv_transpose*",
/// "sigmoid" -> 1, "tanh" -> 5/3, "relu" -> sqrt(2), "leaky_relu" -> sqrt(2 / (1 + slope^2))
/// (slope = param, default 0.01), "selu" -> 3/4.
double calculate_gain(const std::string& nonlinearity, std::optional<double> param = std::nullopt);
/// (fan_in, fan_out) of a weight [out, in, k...]: in * prod(k) and out * prod(k).
std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& t);

/// Fills t with U(a, b).
const Tensor& uniform_(const Tensor& t, double a = 0.0, double b = 1.0);
/// Fills t with N(mean, std^2).
const Tensor& normal_(const Tensor& t, double mean = 0.0, double std = 1.0);
/// Fills t with value.
const Tensor& constant_(const Tensor& t, double value);
const Tensor& zeros_(const Tensor& t);
const Tensor& ones_(const Tensor& t);
/// U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio).
const Tensor& xavier_uniform_(const Tensor& t, double gain = 1.0);
/// N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out)).
const Tensor& xavier_normal_(const Tensor& t, double gain = 1.0);
/// U(-bound, bound) with bound = gain * sqrt(3 / fan) (He et al.); mode "fan_in" or "fan_out",
/// gain = calculate_gain(nonlinearity, a).
const Tensor& kaiming_uniform_(const Tensor& t, double a = 0.0, const std::string& mode = "fan_in",
                               const std::string& nonlinearity = "leaky_relu");
/// N(0, std^2) with std = gain / sqrt(fan).
const Tensor& kaiming_normal_(const Tensor& t, double a = 0.0, const std::string& mode = "fan_in",
                              const std::string& nonlinearity = "leaky_relu");

}  // namespace ember::nn::init
