#include "nn/layers/conv.hpp"

#include <cmath>

#include "nn/init.hpp"

namespace ember::nn {

namespace {
std::string pair_str(Pair p) { return ember::detail::cat("(", p.h, ", ", p.w, ")"); }
}  // namespace

Conv2d::Conv2d(int64_t in, int64_t out, Pair k, Conv2dOptions o)
    : in_channels(in), out_channels(out), kernel_size(k), options(o) {
  EMBER_CHECK(o.groups > 0, ValueError, "Conv2d: groups must be a positive integer, got ",
              o.groups);
  EMBER_CHECK(in > 0 && out > 0, ValueError, "Conv2d: in_channels (", in, ") and out_channels (",
              out, ") must be positive");
  EMBER_CHECK(in % o.groups == 0, ValueError, "Conv2d: in_channels (", in,
              ") must be divisible by groups (", o.groups, ")");
  EMBER_CHECK(out % o.groups == 0, ValueError, "Conv2d: out_channels (", out,
              ") must be divisible by groups (", o.groups, ")");
  EMBER_CHECK(k.h > 0 && k.w > 0, ValueError, "Conv2d: kernel_size must be positive, got ",
              pair_str(k));
  EMBER_CHECK(o.stride.h > 0 && o.stride.w > 0, ValueError, "Conv2d: stride must be positive, got ",
              pair_str(o.stride));
  EMBER_CHECK(o.dilation.h > 0 && o.dilation.w > 0, ValueError,
              "Conv2d: dilation must be positive, got ", pair_str(o.dilation));
  EMBER_CHECK(o.padding.h >= 0 && o.padding.w >= 0, ValueError,
              "Conv2d: padding must be non-negative, got ", pair_str(o.padding));
  weight = Parameter(empty({out, in / o.groups, k.h, k.w}));
  if (o.bias) bias = Parameter(empty({out}));
  reset_parameters();
}

void Conv2d::reset_parameters() {
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    int64_t fan_in = init::calculate_fan_in_and_fan_out(weight).first;
    double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
    init::uniform_(bias, -bound, bound);
  }
}

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

}  // namespace ember::nn
