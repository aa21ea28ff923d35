#include "nn/layers/activation.hpp"

namespace ember::nn {

GELU::GELU(std::string a) : approximate(std::move(a)) {
  EMBER_CHECK(approximate == "none" || approximate == "tanh", ValueError,
              "GELU: approximate must be \"none\" or \"tanh\", got \"", approximate, "\"");
}

}  // namespace ember::nn
