// Conv1d, ConvTranspose2d, GroupNorm and Upsample: values against direct loops written here and
// identities (conv_transpose2d is conv2d's adjoint: <conv2d(x), y> = <x, conv_transpose2d(y)>),
// gradcheck in float64, PyTorch's names and initialisation, errors.
#include <cmath>

#include "support/reference.hpp"

using namespace ember;
namespace F = ember::nn::functional;

namespace {

double dot(const Tensor& a, const Tensor& b) { return (a * b).sum().item<double>(); }

}  // namespace

TEST_CASE("Conv1d matches a direct 1-d convolution", "[nn][conv1d]") {
  manual_seed(0);
  const int64_t N = 2, C = 4, O = 6, K = 3, L = 9, G = 2, S = 2, P = 2, D = 2;
  nn::Conv1d conv(C, O, K, {.stride = S, .padding = P, .dilation = D, .groups = G});
  conv.to(kFloat64);
  CHECK(conv.weight.sizes() == Dims{O, C / G, K});
  CHECK(conv.state_dict().size() == 2);
  Tensor x = test::seeded_randn({N, C, L}, 1, kFloat64);
  Tensor y = conv(x);
  const int64_t Lo = (L + 2 * P - D * (K - 1) - 1) / S + 1;
  std::vector<double> ref;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t t = 0; t < Lo; ++t) {
        double acc = test::at(conv.bias, {o});
        int64_t g = o / (O / G);
        for (int64_t c = 0; c < C / G; ++c)
          for (int64_t k = 0; k < K; ++k) {
            int64_t i = t * S - P + k * D;
            if (i >= 0 && i < L)
              acc += test::at(x, {n, g * C / G + c, i}) * test::at(conv.weight, {o, c, k});
          }
        ref.push_back(acc);
      }
  test::require_close(y, {N, O, Lo}, ref, "conv1d", 1e-10, 1e-12);
  // unbatched input, and gradcheck through the [N, C, 1, L] view
  CHECK(allclose(conv(x[1]), y[1], 1e-12, 1e-12));
  auto r = gradcheck(
      [&](const std::vector<Tensor>& in) {
        return F::conv1d(in[0], in[1], in[2], {.stride = 2, .padding = 1});
      },
      {test::seeded_randn({1, 2, 5}, 2, kFloat64).requires_grad_(),
       test::seeded_randn({3, 2, 2}, 3, kFloat64).requires_grad_(),
       test::seeded_randn({3}, 4, kFloat64).requires_grad_()});
  INFO(r.report);
  CHECK(r.ok);
  CHECK_THROWS_WITH(F::conv1d(randn({2, 3, 4, 5}), randn({2, 3, 1})),
                    Catch::Contains("Expected 2D (unbatched) or 3D (batched) input to conv1d"));
  CHECK_THROWS_WITH(nn::Conv1d(4, 6, 3, {.groups = 4}),
                    Catch::Contains("Conv1d: out_channels (6) must be divisible by groups (4)"));
}

