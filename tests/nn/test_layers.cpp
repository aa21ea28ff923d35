// nn layers, losses and init: shapes, PyTorch's default initialisation, and outputs against
// double-precision references written here (and against the functional ops they wrap).
#include <cmath>
#include <functional>

#include "support/reference.hpp"

using namespace ember;
namespace F = ember::nn::functional;

namespace {

struct Stats {
  double mean = 0, var = 0, min = 1e300, max = -1e300;
};
Stats stats_of(const Tensor& t) {
  std::vector<double> v = test::values(t);
  Stats s;
  for (double x : v) {
    s.mean += x;
    s.min = std::min(s.min, x);
    s.max = std::max(s.max, x);
  }
  s.mean /= static_cast<double>(v.size());
  for (double x : v) s.var += (x - s.mean) * (x - s.mean);
  s.var /= static_cast<double>(v.size());
  return s;
}

// Uniform(-bound, bound): every value inside, the extremes reached, moments of the uniform.
void check_uniform(const Tensor& t, double bound, const std::string& what) {
  INFO(what << " bound " << bound << " numel " << t.numel());
  Stats s = stats_of(t);
  CHECK(s.min >= -bound);
  CHECK(s.max <= bound);
  CHECK(s.max > 0.9 * bound);
  CHECK(s.min < -0.9 * bound);
  double sd = bound / std::sqrt(3.0);
  CHECK(std::abs(s.mean) < 4 * sd / std::sqrt(static_cast<double>(t.numel())));
  CHECK(std::sqrt(s.var) == Approx(sd).epsilon(0.05));
}

std::vector<double> map_values(const Tensor& t, const std::function<double(double)>& f) {
  std::vector<double> out;
  for (double v : test::values(t)) out.push_back(f(v));
  return out;
}

double sigmoid_ref(double x) { return 1.0 / (1.0 + std::exp(-x)); }

}  // namespace

// ---- initialisation ----

TEST_CASE("Linear and Conv2d initialise as PyTorch (kaiming_uniform_, a = sqrt(5))",
          "[module][init]") {
  manual_seed(0);
  nn::Linear lin(300, 200);
  CHECK(lin.weight.sizes() == Dims{200, 300});
  CHECK(lin.bias.sizes() == Dims{200});
  CHECK(lin.weight.requires_grad());
  // gain sqrt(2 / (1 + 5)) -> bound sqrt(3) * gain / sqrt(fan_in) = 1 / sqrt(fan_in)
  check_uniform(lin.weight, 1.0 / std::sqrt(300.0), "Linear weight");
  Stats b = stats_of(lin.bias);
  CHECK(b.min >= -1.0 / std::sqrt(300.0));
  CHECK(b.max <= 1.0 / std::sqrt(300.0));
  CHECK(b.max > 0.8 / std::sqrt(300.0));

  nn::Conv2d conv(40, 64, {3, 5}, {.groups = 2});
  CHECK(conv.weight.sizes() == Dims{64, 20, 3, 5});
  check_uniform(conv.weight, 1.0 / std::sqrt(20.0 * 15.0), "Conv2d weight");
  Stats cb = stats_of(conv.bias);
  CHECK(cb.max <= 1.0 / std::sqrt(300.0));
  CHECK(cb.min >= -1.0 / std::sqrt(300.0));

  CHECK_FALSE(nn::Linear(3, 2, {.bias = false}).bias.defined());
  CHECK_FALSE(nn::Conv2d(3, 2, 1, {.bias = false}).bias.defined());
  // Different draws for different layers (the global stream advances).
  nn::Linear l1(4, 4), l2(4, 4);
  CHECK(test::values(l1.weight) != test::values(l2.weight));
}

