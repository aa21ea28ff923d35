#include "nn/init.hpp"

#include <cmath>

#include "runtime/dispatch.hpp"
#include "runtime/ops.hpp"

namespace ember::nn::init {

namespace {

void check_floating(const Tensor& t, const char* fn) {
  EMBER_CHECK(t.defined(), ValueError, fn, ": the tensor is undefined");
  EMBER_CHECK(t.is_floating_point(), DTypeError, fn, ": expected a floating point tensor, got ",
              dtype_name(t.dtype()));
}

int64_t correct_fan(const Tensor& t, const std::string& mode, const char* fn) {
  EMBER_CHECK(mode == "fan_in" || mode == "fan_out", ValueError, fn,
              ": mode must be \"fan_in\" or \"fan_out\", got \"", mode, "\"");
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  return mode == "fan_in" ? fan_in : fan_out;
}

}  // namespace

double calculate_gain(const std::string& nonlinearity, std::optional<double> param) {
  if (nonlinearity == "linear" || nonlinearity == "conv1d" || nonlinearity == "conv2d" ||
      nonlinearity == "conv3d" || nonlinearity == "conv_transpose1d" ||
      nonlinearity == "conv_transpose2d" || nonlinearity == "conv_transpose3d" ||
      nonlinearity == "sigmoid")
    return 1.0;
  if (nonlinearity == "tanh") return 5.0 / 3.0;
  if (nonlinearity == "relu") return std::sqrt(2.0);
  if (nonlinearity == "leaky_relu") {
    double slope = param.value_or(0.01);
    return std::sqrt(2.0 / (1.0 + slope * slope));
  }
  if (nonlinearity == "selu") return 3.0 / 4.0;
  throw ValueError("calculate_gain: unsupported nonlinearity \"" + nonlinearity + "\"");
}

std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& t) {
  EMBER_CHECK(t.defined() && t.dim() >= 2, ValueError,
              "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions "
              "(got ",
              t.defined() ? t.sizes() : Dims{}, ")");
  int64_t receptive = 1;
  for (int64_t d = 2; d < t.dim(); ++d) receptive *= t.size(d);
  return {t.size(1) * receptive, t.size(0) * receptive};
}

const Tensor& uniform_(const Tensor& t, double a, double b) {
  check_floating(t, "uniform_");
  EMBER_CHECK(a <= b, ValueError, "uniform_: expects a [from, to) range, but found from=", a,
              " > to=", b);
  NoGradGuard guard;
  t.copy_(rand(t.sizes(), t.dtype()) * (b - a) + a);
  return t;
}

const Tensor& normal_(const Tensor& t, double mean, double std) {
  check_floating(t, "normal_");
  EMBER_CHECK(std >= 0, ValueError, "normal_: expects std >= 0.0, got ", std);
  NoGradGuard guard;
  t.copy_(randn(t.sizes(), t.dtype()) * std + mean);
  return t;
}

const Tensor& constant_(const Tensor& t, double value) {
  EMBER_CHECK(t.defined(), ValueError, "constant_: the tensor is undefined");
  NoGradGuard guard;
  t.fill_(value);
  return t;
}
const Tensor& zeros_(const Tensor& t) { return constant_(t, 0.0); }
const Tensor& ones_(const Tensor& t) { return constant_(t, 1.0); }

const Tensor& xavier_uniform_(const Tensor& t, double gain) {
  check_floating(t, "xavier_uniform_");
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  if (t.numel() == 0) return t;
  double a = std::sqrt(3.0) * gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out));
  return uniform_(t, -a, a);
}

const Tensor& xavier_normal_(const Tensor& t, double gain) {
  check_floating(t, "xavier_normal_");
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  if (t.numel() == 0) return t;
  return normal_(t, 0.0, gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out)));
}

const Tensor& kaiming_uniform_(const Tensor& t, double a, const std::string& mode,
                               const std::string& nonlinearity) {
  check_floating(t, "kaiming_uniform_");
  if (t.numel() == 0) return t;  // PyTorch: initializing zero-element tensors is a no-op
  int64_t fan = correct_fan(t, mode, "kaiming_uniform_");
  double bound =
      std::sqrt(3.0) * calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(fan));
  return uniform_(t, -bound, bound);
}

const Tensor& kaiming_normal_(const Tensor& t, double a, const std::string& mode,
                              const std::string& nonlinearity) {
  check_floating(t, "kaiming_normal_");
  if (t.numel() == 0) return t;
  int64_t fan = correct_fan(t, mode, "kaiming_normal_");
  return normal_(t, 0.0, calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(fan)));
}

}  // namespace ember::nn::init
