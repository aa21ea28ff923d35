// Every differentiable op of the tensor surface, once in a table, through gradcheck (float64
// finite differences) with broadcasting and non-contiguous inputs: on the shapes listed, then on
// seeded random shapes derived from them (every size above 1 grown by a random amount, the same
// size the same way in all of a case's inputs, so matching and broadcast dims stay so).
#include <map>
#include <sstream>

#include "support/reference.hpp"

using namespace ember;
namespace F = ember::nn::functional;

namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

struct Case {
  const char* name;
  std::vector<Dims> shapes;
  Fn fn;
  double lo = -2, hi = 2;  ///< input range (log, sqrt, pow want positive inputs)
  bool strided = true;     ///< also check non-contiguous copies of the inputs
  bool resize = true;      ///< also check random shapes (false: the op's arguments fix them)
};

/// c's shapes with each distinct size s > 1 replaced by s + a seeded random 0..2.
std::vector<Dims> random_shapes(const std::vector<Dims>& shapes, uint64_t seed) {
  manual_seed(seed);
  std::map<int64_t, int64_t> to;
  for (const Dims& d : shapes)
    for (int64_t s : d)
      if (s > 1 && !to.count(s)) to[s] = s + randint(0, 3, {1}).item<int64_t>();
  std::vector<Dims> out = shapes;
  for (Dims& d : out)
    for (int64_t& s : d)
      if (s > 1) s = to[s];
  return out;
}

Tensor input(const Dims& s, uint64_t seed, double lo, double hi) {
  manual_seed(seed);
  return (rand(s, kFloat64) * (hi - lo) + lo);
}

std::string describe(const std::vector<Dims>& shapes) {
  std::ostringstream os;
  for (const Dims& d : shapes) os << d << " ";
  return os.str();
}

void run_on(const Case& c, const std::vector<Dims>& shapes, uint64_t seed) {
  for (int variant = 0; variant < (c.strided ? 2 : 1); ++variant) {
    std::vector<Tensor> in;
    for (size_t i = 0; i < shapes.size(); ++i) {
      Tensor t = input(shapes[i], seed + i, c.lo, c.hi);
      if (variant == 1) t = test::noncontiguous(t);
      in.push_back(t.requires_grad_());
    }
    INFO(c.name << " seed " << seed << " shapes " << describe(shapes)
                << (variant ? "(non-contiguous inputs)" : ""));
    auto r = gradcheck(c.fn, in);
    INFO(r.report);
    CHECK(r.ok);
  }
}

// gradgradcheck of c on its listed shapes, contiguous inputs.
void run_gradgrad(const Case& c, uint64_t seed) {
  std::vector<Tensor> in;
  for (size_t i = 0; i < c.shapes.size(); ++i)
    in.push_back(input(c.shapes[i], seed + i, c.lo, c.hi).requires_grad_());
  auto r = gradgradcheck(c.fn, in);
  INFO(c.name << ": " << r.report);
  CHECK(r.ok);
}

void run(const Case& c, uint64_t seed) {
  run_on(c, c.shapes, seed);
  if (c.resize) run_on(c, random_shapes(c.shapes, seed), seed + 100);
}