TEST_CASE("nn::init fills with the documented distributions", "[module][init]") {
  manual_seed(5);
  Tensor w = empty({256, 128}).requires_grad_();  // a leaf requiring grad: filled under no-grad
  nn::init::uniform_(w, -2.0, 3.0);
  Stats u = stats_of(w);
  CHECK(u.min >= -2.0);
  CHECK(u.max <= 3.0);
  CHECK(u.mean == Approx(0.5).margin(0.03));
  CHECK(w.requires_grad());

  nn::init::normal_(w, 1.5, 0.5);
  Stats n = stats_of(w);
  CHECK(n.mean == Approx(1.5).margin(0.01));
  CHECK(std::sqrt(n.var) == Approx(0.5).epsilon(0.02));

  nn::init::xavier_uniform_(w, 2.0);
  check_uniform(w, 2.0 * std::sqrt(6.0 / (128.0 + 256.0)), "xavier_uniform_");
  nn::init::xavier_normal_(w);
  CHECK(std::sqrt(stats_of(w).var) == Approx(std::sqrt(2.0 / 384.0)).epsilon(0.02));

  Tensor c = empty({64, 16, 3, 3}, kFloat64);
  nn::init::kaiming_uniform_(c, 0.0, "fan_out", "relu");
  check_uniform(c, std::sqrt(2.0) * std::sqrt(3.0 / (64.0 * 9.0)), "kaiming_uniform_ fan_out");
  nn::init::kaiming_normal_(c);  // leaky_relu with a = 0: gain sqrt(2), fan_in 144
  CHECK(std::sqrt(stats_of(c).var) == Approx(std::sqrt(2.0 / 144.0)).epsilon(0.03));
  CHECK(c.dtype() == kFloat64);

  nn::init::constant_(c, 0.25);
  CHECK(stats_of(c).min == 0.25);
  CHECK(stats_of(c).max == 0.25);
  nn::init::ones_(w);
  CHECK(stats_of(w).min == 1.0);
  nn::init::zeros_(w);
  CHECK(stats_of(w).max == 0.0);
  Tensor none = empty({0, 3});
  nn::init::kaiming_uniform_(none);  // zero elements: a no-op, as PyTorch

  CHECK(nn::init::calculate_gain("relu") == Approx(std::sqrt(2.0)));
  CHECK(nn::init::calculate_gain("tanh") == Approx(5.0 / 3.0));
  CHECK(nn::init::calculate_gain("conv2d") == 1.0);
  CHECK(nn::init::calculate_gain("leaky_relu") == Approx(std::sqrt(2.0 / (1.0 + 1e-4))));
  CHECK(nn::init::calculate_gain("leaky_relu", 0.2) == Approx(std::sqrt(2.0 / 1.04)));
  CHECK(nn::init::calculate_gain("selu") == 0.75);
  auto [fi, fo] = nn::init::calculate_fan_in_and_fan_out(c);
  CHECK(fi == 144);
  CHECK(fo == 576);
}

TEST_CASE("nn::init errors", "[module][init][error]") {
  CHECK_THROWS_WITH(nn::init::calculate_gain("swish"),
                    Catch::Contains("unsupported nonlinearity \"swish\""));
  CHECK_THROWS_WITH(nn::init::xavier_uniform_(empty({5})),
                    Catch::Contains("fewer than 2 dimensions (got [5])"));
  CHECK_THROWS_WITH(nn::init::kaiming_uniform_(empty({2, 2}), 0, "fan_avg"),
                    Catch::Contains("mode must be \"fan_in\" or \"fan_out\", got \"fan_avg\""));
  CHECK_THROWS_WITH(nn::init::uniform_(empty({2}), 1.0, 0.0), Catch::Contains("from=1 > to=0"));
  CHECK_THROWS_WITH(nn::init::normal_(zeros({2}, kInt64)),
                    Catch::Contains("expected a floating point tensor, got int64"));
}

TEST_CASE("norm, embedding and loss layers hold PyTorch's initial state", "[module]") {
  nn::BatchNorm2d bn(3);
  test::require_close(bn.weight, {3}, {1, 1, 1}, "bn.weight");
  test::require_close(bn.bias, {3}, {0, 0, 0}, "bn.bias");
  test::require_close(bn.running_mean, {3}, {0, 0, 0}, "running_mean");
  test::require_close(bn.running_var, {3}, {1, 1, 1}, "running_var");
  CHECK(bn.num_batches_tracked.dtype() == kInt64);
  CHECK(bn.num_batches_tracked.dim() == 0);
  CHECK_FALSE(bn.running_mean.requires_grad());
  nn::BatchNorm1d plain(4, {.affine = false, .track_running_stats = false});
  CHECK(plain.parameters().empty());
  CHECK(plain.buffers().empty());

  nn::LayerNorm ln({4, 5});
  CHECK(ln.weight.sizes() == Dims{4, 5});
  CHECK(ln.bias.sizes() == Dims{4, 5});
  CHECK(nn::LayerNorm(6, {.bias = false}).parameters().size() == 1);
  CHECK(nn::LayerNorm(6, {.elementwise_affine = false}).parameters().empty());

  manual_seed(9);
  nn::Embedding emb(50, 40, {.padding_idx = -2});
  CHECK(emb.padding_idx == 48);
  test::require_close(emb.weight[48], {40}, std::vector<double>(40, 0.0), "padding row");
  Stats s = stats_of(emb.weight.narrow(0, 0, 48));
  CHECK(s.mean == Approx(0.0).margin(0.1));
  CHECK(std::sqrt(s.var) == Approx(1.0).epsilon(0.06));

  nn::CrossEntropyLoss ce({.label_smoothing = 0.1, .weight = ones({3})});
  CHECK(ce.state_dict().keys() == std::vector<std::string>{"weight"});
  ce.to(kFloat64);
  CHECK(ce.weight.dtype() == kFloat64);
  CHECK(nn::MSELoss().state_dict().empty());
  CHECK(nn::BCEWithLogitsLoss({.pos_weight = ones({2})}).state_dict().keys() ==
        std::vector<std::string>{"pos_weight"});
}

