// scaled_dot_product_attention, MultiheadAttention and TransformerEncoderLayer: values against a
// double-precision reference written out here and against identities (identity projections,
// padded keys that cannot matter), gradcheck in float64, PyTorch's state_dict names, errors.
#include <cmath>
#include <functional>

#include "support/reference.hpp"

using namespace ember;
namespace F = ember::nn::functional;

namespace {

// softmax(q k^T * scale + bias) v for q [B, L, E], k [B, S, E], v [B, S, D]; bias(b, i, j) is
// -inf for a masked position.
std::vector<double> attention_ref(const Tensor& q, const Tensor& k, const Tensor& v,
                                  const std::function<double(int64_t, int64_t, int64_t)>& bias,
                                  double scale) {
  const int64_t B = q.size(0), L = q.size(1), E = q.size(2), S = k.size(1), D = v.size(2);
  std::vector<double> out;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < L; ++i) {
      std::vector<double> s(S);
      double mx = -INFINITY;
      for (int64_t j = 0; j < S; ++j) {
        double dot = 0;
        for (int64_t e = 0; e < E; ++e) dot += test::at(q, {b, i, e}) * test::at(k, {b, j, e});
        s[j] = dot * scale + bias(b, i, j);
        mx = std::max(mx, s[j]);
      }
      double z = 0;
      for (double& x : s) z += (x = std::exp(x - mx));
      for (int64_t d = 0; d < D; ++d) {
        double acc = 0;
        for (int64_t j = 0; j < S; ++j) acc += s[j] / z * test::at(v, {b, j, d});
        out.push_back(acc);
      }
    }
  return out;
}

auto no_bias = [](int64_t, int64_t, int64_t) { return 0.0; };

}  // namespace

TEST_CASE("scaled_dot_product_attention matches the written-out softmax(q k^T / sqrt(E)) v",
          "[nn][attention]") {
  Tensor q = test::seeded_randn({2, 4, 3}, 1, kFloat64);
  Tensor k = test::seeded_randn({2, 5, 3}, 2, kFloat64);
  Tensor v = test::seeded_randn({2, 5, 6}, 3, kFloat64);
  double sc = 1 / std::sqrt(3.0);
  test::require_close(F::scaled_dot_product_attention(q, k, v), {2, 4, 6},
                      attention_ref(q, k, v, no_bias, sc), "plain", 1e-10, 1e-12);
  test::require_close(F::scaled_dot_product_attention(q, k, v, {}, 0.0, false, 0.7), {2, 4, 6},
                      attention_ref(q, k, v, no_bias, 0.7), "scale 0.7", 1e-10, 1e-12);
  // causal: key j visible to query i when j <= i (the top-left triangle for L < S)
  test::require_close(
      F::scaled_dot_product_attention(q, k, v, {}, 0.0, true), {2, 4, 6},
      attention_ref(
          q, k, v, [](int64_t, int64_t i, int64_t j) { return j <= i ? 0.0 : -INFINITY; }, sc),
      "causal", 1e-10, 1e-12);
  // a bool mask keeps where true (broadcast over the batch); a float mask is added
  Tensor keep =
      tensor({1, 0, 1, 1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 0}, kInt64).view({4, 5}) !=
      0;
  test::require_close(F::scaled_dot_product_attention(q, k, v, keep), {2, 4, 6},
                      attention_ref(
                          q, k, v,
                          [&](int64_t, int64_t i, int64_t j) {
                            return test::at(keep, {i, j}) != 0 ? 0.0 : -INFINITY;
                          },
                          sc),
                      "bool mask", 1e-10, 1e-12);
  Tensor add = test::seeded_randn({2, 1, 5}, 4, kFloat64);
  test::require_close(
      F::scaled_dot_product_attention(q, k, v, add), {2, 4, 6},
      attention_ref(
          q, k, v, [&](int64_t b, int64_t, int64_t j) { return test::at(add, {b, 0, j}); }, sc),
      "float mask", 1e-10, 1e-12);
  // float32 agrees with the float64 reference to float rounding
  test::require_close(
      F::scaled_dot_product_attention(q.to(kFloat32), k.to(kFloat32), v.to(kFloat32), {}, 0.0,
                                      true),
      {2, 4, 6},
      attention_ref(
          q, k, v, [](int64_t, int64_t i, int64_t j) { return j <= i ? 0.0 : -INFINITY; }, sc),
      "float32 causal", 1e-4, 1e-5);
}

