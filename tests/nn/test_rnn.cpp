// LSTM and GRU: PyTorch's parameter names and initialisation, outputs against the gate formulas
// written out in double precision (one direction, one layer; reversed and stacked layers built
// from that), batch_first and unbatched forms, gradcheck in float64, errors.
#include <cmath>

#include "support/reference.hpp"

using namespace ember;

namespace {

double sig(double x) { return 1 / (1 + std::exp(-x)); }

struct Ref {
  std::vector<double> out, h, c;  // out [T, N, H], h and c [N, H]
};

// One layer, one direction over x [T, N, I] in time order (reverse: from the last step).
Ref rnn_ref(bool lstm, const Tensor& x, const std::vector<Tensor>& w, const Tensor& h0,
            const Tensor& c0, bool reverse) {
  const int64_t T = x.size(0), N = x.size(1), I = x.size(2), H = h0.size(1);
  std::vector<double> h = test::values(h0), c = lstm ? test::values(c0) : std::vector<double>();
  std::vector<double> out(static_cast<size_t>(T * N * H));
  auto W = [&](int k, int64_t r, int64_t col) { return test::at(w[k], {r, col}); };
  auto b = [&](int k, int64_t r) { return w[k].defined() ? test::at(w[k], {r}) : 0.0; };
  for (int64_t s = 0; s < T; ++s) {
    int64_t t = reverse ? T - 1 - s : s;
    std::vector<double> nh(h.size()), nc(c.size());
    for (int64_t n = 0; n < N; ++n)
      for (int64_t j = 0; j < H; ++j) {
        // xg[k] = x W_ih[k]^T + b_ih[k], hg[k] = h W_hh[k]^T + b_hh[k] for gate block k
        auto gate = [&](int64_t k, bool with_h) {
          double a = b(2, k * H + j);
          for (int64_t i = 0; i < I; ++i) a += test::at(x, {t, n, i}) * W(0, k * H + j, i);
          if (!with_h) return a;
          return a + b(3, k * H + j) + [&] {
            double z = 0;
            for (int64_t i = 0; i < H; ++i) z += h[n * H + i] * W(1, k * H + j, i);
            return z;
          }();
        };
        auto hpart = [&](int64_t k) {
          double a = b(3, k * H + j);
          for (int64_t i = 0; i < H; ++i) a += h[n * H + i] * W(1, k * H + j, i);
          return a;
        };
        if (lstm) {
          double ig = sig(gate(0, true)), fg = sig(gate(1, true)), gg = std::tanh(gate(2, true)),
                 og = sig(gate(3, true));
          nc[n * H + j] = fg * c[n * H + j] + ig * gg;
          nh[n * H + j] = og * std::tanh(nc[n * H + j]);
        } else {
          double r = sig(gate(0, true)), z = sig(gate(1, true));
          double nn_ = std::tanh(gate(2, false) + r * hpart(2));
          nh[n * H + j] = (1 - z) * nn_ + z * h[n * H + j];
        }
      }
    h = nh;
    if (lstm) c = nc;
    for (int64_t i = 0; i < N * H; ++i) out[t * N * H + i] = h[i];
  }
  return {out, h, c};
}

std::vector<Tensor> layer_weights(nn::ModuleBase& m, const std::string& sfx) {
  nn::StateDict sd = m.state_dict();
  auto get = [&](const std::string& k) { return sd.contains(k) ? sd.at(k) : Tensor(); };
  return {get("weight_ih" + sfx), get("weight_hh" + sfx), get("bias_ih" + sfx),
          get("bias_hh" + sfx)};
}

}  // namespace

TEST_CASE("LSTM and GRU hold PyTorch's parameters and initialisation", "[nn][rnn]") {
  manual_seed(0);
  nn::LSTM lstm(3, 4, {.num_layers = 2, .bidirectional = true});
  std::vector<std::string> names;
  for (auto& [name, t] : lstm.named_parameters()) names.push_back(name);
  CHECK(names == std::vector<std::string>{
                     "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                     "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse",
                     "bias_hh_l0_reverse", "weight_ih_l1", "weight_hh_l1", "bias_ih_l1",
                     "bias_hh_l1", "weight_ih_l1_reverse", "weight_hh_l1_reverse",
                     "bias_ih_l1_reverse", "bias_hh_l1_reverse"});
  nn::StateDict sd = lstm.state_dict();
  CHECK(sd.at("weight_ih_l0").sizes() == Dims{16, 3});
  CHECK(sd.at("weight_ih_l1").sizes() == Dims{16, 8});
  CHECK(sd.at("weight_hh_l1_reverse").sizes() == Dims{16, 4});
  for (auto& [name, t] : lstm.named_parameters()) {
    INFO(name);
    CHECK(t.abs().max().item<float>() <= 0.5f);  // 1 / sqrt(4)
  }
  nn::GRU big(10, 400);  // enough draws to see the bound reached
  CHECK(big.named_parameters().size() == 4);
  CHECK(big.named_parameters()[0].second.sizes() == Dims{1200, 10});
  float mx = big.named_parameters()[1].second.abs().max().item<float>();
  CHECK(mx <= 0.05f);
  CHECK(mx > 0.049f);
  nn::GRU nobias(2, 3, {.bias = false});
  CHECK(nobias.named_parameters().size() == 2);
}