TEST_CASE("layer constructors and forward reject bad arguments by name", "[module][error]") {
  CHECK_THROWS_WITH(nn::Conv2d(3, 4, 3, {.groups = 2}),
                    Catch::Contains("Conv2d: in_channels (3) must be divisible by groups (2)"));
  CHECK_THROWS_WITH(nn::Conv2d(4, 3, 3, {.groups = 2}),
                    Catch::Contains("out_channels (3) must be divisible by groups (2)"));
  CHECK_THROWS_WITH(nn::Conv2d(4, 4, 0), Catch::Contains("kernel_size must be positive"));
  CHECK_THROWS_WITH(nn::Linear(-1, 2), Catch::Contains("must be non-negative"));
  CHECK_THROWS_WITH(nn::Dropout(1.5), Catch::Contains("between 0 and 1, but got 1.5"));
  CHECK_THROWS_WITH(nn::GELU("fast"), Catch::Contains("\"none\" or \"tanh\", got \"fast\""));
  CHECK_THROWS_WITH(nn::Embedding(5, 2, {.padding_idx = 5}),
                    Catch::Contains("padding_idx 5 must be within num_embeddings (5)"));
  CHECK_THROWS_WITH(nn::MaxPool2d(2, {.padding = 2}),
                    Catch::Contains("padding should be at most half of the kernel size"));
  CHECK_THROWS_WITH(nn::CrossEntropyLoss({.label_smoothing = 1.5}),
                    Catch::Contains("label_smoothing must be between 0.0 and 1.0, got 1.5"));
  nn::BatchNorm2d bn(3);
  CHECK_THROWS_WITH(bn(zeros({2, 3, 4})),
                    Catch::Contains("BatchNorm2d: expected 4D input (got 3D input of shape "
                                    "[2, 3, 4])"));
  CHECK_THROWS_WITH(bn(zeros({2, 4, 1, 1})),
                    Catch::Contains("expected input with 3 channels (dim 1), got input of shape "
                                    "[2, 4, 1, 1]"));
  CHECK(bn.num_batches_tracked.item<int64_t>() == 0);  // a rejected input changes nothing
  CHECK_THROWS_WITH(nn::BatchNorm1d(3)(zeros({2, 3, 4, 5})),
                    Catch::Contains("BatchNorm1d: expected 2D or 3D input (got 4D input"));
}

// ---- forward: layers that need only pointwise and view ops ----

TEST_CASE("activation layers match references", "[module][layers]") {
  Tensor x = test::seeded_randn({3, 5}, 11) * 3.0;
  Tensor nc = test::noncontiguous(x);
  for (const Tensor& in : {x, nc}) {
    test::require_close(nn::ReLU()(in), {3, 5},
                        map_values(in, [](double v) { return v > 0 ? v : 0.0; }), "ReLU");
    test::require_close(
        nn::GELU()(in), {3, 5},
        map_values(in, [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }),
        "GELU");
    test::require_close(nn::GELU("tanh")(in), {3, 5},
                        map_values(in,
                                   [](double v) {
                                     double k = std::sqrt(2.0 / M_PI);
                                     return 0.5 * v *
                                            (1 + std::tanh(k * (v + 0.044715 * v * v * v)));
                                   }),
                        "GELU tanh", 1e-5, 1e-5);
    test::require_close(nn::SiLU()(in), {3, 5},
                        map_values(in, [](double v) { return v * sigmoid_ref(v); }), "SiLU");
    test::require_close(nn::Sigmoid()(in), {3, 5}, map_values(in, sigmoid_ref), "Sigmoid");
    test::require_close(nn::Tanh()(in), {3, 5},
                        map_values(in, [](double v) { return std::tanh(v); }), "Tanh");
  }
  Tensor d = test::seeded_randn({4}, 12, kFloat64);
  CHECK(nn::ReLU()(d).dtype() == kFloat64);
  CHECK(nn::Tanh()(zeros({0, 3})).sizes() == Dims{0, 3});
  CHECK(nn::Sigmoid()(scalar_tensor(0.0)).item<double>() == 0.5);
}

