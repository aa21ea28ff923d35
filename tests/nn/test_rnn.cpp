// LSTM and GRU: PyTorch's parameter names and initialisation, outputs against the gate formulas
// written out in double precision (one direction, one layer; reversed and stacked layers built
// from that), LSTM with proj_size against values printed by PyTorch 1.13, batch_first and
// unbatched forms, gradcheck in float64, errors.
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

// ---- LSTM with proj_size ----

namespace {
// Printed by Debian's python3-torch 1.13 (tests/nn/torch_reference_options.py lstm) for
// torch.nn.LSTM(2, 3, num_layers=2, bidirectional=True, proj_size=2) with its k-th parameter
// test::wave(shape, 0.1 + 0.7 k, 0.5), x = wave([3, 2, 2], 0.3), h0 = wave([4, 2, 2], 0.9),
// c0 = wave([4, 2, 3], 1.7); the gradients are of (out * wave(out, 0.5)).sum() + (h_n *
// wave(h_n, 1.1)).sum() + (c_n * wave(c_n, 1.9)).sum(), the parameters' concatenated in
// named_parameters order.
// clang-format off
const std::vector<double> kLstmOut = {
    0.198289854644, -0.325925999309, 0.211210064428, -0.288345061814, 0.150174114457,
    -0.117503463749, 0.182047206656, -0.24515471566, 0.254566618878, -0.34291483705, 0.208611187809,
    -0.255946541384, 0.212253945351, -0.217699346272, 0.133230279126, -0.153116558828,
    0.276475260979, -0.361672982473, 0.204961737728, -0.193900650782, 0.252375477647,
    -0.289844357864, -0.0263173590496, 0.0320408755053};
const std::vector<double> kLstmHn = {
    0.219337636081, -0.148105107366, 0.135928938469, -0.276710350946, 0.0858502285925,
    -0.0696911744255, 0.061361950194, -0.162425162819, 0.276475260979, -0.361672982473,
    0.252375477647, -0.289844357864, 0.211210064428, -0.288345061814, 0.182047206656,
    -0.24515471566};
const std::vector<double> kLstmCn = {
    -0.0688034210374, -0.550045715592, -0.687871118976, -0.465394410406, -0.639566767692,
    0.336698905471, 0.273904392608, 0.462520191194, 0.118643893937, 0.199229036238, 0.638176718719,
    -0.488161680213, -0.899530522732, -0.661064044123, 0.386372013201, -0.776643714658,
    -0.564226391796, -0.113360485334, 0.464569449267, 0.46312246215, -0.667081842007, 0.42302782714,
    0.376262910259, -0.534983769799};
const std::vector<double> kLstmDx = {
    -0.0964583275017, 0.234794940994, 0.215450534543, 0.196698833294, -0.0971121925786,
    0.0633122773557, 0.123126950855, 0.116411528143, -0.147419479426, -0.198714807446,
    0.12793239349, 0.25485070534};
const std::vector<double> kLstmDh0 = {
    -0.0114303286503, 0.0510463198634, 0.0609251478715, 0.0277596102817, 0.0064072793517,
    0.0141286185501, -0.0132053274142, -0.0671822828724, 0.111600985901, -0.0351631252208,
    -0.0547795095394, -0.00425041743553, 0.00333269487703, 0.0131611704119, 0.085378933271,
    0.0713221615226};
const std::vector<double> kLstmDc0 = {
    0.0160571152002, -0.0544267857286, -0.369807675033, -0.00388916359181, 0.0945285498814,
    0.205620927087, -0.123927301417, -0.0300332126636, 0.0236768511402, 0.0999931847498,
    0.0597821765759, -0.0273720622321, -0.105705566781, 0.0213833214691, 0.141502062722,
    0.176316761117, -0.171035781975, -0.239908137539, -0.0331441131736, -0.000568277135176,
    0.0721763306309, -0.0795413244841, -0.0353929709469, 0.0610541971307};
const std::vector<double> kLstmDparams = {
    0.0344736007153, 0.0234954672262, -0.142568152764, -0.0680322511958, -0.141764390424,
    0.0016172619333, 0.106444773709, 0.0604354844179, -0.0719824539888, -0.0944471005469,
    -0.164069446406, -0.0539748665902, -1.12465839043, -0.584756825774, 0.153655197873,
    0.0723892561576, 0.602207555787, 0.0740101374291, 0.0105765013863, 0.0306703089584,
    0.0154020609636, 0.0189594157432, -0.0421620280691, -0.0165477458674, 0.00547078711496,
    -0.013230168781, 0.00545208314617, 0.0493261468296, 0.0426900549785, -0.00475123344766,
    -0.00356211576224, 0.0161200962547, -0.0173471044663, 0.000193275016111, 0.0333871553316,
    -0.114930687786, 0.0636208456199, -0.0230005305001, -0.0210237759136, -0.0622489376981,
    -0.135327456625, -0.173591856657, 0.00675347414919, -0.00182705904643, 0.00459433898734,
    -0.00858570600489, 0.00773776770619, 0.00819655460597, 0.0511034128411, -0.138281759468,
    0.272689368286, -0.0837463305705, -0.0845263646952, 0.59814035144, 0.385984819628,
    0.0921307053621, -0.121001459129, 0.0332885442229, 0.0507240894158, -0.0147668993658,
    0.0511034128411, -0.138281759468, 0.272689368286, -0.0837463305705, -0.0845263646952,
    0.59814035144, 0.385984819628, 0.0921307053621, -0.121001459129, 0.0332885442229,
    0.0507240894158, -0.0147668993658, 0.0959308830016, -0.351668098517, 0.0615096392245,
    0.294305822731, 0.108353677404, 0.0577488136185, 0.0999825731562, -0.0491765702926,
    0.143106569786, -0.278801548538, 0.0220891654773, -0.0272223443474, 0.0971814573978,
    -0.0580676647919, 0.0613577912188, -0.231997647437, 0.031761769058, -0.0384280509109,
    0.282068502052, -0.363547808347, 0.160431482616, -0.724703305052, -0.361681065064,
    0.117174462572, 0.0162978826818, -0.0343989091496, 0.0287683893515, -0.120827636536,
    0.00513027994212, 1.60912813844e-05, 0.0181211608496, -0.0370414536455, 0.00819971953576,
    -0.063226953909, 0.00608420154702, -0.00754489800325, 0.031907377737, -0.0439687781981,
    0.006332205152, -0.0174191936042, 0.00718337665147, -0.0185748735161, 0.033918213865,
    -0.142606267193, -0.0315944954074, -0.0746090774333, -0.100221442638, 0.164007704693,
    0.00604303111512, -0.0101125564873, -3.23022684026e-05, -0.0179095910952, 0.00378646507895,
    -0.00368993294976, 0.013056168716, 0.0706799606162, 0.0648047828897, 0.161496270649,
    0.122591333605, 0.0585964331262, 0.378884555331, -0.717698053982, -0.647400536912,
    0.00281199073108, 0.0288028516005, 0.0278306761589, 0.013056168716, 0.0706799606162,
    0.0648047828897, 0.161496270649, 0.122591333605, 0.0585964331262, 0.378884555331,
    -0.717698053982, -0.647400536912, 0.00281199073108, 0.0288028516005, 0.0278306761589,
    -0.0310267168927, 0.0541197784197, -0.0185241013, -0.0330397808804, -0.0649117934468,
    0.608403064597, 0.0344808685011, -0.00735168308327, 0.0146073045415, 0.0124206618112,
    0.0322725159438, -0.0619963106179, 0.00852534614397, -0.0417373677462, 0.010806664574,
    0.00515411410361, 0.0103304158824, 0.00761064138751, 0.0429329969131, -0.026217335201,
    0.0292683142935, -0.014604546822, 0.0184264446044, -0.038432937086, 0.00649980262474,
    -0.0284116090217, 0.0517772937067, -0.0726186949333, 0.0323798274953, -0.0529885171127,
    -0.0824074154346, 0.0271866765031, -0.0444194278663, -0.012061088611, -0.0366909302105,
    0.0769938330711, -0.0136088393706, 0.0590030074705, 0.0239929046077, 0.0452734522534,
    0.0134243134965, 0.0615876068832, 0.0109399897027, -0.0122917740361, -0.0007310054183,
    -0.00344563425002, 0.010225796561, -0.0193130546007, -0.00238001658557, -0.00701914556497,
    4.64665054816e-05, 0.000435223424439, -0.000789699799421, 0.00142703042372, -0.031900385605,
    -0.0904878005608, 0.0572161790359, -0.0407274231302, -0.0121344289636, -0.0232145516074,
    0.0663791267117, -0.0492649210084, 0.0552170639311, -0.0134422174249, 0.0815661942486,
    -0.0499909504703, 0.0684576263902, 0.181929429799, -0.117216632523, 0.0227120625265,
    -0.184367256677, -0.120180212369, 0.0216574804345, -0.0283187076643, -0.0324853233816,
    -0.0293951984418, 0.0566521798782, 0.00120957072012, 0.102416640125, 0.247612388264,
    0.0615452200789, 0.325525072964, 0.171194143186, 0.485352247672, -0.385320206755,
    -0.351976139141, -0.08986883139, 0.0152757926168, 0.0258175447517, -0.0146988889565,
    0.102416640125, 0.247612388264, 0.0615452200789, 0.325525072964, 0.171194143186, 0.485352247672,
    -0.385320206755, -0.351976139141, -0.08986883139, 0.0152757926168, 0.0258175447517,
    -0.0146988889565, -0.386163758971, -0.160466108313, 0.0879095722794, -0.14146848866,
    -0.0504954264886, 0.096781433254, -0.00663730909047, 0.0277913803663, -0.0063411310225,
    0.0353800093422, 0.00456768435161, 0.000547933615858, 0.00668520553983, 0.00502450055086,
    -0.0109518262133, 0.0210114368301, -0.00986598492748, 0.0224829170968, 0.0073787444276,
    -0.00681926335831, 0.000865270825859, 0.00174367746089, 0.016047922661, -0.0195585601578,
    0.0155400826161, -0.00999901845645, 0.00618308900812, -0.00295619187472, -0.00218761491422,
    0.00329755169152, -0.016638667617, 0.0384101860433, -0.0106869643013, 0.0432466132281,
    0.0210532200464, 0.025414230708, 0.0419137528776, 0.045651909096, 0.0479123019785,
    -0.0977103392514, 0.035448010202, -0.0941166086278, -0.00803123969211, 0.00791422206583,
    0.00186098917619, 0.00177411996656, -0.0150489064769, 0.0063735876545, -0.000615904082654,
    -0.00330074537847, -0.00641485563834, 0.00905907972973, 0.00102194634302, 0.0047147614489,
    0.00176632479788, -0.0169044008796, 0.0170827300882, -0.0249550732346, 0.00237088909861,
    0.0290919135958, 0.00572690618475, 0.0244146856484, 0.0377772069672, -0.00946241484865,
    -0.0216482162272, -0.00173723649192, 0.0266448767371, 0.0200225180388, 0.0858231190787,
    -0.267384796453, 0.0254915306674, -0.00285803251794, 0.0268060330089, 0.00257273143965,
    0.0587547151681, 0.0555736447403, 0.018188528328, -0.00553423962399, -0.179494832976,
    0.0370751120587, -0.16366114608, 0.00961448543748, 0.164858696898, -0.0177665311371,
    -0.254255395683, 0.173443923165, 0.638986737525, 0.00302275169539, -0.0237471165747,
    -0.00762435091447, -0.179494832976, 0.0370751120587, -0.16366114608, 0.00961448543748,
    0.164858696898, -0.0177665311371, -0.254255395683, 0.173443923165, 0.638986737525,
    0.00302275169539, -0.0237471165747, -0.00762435091447, 0.052901283047, -0.0428388005269,
    -0.170484347771, 0.0365118644305, 0.146101065444, -0.0413611362575};
// clang-format on
}  // namespace

