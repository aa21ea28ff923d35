// conv2d and linear against direct double-precision loops.
#include <sstream>

#include "nn/functional.hpp"
#include "support/reference.hpp"

using namespace ember;
namespace F = ember::nn::functional;

namespace {

struct ConvCase {
  Dims x, w;  // input [N, C, H, W] (or [C, H, W]), weight [O, C/groups, kh, kw]
  F::Pair stride, padding, dilation;
  int64_t groups;
  bool bias;
};

// The seven loops of a direct convolution (batch, out channel, out row, out col, in channel of
// the group, kernel row, kernel col), in double.
std::vector<double> ref_conv(const Tensor& x4, const Tensor& w, const Tensor& b,
                             const F::Conv2dOptions& o, Dims& out_sizes) {
  int64_t N = x4.size(0), C = x4.size(1), H = x4.size(2), W = x4.size(3);
  int64_t O = w.size(0), Cg = w.size(1), kh = w.size(2), kw = w.size(3);
  int64_t OH = (H + 2 * o.padding.h - o.dilation.h * (kh - 1) - 1) / o.stride.h + 1;
  int64_t OW = (W + 2 * o.padding.w - o.dilation.w * (kw - 1) - 1) / o.stride.w + 1;
  int64_t per_group = O / o.groups;
  (void)C;
  out_sizes = {N, O, OH, OW};
  std::vector<double> out;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t oc = 0; oc < O; ++oc)
      for (int64_t y = 0; y < OH; ++y)
        for (int64_t xo = 0; xo < OW; ++xo) {
          double s = b.defined() ? test::at(b, {oc}) : 0.0;
          int64_t g = oc / per_group;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j) {
                int64_t ih = y * o.stride.h - o.padding.h + i * o.dilation.h;
                int64_t iw = xo * o.stride.w - o.padding.w + j * o.dilation.w;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                s += test::at(x4, {n, g * Cg + c, ih, iw}) * test::at(w, {oc, c, i, j});
              }
          out.push_back(s);
        }
  return out;
}

void check_conv(const Tensor& x, const Tensor& w, const Tensor& b, const F::Conv2dOptions& o,
                const std::string& what, double tol = 1e-4) {
  Tensor x4 = x.dim() == 3 ? x.unsqueeze(0) : x;
  Dims sizes;
  std::vector<double> expected = ref_conv(x4, w, b, o, sizes);
  if (x.dim() == 3) sizes = {sizes[1], sizes[2], sizes[3]};
  std::ostringstream os;
  os << what << ": input " << x.sizes() << " weight " << w.sizes() << " bias "
     << (b.defined() ? "yes" : "no") << " stride " << o.stride.h << "x" << o.stride.w << " padding "
     << o.padding.h << "x" << o.padding.w << " dilation " << o.dilation.h << "x" << o.dilation.w
     << " groups " << o.groups << " " << x.dtype();
  Tensor r = F::conv2d(x, w, b, o);
  CHECK(r.dtype() == x.dtype());
  test::require_close(r, sizes, expected, os.str(), tol, tol);
}

const std::vector<ConvCase> kConvCases = {
    {{2, 3, 7, 6}, {4, 3, 3, 3}, 1, 0, 1, 1, true},
    {{2, 3, 7, 6}, {4, 3, 3, 3}, 1, 1, 1, 1, false},
    {{1, 2, 9, 8}, {3, 2, 3, 2}, {2, 3}, {1, 0}, 1, 1, true},
    {{3, 4, 8, 8}, {6, 2, 3, 3}, 1, 1, 1, 2, true},
    {{2, 4, 6, 7}, {4, 1, 3, 3}, 2, 1, 1, 4, false},  // depthwise
    {{2, 2, 9, 9}, {3, 2, 3, 3}, 1, 2, 2, 1, true},   // dilation
    {{1, 3, 10, 7}, {2, 3, 2, 3}, {3, 2}, {1, 1}, {2, 1}, 1, true},
    {{5, 3, 5, 5}, {4, 3, 1, 1}, 1, 0, 1, 1, true},   // 1x1: no im2col
    {{2, 4, 5, 5}, {6, 2, 1, 1}, 1, 0, 1, 2, false},  // grouped 1x1
    {{2, 3, 5, 5}, {4, 3, 1, 1}, 2, 0, 1, 1, true},   // strided 1x1
    {{4, 2, 3, 3}, {2, 2, 3, 3}, 1, 0, 1, 1, true},   // output 1x1
    {{3, 1, 4, 4}, {1, 1, 5, 5}, 1, 2, 1, 1, false},  // kernel larger than input
    {{1, 6, 4, 5}, {6, 2, 2, 2}, 1, 1, 1, 3, true},
    {{3, 5, 6}, {2, 3, 3, 3}, 1, 1, 1, 1, true},   // unbatched
    {{4, 5, 6}, {4, 2, 3, 3}, 2, 1, 1, 2, false},  // unbatched, grouped
};

}  // namespace

