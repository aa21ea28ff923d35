// A convolutional training step in a jit region (issue 14's training ops): conv2d and its
// backward as library steps, batch_norm recorded as the ops it is made of (its running
// statistics a mutation in the graph), ReLU and the residual add fused around them, the pools
// as library steps. The region's steps must match eager ones past hot detection and the
// tier-up, with no graph break.
#include <optional>

#include "ember.hpp"
#include "jit/jit_support.hpp"
#include "support/reference.hpp"

using namespace ember;
namespace F = nn::functional;

/// A small residual network of the shape of examples/resnet_fashion: a stem, one block that
/// halves the resolution (its shortcut a strided 1x1 conv and a batch norm), a max pool after the
/// stem, an average pool, the global pool and a linear head.
struct ConvRegionNet : nn::Module<ConvRegionNet> {
  nn::Conv2d stem{1, 8, 3, {.padding = 1, .bias = false}};
  nn::BatchNorm2d stem_bn{8};
  nn::Conv2d conv1{8, 16, 3, {.stride = 2, .padding = 1, .bias = false}};
  nn::BatchNorm2d bn1{16};
  nn::Conv2d conv2{16, 16, 3, {.padding = 1}};  // with a bias
  nn::BatchNorm2d bn2{16};
  nn::Conv2d short_conv{8, 16, 1, {.stride = 2, .bias = false}};
  nn::BatchNorm2d short_bn{16};
  nn::Linear fc{16, 10};

  Tensor forward(const Tensor& images) {
    Tensor x = F::max_pool2d(relu(stem_bn(stem(images))), 3, {.stride = 1, .padding = 1});
    Tensor y = relu(bn2(conv2(relu(bn1(conv1(x))))) + short_bn(short_conv(x)));
    y = F::avg_pool2d(y, 2, {.stride = 1});
    return fc(F::adaptive_avg_pool2d(y, {1, 1}).flatten(1));
  }
};
EMBER_MODULE(ConvRegionNet, stem, stem_bn, conv1, bn1, conv2, bn2, short_conv, short_bn, fc);

namespace {

struct Run {
  std::vector<double> losses;
  std::vector<Tensor> params, buffers, logits;
  int64_t breaks = 0, fused = 0;
};

Run train(bool region, int steps) {
  manual_seed(11);
  ConvRegionNet net;
  optim::SGD opt(net.parameters(),
                 {.lr = 0.05, .momentum = 0.9, .weight_decay = 5e-4, .nesterov = true});
  manual_seed(12);
  Tensor images = randn({8, 1, 12, 12}), labels = randint(0, 10, {8});
  Run r;
  const jit::Stats s0 = jit::stats();
  for (int step = 0; step < steps; ++step) {
    Tensor loss;
    {
      std::optional<jit::Region> reg;
      if (region) reg.emplace("conv_step");
      loss = F::cross_entropy(net(images * (1.0 + 0.01 * step)), labels);
      opt.zero_grad();
      loss.backward();
      opt.step();
    }
    test::settle_compiles();
    r.losses.push_back(loss.item<double>());
  }
  net.eval();
  for (int step = 0; step < 4; ++step) {
    NoGradGuard no_grad;
    std::optional<jit::Region> reg;
    if (region) reg.emplace("conv_eval");
    r.logits.push_back(net(images));
  }
  const jit::Stats s1 = jit::stats();
  r.breaks = s1.graph_breaks - s0.graph_breaks;
  r.fused = s1.fused_graphs - s0.fused_graphs;
  for (const Tensor& p : net.parameters()) r.params.push_back(p.clone());
  for (const Tensor& b : net.buffers()) r.buffers.push_back(b.clone());
  return r;
}

double max_rel_diff(const Tensor& a, const Tensor& b) {
  return ((a - b).abs().amax().item<double>()) / (b.abs().amax().item<double>() + 1e-12);
}

}  // namespace

TEST_CASE("a residual conv net's training step in a region matches eager, without a break",
          "[jit][train][conv]") {
  test::HotThreshold hot(2);
  test::TierUpRuns tier(3);
  constexpr int kSteps = 10;
  Run eager = train(false, kSteps), fused = train(true, kSteps);
  for (int s = 0; s < kSteps; ++s) {
    INFO("step " << s);
    CHECK(fused.losses[static_cast<size_t>(s)] ==
          Approx(eager.losses[static_cast<size_t>(s)]).epsilon(1e-4));
  }
  REQUIRE(fused.params.size() == eager.params.size());
  for (size_t i = 0; i < eager.params.size(); ++i) {
    INFO("parameter " << i);
    CHECK(max_rel_diff(fused.params[i], eager.params[i]) < 1e-4);
  }
  REQUIRE(fused.buffers.size() == eager.buffers.size());
  for (size_t i = 0; i < eager.buffers.size(); ++i) {
    INFO("buffer " << i << " (running statistics, batches seen)");
    CHECK(max_rel_diff(fused.buffers[i].to(kFloat64), eager.buffers[i].to(kFloat64)) < 1e-4);
  }
  for (size_t i = 0; i < eager.logits.size(); ++i) {
    INFO("eval pass " << i);
    CHECK(max_rel_diff(fused.logits[i], eager.logits[i]) < 1e-4);
  }
  CHECK(fused.breaks == 0);
  CHECK(fused.fused >= kSteps - 4);  // every step after the capture runs and the compile
}