TEST_CASE("Flatten, Identity and Dropout in eval mode", "[module][layers]") {
  Tensor x = test::seeded_randn({2, 3, 4, 5}, 13);
  CHECK(nn::Flatten()(x).sizes() == Dims{2, 60});
  CHECK(nn::Flatten(0, 1)(x).sizes() == Dims{6, 4, 5});
  CHECK(nn::Flatten(-2, -1)(x).sizes() == Dims{2, 3, 20});
  CHECK(test::values(nn::Flatten()(x)) == test::values(x));
  CHECK(nn::Identity()(x).is_same(x));
  nn::Dropout drop(0.5);
  drop.eval();
  CHECK(drop(x).is_same(x));
  drop.train();
  CHECK(nn::Dropout(0.0)(x).is_same(x));
}

// ---- forward: layers wrapping kernels from other branches ----

TEST_CASE("Linear forward matches x W^T + b", "[module][layers][needs-merge]") {
  manual_seed(21);
  nn::Linear lin(5, 3);
  Tensor x = test::seeded_randn({4, 5}, 22);
  std::vector<double> xs = test::values(x), w = test::values(lin.weight),
                      b = test::values(lin.bias), expected;
  for (int n = 0; n < 4; ++n)
    for (int o = 0; o < 3; ++o) {
      double acc = b[o];
      for (int i = 0; i < 5; ++i) acc += xs[n * 5 + i] * w[o * 5 + i];
      expected.push_back(acc);
    }
  test::require_close(lin(x), {4, 3}, expected, "Linear(x)");
  test::require_close(lin(test::noncontiguous(x)), {4, 3}, expected, "Linear(noncontiguous)");
  test::require_close(lin(x), {4, 3}, test::values(F::linear(x, lin.weight, lin.bias)),
                      "vs functional");
  nn::Linear nob(5, 3, {.bias = false});
  CHECK(nob(x).sizes() == Dims{4, 3});
  CHECK(lin(test::seeded_randn({2, 6, 5}, 23)).sizes() == Dims{2, 6, 3});
}

TEST_CASE("Conv2d forward matches a direct convolution", "[module][layers][needs-merge]") {
  manual_seed(31);
  nn::Conv2d conv(4, 6, {3, 2},
                  {.stride = {2, 1}, .padding = {1, 0}, .dilation = {1, 2}, .groups = 2});
  Tensor x = test::seeded_randn({2, 4, 7, 6}, 32);
  int64_t oh = (7 + 2 - 1 * (3 - 1) - 1) / 2 + 1, ow = (6 - 2 * (2 - 1) - 1) / 1 + 1;
  Dims out_sizes{2, 6, oh, ow};
  std::vector<double> expected;
  for (int64_t i = 0; i < product(out_sizes); ++i) {
    auto idx = test::unravel(i, out_sizes);
    int64_t n = idx[0], o = idx[1], y = idx[2], xw = idx[3], g = o / 3;
    double acc = test::at(conv.bias, {o});
    for (int64_t c = 0; c < 2; ++c)
      for (int64_t ky = 0; ky < 3; ++ky)
        for (int64_t kx = 0; kx < 2; ++kx) {
          int64_t iy = y * 2 - 1 + ky, ix = xw + kx * 2;
          if (iy < 0 || iy >= 7 || ix < 0 || ix >= 6) continue;
          acc += test::at(x, {n, g * 2 + c, iy, ix}) * test::at(conv.weight, {o, c, ky, kx});
        }
    expected.push_back(acc);
  }
  test::require_close(conv(x), out_sizes, expected, "Conv2d(x)", 1e-4, 1e-5);
  Tensor f = F::conv2d(x, conv.weight, conv.bias,
                       {.stride = {2, 1}, .padding = {1, 0}, .dilation = {1, 2}, .groups = 2});
  test::require_close(conv(x), out_sizes, test::values(f), "vs functional");
}

