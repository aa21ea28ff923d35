// scaled_dot_product_attention, MultiheadAttention and TransformerEncoderLayer: values against a
// double-precision reference written out here and against identities (identity projections,
// padded keys that cannot matter), MultiheadAttention's kdim/vdim/add_bias_kv/add_zero_attn
// against values printed by PyTorch 1.13, gradcheck in float64, PyTorch's state_dict names,
// errors.
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

// ---- MultiheadAttention's kdim, vdim, add_bias_kv and add_zero_attn against PyTorch 1.13 ----

namespace {

// The numbers below were printed by Debian's python3-torch 1.13
// (tests/nn/torch_reference_options.py) for modules whose k-th parameter (in named_parameters
// order) is test::wave(shape, 0.1 + 0.7 k, 0.5), with the inputs given in each test case; the
// gradients are of (out * wave(out, 0.5)).sum() + (weights * wave(weights, 1.1)).sum(), the
// parameters' concatenated in named_parameters order (test::parameter_grads).
// clang-format off
const std::vector<double> kMhaA_out = {
    -0.798887537406, -0.604378065273, 0.229185244707, 0.62456315684, -0.624396925514,
    -0.562037125221, 0.0943695054002, 0.455895373951, -0.32816793603, 0.0417536901784,
    0.363912641901, 0.104675464722, -0.31272881982, -0.0947309359607, 0.220582880246,
    0.106855325203, -0.619449293302, -0.441622566338, 0.202254329797, 0.436572492687,
    -0.23598375859, -0.416516574629, -0.157686053585, 0.074190360401};
const std::vector<double> kMhaA_weights = {
    0.631983805043, 0, 0.198866727252, 0.169149467704, 0.150854360598, 0, 0.391512930853,
    0.457632708548, 0.549595191668, 0, 0.261134361739, 0.189270446593, 0.517189305532,
    0.155122648204, 0.155362020504, 0.172326025761, 0.0907323688112, 0.241692544274, 0.344965556131,
    0.322609530784, 0.396058966329, 0.332087820648, 0.15906173368, 0.112791479343};
const std::vector<double> kMhaA_dq = {
    -0.0336872126662, -0.115678235389, -0.0282003722616, 0.100591102295, -0.0634106093113,
    -0.164723339342, -0.0247159913309, 0.151500341883, 0.0433125805753, 0.112157803348,
    0.0166915814579, -0.103227846372, -0.212514288152, 0.0656053019909, 0.24761297102,
    0.0668670574092, -0.0141627678924, -0.0952494324267, -0.0367954553102, 0.0755639500383,
    0.218507073847, -0.0257396225934, -0.232277711633, -0.0985284089613};
const std::vector<double> kMhaA_dk = {
    -0.552504755177, -0.234747158081, 0.426915575558, -0.225059553496, -0.0130440890665,
    0.218080996404, 0, 0, 0, -0.205560678002, -0.211226147563, 0.092555183906};
const std::vector<double> kMhaA_dv = {
    -0.238033031371, -0.232300201027, 0.113752968043, 0.293157772436, 0.0430857534143,
    0.242615169197, -0.0861235424725, -0.288691062654, -0.0683254997162, 0.252137080376, 0, 0, 0, 0,
    0, -0.163819735839, -0.0600309416024, 0.131703322719, 0.130491910709, -0.0618904561995};
const std::vector<double> kMhaA_dparams = {
    -0.680820206692, -0.565988486584, 0.378017692339, 0.768227066384, -0.262488385005,
    -0.624655256748, -0.071700713943, 0.586295542765, -0.340165965839, -0.0781713927879,
    0.298344453833, 0.237784976642, -0.255565263288, -0.100405306323, 0.20184865963, 0.208393866344,
    -0.0951166037322, -0.644858387535, -0.249881122857, 0.320049573923, 0.461430429389,
    -0.0731853752162, -0.0793453756669, -0.418724336797, -0.144671163553, -0.233925571113,
    -0.308851452582, 0.0686907675436, -0.756682130731, 0.019511569373, 0.767120774635,
    0.390896247884, -0.55799219779, -0.807213000332, 0.0279844525256, 0.822184616872,
    0.411882391327, -0.60182850245, 0.48367166825, -0.00380721233708, -0.485708517931,
    -0.256045706862, 0.348724664611, 1.01905220886, 0.0147964724776, -1.01113613075,
    -0.555751933589, 0.713810148268, -0.329567069172, -0.118669149392, 0.215126230204,
    -0.0662395280722, -1.01873286098, 0.539150530399, -0.980396993632, -0.356656126854,
    -0.830437965771, -0.871573763299, 0.517760399867, 1.06152343101, 0.687793961104,
    -0.319296881817, 0.407907742935, 0.0803561168185, 0.19926745975, 0.29899950631, -0.141290064607,
    -0.346823424903, 0.800719391495, 1.19938339547, 1.18419306337, 0.562234451254, 0.981727600794,
    1.48397159821, 0.958110866713, 0.438530646292, -0.275497425014, -0.405462067004,
    -0.671605994288, -0.327621582855, -1.12911807775, -1.70089285416, -1.31741850025,
    -0.613807425584, 0.16801256477, 0.164765883924, -0.0798632028763, -0.207492510363};
const std::vector<double> kMhaB_out = {
    0.167814605496, 0.118659175043, -0.0566270020753, -0.171720564079, -0.0833681020859,
    -0.420911137331, -0.311039667866, 0.12945659767, 0.123297856751, -0.204114923088,
    -0.314560345406, -0.0906386088181, 0.533783348513, 0.973831431824, 0.378729173179,
    -0.61894956874, 0.311036611372, 0.8251420763, 0.462149026504, -0.392093029216, -0.0153289144864,
    0.374379934282, 0.36613539571, -0.0312988605961};
const std::vector<double> kMhaB_weights = {
    0.471112318893, 0, 0, 0.528887681107, 0.474229834957, 0.181399765434, 0, 0.344370399609,
    0.380690654119, 0.239895698237, 0.128155470338, 0.251258177306, 0, 0, 0, 1, 0.383918966358,
    0.23185682279, 0, 0.384224210852, 0.298854572894, 0.340304153374, 0.202121968322, 0.15871930541,
    0.559609403014, 0, 0, 0.440390596986, 0.576860059156, 0.215838998093, 0, 0.207300942751,
    0.396262382329, 0.261555417629, 0.149186622082, 0.192995577961, 0.516079640191, 0, 0,
    0.483920359809, 0.4391075524, 0.277128855783, 0, 0.283763591817, 0.287731542126, 0.325059666146,
    0.183384732964, 0.203824058765};
const std::vector<double> kMhaB_dx = {
    -0.00583008813455, -0.259449711532, -0.132974899709, 0.188308451715, 0.42007604759,
    -0.00821787720514, -0.424472592642, -0.218873965425, 0.120798069949, 0.0291005842683,
    -0.105229325541, -0.0853980269064, 0.394651507258, 0.305779486038, -0.231060198592,
    -0.429396150968, -0.428073210932, 0.145036581805, 0.505667442413, 0.125494315233,
    -0.172346065995, -0.0159292260022, 0.163823967402, 0.103574664764};
const std::vector<double> kMhaB_dparams = {
    0.205158927698, -0.0182165476452, -0.214904738012, -0.0967569837227, 0.392244768674,
    0.210104871331, -0.279839154735, -0.35981816352, -0.453759111593, -0.56903492674,
    0.149326758894, 0.648924392913, 1.29499307637, 0.4547517253, -1.05170196871, -1.01740981468,
    -0.0244881922133, 0.215145104644, 0.139590319167, -0.140464610916, -0.193930792645,
    -0.140978149259, 0.118507813069, 0.204379551616, 1.44670961203, 1.28302375166, -0.760294910701,
    -1.6897797477, 0.264582841208, 0.636027898627, 0.0756905945022, -0.595533607892, 0.703076530811,
    0.209238247138, -0.591134558785, -0.525493851208, 0.279541136493, 1.65252033984, 0.604553373876,
    -1.32908570113, -0.674063391481, 0.977745854607, 1.19715513308, -0.337270663045,
    -0.320034563243, -0.900432129043, -0.161694516307, 0.813925941629, 0.2002971816, -0.11822631942,
    0.283164340657, 0.209526949664, 0.12044652506, 0.116654597398, -0.617241777643, -0.419769098011,
    0.776187637549, 1.12494545625, 0.423724178838, -0.851086582203, -1.47004691274, -0.80708452236,
    0.259922482884, 0.747687401364, -1.56265929191, -1.55673378492, -0.284666259429, 1.25109759029,
    0.634027852487, -0.0257644055313, -0.412218264776, -0.0783531215704};
// clang-format on

}  // namespace