TEST_CASE("conv_transpose2d is the adjoint of conv2d and matches a direct scatter",
          "[nn][conv_transpose]") {
  struct Case {
    int64_t cin, cout, h, w, k, groups;
    F::ConvTranspose2dOptions o;
  };
  std::vector<Case> cases{
      {3, 2, 4, 5, 3, 1, {}},
      {4, 6, 3, 4, 3, 2, {.stride = 2, .padding = 1, .output_padding = 1, .groups = 2}},
      {2, 3, 5, 3, 2, 1, {.stride = {1, 2}, .padding = {1, 0}, .dilation = 2}},
      {2, 2, 3, 3, 3, 1, {.stride = 3, .padding = 2, .output_padding = {2, 1}}},
  };
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    const Case& c = cases[ci];
    INFO("case " << ci);
    F::ConvTranspose2dOptions o = c.o;
    o.groups = c.groups;
    Tensor x = test::seeded_randn({2, c.cin, c.h, c.w}, 10 + ci, kFloat64);
    Tensor w = test::seeded_randn({c.cin, c.cout / c.groups, c.k, c.k}, 20 + ci, kFloat64);
    Tensor b = test::seeded_randn({c.cout}, 30 + ci, kFloat64);
    Tensor y = F::conv_transpose2d(x, w, {}, o);
    const int64_t OH = (c.h - 1) * o.stride.h - 2 * o.padding.h + o.dilation.h * (c.k - 1) +
                       o.output_padding.h + 1;
    const int64_t OW = (c.w - 1) * o.stride.w - 2 * o.padding.w + o.dilation.w * (c.k - 1) +
                       o.output_padding.w + 1;
    REQUIRE(y.sizes() == Dims{2, c.cout, OH, OW});
    // <conv2d(z, w), x> = <z, conv_transpose2d(x, w)> for any z shaped as the output
    Tensor z = test::seeded_randn({2, c.cout, OH, OW}, 40 + ci, kFloat64);
    Tensor cz = F::conv2d(
        z, w, {},
        {.stride = o.stride, .padding = o.padding, .dilation = o.dilation, .groups = o.groups});
    REQUIRE(cz.sizes() == x.sizes());
    CHECK(dot(cz, x) == Approx(dot(z, y)).epsilon(1e-12));
    // direct: each input element scatters weight-scaled copies into the output
    std::vector<double> ref(static_cast<size_t>(2 * c.cout * OH * OW));
    const int64_t cg = c.cin / c.groups, og = c.cout / c.groups;
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t ic = 0; ic < c.cin; ++ic)
        for (int64_t i = 0; i < c.h; ++i)
          for (int64_t j = 0; j < c.w; ++j)
            for (int64_t oc = 0; oc < og; ++oc)
              for (int64_t a = 0; a < c.k; ++a)
                for (int64_t e = 0; e < c.k; ++e) {
                  int64_t p = i * o.stride.h - o.padding.h + a * o.dilation.h;
                  int64_t q = j * o.stride.w - o.padding.w + e * o.dilation.w;
                  if (p < 0 || p >= OH || q < 0 || q >= OW) continue;
                  int64_t out_c = ic / cg * og + oc;
                  ref[((n * c.cout + out_c) * OH + p) * OW + q] +=
                      test::at(x, {n, ic, i, j}) * test::at(w, {ic, oc, a, e});
                }
    test::require_close(y, {2, c.cout, OH, OW}, ref, "scatter", 1e-10, 1e-12);
    // float32 too, and the bias
    Tensor yb = F::conv_transpose2d(x.to(kFloat32), w.to(kFloat32), b.to(kFloat32), o);
    CHECK(allclose(yb, (y + b.view({1, c.cout, 1, 1})).to(kFloat32), 1e-4, 1e-4));
  }
}

TEST_CASE("conv_transpose2d passes gradcheck; ConvTranspose2d holds PyTorch's parameters",
          "[nn][conv_transpose][gradcheck]") {
  for (F::ConvTranspose2dOptions o :
       {F::ConvTranspose2dOptions{.stride = 2, .padding = 1, .output_padding = 1},
        F::ConvTranspose2dOptions{.groups = 2, .dilation = 2}}) {
    auto r = gradcheck(
        [&](const std::vector<Tensor>& in) { return F::conv_transpose2d(in[0], in[1], in[2], o); },
        {test::seeded_randn({1, 2, 3, 3}, 1, kFloat64).requires_grad_(),
         test::seeded_randn({2, 2 / o.groups, 2, 2}, 2, kFloat64).requires_grad_(),
         test::seeded_randn({2}, 3, kFloat64).requires_grad_()});
    INFO(r.report);
    CHECK(r.ok);
  }
  manual_seed(5);
  nn::ConvTranspose2d up(8, 4, 3, {.stride = 2, .padding = 1, .output_padding = 1});
  CHECK(up.weight.sizes() == Dims{8, 4, 3, 3});
  CHECK(up.bias.sizes() == Dims{4});
  // kaiming_uniform_(a = sqrt(5)) with fan_in = weight.size(1) * 9 = 36: bound 1 / sqrt(36)
  CHECK(up.weight.abs().max().item<float>() <= 1.0f / 6.0f);
  CHECK(up.weight.abs().max().item<float>() > 0.9f / 6.0f);
  Tensor y = up(randn({2, 8, 5, 7}));
  CHECK(y.sizes() == Dims{2, 4, 10, 14});
  CHECK(up(randn({8, 5, 7})).sizes() == Dims{4, 10, 14});
  y.sum().backward();
  CHECK(up.weight.grad().defined());
  CHECK(up.bias.grad().sizes() == Dims{4});
  CHECK(to_string(up).find("ConvTranspose2d(8, 4, kernel_size=(3, 3), stride=(2, 2), padding=(1, "
                           "1), output_padding=(1, 1))") != std::string::npos);
  CHECK_THROWS_WITH(
      F::conv_transpose2d(randn({1, 2, 3, 3}), randn({2, 1, 3, 3}), {}, {.output_padding = 1}),
      Catch::Contains("output padding must be smaller than either stride or dilation"));
  CHECK_THROWS_WITH(up(randn({2, 5, 5, 7})),
                    Catch::Contains("expected input[2, 5, 5, 7] to have 8 channels, but got 5"));
}