TEST_CASE("LSTM with proj_size holds PyTorch's parameters", "[nn][rnn]") {
  manual_seed(7);
  nn::LSTM lstm(3, 5, {.num_layers = 2, .bidirectional = true, .proj_size = 2});
  // torch.nn.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2).named_parameters()
  std::vector<std::pair<std::string, Dims>> expect;
  for (std::string l : {"_l0", "_l1"})
    for (std::string d : {"", "_reverse"})
      for (auto [name, shape] :
           std::vector<std::pair<std::string, Dims>>{{"weight_ih", {20, l == "_l0" ? 3 : 4}},
                                                     {"weight_hh", {20, 2}},
                                                     {"bias_ih", {20}},
                                                     {"bias_hh", {20}},
                                                     {"weight_hr", {2, 5}}})
        expect.emplace_back(name + l + d, shape);
  std::vector<std::pair<std::string, Dims>> got;
  for (auto& [name, t] : lstm.state_dict()) got.emplace_back(name, t.sizes());
  CHECK(got == expect);
  CHECK(lstm.output_size() == 2);
  for (auto& [name, t] : lstm.named_parameters()) {
    INFO(name);
    CHECK(t.abs().max().item<float>() <= 1 / std::sqrt(5.0f));  // U(-1/sqrt(H), 1/sqrt(H))
  }
  CHECK(nn::to_string(lstm).find("LSTM(3, 5, proj_size=2, num_layers=2, bidirectional=true)") !=
        std::string::npos);
  // without proj_size there is no weight_hr
  CHECK(nn::LSTM(3, 5).named_parameters().size() == 4);
}

