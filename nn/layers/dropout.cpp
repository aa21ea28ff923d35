#include "nn/layers/dropout.hpp"

namespace ember::nn {

Dropout::Dropout(double prob) : p(prob) {
  EMBER_CHECK(p >= 0.0 && p <= 1.0, ValueError,
              "Dropout: probability has to be between 0 and 1, but got ", p);
}

Tensor Dropout::forward(const Tensor& input) {
  // Eval mode (or p = 0) never touches the random stream or copies.
  if (!is_training() || p == 0.0) return input;
  return functional::dropout(input, {.p = p, .training = true});
}

std::string Dropout::extra_repr() const { return ember::detail::cat("p=", p); }

}  // namespace ember::nn