TEST_CASE("GroupNorm normalises groups of channels", "[nn][group_norm][gradcheck]") {
  manual_seed(6);
  nn::GroupNorm gn(2, 6);
  gn.to(kFloat64);
  {
    NoGradGuard g;
    gn.weight.copy_(test::seeded_randn({6}, 1, kFloat64));
    gn.bias.copy_(test::seeded_randn({6}, 2, kFloat64));
  }
  Tensor x = test::seeded_randn({2, 6, 3, 2}, 3, kFloat64);
  Tensor y = gn(x);
  std::vector<double> ref(static_cast<size_t>(x.numel()));
  std::vector<double> xv = test::values(x);
  const int64_t per = 3 * 6;  // 3 channels of 3 x 2
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t g = 0; g < 2; ++g) {
      int64_t base = (n * 2 + g) * per;
      double m = 0, v = 0;
      for (int64_t i = 0; i < per; ++i) m += xv[base + i];
      m /= per;
      for (int64_t i = 0; i < per; ++i) v += (xv[base + i] - m) * (xv[base + i] - m);
      v /= per;
      for (int64_t i = 0; i < per; ++i) {
        int64_t ch = g * 3 + i / 6;
        ref[base + i] = (xv[base + i] - m) / std::sqrt(v + 1e-5) * test::at(gn.weight, {ch}) +
                        test::at(gn.bias, {ch});
      }
    }
  test::require_close(y, x.sizes(), ref, "group_norm", 1e-10, 1e-12);
  // one group is layer_norm over [C, H, W] without affine
  CHECK(allclose(F::group_norm(x, 1), F::layer_norm(x, {6, 3, 2}), 1e-10, 1e-12));
  auto r =
      gradcheck([](const std::vector<Tensor>& in) { return F::group_norm(in[0], 2, in[1], in[2]); },
                {test::seeded_randn({2, 4, 3}, 4, kFloat64).requires_grad_(),
                 test::seeded_randn({4}, 5, kFloat64).requires_grad_(),
                 test::seeded_randn({4}, 6, kFloat64).requires_grad_()});
  INFO(r.report);
  CHECK(r.ok);
  nn::GroupNorm plain(3, 3, {.affine = false});
  CHECK(plain.state_dict().size() == 0);
  CHECK_THROWS_WITH(nn::GroupNorm(4, 6),
                    Catch::Contains("num_channels must be divisible by num_groups"));
  CHECK_THROWS_WITH(
      F::group_norm(randn({2, 6, 4}), 4),
      Catch::Contains("Expected number of channels in input to be divisible by "
                      "num_groups, but got input of shape [2, 6, 4] and num_groups=4"));
  CHECK_THROWS_WITH(gn(randn({2, 5, 3}, kFloat64)), Catch::Contains("expected input [N, 6, *]"));
}