TEST_CASE("MultiheadAttention with kdim, vdim, add_bias_kv, add_zero_attn: PyTorch's parameters",
          "[nn][attention]") {
  manual_seed(5);
  nn::MultiheadAttention m(8, 2, {.add_bias_kv = true, .kdim = 4, .vdim = 6});
  // torch.nn.MultiheadAttention(8, 2, kdim=4, vdim=6, add_bias_kv=True).named_parameters()
  std::vector<std::pair<std::string, Dims>> expect = {
      {"q_proj_weight", {8, 8}},   {"k_proj_weight", {8, 4}}, {"v_proj_weight", {8, 6}},
      {"in_proj_bias", {24}},      {"bias_k", {1, 1, 8}},     {"bias_v", {1, 1, 8}},
      {"out_proj.weight", {8, 8}}, {"out_proj.bias", {8}}};
  std::vector<std::pair<std::string, Dims>> got;
  for (auto& [name, t] : m.state_dict()) got.emplace_back(name, t.sizes());
  CHECK(got == expect);
  CHECK_FALSE(m.in_proj_weight.defined());
  CHECK(m.kdim == 4);
  CHECK(m.vdim == 6);
  // xavier_uniform_ over each projection (its own bound), xavier_normal_ for bias_k/v
  nn::MultiheadAttention big(64, 2, {.add_bias_kv = true, .kdim = 8, .vdim = 192});
  auto max_abs = [](const Tensor& t) { return t.abs().max().item<double>(); };
  for (auto [w, fan] :
       {std::pair{Tensor(big.q_proj_weight), 64 + 64}, std::pair{Tensor(big.k_proj_weight), 64 + 8},
        std::pair{Tensor(big.v_proj_weight), 64 + 192}}) {
    double bound = std::sqrt(6.0 / fan);
    CHECK(max_abs(w) <= bound);
    CHECK(max_abs(w) > 0.95 * bound);
  }
  for (const Tensor& b : {Tensor(big.bias_k), Tensor(big.bias_v)}) {
    // std sqrt(2 / (fan_in + fan_out)) = sqrt(2 / (64 + 64)) over [1, 1, 64]
    double sd = std::sqrt((b * b).mean().item<double>());
    CHECK(sd > 0.7 * std::sqrt(2.0 / 128));
    CHECK(sd < 1.3 * std::sqrt(2.0 / 128));
  }
  CHECK_FALSE(allclose(m.bias_k, m.bias_v));
  // kdim = vdim = embed_dim keeps in_proj_weight; add_zero_attn adds no parameter
  nn::MultiheadAttention same(8, 2, {.add_bias_kv = true, .add_zero_attn = true, .kdim = 8});
  std::vector<std::string> names;
  for (auto& [name, t] : same.state_dict()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"in_proj_weight", "in_proj_bias", "bias_k", "bias_v",
                                          "out_proj.weight", "out_proj.bias"});
  // a state_dict moves between modules of the same options, and not to one without them
  nn::MultiheadAttention m2(8, 2, {.add_bias_kv = true, .kdim = 4, .vdim = 6});
  m2.load_state_dict(m.state_dict());
  CHECK(equal(m2.bias_k, m.bias_k));
  CHECK_THROWS(nn::MultiheadAttention(8, 2).load_state_dict(m.state_dict()));
  CHECK(nn::to_string(m).find("embed_dim=8, num_heads=2, dropout=0, kdim=4, vdim=6, "
                              "add_bias_kv=true, batch_first=false") != std::string::npos);
  CHECK(nn::to_string(same).find("add_bias_kv=true, add_zero_attn=true") != std::string::npos);
  CHECK(nn::to_string(same).find("kdim") == std::string::npos);
}

