#include "nn/layers/upsample.hpp"

#include <cmath>
#include <sstream>

#include "nn/functional.hpp"

namespace ember::nn {

Upsample::Upsample(UpsampleOptions o) : options(std::move(o)) {
  const std::string& m = options.mode;
  const bool linear = m == "linear" || m == "bilinear" || m == "trilinear";
  EMBER_CHECK(linear || m == "nearest", ValueError, "Upsample: mode '", m,
              "' is not supported (nearest, linear, bilinear, trilinear)");
  EMBER_CHECK(!options.align_corners || linear, ValueError,
              "Upsample: align_corners option can only be set with the interpolating modes: "
              "linear | bilinear | bicubic | trilinear");
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
  return functional::interpolate(input, {.size = Dims(options.size),
                                         .scale_factor = options.scale_factor,
                                         .mode = options.mode,
                                         .align_corners = options.align_corners});
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
