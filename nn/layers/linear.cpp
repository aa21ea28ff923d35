#include "nn/layers/linear.hpp"

#include <cmath>

#include "nn/init.hpp"

namespace ember::nn {

Linear::Linear(int64_t in, int64_t out, LinearOptions options)
    : in_features(in), out_features(out) {
  EMBER_CHECK(in >= 0 && out >= 0, ValueError, "Linear: in_features (", in, ") and out_features (",
              out, ") must be non-negative");
  weight = Parameter(empty({out, in}));
  if (options.bias) bias = Parameter(empty({out}));
  reset_parameters();
}

void Linear::reset_parameters() {
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    double bound = in_features > 0 ? 1.0 / std::sqrt(static_cast<double>(in_features)) : 0.0;
    init::uniform_(bias, -bound, bound);
  }
}

Tensor Linear::forward(const Tensor& input) { return functional::linear(input, weight, bias); }

std::string Linear::extra_repr() const {
  return ember::detail::cat("in_features=", in_features, ", out_features=", out_features,
                            ", bias=", bias.defined() ? "true" : "false");
}

}  // namespace ember::nn
