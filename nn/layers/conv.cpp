#include "nn/layers/conv.hpp"

#include <cmath>

#include "nn/init.hpp"

namespace ember::nn {

namespace {

std::string pair_str(Pair p) { return ember::detail::cat("(", p.h, ", ", p.w, ")"); }

// The checks every conv layer shares (Conv2d's messages, with the layer's name).
void check_conv(const char* name, int64_t in, int64_t out, int64_t groups, Pair k, Pair stride,
                Pair dilation, Pair padding) {
  EMBER_CHECK(groups > 0, ValueError, name, ": groups must be a positive integer, got ", groups);
  EMBER_CHECK(in > 0 && out > 0, ValueError, name, ": in_channels (", in, ") and out_channels (",
              out, ") must be positive");
  EMBER_CHECK(in % groups == 0, ValueError, name, ": in_channels (", in,
              ") must be divisible by groups (", groups, ")");
  EMBER_CHECK(out % groups == 0, ValueError, name, ": out_channels (", out,
              ") must be divisible by groups (", groups, ")");
  EMBER_CHECK(k.h > 0 && k.w > 0, ValueError, name, ": kernel_size must be positive, got ",
              pair_str(k));
  EMBER_CHECK(stride.h > 0 && stride.w > 0, ValueError, name, ": stride must be positive, got ",
              pair_str(stride));
  EMBER_CHECK(dilation.h > 0 && dilation.w > 0, ValueError, name,
              ": dilation must be positive, got ", pair_str(dilation));
  EMBER_CHECK(padding.h >= 0 && padding.w >= 0, ValueError, name,
              ": padding must be non-negative, got ", pair_str(padding));
}

// PyTorch's _ConvNd.reset_parameters: fan_in from the weight's dim 1 and the kernel.
void reset_conv(const Tensor& weight, const Tensor& bias) {
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    int64_t fan_in = init::calculate_fan_in_and_fan_out(weight).first;
    double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
    init::uniform_(bias, -bound, bound);
  }
}

}  // namespace

Conv2d::Conv2d(int64_t in, int64_t out, Pair k, Conv2dOptions o)
    : in_channels(in), out_channels(out), kernel_size(k), options(o) {
  check_conv("Conv2d", in, out, o.groups, k, o.stride, o.dilation, o.padding);
  weight = Parameter(empty({out, in / o.groups, k.h, k.w}));
  if (o.bias) bias = Parameter(empty({out}));
  reset_parameters();
}

void Conv2d::reset_parameters() { reset_conv(weight, bias); }

Tensor Conv2d::forward(const Tensor& input) {
  return functional::conv2d(input, weight, bias,
                            {.stride = options.stride,
                             .padding = options.padding,
                             .dilation = options.dilation,
                             .groups = options.groups});
}

std::string Conv2d::extra_repr() const {
  std::string s =
      ember::detail::cat(in_channels, ", ", out_channels, ", kernel_size=", pair_str(kernel_size),
                         ", stride=", pair_str(options.stride));
  if (options.padding.h || options.padding.w) s += ", padding=" + pair_str(options.padding);
  if (options.dilation.h != 1 || options.dilation.w != 1)
    s += ", dilation=" + pair_str(options.dilation);
  if (options.groups != 1) s += ember::detail::cat(", groups=", options.groups);
  if (!bias.defined()) s += ", bias=false";
  return s;
}

Conv1d::Conv1d(int64_t in, int64_t out, int64_t k, Conv1dOptions o)
    : in_channels(in), out_channels(out), kernel_size(k), options(o) {
  check_conv("Conv1d", in, out, o.groups, {1, k}, {1, o.stride}, {1, o.dilation}, {0, o.padding});
  weight = Parameter(empty({out, in / o.groups, k}));
  if (o.bias) bias = Parameter(empty({out}));
  reset_parameters();
}

void Conv1d::reset_parameters() { reset_conv(weight, bias); }

Tensor Conv1d::forward(const Tensor& input) {
  return functional::conv1d(input, weight, bias,
                            {.stride = options.stride,
                             .padding = options.padding,
                             .dilation = options.dilation,
                             .groups = options.groups});
}

std::string Conv1d::extra_repr() const {
  std::string s = ember::detail::cat(in_channels, ", ", out_channels, ", kernel_size=(",
                                     kernel_size, ",), stride=(", options.stride, ",)");
  if (options.padding) s += ember::detail::cat(", padding=(", options.padding, ",)");
  if (options.dilation != 1) s += ember::detail::cat(", dilation=(", options.dilation, ",)");
  if (options.groups != 1) s += ember::detail::cat(", groups=", options.groups);
  if (!bias.defined()) s += ", bias=false";
  return s;
}

ConvTranspose2d::ConvTranspose2d(int64_t in, int64_t out, Pair k, ConvTranspose2dOptions o)
    : in_channels(in), out_channels(out), kernel_size(k), options(o) {
  check_conv("ConvTranspose2d", in, out, o.groups, k, o.stride, o.dilation, o.padding);
  weight = Parameter(empty({in, out / o.groups, k.h, k.w}));
  if (o.bias) bias = Parameter(empty({out}));
  reset_parameters();
}

void ConvTranspose2d::reset_parameters() { reset_conv(weight, bias); }

Tensor ConvTranspose2d::forward(const Tensor& input) {
  return functional::conv_transpose2d(input, weight, bias,
                                      {.stride = options.stride,
                                       .padding = options.padding,
                                       .output_padding = options.output_padding,
                                       .groups = options.groups,
                                       .dilation = options.dilation});
}

std::string ConvTranspose2d::extra_repr() const {
  std::string s =
      ember::detail::cat(in_channels, ", ", out_channels, ", kernel_size=", pair_str(kernel_size),
                         ", stride=", pair_str(options.stride));
  if (options.padding.h || options.padding.w) s += ", padding=" + pair_str(options.padding);
  if (options.output_padding.h || options.output_padding.w)
    s += ", output_padding=" + pair_str(options.output_padding);
  if (options.dilation.h != 1 || options.dilation.w != 1)
    s += ", dilation=" + pair_str(options.dilation);
  if (options.groups != 1) s += ember::detail::cat(", groups=", options.groups);
  if (!bias.defined()) s += ", bias=false";
  return s;
}

}  // namespace ember::nn