TEST_CASE("Upsample linear modes give PyTorch's values", "[nn][upsample][gradcheck]") {
  Tensor x = arange(12, kFloat64).view({1, 1, 3, 4});
  // torch.nn.Upsample(scale_factor=1.5, mode='bilinear') and (size=(4, 3), mode='bilinear',
  // align_corners=True) of arange(12).view(1, 1, 3, 4); (scale_factor=2, mode='linear') of
  // arange(3).view(1, 1, 3)
  test::require_close(
      nn::Upsample({.scale_factor = {1.5}, .mode = "bilinear"})(x), {1, 1, 4, 6},
      {0.0,      0.5,      7.0 / 6,  11.0 / 6, 2.5,      3.0,      2.0,      2.5,
       19.0 / 6, 23.0 / 6, 4.5,      5.0,      14.0 / 3, 31.0 / 6, 35.0 / 6, 6.5,
       43.0 / 6, 23.0 / 3, 22.0 / 3, 47.0 / 6, 8.5,      55.0 / 6, 59.0 / 6, 31.0 / 3},
      "bilinear scale 1.5");
  nn::Upsample corners({.size = {4, 3}, .mode = "bilinear", .align_corners = true});
  test::require_close(
      corners(x), {1, 1, 4, 3},
      {0.0, 1.5, 3.0, 8.0 / 3, 25.0 / 6, 17.0 / 3, 16.0 / 3, 41.0 / 6, 25.0 / 3, 8.0, 9.5, 11.0},
      "bilinear align_corners");
  test::require_close(
      nn::Upsample({.scale_factor = {2}, .mode = "linear"})(arange(3, kFloat64).view({1, 1, 3})),
      {1, 1, 6}, {0.0, 0.25, 0.75, 1.25, 1.75, 2.0}, "linear");
  CHECK(corners.extra_repr() == "size=[4, 3], mode='bilinear'");
  auto r = gradcheck([&](const std::vector<Tensor>& in) { return corners(in[0]); },
                     {test::seeded_randn({1, 2, 2, 3}, 2, kFloat64).requires_grad_()});
  INFO(r.report);
  CHECK(r.ok);
  CHECK_THROWS_WITH(
      nn::Upsample({.scale_factor = {2}, .mode = "bilinear"})(arange(3.0).view({1, 1, 3})),
      Catch::Contains("bilinear mode needs 4D input"));
}

TEST_CASE("Upsample nearest picks floor(i * scale) and is differentiable",
          "[nn][upsample][gradcheck]") {
  Tensor x = arange(12, kFloat64).view({1, 1, 3, 4});
  Tensor y = nn::Upsample({.scale_factor = {2}})(x);
  CHECK(y.sizes() == Dims{1, 1, 6, 8});
  for (int64_t i = 0; i < 6; ++i)
    for (int64_t j = 0; j < 8; ++j)
      CHECK(test::at(y, {0, 0, i, j}) == test::at(x, {0, 0, i / 2, j / 2}));
  // size 5 from 3: source floor(i * 3 / 5) = 0 0 1 1 2; factor 1.5 on 4 -> 6: 0 0 1 2 2 3
  Tensor z = nn::Upsample({.size = {5, 6}})(x);
  CHECK(test::values(z.select(3, 0).flatten()) == std::vector<double>{0, 0, 4, 4, 8});
  CHECK(test::values(z.select(2, 0).flatten()) == std::vector<double>{0, 0, 1, 2, 2, 3});
  Tensor s = nn::Upsample({.scale_factor = {1.5}})(arange(4, kFloat64).view({1, 1, 4}));
  CHECK(test::values(s.flatten()) == std::vector<double>{0, 0, 1, 2, 2, 3});
  auto r =
      gradcheck([](const std::vector<Tensor>& in) { return nn::Upsample({.size = {3, 5}})(in[0]); },
                {test::seeded_randn({1, 2, 2, 3}, 1, kFloat64).requires_grad_()});
  INFO(r.report);
  CHECK(r.ok);
  CHECK_THROWS_WITH(nn::Upsample({.size = {2}, .mode = "bicubic"}),
                    Catch::Contains("mode 'bicubic' is not supported"));
  CHECK_THROWS_WITH(nn::Upsample({.size = {2}, .align_corners = true}),
                    Catch::Contains("align_corners option can only be set"));
  CHECK_THROWS_WITH(nn::Upsample({}), Catch::Contains("either size or scale_factor"));
  CHECK_THROWS_WITH(nn::Upsample({.size = {2, 2, 2}})(x),
                    Catch::Contains("has 2 spatial dims, but size has 3 values"));
}