std::vector<Case> cases() {
  using V = const std::vector<Tensor>&;
  return {
      {"neg", {{3, 4}}, [](V x) { return -x[0]; }},
      {"abs", {{3, 4}}, [](V x) { return abs(x[0]); }},
      {"exp", {{3, 4}}, [](V x) { return exp(x[0]); }},
      {"log", {{3, 4}}, [](V x) { return log(x[0]); }, 0.5, 2},
      {"log1p", {{3, 4}}, [](V x) { return log1p(x[0]); }, 0, 2},
      {"expm1", {{3, 4}}, [](V x) { return expm1(x[0]); }},
      {"sqrt", {{3, 4}}, [](V x) { return sqrt(x[0]); }, 0.5, 2},
      {"rsqrt", {{3, 4}}, [](V x) { return rsqrt(x[0]); }, 0.5, 2},
      {"sin", {{3, 4}}, [](V x) { return sin(x[0]); }},
      {"cos", {{3, 4}}, [](V x) { return cos(x[0]); }},
      {"tanh", {{3, 4}}, [](V x) { return tanh(x[0]); }},
      {"sigmoid", {{3, 4}}, [](V x) { return sigmoid(x[0]); }},
      {"relu", {{3, 4}}, [](V x) { return relu(x[0]); }},
      {"gelu", {{3, 4}}, [](V x) { return gelu(x[0]); }},
      {"gelu tanh", {{3, 4}}, [](V x) { return gelu(x[0], "tanh"); }},
      {"silu", {{3, 4}}, [](V x) { return silu(x[0]); }},
      {"erf", {{3, 4}}, [](V x) { return erf(x[0]); }},
      {"clamp", {{3, 4}}, [](V x) { return clamp(x[0], -0.5, 0.7); }},
      {"leaky_relu", {{3, 4}}, [](V x) { return leaky_relu(x[0], 0.2); }},
      {"elu", {{3, 4}}, [](V x) { return elu(x[0], 1.5); }},
      {"hardtanh", {{3, 4}}, [](V x) { return hardtanh(x[0], -0.5, 0.7); }},
      {"mish", {{3, 4}}, [](V x) { return mish(x[0]); }, -5, 5},
      {"hardswish", {{3, 4}}, [](V x) { return hardswish(x[0]); }, -5, 5},
      {"add broadcast", {{3, 4}, {4}}, [](V x) { return x[0] + x[1]; }},
      {"add alpha", {{3, 1}, {1, 4}}, [](V x) { return add(x[0], x[1], 2.5); }},
      {"sub broadcast", {{2, 3, 4}, {3, 1}}, [](V x) { return x[0] - x[1]; }},
      {"mul broadcast", {{3, 4}, {3, 1}}, [](V x) { return x[0] * x[1]; }},
      {"div", {{3, 4}, {4}}, [](V x) { return x[0] / x[1]; }, 0.5, 2},
      {"pow tensor", {{3, 4}, {3, 4}}, [](V x) { return pow(x[0], x[1]); }, 0.5, 2},
      {"pow scalar", {{3, 4}}, [](V x) { return pow(x[0], 2.5); }, 0.5, 2},
      {"maximum", {{3, 4}, {4}}, [](V x) { return maximum(x[0], x[1]); }},
      {"minimum", {{3, 4}, {3, 1}}, [](V x) { return minimum(x[0], x[1]); }},
      {"where", {{3, 4}, {4}}, [](V x) { return where(x[0] > 0, x[0], x[1]); }},
      {"sum all", {{3, 4}}, [](V x) { return x[0].sum(); }},
      {"sum dims", {{2, 3, 4}}, [](V x) { return sum(x[0], {0, -1}); }},
      {"sum keepdim", {{2, 3, 4}}, [](V x) { return sum(x[0], {1}, true); }},
      {"mean", {{2, 3, 4}}, [](V x) { return mean(x[0], {1}); }},
      {"prod", {{3, 4}}, [](V x) { return prod(x[0], {1}); }},
      {"amax", {{3, 4}}, [](V x) { return amax(x[0], {1}); }},
      {"amin all", {{3, 4}}, [](V x) { return amin(x[0]); }},
      {"max dim", {{3, 4}}, [](V x) { return max(x[0], 1).values; }},
      {"min dim keepdim", {{3, 4}}, [](V x) { return min(x[0], 0, true).values; }},
      {"var", {{3, 5}}, [](V x) { return var(x[0], {1}); }},
      {"std", {{3, 5}}, [](V x) { return x[0].std({0}, true); }},
      {"var all", {{3, 5}}, [](V x) { return var(x[0]); }},
      {"logsumexp", {{3, 5}}, [](V x) { return logsumexp(x[0], {1}); }},
      {"softmax", {{3, 5}}, [](V x) { return softmax(x[0], 1); }},
      {"softmax dim0", {{3, 5}}, [](V x) { return softmax(x[0], 0); }},
      {"log_softmax", {{3, 5}}, [](V x) { return log_softmax(x[0], -1); }},
      {"softmax middle dim", {{2, 3, 4}}, [](V x) { return softmax(x[0], 1); }},
      {"log_softmax dim0", {{3, 5}}, [](V x) { return log_softmax(x[0], 0); }},
      {"matmul 2d", {{3, 4}, {4, 2}}, [](V x) { return matmul(x[0], x[1]); }},
      {"matmul batched broadcast", {{2, 3, 4}, {4, 2}}, [](V x) { return matmul(x[0], x[1]); }},
      {"matmul vec-mat", {{4}, {2, 4, 3}}, [](V x) { return matmul(x[0], x[1]); }},
      {"matmul mat-vec", {{3, 4}, {4}}, [](V x) { return matmul(x[0], x[1]); }},
      {"matmul dot", {{4}, {4}}, [](V x) { return matmul(x[0], x[1]); }},
      {"bmm", {{2, 3, 4}, {2, 4, 2}}, [](V x) { return bmm(x[0], x[1]); }},
      {"view reshape flatten",
       {{2, 3, 4}},
       [](V x) { return x[0].reshape({-1, x[0].size(-1)}).flatten() * 2; }},
      {"transpose permute",
       {{2, 3, 4}},
       [](V x) { return x[0].permute({2, 0, 1}).transpose(0, 1) * 3; }},
      {"expand", {{3, 1}}, [](V x) { return x[0].expand({2, x[0].size(0), 4}) * 1.5; }},
      {"squeeze unsqueeze", {{3, 1, 4}}, [](V x) { return x[0].squeeze(1).unsqueeze(0) * 2; }},
      {"slice step", {{7, 3}}, [](V x) { return x[0].slice(0, 1, 6, 2) * 2; }},
      {"narrow select", {{4, 5}}, [](V x) { return x[0].narrow(1, 1, 3).select(0, 2) * 2; }},
      {"selects of a permuted view",  // q, k out of one qkv tensor: two gradients summed
       {{2, 3, 4}},
       [](V x) {
         Tensor p = x[0].permute({2, 0, 1});
         return p.select(0, 1) * p.select(0, 3);
       }},
      {"cat", {{2, 3}, {4, 3}}, [](V x) { return cat({x[0], x[1]}, 0) * 2; }},
      {"stack", {{2, 3}, {2, 3}}, [](V x) { return stack({x[0], x[1]}, 1) * 2; }},
      {"split chunk",
       {{6, 2}},
       [](V x) {
         auto p = x[0].chunk(3);
         return p[0] * p[2] + p[1];
       },
       -2,
       2,
       true,
       false},
      {"index_select",
       {{5, 3}},
       [](V x) { return x[0].index_select(0, tensor(std::vector<int64_t>{4, 0, 4})) * 2; }},
      {"gather",
       {{3, 4}},
       [](V x) {
         return x[0].gather(1, tensor(std::vector<int64_t>{0, 3, 3, 1, 2, 2}, {3, 2})) * 2;
       }},
      {"sort", {{3, 5}}, [](V x) { return sort(x[0], 1).values * 2; }},
      {"sort descending dim 0", {{3, 5}}, [](V x) { return x[0].sort(0, true).values * 2; }},
      {"topk", {{3, 5}}, [](V x) { return x[0].topk(2).values * 2; }, -2, 2, true, true},
      {"topk smallest dim 0", {{4, 3}}, [](V x) { return topk(x[0], 3, 0, false).values; }},
      {"cumsum", {{3, 5}}, [](V x) { return cumsum(x[0], 1); }},
      {"cumsum dim 0", {{4, 2, 3}}, [](V x) { return x[0].cumsum(0); }},
      {"cumprod", {{3, 5}}, [](V x) { return cumprod(x[0], 1); }},
      {"cumprod dim -2", {{4, 3}}, [](V x) { return x[0].cumprod(-2); }},
      {"flip", {{3, 4}}, [](V x) { return x[0].flip({0, 1}) * 2; }},
      {"roll", {{3, 4}}, [](V x) { return x[0].roll({1, -3}, {0, 1}) * 2; }},
      {"repeat", {{2, 3}}, [](V x) { return x[0].repeat({2, 1, 3}); }},
      {"tile", {{2, 3}}, [](V x) { return x[0].tile({2}); }},
      {"tril triu", {{2, 4, 4}}, [](V x) { return x[0].tril(1) + x[0].triu(-1) * 2; }},
      {"masked_fill",
       {{3, 4}, {}},
       [](V x) { return masked_fill(x[0], x[0] > 0.5, x[1]) * 2 + x[0].masked_fill(x[0] < 0, 3); }},
      {"masked_select", {{3, 4}}, [](V x) { return masked_select(x[0], x[0] > 0) * 2; }},
      {"index_add",
       {{5, 3}, {3, 3}},
       [](V x) { return index_add(x[0], 0, tensor(std::vector<int64_t>{4, 0, 4}), x[1], 2); },
       -2,
       2,
       true,
       false},
      {"scatter_add",
       {{3, 4}, {3, 2}},
       [](V x) {
         return scatter_add(x[0], 1, tensor(std::vector<int64_t>{0, 3, 3, 1, 2, 2}, {3, 2}), x[1]);
       },
       -2,
       2,
       true,
       false},
      {"pad constant", {{2, 3, 4}}, [](V x) { return F::pad(x[0], {1, -1, 2, 0}, {.value = 3}); }},
      {"pad reflect",
       {{1, 3, 4}},
       [](V x) { return F::pad(x[0], {2, 1}, {.mode = F::PadMode::Reflect}); }},
      {"pad replicate",
       {{1, 2, 3, 4}},
       [](V x) { return F::pad(x[0], {1, 2, 2, 1}, {.mode = F::PadMode::Replicate}); }},
      {"pad circular",
       {{1, 2, 3, 4}},
       [](V x) { return F::pad(x[0], {1, 2, 2, 0}, {.mode = F::PadMode::Circular}); }},
      {"interpolate nearest",
       {{1, 2, 3, 4}},
       [](V x) { return F::interpolate(x[0], {.scale_factor = {1.5}}); }},
      {"interpolate bilinear",
       {{1, 2, 3, 4}},
       [](V x) { return F::interpolate(x[0], {.size = {5, 3}, .mode = "bilinear"}); },
       -2,
       2,
       true,
       false},
      {"interpolate linear align_corners",
       {{2, 2, 5}},
       [](V x) {
         return F::interpolate(x[0], {.size = {8}, .mode = "linear", .align_corners = true});
       },
       -2,
       2,
       true,
       false},
      {"scatter",
       {{3, 4}, {3, 2}},
       [](V x) {
         return scatter(x[0], 1, tensor(std::vector<int64_t>{0, 3, 2, 1, 2, 0}, {3, 2}), x[1]);
       },
       -2,
       2,
       true,
       false},
      {"index_put",
       {{4, 3}, {2, 3}},
       [](V x) { return index_put(x[0], {tensor(std::vector<int64_t>{3, 0})}, x[1]) * 2; },
       -2,
       2,
       true,
       false},
      {"index_put accumulate",
       {{4, 3}, {3}},
       [](V x) {
         return index_put(x[0], {tensor(std::vector<int64_t>{1, 1, 2})},
                          x[1].unsqueeze(1).expand({3, 3}), true);
       },
       -2,
       2,
       true,
       false},
      {"linear", {{5, 4}, {3, 4}, {3}}, [](V x) { return F::linear(x[0], x[1], x[2]); }},
      {"linear 3d input",
       {{2, 5, 4}, {3, 4}, {3}},
       [](V x) { return F::linear(x[0], x[1], x[2]); }},
      {"matmul batched by a matrix",
       {{2, 2, 3, 4}, {4, 5}},
       [](V x) { return matmul(x[0], x[1]); }},
      {"conv2d",
       {{2, 2, 5, 5}, {3, 2, 3, 3}, {3}},
       [](V x) { return F::conv2d(x[0], x[1], x[2], {.stride = 2, .padding = 1}); },
       -2,
       2,
       false,
       false},
      {"conv2d groups dilation",
       {{1, 4, 6, 6}, {4, 2, 2, 2}},
       [](V x) { return F::conv2d(x[0], x[1], {}, {.padding = 1, .dilation = 2, .groups = 2}); },
       -2,
       2,
       false,
       false},
      {"conv_transpose2d output_padding past the stride",
       {{1, 2, 3, 3}, {2, 2, 3, 3}},
       [](V x) {
         return F::conv_transpose2d(x[0], x[1], {}, {.output_padding = 1, .dilation = 2});
       },
       -2,
       2,
       false,
       false},
      {"max_pool2d", {{1, 2, 5, 5}}, [](V x) { return F::max_pool2d(x[0], 2, {.padding = 1}); }},
      {"avg_pool2d",
       {{1, 2, 5, 5}},
       [](V x) { return F::avg_pool2d(x[0], 3, {.stride = 2, .padding = 1}); }},
      {"adaptive_avg_pool2d",
       {{1, 2, 5, 7}},
       [](V x) { return F::adaptive_avg_pool2d(x[0], {2, 3}); }},
      {"batch_norm train",
       {{4, 3, 2, 2}, {3}, {3}},
       [](V x) { return F::batch_norm(x[0], {}, {}, x[1], x[2], {.training = true}); }},
      {"batch_norm eval",
       {{4, 3}, {3}, {3}},
       [](V x) {
         return F::batch_norm(x[0], full({3}, 0.2, kFloat64), full({3}, 1.5, kFloat64), x[1], x[2]);
       },
       -2,
       2,
       true,
       false},
      {"layer_norm",
       {{3, 2, 4}, {2, 4}, {2, 4}},
       [](V x) { return F::layer_norm(x[0], {2, 4}, x[1], x[2]); },
       -2,
       2,
       true,
       false},
      {"layer_norm weight only",
       {{5, 6}, {6}},
       [](V x) { return F::layer_norm(x[0], {6}, x[1]); },
       -2,
       2,
       true,
       false},
      {"nll_loss",
       {{4, 3}},
       [](V x) {
         return F::nll_loss(log_softmax(x[0], 1), tensor(std::vector<int64_t>{0, 2, 1, 2}));
       },
       -2,
       2,
       true,
       false},
      {"cross_entropy smoothing",
       {{4, 3}},
       [](V x) {
         return F::cross_entropy(x[0], tensor(std::vector<int64_t>{0, 2, 1, 2}),
                                 {.label_smoothing = 0.1});
       },
       -2,
       2,
       true,
       false},
      {"mse_loss", {{3, 4}, {3, 4}}, [](V x) { return F::mse_loss(x[0], x[1]); }},
      {"bce_with_logits",
       {{3, 4}, {3, 4}},
       [](V x) { return F::binary_cross_entropy_with_logits(x[0], sigmoid(x[1])); }},
      {"embedding",
       {{5, 3}},
       [](V x) {
         return F::embedding(tensor(std::vector<int64_t>{1, 4, 1, 0}, {2, 2}), x[0]) * 2;
       }},
  };
}

}  // namespace