TEST_CASE("BatchNorm2d normalises with batch stats and tracks running ones",
          "[module][layers][needs-merge]") {
  nn::BatchNorm2d bn(2, {.momentum = 0.25});
  {
    NoGradGuard g;
    bn.weight.copy_(tensor({2.0, 0.5}));
    bn.bias.copy_(tensor({1.0, -1.0}));
  }
  Tensor x = test::seeded_randn({3, 2, 2, 2}, 41) * 2.0 + 1.0;
  int64_t per = 3 * 2 * 2;
  std::vector<double> mean(2), var(2);
  for (int64_t i = 0; i < x.numel(); ++i)
    mean[test::unravel(i, x.sizes())[1]] += test::values(x)[i];
  for (auto& m : mean) m /= per;
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t c = test::unravel(i, x.sizes())[1];
    var[c] += std::pow(test::values(x)[i] - mean[c], 2);
  }
  std::vector<double> expected;
  double w[2] = {2.0, 0.5}, b[2] = {1.0, -1.0};
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t c = test::unravel(i, x.sizes())[1];
    expected.push_back((test::values(x)[i] - mean[c]) / std::sqrt(var[c] / per + 1e-5) * w[c] +
                       b[c]);
  }
  test::require_close(bn(x), x.sizes(), expected, "BatchNorm2d train", 1e-4, 1e-5);
  CHECK(bn.num_batches_tracked.item<int64_t>() == 1);
  test::require_close(bn.running_mean, {2}, {0.25 * mean[0], 0.25 * mean[1]}, "running_mean");
  test::require_close(bn.running_var, {2},
                      {0.75 + 0.25 * var[0] / (per - 1), 0.75 + 0.25 * var[1] / (per - 1)},
                      "running_var (unbiased)", 1e-4);

  bn.eval();
  std::vector<double> rm = test::values(bn.running_mean), rv = test::values(bn.running_var);
  expected.clear();
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t c = test::unravel(i, x.sizes())[1];
    expected.push_back((test::values(x)[i] - rm[c]) / std::sqrt(rv[c] + 1e-5) * w[c] + b[c]);
  }
  test::require_close(bn(x), x.sizes(), expected, "BatchNorm2d eval", 1e-4, 1e-5);
  CHECK(bn.num_batches_tracked.item<int64_t>() == 1);

  // momentum = nullopt: a cumulative average of the batch means.
  nn::BatchNorm1d cum(2, {.momentum = std::nullopt});
  cum(tensor({{1.0, 2.0}, {3.0, 4.0}}));
  cum(tensor({{5.0, 6.0}, {7.0, 8.0}}));
  test::require_close(cum.running_mean, {2}, {4.0, 5.0}, "cumulative running_mean");
  CHECK(cum.num_batches_tracked.item<int64_t>() == 2);
}

