#include "nn/layers/upsample.hpp"

#include <cmath>
#include <sstream>

#include "runtime/ops.hpp"

namespace ember::nn {

Upsample::Upsample(UpsampleOptions o) : options(std::move(o)) {
  EMBER_CHECK(options.mode == "nearest", ValueError, "Upsample: mode '", options.mode,
              "' is not supported (only 'nearest')");
  EMBER_CHECK(options.size.empty() != options.scale_factor.empty(), ValueError,
              "Upsample: either size or scale_factor should be defined (exactly one)");
  for (int64_t s : options.size)
    EMBER_CHECK(s > 0, ValueError, "Upsample: size must be positive, got ", Dims(options.size));
  for (double f : options.scale_factor)
    EMBER_CHECK(f > 0, ValueError, "Upsample: scale_factor must be positive, got ", f);
}

Tensor Upsample::forward(const Tensor& input) {
  EMBER_CHECK(input.defined() && input.dim() >= 3 && input.dim() <= 5, ShapeError,
              "Upsample: expected 3D, 4D or 5D input [N, C, spatial...], got ",
              input.defined() ? input.sizes() : Dims{});
  const auto spatial = static_cast<size_t>(input.dim() - 2);
  const size_t given = options.size.empty() ? options.scale_factor.size() : options.size.size();
  EMBER_CHECK(given == 1 || given == spatial, ShapeError, "Upsample: input of shape ",
              input.sizes(), " has ", spatial, " spatial dims, but ",
              options.size.empty() ? "scale_factor" : "size", " has ", given, " values");
  Tensor y = input;
  for (size_t i = 0; i < spatial; ++i) {
    const int64_t dim = static_cast<int64_t>(i) + 2, in = input.size(dim);
    const size_t j = given == 1 ? 0 : i;
    int64_t out;
    float scale;  // float, as PyTorch's nearest kernel computes the source index
    if (!options.size.empty()) {
      out = options.size[j];
      scale = static_cast<float>(in) / static_cast<float>(out);
    } else {
      out = static_cast<int64_t>(std::floor(static_cast<double>(in) * options.scale_factor[j]));
      scale = static_cast<float>(1.0 / options.scale_factor[j]);
    }
    EMBER_CHECK(out > 0, ShapeError, "Upsample: input of shape ", input.sizes(),
                " gives an empty output along dim ", dim);
    if (out == in) continue;
    std::vector<int64_t> src(static_cast<size_t>(out));
    for (int64_t k = 0; k < out; ++k)
      src[k] = std::min(static_cast<int64_t>(std::floor(static_cast<float>(k) * scale)), in - 1);
    y = index_select(y, dim, tensor(src));
  }
  return y;
}

std::string Upsample::extra_repr() const {
  std::ostringstream os;
  if (!options.size.empty()) {
    os << "size=" << Dims(options.size);
  } else {
    os << "scale_factor=";
    for (size_t i = 0; i < options.scale_factor.size(); ++i)
      os << (i ? ", " : "") << options.scale_factor[i];
  }
  os << ", mode='" << options.mode << "'";
  return os.str();
}

}  // namespace ember::nn