TEST_CASE("LSTM and GRU match the gate formulas written out", "[nn][rnn]") {
  for (bool lstm : {true, false}) {
    INFO((lstm ? "LSTM" : "GRU"));
    manual_seed(1);
    const int64_t T = 4, N = 2, I = 3, H = 5;
    std::unique_ptr<nn::ModuleBase> owner;
    nn::RNNOptions o{.num_layers = 2, .bidirectional = true};
    nn::LSTM* l = nullptr;
    nn::GRU* g = nullptr;
    if (lstm)
      owner = std::make_unique<nn::LSTM>(I, H, o), l = static_cast<nn::LSTM*>(owner.get());
    else
      owner = std::make_unique<nn::GRU>(I, H, o), g = static_cast<nn::GRU*>(owner.get());
    owner->to(kFloat64);
    Tensor x = test::seeded_randn({T, N, I}, 2, kFloat64);
    Tensor h0 = test::seeded_randn({4, N, H}, 3, kFloat64);
    Tensor c0 = test::seeded_randn({4, N, H}, 4, kFloat64);
    Tensor out, hn, cn;
    if (lstm) {
      auto [o1, st] = l->forward(x, std::make_tuple(h0, c0));
      out = o1, hn = std::get<0>(st), cn = std::get<1>(st);
    } else {
      std::tie(out, hn) = g->forward(x, h0);
    }
    // layer 0 both ways, then layer 1 over their concatenation
    Ref f0 = rnn_ref(lstm, x, layer_weights(*owner, "_l0"), h0[0], c0[0], false);
    Ref b0 = rnn_ref(lstm, x, layer_weights(*owner, "_l0_reverse"), h0[1], c0[1], true);
    Tensor x1 = cat({tensor(f0.out, {T, N, H}), tensor(b0.out, {T, N, H})}, 2);
    Ref f1 = rnn_ref(lstm, x1, layer_weights(*owner, "_l1"), h0[2], c0[2], false);
    Ref b1 = rnn_ref(lstm, x1, layer_weights(*owner, "_l1_reverse"), h0[3], c0[3], true);
    Tensor expect = cat({tensor(f1.out, {T, N, H}), tensor(b1.out, {T, N, H})}, 2);
    test::require_close(out, {T, N, 2 * H}, test::values(expect), "output", 1e-10, 1e-12);
    std::vector<double> eh;
    for (const Ref* r : {&f0, &b0, &f1, &b1}) eh.insert(eh.end(), r->h.begin(), r->h.end());
    test::require_close(hn, {4, N, H}, eh, "h_n", 1e-10, 1e-12);
    if (lstm) {
      std::vector<double> ec;
      for (const Ref* r : {&f0, &b0, &f1, &b1}) ec.insert(ec.end(), r->c.begin(), r->c.end());
      test::require_close(cn, {4, N, H}, ec, "c_n", 1e-10, 1e-12);
    }
  }
}

TEST_CASE("LSTM: zero initial state, batch_first and unbatched input agree", "[nn][rnn]") {
  manual_seed(2);
  nn::LSTM a(3, 4), b(3, 4, {.batch_first = true});
  b.load_state_dict(a.state_dict());
  Tensor x = randn({5, 2, 3});
  auto [oa, sa] = a(x);
  auto [oz, sz] = a.forward(x, std::make_tuple(zeros({1, 2, 4}), zeros({1, 2, 4})));
  CHECK(allclose(oa, oz));
  auto [ob, sb] = b(x.transpose(0, 1));
  CHECK(ob.sizes() == Dims{2, 5, 4});
  CHECK(allclose(ob.transpose(0, 1), oa));
  CHECK(allclose(std::get<0>(sb), std::get<0>(sa)));
  auto [ou, su] = a(x.select(1, 1));
  CHECK(ou.sizes() == Dims{5, 4});
  CHECK(std::get<1>(su).sizes() == Dims{1, 4});
  CHECK(allclose(ou, oa.select(1, 1), 1e-5, 1e-6));
  // the last output is h_n for a one-layer, one-direction LSTM
  CHECK(allclose(oa.select(0, 4), std::get<0>(sa).select(0, 0)));
  nn::GRU g(3, 4, {.batch_first = true});
  auto [og, hg] = g(x.transpose(0, 1));
  CHECK(allclose(og.select(1, 4), hg.select(0, 0)));
}