TEST_CASE("scaled_dot_product_attention: 4-d heads, dropout and the causal mask helper",
          "[nn][attention]") {
  Tensor q = test::seeded_randn({2, 3, 4, 8}, 5), k = test::seeded_randn({2, 3, 4, 8}, 6),
         v = test::seeded_randn({2, 3, 4, 8}, 7);
  Tensor causal = F::generate_square_subsequent_mask(4);
  CHECK(causal.sizes() == Dims{4, 4});
  CHECK(test::at(causal, {1, 1}) == 0.0);
  CHECK(test::at(causal, {1, 0}) == 0.0);
  CHECK(std::isinf(test::at(causal, {1, 2})));
  CHECK(allclose(F::scaled_dot_product_attention(q, k, v, causal),
                 F::scaled_dot_product_attention(q, k, v, {}, 0.0, true), 1e-5, 1e-6));
  // the first query sees only the first key: its output is v's first row
  Tensor out = F::scaled_dot_product_attention(q, k, v, {}, 0.0, true);
  CHECK(allclose(out.select(2, 0), v.select(2, 0), 1e-5, 1e-6));
  // dropout p = 1 drops every weight; p = 0.5 keeps a seeded subset, scaled by 2
  CHECK(F::scaled_dot_product_attention(q, k, v, {}, 1.0).abs().sum().item<float>() == 0.0f);
  manual_seed(3);
  Tensor a = F::scaled_dot_product_attention(q, k, v, {}, 0.5);
  manual_seed(3);
  Tensor b = F::scaled_dot_product_attention(q, k, v, {}, 0.5);
  CHECK(equal(a, b));
  CHECK_FALSE(allclose(a, F::scaled_dot_product_attention(q, k, v)));
}

TEST_CASE("scaled_dot_product_attention passes gradcheck", "[nn][attention][gradcheck]") {
  Tensor q = test::seeded_randn({2, 3, 4}, 11, kFloat64).requires_grad_();
  Tensor k = test::seeded_randn({2, 5, 4}, 12, kFloat64).requires_grad_();
  Tensor v = test::seeded_randn({2, 5, 2}, 13, kFloat64).requires_grad_();
  Tensor m = test::seeded_randn({3, 5}, 14, kFloat64).requires_grad_();
  for (bool causal : {false, true}) {
    auto r = gradcheck(
        [&](const std::vector<Tensor>& in) {
          return F::scaled_dot_product_attention(in[0], in[1], in[2], {}, 0.0, causal);
        },
        {q, k, v});
    INFO("causal " << causal << ": " << r.report);
    CHECK(r.ok);
  }
  auto r = gradcheck(
      [&](const std::vector<Tensor>& in) {
        return F::scaled_dot_product_attention(in[0], in[1], in[2], in[3]);
      },
      {q, k, v, m});
  INFO("float mask: " << r.report);
  CHECK(r.ok);
}

TEST_CASE("scaled_dot_product_attention errors", "[nn][attention][error]") {
  Tensor q = randn({2, 3, 4}), k = randn({2, 5, 4}), v = randn({2, 5, 2});
  CHECK_THROWS_WITH(F::scaled_dot_product_attention(q, randn({2, 5, 3}), v),
                    Catch::Contains("query's embedding size (4) must match key's (3)"));
  CHECK_THROWS_WITH(F::scaled_dot_product_attention(q, k, randn({2, 6, 2})),
                    Catch::Contains("key's sequence length (5) must match value's (6)"));
  CHECK_THROWS_WITH(F::scaled_dot_product_attention(q, k.to(kFloat64), v),
                    Catch::Contains("to have the same dtype"));
  CHECK_THROWS_WITH(F::scaled_dot_product_attention(q, k, v, ones({3, 5}) > 0, 0.0, true),
                    Catch::Contains("explicit attn_mask should not be set when is_causal=True"));
  CHECK_THROWS_WITH(F::scaled_dot_product_attention(q, k, v, ones({4, 5}) > 0),
                    Catch::Contains("attn_mask of shape [4, 5] does not broadcast"));
  CHECK_THROWS_WITH(F::scaled_dot_product_attention(q, k, v, {}, 1.5),
                    Catch::Contains("between 0 and 1, but got 1.5"));
  CHECK_THROWS_WITH(F::scaled_dot_product_attention(q, k, v, ones({3, 5}, kInt64)),
                    Catch::Contains("expected attn_mask dtype to be bool"));
}

// ---- MultiheadAttention ----

