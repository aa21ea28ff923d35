// nn::functional::pad and interpolate against PyTorch 1.13's values.
#include "support/reference.hpp"

using namespace ember;
namespace F = ember::nn::functional;

namespace {
Tensor grid() { return arange(12.0).view({1, 1, 3, 4}); }
}  // namespace

TEST_CASE("pad: constant (with cropping), reflect, replicate, circular", "[nn][pad]") {
  test::require_close(
      F::pad(grid(), {1, 2, 1, 0}, {.mode = F::PadMode::Reflect}), {1, 1, 4, 7},
      {5, 4, 5, 6, 7, 6, 5, 1, 0, 1, 2, 3, 2, 1, 5, 4, 5, 6, 7, 6, 5, 9, 8, 9, 10, 11, 10, 9},
      "reflect");
  test::require_close(
      F::pad(grid(), {1, 2, 1, 0}, {.mode = F::PadMode::Replicate}), {1, 1, 4, 7},
      {0, 0, 1, 2, 3, 3, 3, 0, 0, 1, 2, 3, 3, 3, 4, 4, 5, 6, 7, 7, 7, 8, 8, 9, 10, 11, 11, 11},
      "replicate");
  test::require_close(
      F::pad(grid(), {1, 2, 1, 0}, {.mode = F::PadMode::Circular}), {1, 1, 4, 7},
      {11, 8, 9, 10, 11, 8, 9, 3, 0, 1, 2, 3, 0, 1, 7, 4, 5, 6, 7, 4, 5, 11, 8, 9, 10, 11, 8, 9},
      "circular");
  test::require_close(F::pad(grid(), {1, -1, -1, 2}, {.value = 9}), {1, 1, 4, 4},
                      {9, 4, 5, 6, 9, 8, 9, 10, 9, 9, 9, 9, 9, 9, 9, 9}, "constant, cropping");
  CHECK(F::pad(ones({2, 3}, kInt64), {1, 1}).sizes() == Dims{2, 5});
  CHECK_THROWS_WITH(F::pad(grid(), {1}), Catch::Contains("Padding length must be divisible by 2"));
  CHECK_THROWS_WITH(F::pad(grid(), {4, 0}, {.mode = F::PadMode::Reflect}),
                    Catch::Contains("Only 2D, 3D, 4D, 5D padding with non-constant padding"));
  CHECK_THROWS_WITH(F::pad(ones({1, 3}), {3, 3}, {.mode = F::PadMode::Reflect}),
                    Catch::Contains("Padding size should be less than the corresponding input "
                                    "dimension, but got: padding (3, 3) at dimension 1"));
}

TEST_CASE("interpolate: nearest and the linear modes, sizes or scale factors",
          "[nn][interpolate]") {
  test::require_close(F::interpolate(grid(), {.size = {5, 3}}), {1, 1, 5, 3},
                      {0, 1, 2, 0, 1, 2, 4, 5, 6, 4, 5, 6, 8, 9, 10}, "nearest size");
  test::require_close(F::interpolate(grid(), {.scale_factor = {1.5}}), {1, 1, 4, 6},
                      {0, 0, 1, 2, 2, 3, 0, 0, 1, 2, 2, 3, 4, 4, 5, 6, 6, 7, 8, 8, 9, 10, 10, 11},
                      "nearest scale");
  test::require_close(
      F::interpolate(grid(), {.size = {5, 3}, .mode = "bilinear"}), {1, 1, 5, 3},
      {0.1666666865, 1.5, 2.8333334923, 1.76666677, 3.10000014, 4.43333340, 4.16666698, 5.5,
       6.83333349, 6.56666708, 7.90000057, 9.23333359, 8.16666698, 9.5, 10.83333302},
      "bilinear");
  test::require_close(
      F::interpolate(grid(), {.size = {2, 7}, .mode = "bilinear", .align_corners = true}),
      {1, 1, 2, 7}, {0, 0.5, 1, 1.5, 2, 2.5, 3, 8, 8.5, 9, 9.5, 10, 10.5, 11},
      "bilinear align_corners");
  test::require_close(F::interpolate(grid(), {.scale_factor = {0.7, 1.6}, .mode = "bilinear"}),
                      {1, 1, 2, 6},
                      {0.85714293, 1.29464293, 1.91964293, 2.54464293, 3.16964293, 3.79464293,
                       6.57142878, 7.00892878, 7.63392830, 8.25892830, 8.88392830, 9.50892830},
                      "bilinear scale factors");
  CHECK_THROWS_WITH(F::interpolate(grid(), {.size = {5, 3}, .align_corners = true}),
                    Catch::Contains("align_corners option can only be set with the "
                                    "interpolating modes"));
  CHECK_THROWS_WITH(F::interpolate(grid(), {}),
                    Catch::Contains("either size or scale_factor should be defined"));
  CHECK_THROWS_WITH(F::interpolate(grid()[0], {.size = {5, 3}, .mode = "bilinear"}),
                    Catch::Contains("Got 3D input, but bilinear mode needs 4D input"));
}