TEST_CASE("gradcheck: every differentiable op", "[autograd][gradcheck]") {
  for (const Case& c : cases()) {
    DYNAMIC_SECTION(c.name) { run(c, 1234); }
  }
}

TEST_CASE("gradgradcheck: second derivatives of every differentiable op", "[autograd][gradcheck]") {
  // The listed shapes, contiguous inputs: the first-derivative rows' own variants are covered
  // above; here every backward formula must itself be differentiable (create_graph).
  for (const Case& c : cases()) {
    DYNAMIC_SECTION(c.name) { run_gradgrad(c, 4321); }
  }
}

TEST_CASE("gradgradcheck through the layers' backward kernels", "[autograd][gradcheck]") {
  using V = const std::vector<Tensor>&;
  const Tensor target = tensor(std::vector<int64_t>{0, 2, -100, 1}), w = tensor({0.5, 2.0, 1.5});
  std::vector<Case> cs = {
      {"conv2d bias stride",
       {{2, 2, 5, 5}, {3, 2, 3, 3}, {3}},
       [](V x) { return F::conv2d(x[0], x[1], x[2], {.stride = 2, .padding = 1}); }},
      {"conv2d unbatched groups dilation",
       {{4, 6, 6}, {4, 2, 2, 2}},
       [](V x) { return F::conv2d(x[0], x[1], {}, {.padding = 1, .dilation = 2, .groups = 2}); }},
      {"conv1d",
       {{2, 3, 7}, {2, 3, 3}, {2}},
       [](V x) { return F::conv1d(x[0], x[1], x[2], {.stride = 2}); }},
      {"conv_transpose2d",
       {{1, 2, 3, 3}, {2, 3, 2, 2}, {3}},
       [](V x) {
         return F::conv_transpose2d(x[0], x[1], x[2], {.stride = 2, .output_padding = 1});
       }},
      {"max_pool2d ceil",
       {{2, 2, 5, 5}},
       [](V x) { return F::max_pool2d(x[0], 2, {.ceil_mode = true}); }},
      {"avg_pool2d no pad count",
       {{1, 2, 5, 5}},
       [](V x) {
         return F::avg_pool2d(x[0], 3, {.stride = 2, .padding = 1, .count_include_pad = false});
       }},
      {"adaptive_avg_pool2d",
       {{1, 2, 5, 7}},
       [](V x) { return F::adaptive_avg_pool2d(x[0], {3, 2}); }},
      {"nll_loss weight ignore_index",
       {{4, 3}},
       [target, w](V x) {
         return F::nll_loss(log_softmax(x[0], 1), target, {.weight = w.to(kFloat64)});
       }},
      {"nll_loss none",
       {{4, 3}},
       [target](V x) { return F::nll_loss(x[0], target, {.reduction = Reduction::None}) * 3; }},
      {"cross_entropy smoothing",
       {{4, 3}},
       [target](V x) { return F::cross_entropy(x[0], target, {.label_smoothing = 0.2}); }},
      {"group_norm", {{2, 4, 3}, {4}, {4}}, [](V x) { return F::group_norm(x[0], 2, x[1], x[2]); }},
      {"scaled_dot_product_attention causal",
       {{2, 3, 4}, {2, 3, 4}, {2, 3, 2}},
       [](V x) { return F::scaled_dot_product_attention(x[0], x[1], x[2], {}, 0.0, true); }},
      {"dropout (a fixed mask)",
       {{3, 4}},
       [](V x) {
         manual_seed(5);
         return F::dropout(x[0] * x[0], {.p = 0.3});
       }},
      {"losses",
       {{3, 4}, {3, 4}},
       [](V x) {
         Tensor p = sigmoid(x[1]);
         return stack({F::l1_loss(x[0] * x[1], p), F::smooth_l1_loss(x[0] * x[1], p),
                       F::huber_loss(x[0] * x[1], p, {.delta = 0.5}),
                       F::kl_div(log_softmax(x[0], 1), softmax(x[1], 1)),
                       F::binary_cross_entropy(sigmoid(x[0]), p)});
       }},
  };
  for (const Case& c : cs) {
    DYNAMIC_SECTION(c.name) { run_gradgrad(c, 77); }
  }
}