TEST_CASE("MultiheadAttention holds PyTorch's parameters and initialisation", "[nn][attention]") {
  manual_seed(0);
  nn::MultiheadAttention mha(16, 4);
  std::vector<std::string> names;
  for (auto& [name, t] : mha.state_dict()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"in_proj_weight", "in_proj_bias", "out_proj.weight",
                                          "out_proj.bias"});
  CHECK(mha.in_proj_weight.sizes() == Dims{48, 16});
  CHECK(mha.in_proj_bias.abs().sum().item<float>() == 0.0f);
  CHECK(mha.out_proj.bias.abs().sum().item<float>() == 0.0f);
  double bound = std::sqrt(6.0 / (16 + 48));  // xavier_uniform_ over [48, 16]
  CHECK(mha.in_proj_weight.abs().max().item<float>() <= bound);
  CHECK(mha.in_proj_weight.abs().max().item<float>() > 0.9 * bound);
  nn::MultiheadAttention nobias(8, 2, {.bias = false});
  CHECK(nobias.state_dict().size() == 2);
  CHECK_THROWS_WITH(nn::MultiheadAttention(10, 3),
                    Catch::Contains("embed_dim (10) must be divisible by num_heads (3)"));
}

TEST_CASE("MultiheadAttention with identity projections is attention over the input",
          "[nn][attention]") {
  const int64_t E = 4;
  nn::MultiheadAttention mha(E, 1);
  mha.to(kFloat64);
  {
    NoGradGuard g;
    mha.in_proj_weight.copy_(cat({eye(E), eye(E), eye(E)}, 0));
    mha.out_proj.weight.copy_(eye(E));
  }
  Tensor x = test::seeded_randn({5, 2, E}, 21, kFloat64);  // [L, N, E]
  auto [out, w] = mha(x, x, x);
  Tensor xb = x.transpose(0, 1);  // [N, L, E]
  double sc = 1 / std::sqrt(double(E));
  test::require_close(out.transpose(0, 1), {2, 5, E}, attention_ref(xb, xb, xb, no_bias, sc),
                      "output", 1e-10, 1e-12);
  // the weights are softmax(x x^T / sqrt(E)): attention with v = I gives them back
  Tensor id = eye(5, std::nullopt, kFloat64).expand({2, 5, 5});
  test::require_close(w, {2, 5, 5}, attention_ref(xb, xb, id, no_bias, sc), "weights", 1e-10,
                      1e-12);
  // batch_first and unbatched inputs give the same numbers
  nn::MultiheadAttention bf(E, 1, {.batch_first = true});
  bf.to(kFloat64);
  bf.load_state_dict(mha.state_dict());
  auto [out_bf, w_bf] = bf(xb, xb, xb);
  CHECK(allclose(out_bf, out.transpose(0, 1), 1e-12, 1e-12));
  Tensor x0 = x.select(1, 0);
  auto [out0, w0] = mha(x0, x0, x0);
  CHECK(out0.sizes() == Dims{5, E});
  CHECK(allclose(out0, out.select(1, 0), 1e-12, 1e-12));
  CHECK(allclose(w0, w.select(0, 0), 1e-12, 1e-12));
}

