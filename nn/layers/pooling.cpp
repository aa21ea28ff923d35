#include "nn/layers/pooling.hpp"

namespace ember::nn {

namespace {

std::string pair_str(Pair p) { return ember::detail::cat("(", p.h, ", ", p.w, ")"); }

void check_pool(const char* name, Pair k, const std::optional<Pair>& stride, Pair padding) {
  EMBER_CHECK(k.h > 0 && k.w > 0, ValueError, name, ": kernel_size must be positive, got ",
              pair_str(k));
  EMBER_CHECK(!stride || (stride->h > 0 && stride->w > 0), ValueError, name,
              ": stride must be positive, got ", pair_str(stride.value_or(Pair())));
  EMBER_CHECK(padding.h >= 0 && padding.w >= 0 && padding.h * 2 <= k.h && padding.w * 2 <= k.w,
              ValueError, name, ": padding should be at most half of the kernel size, got padding ",
              pair_str(padding), " for kernel_size ", pair_str(k));
}

}  // namespace

MaxPool2d::MaxPool2d(Pair k, MaxPool2dOptions o) : kernel_size(k), options(o) {
  check_pool("MaxPool2d", k, o.stride, o.padding);
  EMBER_CHECK(o.dilation.h > 0 && o.dilation.w > 0, ValueError,
              "MaxPool2d: dilation must be positive, got ", pair_str(o.dilation));
}

Tensor MaxPool2d::forward(const Tensor& input) {
  return functional::max_pool2d(input, kernel_size, options);
}

std::string MaxPool2d::extra_repr() const {
  return ember::detail::cat("kernel_size=", pair_str(kernel_size),
                            ", stride=", pair_str(options.stride.value_or(kernel_size)),
                            ", padding=", pair_str(options.padding),
                            ", dilation=", pair_str(options.dilation),
                            ", ceil_mode=", options.ceil_mode ? "true" : "false");
}

AvgPool2d::AvgPool2d(Pair k, AvgPool2dOptions o) : kernel_size(k), options(o) {
  check_pool("AvgPool2d", k, o.stride, o.padding);
  EMBER_CHECK(!o.divisor_override || *o.divisor_override != 0, ValueError,
              "AvgPool2d: divisor_override must not be zero");
}

Tensor AvgPool2d::forward(const Tensor& input) {
  return functional::avg_pool2d(input, kernel_size, options);
}

std::string AvgPool2d::extra_repr() const {
  return ember::detail::cat("kernel_size=", pair_str(kernel_size),
                            ", stride=", pair_str(options.stride.value_or(kernel_size)),
                            ", padding=", pair_str(options.padding));
}

AdaptiveAvgPool2d::AdaptiveAvgPool2d(Pair size) : output_size(size) {
  EMBER_CHECK(size.h > 0 && size.w > 0, ValueError,
              "AdaptiveAvgPool2d: output_size must be positive, got ", pair_str(size));
}

Tensor AdaptiveAvgPool2d::forward(const Tensor& input) {
  return functional::adaptive_avg_pool2d(input, output_size);
}

std::string AdaptiveAvgPool2d::extra_repr() const { return "output_size=" + pair_str(output_size); }

}  // namespace ember::nn