TEST_CASE("MultiheadAttention with kdim, vdim, bias_k/v and a zero key matches PyTorch",
          "[nn][attention]") {
  nn::MultiheadAttention m(4, 2,
                           {.add_bias_kv = true, .add_zero_attn = true, .kdim = 3, .vdim = 5});
  m.to(kFloat64);
  test::set_wave_parameters(m);
  Tensor q = test::wave({3, 2, 4}, 0.3).requires_grad_();
  Tensor k = test::wave({2, 2, 3}, 0.9).requires_grad_();
  Tensor v = test::wave({2, 2, 5}, 1.7).requires_grad_();
  Tensor am = test::wave({3, 2}, 2.3);
  Tensor kpm = tensor({0, 1, 0, 0}, kInt64).view({2, 2}) != 0;
  auto [out, w] = m.forward(q, k, v, {.key_padding_mask = kpm, .attn_mask = am});
  test::require_close(out, {3, 2, 4}, kMhaA_out, "output", 1e-9, 1e-11);
  // two more keys than S = 2: bias_k, then the zero key
  test::require_close(w, {2, 3, 4}, kMhaA_weights, "weights", 1e-9, 1e-11);
  ((out * test::wave(out.sizes(), 0.5)).sum() + (w * test::wave(w.sizes(), 1.1)).sum()).backward();
  test::require_close(q.grad(), {3, 2, 4}, kMhaA_dq, "dq", 1e-9, 1e-11);
  test::require_close(k.grad(), {2, 2, 3}, kMhaA_dk, "dk", 1e-9, 1e-11);
  test::require_close(v.grad(), {2, 2, 5}, kMhaA_dv, "dv", 1e-9, 1e-11);
  test::require_close(test::parameter_grads(m), {static_cast<int64_t>(kMhaA_dparams.size())},
                      kMhaA_dparams, "parameter gradients", 1e-9, 1e-11);

  NoGradGuard g;
  // need_weights = false (scaled_dot_product_attention) gives the same output
  auto [out2, none] =
      m.forward(q, k, v, {.key_padding_mask = kpm, .need_weights = false, .attn_mask = am});
  CHECK(allclose(out2, out, 1e-12, 1e-12));
  // batch_first and unbatched forms
  nn::MultiheadAttention bf(
      4, 2,
      {.add_bias_kv = true, .add_zero_attn = true, .kdim = 3, .vdim = 5, .batch_first = true});
  bf.to(kFloat64);
  bf.load_state_dict(m.state_dict());
  auto [out_bf, w_bf] = bf.forward(q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1),
                                   {.key_padding_mask = kpm, .attn_mask = am});
  CHECK(allclose(out_bf.transpose(0, 1), out, 1e-12, 1e-12));
  CHECK(allclose(w_bf, w, 1e-12, 1e-12));
  auto [out1, w1] = m.forward(q.select(1, 1), k.select(1, 1), v.select(1, 1),
                              {.key_padding_mask = kpm[1], .attn_mask = am});
  CHECK(out1.sizes() == Dims{3, 4});
  CHECK(allclose(out1, out.select(1, 1), 1e-12, 1e-12));
  CHECK(allclose(w1, w.select(0, 1), 1e-12, 1e-12));
  // float32 agrees to float rounding
  m.to(kFloat32);
  auto [out32, w32] = m.forward(q.to(kFloat32), k.to(kFloat32), v.to(kFloat32),
                                {.key_padding_mask = kpm, .attn_mask = am.to(kFloat32)});
  test::require_close(out32, {3, 2, 4}, kMhaA_out, "float32 output", 1e-5, 1e-6);
}