TEST_CASE("conv2d matches a direct double reference", "[linalg][conv]") {
  for (size_t i = 0; i < kConvCases.size(); ++i) {
    const ConvCase& c = kConvCases[i];
    F::Conv2dOptions o{c.stride, c.padding, c.dilation, c.groups};
    Tensor x = test::seeded_randn(c.x, 300 + i), w = test::seeded_randn(c.w, 400 + i);
    Tensor b = c.bias ? test::seeded_randn({c.w[0]}, 500 + i) : Tensor();
    std::string tag = "case " + std::to_string(i);
    check_conv(x, w, b, o, tag);
    check_conv(test::noncontiguous(x), test::noncontiguous(w),
               b.defined() ? test::noncontiguous(b) : b, o, tag + " noncontiguous");
    check_conv(x.to(kFloat64), w.to(kFloat64), b.defined() ? b.to(kFloat64) : b, o,
               tag + " float64", 1e-12);
  }
}

TEST_CASE("conv2d over a larger batch runs images in parallel", "[linalg][conv]") {
  // Enough images that each thread gets several; every image must still match.
  Tensor x = test::seeded_randn({9, 3, 6, 6}, 1), w = test::seeded_randn({5, 3, 3, 3}, 2);
  Tensor b = test::seeded_randn({5}, 3);
  check_conv(x, w, b, {.stride = 1, .padding = 1}, "batch 9");
  // Channels-last memory: contiguous() inside the kernel.
  Tensor cl = x.permute({0, 2, 3, 1}).contiguous().permute({0, 3, 1, 2});
  check_conv(cl, w, b, {.stride = 2, .padding = 1}, "channels-last input");
}

TEST_CASE("conv2d of int64 is exact", "[linalg][conv]") {
  manual_seed(11);
  Tensor x = randint(-5, 6, {2, 4, 5, 6}), w = randint(-3, 4, {4, 2, 3, 2});
  Tensor b = randint(-9, 10, {4});
  check_conv(x, w, b, {.stride = {1, 2}, .padding = 1, .groups = 2}, "int64", 0);
  check_conv(x, w, Tensor(), {.dilation = 2, .groups = 2}, "int64 no bias", 0);
}

TEST_CASE("conv2d over zero-size inputs", "[linalg][conv]") {
  test::require_close(F::conv2d(zeros({0, 3, 5, 5}), zeros({4, 3, 3, 3})), {0, 4, 3, 3}, {},
                      "empty batch");
  // No input channels: the output is the bias (or zeros).
  Tensor b = tensor({1, 2});
  std::vector<double> e;
  for (int c = 1; c <= 2; ++c)
    for (int i = 0; i < 9; ++i) e.push_back(c);
  test::require_close(F::conv2d(zeros({1, 0, 5, 5}), zeros({2, 0, 3, 3}), b), {1, 2, 3, 3}, e,
                      "no input channels, bias");
  test::require_close(F::conv2d(zeros({1, 0, 5, 5}), zeros({2, 0, 3, 3})), {1, 2, 3, 3},
                      std::vector<double>(18, 0.0), "no input channels");
  test::require_close(F::conv2d(zeros({1, 3, 5, 5}), zeros({0, 3, 3, 3})), {1, 0, 3, 3}, {},
                      "no output channels");
}