TEST_CASE("gradgradcheck through LSTM and GRU", "[autograd][gradcheck][rnn]") {
  manual_seed(11);
  nn::LSTM lstm(2, 3, {.bidirectional = true});
  nn::GRU gru(2, 2);
  lstm.to(kFloat64);
  gru.to(kFloat64);
  Tensor x = input({3, 2, 2}, 12, -1, 1).requires_grad_();
  auto rl = gradgradcheck(
      [&](const std::vector<Tensor>& in) { return std::get<0>(lstm.forward(in[0])); }, {x});
  INFO("LSTM: " << rl.report);
  CHECK(rl.ok);
  auto rg = gradgradcheck(
      [&](const std::vector<Tensor>& in) { return std::get<0>(gru.forward(in[0])); }, {x});
  INFO("GRU: " << rg.report);
  CHECK(rg.ok);
}

TEST_CASE("gradgradcheck catches a backward that is not differentiable as written",
          "[autograd][gradcheck]") {
  // d/dx of 3x^2 is 6x; this backward returns g * 6x computed from a detached x, so the
  // second derivative it records is zero: gradcheck passes, gradgradcheck must not.
  struct Detached : autograd::Function<Detached> {
    static Tensor forward(autograd::Context& ctx, const Tensor& x) {
      ctx.save_for_backward({x});
      return x * x * 3;
    }
    static TensorList backward(autograd::Context& ctx, const TensorList& g) {
      return {g[0] * ctx.saved()[0].detach() * 6};
    }
  };
  Tensor x = tensor({1.0, -2.0, 0.5}, kFloat64).requires_grad_();
  auto f = [](const std::vector<Tensor>& in) { return Detached::apply(in[0]); };
  CHECK(gradcheck(f, {x}).ok);
  auto r = gradgradcheck(f, {x});
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.report, Catch::Contains("gradgradcheck"));
  CHECK_THROWS_AS(gradgradcheck(f, {x}, {}, {.raise = true}), Error);
}