TEST_CASE("MultiheadAttention: batch_first self-attention with bias_k/v, no bias, 3-d bool mask",
          "[nn][attention]") {
  nn::MultiheadAttention m(4, 2, {.bias = false, .add_bias_kv = true, .batch_first = true});
  m.to(kFloat64);
  test::set_wave_parameters(m);
  Tensor x = test::wave({2, 3, 4}, 0.6).requires_grad_();
  // true = not allowed: keys after the query, per (batch, head); (0, 1) row 0 sees bias_k only
  Tensor mask = (tensor({0, 1, 1, 0, 0, 1, 0, 0, 0}, kInt64).view({1, 3, 3}) != 0)
                    .expand({4, 3, 3})
                    .contiguous();
  {
    NoGradGuard g;
    mask[1][0][0].fill_(1);
  }
  auto [out, w] = m.forward(x, x, x, {.attn_mask = mask, .average_attn_weights = false});
  test::require_close(out, {2, 3, 4}, kMhaB_out, "output", 1e-9, 1e-11);
  test::require_close(w, {2, 2, 3, 4}, kMhaB_weights, "weights", 1e-9, 1e-11);
  ((out * test::wave(out.sizes(), 0.5)).sum() + (w * test::wave(w.sizes(), 1.1)).sum()).backward();
  test::require_close(x.grad(), {2, 3, 4}, kMhaB_dx, "dx", 1e-9, 1e-11);
  test::require_close(test::parameter_grads(m), {static_cast<int64_t>(kMhaB_dparams.size())},
                      kMhaB_dparams, "parameter gradients", 1e-9, 1e-11);
  // The is_causal hint with added keys still lets every query see bias_k (the given mask is
  // used, padded): the same output as with the weights computed.
  Tensor causal = F::generate_square_subsequent_mask(3, kFloat64);
  auto [a, wa] = m.forward(x, x, x, {.attn_mask = causal});
  auto [b, wb] =
      m.forward(x, x, x, {.need_weights = false, .attn_mask = causal, .is_causal = true});
  CHECK(allclose(a, b, 1e-12, 1e-12));
  CHECK(test::at(wa, {0, 0, 3}) > 0.0);
}