TEST_CASE("conv2d shape errors read like PyTorch's", "[linalg][conv][error]") {
  CHECK_THROWS_WITH(F::conv2d(zeros({1, 3, 5, 5}), zeros({4, 2, 3, 3})),
                    Catch::Contains("Given groups=1, weight of size [4, 2, 3, 3], expected "
                                    "input[1, 3, 5, 5] to have 2 channels, but got 3 channels "
                                    "instead"));
  CHECK_THROWS_WITH(F::conv2d(zeros({1, 4, 5, 5}), zeros({4, 2, 3, 3}), {}, {.groups = 3}),
                    Catch::Contains("Given groups=3, expected weight to be divisible by 3 at "
                                    "dimension 0, but got weight of size [4, 2, 3, 3] instead"));
  CHECK_THROWS_WITH(F::conv2d(zeros({1, 3, 2, 2}), zeros({4, 3, 3, 3})),
                    Catch::Contains("Calculated padded input size per channel: (2 x 2). Kernel "
                                    "size: (3 x 3). Kernel size can't be greater than actual "
                                    "input size"));
  CHECK_THROWS_WITH(F::conv2d(zeros({1, 3, 4, 4}), zeros({4, 3, 2, 2}), {}, {.dilation = 4}),
                    Catch::Contains("Kernel size: (5 x 5)"));
  CHECK_THROWS_WITH(F::conv2d(zeros({1, 3, 5, 5}), zeros({4, 3, 3, 3}), zeros({5})),
                    Catch::Contains("expected bias to be 1-dimensional with 4 elements, but got "
                                    "bias of size [5] instead"));
  CHECK_THROWS_WITH(F::conv2d(zeros({3, 5}), zeros({4, 3, 3, 3})),
                    Catch::Contains("Expected 3D (unbatched) or 4D (batched) input"));
  CHECK_THROWS_WITH(F::conv2d(zeros({1, 3, 5, 5}), zeros({4, 3, 3})),
                    Catch::Contains("expected weight to be 4-dimensional"));
  CHECK_THROWS_AS(F::conv2d(zeros({1, 3, 5, 5}), zeros({4, 3, 3, 3}, kFloat64)), DTypeError);
  CHECK_THROWS_WITH(F::conv2d(zeros({1, 3, 5, 5}), zeros({4, 3, 3, 3}), {}, {.stride = 0}),
                    Catch::Contains("non-positive stride is not supported"));
  CHECK_THROWS_WITH(F::conv2d(zeros({1, 3, 5, 5}), zeros({4, 3, 3, 3}), {}, {.padding = -1}),
                    Catch::Contains("negative padding is not supported"));
  CHECK_THROWS_WITH(F::conv2d(zeros({1, 3, 5, 5}), zeros({4, 3, 3, 3}), {}, {.groups = 0}),
                    Catch::Contains("non-positive groups is not supported"));
}

TEST_CASE("linear is x W^T + b", "[linalg][conv]") {
  Tensor w = test::seeded_randn({5, 4}, 40), b = test::seeded_randn({5}, 41);
  for (Dims xs : {Dims{4}, Dims{3, 4}, Dims{2, 3, 4}}) {
    Tensor x = test::seeded_randn(xs, 42);
    Dims sizes = xs;
    sizes.back() = 5;
    int64_t rows = x.numel() / 4;
    for (bool with_bias : {true, false}) {
      std::vector<double> e;
      std::vector<double> xv = test::values(x);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t o = 0; o < 5; ++o) {
          double s = with_bias ? test::at(b, {o}) : 0.0;
          for (int64_t i = 0; i < 4; ++i) s += xv[r * 4 + i] * test::at(w, {o, i});
          e.push_back(s);
        }
      std::ostringstream os;
      os << "linear " << xs << (with_bias ? " with bias" : " without bias");
      test::require_close(F::linear(x, w, with_bias ? b : Tensor()), sizes, e, os.str(), 1e-5,
                          1e-5);
    }
  }
  CHECK_THROWS_WITH(F::linear(zeros({2, 3}), zeros({5, 4})),
                    Catch::Contains("mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)"));
}