TEST_CASE("LSTM with proj_size matches PyTorch: outputs, states and gradients", "[nn][rnn]") {
  nn::LSTM lstm(2, 3, {.num_layers = 2, .bidirectional = true, .proj_size = 2});
  lstm.to(kFloat64);
  test::set_wave_parameters(lstm);
  Tensor x = test::wave({3, 2, 2}, 0.3).requires_grad_();
  Tensor h0 = test::wave({4, 2, 2}, 0.9).requires_grad_();
  Tensor c0 = test::wave({4, 2, 3}, 1.7).requires_grad_();
  auto [out, st] = lstm.forward(x, std::make_tuple(h0, c0));
  auto [hn, cn] = st;
  // h has proj_size features per direction; c keeps hidden_size
  test::require_close(out, {3, 2, 4}, kLstmOut, "output", 1e-9, 1e-11);
  test::require_close(hn, {4, 2, 2}, kLstmHn, "h_n", 1e-9, 1e-11);
  test::require_close(cn, {4, 2, 3}, kLstmCn, "c_n", 1e-9, 1e-11);
  ((out * test::wave(out.sizes(), 0.5)).sum() + (hn * test::wave(hn.sizes(), 1.1)).sum() +
   (cn * test::wave(cn.sizes(), 1.9)).sum())
      .backward();
  test::require_close(x.grad(), {3, 2, 2}, kLstmDx, "dx", 1e-9, 1e-11);
  test::require_close(h0.grad(), {4, 2, 2}, kLstmDh0, "dh0", 1e-9, 1e-11);
  test::require_close(c0.grad(), {4, 2, 3}, kLstmDc0, "dc0", 1e-9, 1e-11);
  test::require_close(test::parameter_grads(lstm), {static_cast<int64_t>(kLstmDparams.size())},
                      kLstmDparams, "parameter gradients", 1e-9, 1e-11);

  NoGradGuard g;
  // batch_first and unbatched forms give the same numbers
  nn::LSTM bf(2, 3, {.num_layers = 2, .batch_first = true, .bidirectional = true, .proj_size = 2});
  bf.to(kFloat64);
  bf.load_state_dict(lstm.state_dict());
  auto [out_bf, st_bf] = bf.forward(x.transpose(0, 1), std::make_tuple(h0, c0));
  CHECK(allclose(out_bf.transpose(0, 1), out, 1e-12, 1e-12));
  CHECK(allclose(std::get<0>(st_bf), hn, 1e-12, 1e-12));
  auto [out1, st1] =
      lstm.forward(x.select(1, 1), std::make_tuple(h0.select(1, 1), c0.select(1, 1)));
  CHECK(out1.sizes() == Dims{3, 4});
  CHECK(allclose(out1, out.select(1, 1), 1e-12, 1e-12));
  CHECK(std::get<0>(st1).sizes() == Dims{4, 2});
  CHECK(allclose(std::get<1>(st1), cn.select(1, 1), 1e-12, 1e-12));
  // zero initial states by default: [4, N, 2] zeros for h, [4, N, 3] for c
  auto [outz, stz] = lstm(x);
  auto [outz2, stz2] =
      lstm.forward(x, std::make_tuple(zeros({4, 2, 2}, kFloat64), zeros({4, 2, 3}, kFloat64)));
  CHECK(allclose(outz, outz2, 1e-12, 1e-12));
  // float32 agrees to float rounding
  lstm.to(kFloat32);
  auto [out32, st32] =
      lstm.forward(x.to(kFloat32), std::make_tuple(h0.to(kFloat32), c0.to(kFloat32)));
  test::require_close(out32, {3, 2, 4}, kLstmOut, "float32 output", 1e-5, 1e-6);
}

