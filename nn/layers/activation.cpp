#include "nn/layers/activation.hpp"

namespace ember::nn {

GELU::GELU(std::string a) : approximate(std::move(a)) {
  EMBER_CHECK(approximate == "none" || approximate == "tanh", ValueError,
              "GELU: approximate must be \"none\" or \"tanh\", got \"", approximate, "\"");
}

std::string LeakyReLU::extra_repr() const {
  return ember::detail::cat("negative_slope=", negative_slope);
}
std::string ELU::extra_repr() const { return ember::detail::cat("alpha=", alpha); }

Hardtanh::Hardtanh(double lo, double hi) : min_val(lo), max_val(hi) {
  EMBER_CHECK(max_val > min_val, ValueError, "Hardtanh: max_val (", max_val,
              ") must be greater than min_val (", min_val, ")");
}
std::string Hardtanh::extra_repr() const {
  return ember::detail::cat("min_val=", min_val, ", max_val=", max_val);
}

}  // namespace ember::nn