TEST_CASE("LayerNorm, pooling, Embedding, Dropout and Softmax match functional",
          "[module][layers][needs-merge]") {
  Tensor x = test::seeded_randn({2, 3, 6, 6}, 51);
  nn::LayerNorm ln({6, 6});
  test::require_close(ln(x), x.sizes(), test::values(F::layer_norm(x, {6, 6}, ln.weight, ln.bias)),
                      "LayerNorm");
  std::vector<double> row = test::values(ln(x)[0][0]);
  double m = 0, v = 0;
  for (double r : row) m += r;
  m /= 36;
  for (double r : row) v += (r - m) * (r - m);
  CHECK(m == Approx(0.0).margin(1e-5));
  CHECK(v / 36 == Approx(1.0).epsilon(1e-3));

  test::require_close(nn::MaxPool2d(2)(x), {2, 3, 3, 3}, test::values(F::max_pool2d(x, 2)),
                      "MaxPool2d");
  test::require_close(nn::AvgPool2d(3, {.stride = 2, .padding = 1})(x), {2, 3, 3, 3},
                      test::values(F::avg_pool2d(x, 3, {.stride = 2, .padding = 1})), "AvgPool2d");
  Tensor gap = nn::AdaptiveAvgPool2d(1)(x);
  std::vector<double> xs = test::values(x), expected(6, 0.0);
  for (size_t i = 0; i < xs.size(); ++i) expected[i / 36] += xs[i] / 36;
  test::require_close(gap, {2, 3, 1, 1}, expected, "AdaptiveAvgPool2d(1)");

  nn::Embedding emb(10, 4, {.padding_idx = 0});
  Tensor idx = tensor(std::vector<int64_t>{3, 0, 9, 3}, {2, 2});
  Tensor e = emb(idx);
  CHECK(e.sizes() == Dims{2, 2, 4});
  CHECK(test::values(e[0][0]) == test::values(emb.weight[3]));
  CHECK(test::values(e[0][1]) == std::vector<double>(4, 0.0));

  nn::Dropout drop(0.5);
  Tensor y = drop(ones({1000}));
  int zeros_seen = 0;
  for (double v2 : test::values(y)) {
    CHECK((v2 == 0.0 || v2 == 2.0));
    zeros_seen += v2 == 0.0;
  }
  CHECK(zeros_seen > 400);
  CHECK(zeros_seen < 600);

  Tensor p = nn::Softmax(1)(tensor({{1.0, 2.0, 3.0}}));
  double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  test::require_close(p, {1, 3}, {std::exp(1.0) / z, std::exp(2.0) / z, std::exp(3.0) / z},
                      "Softmax");
}

TEST_CASE("loss modules match references and their functional twins",
          "[module][layers][needs-merge]") {
  Tensor logits = test::seeded_randn({4, 3}, 61);
  Tensor target = tensor(std::vector<int64_t>{0, 2, 1, 2});
  std::vector<double> lg = test::values(logits);
  std::vector<int64_t> tg = {0, 2, 1, 2};
  // cross entropy with label smoothing eps: (1 - eps) * nll + eps * mean_c(-log p_c)
  double eps = 0.2, total = 0;
  for (int n = 0; n < 4; ++n) {
    double mx = std::max({lg[n * 3], lg[n * 3 + 1], lg[n * 3 + 2]}), s = 0;
    for (int c = 0; c < 3; ++c) s += std::exp(lg[n * 3 + c] - mx);
    double lse = mx + std::log(s), smooth = 0;
    for (int c = 0; c < 3; ++c) smooth += lse - lg[n * 3 + c];
    total += (1 - eps) * (lse - lg[n * 3 + tg[n]]) + eps * smooth / 3;
  }
  nn::CrossEntropyLoss ce({.label_smoothing = eps});
  test::require_close(ce(logits, target), {}, {total / 4}, "CrossEntropyLoss", 1e-5);
  nn::CrossEntropyLoss ce_sum({.reduction = Reduction::Sum});
  test::require_close(ce_sum(logits, target), {},
                      test::values(F::cross_entropy(logits, target, {.reduction = Reduction::Sum})),
                      "CrossEntropyLoss sum");

  Tensor logp = log_softmax(logits, 1);
  nn::NLLLoss nll({.reduction = Reduction::None});
  std::vector<double> lp = test::values(logp), per;
  for (int n = 0; n < 4; ++n) per.push_back(-lp[n * 3 + tg[n]]);
  test::require_close(nll(logp, target), {4}, per, "NLLLoss none");

  Tensor a = test::seeded_randn({3, 2}, 62), b = test::seeded_randn({3, 2}, 63);
  std::vector<double> av = test::values(a), bv = test::values(b);
  double mse = 0;
  for (size_t i = 0; i < av.size(); ++i) mse += (av[i] - bv[i]) * (av[i] - bv[i]);
  test::require_close(nn::MSELoss()(a, b), {}, {mse / 6}, "MSELoss");
  test::require_close(nn::MSELoss({.reduction = Reduction::Sum})(a, b), {}, {mse}, "MSELoss sum");

  Tensor y = tensor({{1.0, 0.0}, {0.0, 1.0}, {1.0, 1.0}});
  std::vector<double> yv = test::values(y);
  double bce = 0;
  for (size_t i = 0; i < av.size(); ++i)
    bce += -(yv[i] * std::log(sigmoid_ref(av[i])) + (1 - yv[i]) * std::log(1 - sigmoid_ref(av[i])));
  test::require_close(nn::BCEWithLogitsLoss()(a, y), {}, {bce / 6}, "BCEWithLogitsLoss");
}