TEST_CASE("MultiheadAttention splits heads as PyTorch: head h sees features h*hd..(h+1)*hd",
          "[nn][attention]") {
  const int64_t E = 6, H = 3, hd = 2, L = 4, S = 5, N = 2;
  manual_seed(1);
  nn::MultiheadAttention mha(E, H, {.batch_first = true});
  mha.to(kFloat64);
  {
    NoGradGuard g;
    mha.in_proj_bias.copy_(test::seeded_randn({3 * E}, 31, kFloat64));
    mha.out_proj.bias.copy_(test::seeded_randn({E}, 32, kFloat64));
  }
  Tensor q = test::seeded_randn({N, L, E}, 33, kFloat64);
  Tensor kv = test::seeded_randn({N, S, E}, 34, kFloat64);
  Tensor pad = tensor({0, 0, 0, 1, 1, 0, 0, 0, 0, 1}, kInt64).view({N, S}) != 0;
  auto [out, w] = mha(q, kv, kv, {.key_padding_mask = pad, .average_attn_weights = false});
  // Reference: project with the weight's row blocks, attend per head (padded keys at -inf),
  // concatenate the heads, out_proj.
  std::vector<Tensor> W = mha.in_proj_weight.chunk(3), B = mha.in_proj_bias.chunk(3);
  Tensor qp = F::linear(q, W[0], B[0]), kp = F::linear(kv, W[1], B[1]),
         vp = F::linear(kv, W[2], B[2]);
  std::vector<double> heads(N * L * E);
  for (int64_t h = 0; h < H; ++h) {
    std::vector<double> r = attention_ref(
        qp.narrow(2, h * hd, hd), kp.narrow(2, h * hd, hd), vp.narrow(2, h * hd, hd),
        [&](int64_t b, int64_t, int64_t j) { return test::at(pad, {b, j}) != 0 ? -INFINITY : 0.0; },
        1 / std::sqrt(double(hd)));
    for (int64_t b = 0; b < N; ++b)
      for (int64_t i = 0; i < L; ++i)
        for (int64_t d = 0; d < hd; ++d)
          heads[(b * L + i) * E + h * hd + d] = r[(b * L + i) * hd + d];
  }
  Tensor expect = F::linear(tensor(heads, {N, L, E}), mha.out_proj.weight, mha.out_proj.bias);
  test::require_close(out, {N, L, E}, test::values(expect), "output", 1e-10, 1e-12);
  CHECK(w.sizes() == Dims{N, H, L, S});
  CHECK(test::at(w, {0, 1, 2, 3}) == 0.0);  // a padded key has no weight
  CHECK(test::at(w, {1, 2, 0, 4}) == 0.0);
  // need_weights = false takes the fused path and gives the same output
  auto [out2, none] = mha.forward(q, kv, kv, {.key_padding_mask = pad, .need_weights = false});
  CHECK_FALSE(none.defined());
  CHECK(allclose(out2, out, 1e-12, 1e-12));
  // a float key_padding_mask of -inf is the bool one; changing a padded value changes nothing
  Tensor fpad = where(pad, scalar_tensor(-INFINITY, kFloat64), scalar_tensor(0.0, kFloat64));
  auto [out3, w3] = mha.forward(q, kv, kv, {.key_padding_mask = fpad});
  CHECK(allclose(out3, out, 1e-12, 1e-12));
  Tensor kv2 = kv.clone();
  {
    NoGradGuard g;
    kv2.select(0, 0).select(0, 3).fill_(100.0);
  }
  auto [out4, w4] = mha.forward(q, kv2, kv2, {.key_padding_mask = pad});
  CHECK(allclose(out4, out, 1e-12, 1e-12));
  // averaged weights are the heads' mean and rows sum to 1
  auto [out5, wavg] = mha.forward(q, kv, kv, {.key_padding_mask = pad});
  CHECK(allclose(wavg, w.mean({1}), 1e-12, 1e-12));
  CHECK(allclose(wavg.sum({-1}), ones({N, L}, kFloat64), 1e-12, 1e-12));
}

TEST_CASE("MultiheadAttention: causal attn_mask, 3-d masks and gradcheck",
          "[nn][attention][gradcheck]") {
  manual_seed(2);
  nn::MultiheadAttention mha(4, 2);
  mha.to(kFloat64);
  Tensor x = test::seeded_randn({3, 2, 4}, 41, kFloat64);
  Tensor causal = F::generate_square_subsequent_mask(3, kFloat64);
  auto [a, wa] = mha.forward(x, x, x, {.need_weights = false, .attn_mask = causal});
  auto [b, wb] =
      mha.forward(x, x, x, {.need_weights = false, .attn_mask = causal, .is_causal = true});
  Tensor bool_mask = causal != 0;  // true = not allowed
  auto [c, wc] = mha.forward(x, x, x, {.attn_mask = bool_mask});
  Tensor per_head = causal.unsqueeze(0).expand({4, 3, 3}).contiguous();
  auto [d, wd] = mha.forward(x, x, x, {.attn_mask = per_head});
  CHECK(allclose(a, b, 1e-12, 1e-12));
  CHECK(allclose(a, c, 1e-12, 1e-12));
  CHECK(allclose(a, d, 1e-12, 1e-12));
  CHECK(test::at(wc, {0, 0, 1}) == 0.0);
  // the first query attends to itself alone
  Tensor v0 =
      F::linear(x.select(0, 0), mha.in_proj_weight.chunk(3)[2], mha.in_proj_bias.chunk(3)[2]);
  CHECK(allclose(a.select(0, 0), mha.out_proj(v0), 1e-12, 1e-12));

  auto r = gradcheck(
      [&](const std::vector<Tensor>& in) {
        auto [o, w] = mha.forward(in[0], in[0], in[0], {.attn_mask = causal});
        return o;
      },
      {x.clone().requires_grad_()});
  INFO(r.report);
  CHECK(r.ok);
  // parameters get gradients
  auto [o, w] = mha(x, x, x);
  o.sum().backward();
  for (auto& [name, p] : mha.named_parameters()) {
    INFO(name);
    CHECK(p.grad().defined());
  }
}