TEST_CASE("LSTM and GRU pass gradcheck (input, initial states and a weight)",
          "[nn][rnn][gradcheck]") {
  manual_seed(3);
  nn::LSTM lstm(2, 3, {.num_layers = 2, .bidirectional = true});
  nn::GRU gru(2, 3, {.num_layers = 2, .bidirectional = true});
  lstm.to(kFloat64);
  gru.to(kFloat64);
  Tensor x = test::seeded_randn({3, 2, 2}, 5, kFloat64).requires_grad_();
  Tensor h0 = test::seeded_randn({4, 2, 3}, 6, kFloat64).requires_grad_();
  Tensor c0 = test::seeded_randn({4, 2, 3}, 7, kFloat64).requires_grad_();
  auto r = gradcheck(
      [&](const std::vector<Tensor>& in) {
        auto [o, s] = lstm.forward(in[0], std::make_tuple(in[1], in[2]));
        return cat({o.flatten(), std::get<0>(s).flatten(), std::get<1>(s).flatten()});
      },
      {x, h0, c0});
  INFO("LSTM: " << r.report);
  CHECK(r.ok);
  auto rg = gradcheck(
      [&](const std::vector<Tensor>& in) {
        auto [o, h] = gru.forward(in[0], in[1]);
        return cat({o.flatten(), h.flatten()});
      },
      {x, h0});
  INFO("GRU: " << rg.report);
  CHECK(rg.ok);
  // weight gradients against central differences of a scalar loss
  for (nn::ModuleBase* m : std::vector<nn::ModuleBase*>{&lstm, &gru}) {
    auto loss = [&] {
      Tensor o = m == &lstm ? std::get<0>(lstm(x)) : std::get<0>(gru(x));
      return (o * o).sum();
    };
    m->zero_grad();
    loss().backward();
    for (auto& [name, p] : m->named_parameters()) {
      if (name != "weight_hh_l0_reverse" && name != "bias_ih_l1" && name != "weight_ih_l0")
        continue;
      INFO(name);
      Tensor flat = p.view({-1});
      for (int64_t i : {0L, 5L}) {
        double e = 1e-6, orig = test::at(flat, {i});
        double up, down;
        {
          NoGradGuard ng;
          flat[i].fill_(orig + e);
          up = loss().item<double>();
          flat[i].fill_(orig - e);
          down = loss().item<double>();
          flat[i].fill_(orig);
        }
        CHECK(test::at(p.grad().view({-1}), {i}) == Approx((up - down) / (2 * e)).epsilon(1e-5));
      }
    }
  }
}

TEST_CASE("LSTM and GRU errors", "[nn][rnn][error]") {
  nn::LSTM lstm(3, 4, {.num_layers = 2});
  nn::GRU gru(3, 4);
  CHECK_THROWS_WITH(
      lstm(randn({5, 2, 6})),
      Catch::Contains("input.size(-1) must be equal to input_size. Expected 3, got 6"));
  CHECK_THROWS_WITH(gru(randn({1, 5, 2, 3})),
                    Catch::Contains("GRU: Expected input to be 2D or 3D, got 4D"));
  CHECK_THROWS_WITH(
      lstm.forward(randn({5, 2, 3}), std::make_tuple(zeros({1, 2, 4}), zeros({2, 2, 4}))),
      Catch::Contains("LSTM: Expected hidden[0] size [2, 2, 4], got [1, 2, 4]"));
  CHECK_THROWS_WITH(gru.forward(randn({5, 2, 3}), zeros({1, 3, 4})),
                    Catch::Contains("GRU: Expected hidden size [1, 2, 4], got [1, 3, 4]"));
  CHECK_THROWS_WITH(nn::LSTM(3, 0), Catch::Contains("hidden_size (0) must be positive"));
  CHECK_THROWS_WITH(nn::GRU(3, 4, {.dropout = 2}), Catch::Contains("dropout should be a number"));
}