TEST_CASE("gradcheck reports the worst element when a gradient is wrong", "[autograd][gradcheck]") {
  struct Wrong : autograd::Function<Wrong> {
    static Tensor forward(autograd::Context&, const Tensor& x) { return x * x; }
    static TensorList backward(autograd::Context&, const TensorList& g) { return {g[0] * 3}; }
  };
  Tensor x = tensor({1.0, 2.0}, kFloat64).requires_grad_();
  auto r = gradcheck([](const std::vector<Tensor>& in) { return Wrong::apply(in[0]); }, {x});
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.report, Catch::Contains("analytical 3") && Catch::Contains("numerical 4"));
}

TEST_CASE("create_graph: second derivatives of reductions and matmul", "[autograd][gradcheck]") {
  // gradcheck of a gradient: d/dx of (d/dx f) checked by finite differences of the first.
  auto second = [](Fn f) {
    return [f](const std::vector<Tensor>& in) {
      Tensor y = f(in);
      auto g = autograd::grad({y}, {in[0]}, {}, std::nullopt, true);
      return g[0];
    };
  };
  std::vector<Case> cs = {
      {"sum of tanh^2",
       {{3, 2}},
       [](const std::vector<Tensor>& x) { return (tanh(x[0]) * tanh(x[0])).sum(); }},
      {"mean of softmax*x",
       {{3, 4}},
       [](const std::vector<Tensor>& x) { return (softmax(x[0], 1) * x[0]).mean(); }},
      {"matmul squared",
       {{3, 3}},
       [](const std::vector<Tensor>& x) {
         Tensor m = matmul(x[0], x[0]);
         return (m * m).sum();
       }},
      {"logsumexp",
       {{2, 4}},
       [](const std::vector<Tensor>& x) { return logsumexp(x[0] * 2, {1}).sum(); }},
  };
  for (const Case& c : cs) {
    DYNAMIC_SECTION(c.name) { run(Case{c.name, c.shapes, second(c.fn), c.lo, c.hi, false}, 99); }
  }
}

TEST_CASE("gradients flow back through dtype conversions in the input's dtype", "[autograd]") {
  Tensor x = tensor({1.0, 2.0}, kFloat64).requires_grad_();
  Tensor y = (x.to(kFloat32) * 3).sum();
  y.backward();
  REQUIRE(x.grad().dtype() == kFloat64);
  test::require_close(x.grad(), {2}, {3, 3}, "d 3x through float32");
}

TEST_CASE("anomaly mode names the forward op whose backward made a NaN", "[autograd]") {
  Tensor x = tensor({0.0, 1.0}, kFloat64).requires_grad_();
  autograd::DetectAnomalyGuard anomaly;
  Tensor y = sqrt(x).sum();  // d sqrt at 0 = inf
  CHECK_THROWS_WITH(y.backward(),
                    Catch::Contains("SqrtBackward0") && Catch::Contains("nan or inf"));
}