TEST_CASE("MultiheadAttention errors", "[nn][attention][error]") {
  nn::MultiheadAttention mha(4, 2);
  Tensor x = randn({3, 2, 4});
  CHECK_THROWS_WITH(mha(randn({3, 2, 5}), x, x),
                    Catch::Contains("was expecting embedding dimension of 4, but got 5"));
  CHECK_THROWS_WITH(mha(x, x, randn({4, 2, 4})),
                    Catch::Contains("key shape [3, 2, 4] does not match value shape [4, 2, 4]"));
  CHECK_THROWS_WITH(mha(randn({1, 3, 2, 4}), x, x),
                    Catch::Contains("query should be unbatched 2D or batched 3D tensor"));
  CHECK_THROWS_WITH(
      mha.forward(x, x, x, {.attn_mask = zeros({3, 4})}),
      Catch::Contains("the shape of the 2D attn_mask is [3, 4], but should be [3, 3]"));
  CHECK_THROWS_WITH(
      mha.forward(x, x, x, {.attn_mask = zeros({2, 3, 3})}),
      Catch::Contains("the shape of the 3D attn_mask is [2, 3, 3], but should be [4, 3, 3]"));
  CHECK_THROWS_WITH(mha.forward(x, x, x, {.key_padding_mask = zeros({3, 2}) > 0}),
                    Catch::Contains("expecting key_padding_mask shape of [2, 3], but got [3, 2]"));
  CHECK_THROWS_WITH(mha.forward(x, x, x, {.is_causal = true}),
                    Catch::Contains("need attn_mask if specifying the is_causal hint"));
}

// ---- TransformerEncoderLayer ----

TEST_CASE("TransformerEncoderLayer: PyTorch's names, post-norm and pre-norm compositions",
          "[nn][attention]") {
  manual_seed(3);
  nn::TransformerEncoderLayer post(8, 2, {.dim_feedforward = 16, .dropout = 0.0});
  std::vector<std::string> names;
  for (auto& [name, t] : post.state_dict()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"self_attn.in_proj_weight", "self_attn.in_proj_bias",
                                          "self_attn.out_proj.weight", "self_attn.out_proj.bias",
                                          "linear1.weight", "linear1.bias", "linear2.weight",
                                          "linear2.bias", "norm1.weight", "norm1.bias",
                                          "norm2.weight", "norm2.bias"});
  post.to(kFloat64);
  nn::TransformerEncoderLayer pre(
      8, 2, {.dim_feedforward = 16, .dropout = 0.0, .activation = "gelu", .norm_first = true});
  pre.to(kFloat64);
  pre.load_state_dict(post.state_dict());
  Tensor x = test::seeded_randn({5, 3, 8}, 51, kFloat64);
  Tensor mask = F::generate_square_subsequent_mask(5, kFloat64);
  auto sa = [&](nn::TransformerEncoderLayer& m, const Tensor& in) {
    return std::get<0>(m.self_attn.forward(in, in, in, {.attn_mask = mask}));
  };
  Tensor h = post.norm1(x + sa(post, x));
  Tensor expect_post = post.norm2(h + post.linear2(relu(post.linear1(h))));
  CHECK(allclose(post(x, mask), expect_post, 1e-12, 1e-12));
  Tensor g = x + sa(pre, pre.norm1(x));
  Tensor expect_pre = g + pre.linear2(gelu(pre.linear1(pre.norm2(g))));
  CHECK(allclose(pre(x, mask), expect_pre, 1e-12, 1e-12));
  CHECK(allclose(pre(x, mask, {}, true), expect_pre, 1e-12, 1e-12));
  CHECK_FALSE(allclose(pre(x), expect_pre, 1e-6, 1e-6));  // the mask matters

  Tensor mask3 = F::generate_square_subsequent_mask(3, kFloat64);
  auto r = gradcheck([&](const std::vector<Tensor>& in) { return pre(in[0], mask3); },
                     {test::seeded_randn({3, 2, 8}, 52, kFloat64).requires_grad_()});
  INFO(r.report);
  CHECK(r.ok);
  CHECK_THROWS_WITH(nn::TransformerEncoderLayer(8, 2, {.activation = "tanh"}),
                    Catch::Contains("activation should be relu/gelu, not tanh"));
}

TEST_CASE("TransformerEncoderLayer dropout acts in training only", "[nn][attention]") {
  manual_seed(4);
  nn::TransformerEncoderLayer layer(8, 2,
                                    {.dim_feedforward = 16, .dropout = 0.5, .batch_first = true});
  Tensor x = randn({2, 5, 8});
  layer.eval();
  Tensor a = layer(x), b = layer(x);
  CHECK(equal(a, b));
  layer.train();
  CHECK_FALSE(allclose(layer(x), a));
}