TEST_CASE("batch_norm in a region: 2-d and 3-d input, no affine, no running statistics",
          "[jit][conv]") {
  test::HotThreshold hot(2);
  manual_seed(3);
  Tensor x2 = randn({16, 5}) * 3 + 2, x3 = randn({4, 6, 7}), w = randn({6}), rm = zeros({5}),
         rv = ones({5});
  auto run = [&](Tensor& m, Tensor& v) {
    Tensor a = F::batch_norm(x2, m, v, {}, {}, {.training = true, .momentum = 0.3});
    Tensor b = F::batch_norm(x3, {}, {}, w, {}, {.training = true, .eps = 1e-3});
    return (a.sum({0}) * 2 + 1).sum() + (b * b).mean();
  };
  Tensor em = rm.clone(), ev = rv.clone();
  std::vector<double> want;
  for (int i = 0; i < 5; ++i) want.push_back(run(em, ev).item<double>());
  Tensor fm = rm.clone(), fv = rv.clone();
  const int64_t breaks = jit::stats().graph_breaks;
  for (int i = 0; i < 5; ++i) {
    Tensor got;
    {
      jit::Region r("bn_shapes");
      got = run(fm, fv);
    }
    test::settle_compiles();
    CHECK(got.item<double>() == Approx(want[static_cast<size_t>(i)]).epsilon(1e-5).margin(1e-6));
  }
  CHECK(jit::stats().graph_breaks == breaks);
  CHECK(max_rel_diff(fm, em) < 1e-5);
  CHECK(max_rel_diff(fv, ev) < 1e-5);
  CHECK(fm.version() == em.version());
}

TEST_CASE("conv2d's gradients in a region: each asked for once, against eager in float64",
          "[jit][conv]") {
  test::HotThreshold hot(1);
  manual_seed(4);
  Tensor x = randn({2, 3, 7, 7}, kFloat64), w = randn({4, 3, 3, 3}, kFloat64),
         b = randn({4}, kFloat64);
  for (bool need_x : {false, true}) {
    Tensor xx = x.clone().requires_grad_(need_x), ww = w.clone().requires_grad_(true),
           bb = b.clone().requires_grad_(true);
    auto loss = [&] {
      return (F::conv2d(xx, ww, bb, {.stride = 2, .padding = 1}).sigmoid() * 3).sum();
    };
    loss().backward();
    Tensor gx = need_x ? xx.grad().clone() : Tensor(), gw = ww.grad().clone(),
           gb = bb.grad().clone();
    for (int i = 0; i < 3; ++i) {
      xx.set_grad(Tensor()), ww.set_grad(Tensor()), bb.set_grad(Tensor());
      {
        jit::Region r(need_x ? "conv_grads_x" : "conv_grads");
        loss().backward();
      }
      test::settle_compiles();
      INFO("run " << i << ", input requires grad: " << need_x);
      CHECK(max_rel_diff(ww.grad(), gw) < 1e-12);
      CHECK(max_rel_diff(bb.grad(), gb) < 1e-12);
      if (need_x) CHECK(max_rel_diff(xx.grad(), gx) < 1e-12);
      if (!need_x) CHECK(!xx.grad().defined());
    }
  }
}

TEST_CASE("dropout in a region: eager's masks, and a new stream every step compiles nothing anew",
          "[jit][conv]") {
  test::HotThreshold hot(2);
  auto run = [](bool region) {
    manual_seed(21);
    nn::Sequential net(nn::Linear(12, 16), nn::ReLU(), nn::Dropout(0.3), nn::Linear(16, 3));
    optim::SGD opt(net.parameters(), {.lr = 0.1, .momentum = 0.9});
    Tensor x = randn({10, 12}), y = randint(0, 3, {10});
    std::vector<double> losses;
    for (int step = 0; step < 12; ++step) {
      Tensor loss;
      {
        std::optional<jit::Region> r;
        if (region) r.emplace("dropout_step");
        loss = F::cross_entropy(net(x), y);
        opt.zero_grad();
        loss.backward();
        opt.step();
      }
      test::settle_compiles();
      losses.push_back(loss.item<double>());
    }
    return losses;
  };
  const std::vector<double> eager = run(false);
  test::TierUpRuns no_tiers(0);  // one compile: the optimising one
  const jit::Stats s0 = jit::stats();
  jit::Profiler prof;
  const std::vector<double> fused = run(true);
  const jit::Stats s1 = jit::stats();
  for (size_t i = 0; i < eager.size(); ++i) {
    INFO("step " << i);
    CHECK(fused[i] == Approx(eager[i]).epsilon(1e-5));
  }
  CHECK(s1.graph_breaks == s0.graph_breaks);
  CHECK(s1.fused_graphs - s0.fused_graphs >= 8);
  const std::vector<jit::Profiler::RegionStats> regions = prof.regions();
  REQUIRE(regions.size() == 1);
  CHECK(regions[0].compiles == 1);  // the seed and offset are runtime scalars
}