TEST_CASE("MultiheadAttention's new paths pass gradcheck", "[nn][attention][gradcheck]") {
  manual_seed(6);
  for (bool zero_attn : {false, true}) {
    nn::MultiheadAttention m(
        4, 2, {.add_bias_kv = true, .add_zero_attn = zero_attn, .kdim = 3, .vdim = 2});
    m.to(kFloat64);
    Tensor q = test::seeded_randn({3, 2, 4}, 61, kFloat64).requires_grad_();
    Tensor k = test::seeded_randn({2, 2, 3}, 62, kFloat64).requires_grad_();
    Tensor v = test::seeded_randn({2, 2, 2}, 63, kFloat64).requires_grad_();
    Tensor am = test::seeded_randn({3, 2}, 64, kFloat64);
    Tensor kpm = tensor({0, 1, 0, 0}, kInt64).view({2, 2}) != 0;
    auto r = gradcheck(
        [&](const std::vector<Tensor>& in) {
          auto [o, w] = m.forward(in[0], in[1], in[2], {.key_padding_mask = kpm, .attn_mask = am});
          return cat({o.flatten(), w.flatten()});
        },
        {q, k, v});
    INFO("add_zero_attn " << zero_attn << ": " << r.report);
    CHECK(r.ok);
  }
  // add_zero_attn alone, self-attention through the fused in-projection
  nn::MultiheadAttention z(4, 2, {.add_zero_attn = true});
  z.to(kFloat64);
  auto r =
      gradcheck([&](const std::vector<Tensor>& in) { return std::get<0>(z(in[0], in[0], in[0])); },
                {test::seeded_randn({3, 2, 4}, 65, kFloat64).requires_grad_()});
  INFO(r.report);
  CHECK(r.ok);
}

TEST_CASE("MultiheadAttention kdim and vdim errors", "[nn][attention][error]") {
  nn::MultiheadAttention m(4, 2, {.add_bias_kv = true, .kdim = 3, .vdim = 5});
  Tensor q = randn({3, 2, 4}), k = randn({2, 2, 3}), v = randn({2, 2, 5});
  CHECK_THROWS_WITH(m(q, randn({2, 2, 4}), v),
                    Catch::Contains("MultiheadAttention: was expecting key embedding dimension of "
                                    "3 (kdim), but got 4 (key of shape [2, 2, 4])"));
  CHECK_THROWS_WITH(m(q, k, randn({2, 2, 4})),
                    Catch::Contains("MultiheadAttention: was expecting value embedding dimension "
                                    "of 5 (vdim), but got 4 (value of shape [2, 2, 4])"));
  CHECK_THROWS_WITH(
      m(q, k, randn({3, 2, 5})),
      Catch::Contains("key shape [2, 2, 3] does not match value shape [3, 2, 5] (dim 0)"));
  // masks are given for the S keys of the input; the added key is not the caller's
  CHECK_THROWS_WITH(
      m.forward(q, k, v, {.attn_mask = zeros({3, 3})}),
      Catch::Contains("the shape of the 2D attn_mask is [3, 3], but should be [3, 2]"));
  CHECK_THROWS_WITH(m.forward(q, k, v, {.key_padding_mask = zeros({2, 3}) > 0}),
                    Catch::Contains("expecting key_padding_mask shape of [2, 2], but got [2, 3]"));
  CHECK_THROWS_WITH(nn::MultiheadAttention(4, 2, {.kdim = 0}),
                    Catch::Contains("MultiheadAttention: kdim (0) and vdim (4) must be positive"));
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