TEST_CASE("LSTM with proj_size passes gradcheck", "[nn][rnn][gradcheck]") {
  manual_seed(8);
  nn::LSTM lstm(2, 4, {.num_layers = 2, .bidirectional = true, .proj_size = 3});
  lstm.to(kFloat64);
  Tensor x = test::seeded_randn({3, 2, 2}, 81, kFloat64).requires_grad_();
  Tensor h0 = test::seeded_randn({4, 2, 3}, 82, kFloat64).requires_grad_();
  Tensor c0 = test::seeded_randn({4, 2, 4}, 83, kFloat64).requires_grad_();
  auto r = gradcheck(
      [&](const std::vector<Tensor>& in) {
        auto [o, s] = lstm.forward(in[0], std::make_tuple(in[1], in[2]));
        return cat({o.flatten(), std::get<0>(s).flatten(), std::get<1>(s).flatten()});
      },
      {x, h0, c0});
  INFO(r.report);
  CHECK(r.ok);
}

TEST_CASE("LSTM proj_size errors", "[nn][rnn][error]") {
  CHECK_THROWS_WITH(nn::LSTM(3, 4, {.proj_size = 4}),
                    Catch::Contains("LSTM: proj_size (4) has to be smaller than hidden_size (4)"));
  CHECK_THROWS_WITH(nn::LSTM(3, 4, {.proj_size = -1}),
                    Catch::Contains("LSTM: proj_size should be a positive integer or zero to "
                                    "disable projections, got -1"));
  CHECK_THROWS_WITH(nn::GRU(3, 4, {.proj_size = 2}),
                    Catch::Contains("GRU: proj_size argument is only supported for LSTM, not RNN "
                                    "or GRU (got proj_size 2)"));
  nn::LSTM lstm(3, 4, {.proj_size = 2});
  Tensor x = randn({5, 2, 3});
  // h0 has proj_size features, c0 hidden_size
  CHECK_THROWS_WITH(lstm.forward(x, std::make_tuple(zeros({1, 2, 4}), zeros({1, 2, 4}))),
                    Catch::Contains("LSTM: Expected hidden[0] size [1, 2, 2], got [1, 2, 4]"));
  CHECK_THROWS_WITH(lstm.forward(x, std::make_tuple(zeros({1, 2, 2}), zeros({1, 2, 2}))),
                    Catch::Contains("LSTM: Expected hidden[1] size [1, 2, 4], got [1, 2, 2]"));
  CHECK_THROWS_WITH(lstm.forward(x.select(1, 0), std::make_tuple(zeros({1, 4}), zeros({1, 4}))),
                    Catch::Contains("LSTM: Expected hidden[0] size [1, 2], got [1, 4]"));
}
