// Training with the step in a jit region reaches eager training's test accuracy (issue 14: within
// 0.5 points). An MLP with LayerNorm and GELU, AdamW with a cosine schedule (the lr a runtime
// scalar that changes every step), on a part of Fashion-MNIST: trained twice from the same
// initial parameters over the same batches, once eagerly and once with every training step and
// every evaluation batch in a region, compiled on the region's second run.
#include <filesystem>
#include <optional>

#include "ember.hpp"
#include "jit/jit_support.hpp"
#include "support/reference.hpp"

using namespace ember;

namespace {

constexpr int64_t kTrain = 6000, kTest = 2000, kBatch = 100, kEpochs = 2;

struct Data {
  Tensor train_x, train_y, test_x, test_y;
};

Data load(const std::string& root) {
  data::FashionMNIST train(root, data::Split::train), test(root, data::Split::test);
  auto images = [](const data::FashionMNIST& ds, int64_t n) {
    return ((ds.images().narrow(0, 0, n).reshape({n, 784}) - 0.2860) / 0.3530).contiguous();
  };
  return {images(train, kTrain), train.targets().narrow(0, 0, kTrain).contiguous(),
          images(test, kTest), test.targets().narrow(0, 0, kTest).contiguous()};
}

struct Result {
  double last_loss = 0, accuracy = 0;
  int64_t fused_steps = 0, step_breaks = 0, fallbacks = 0;  // of the training steps
};

Result train(const Data& d, bool region) {
  manual_seed(7);
  nn::Sequential net(nn::Linear(784, 128), nn::LayerNorm(128), nn::GELU(), nn::Linear(128, 10));
  optim::AdamW opt(net.parameters(), {.lr = 2e-3});
  const int64_t steps = kTrain / kBatch;
  optim::CosineAnnealingLR schedule(opt, kEpochs * steps);
  Result r;
  const jit::Stats s0 = jit::stats();
  for (int64_t epoch = 0; epoch < kEpochs; ++epoch) {
    net.train();
    for (int64_t s = 0; s < steps; ++s) {
      Tensor x = d.train_x.narrow(0, s * kBatch, kBatch),
             y = d.train_y.narrow(0, s * kBatch, kBatch);
      Tensor loss;
      {
        std::optional<jit::Region> reg;
        if (region) reg.emplace("train_step");
        loss = nn::functional::cross_entropy(net(x), y);
        opt.zero_grad();
        loss.backward();
        opt.step();
      }
      test::settle_compiles();  // the background compile, done by the next step
      schedule.step();
      r.last_loss = loss.item<double>();
    }
  }
  const jit::Stats s1 = jit::stats();
  r.fused_steps = s1.fused_graphs - s0.fused_graphs;
  r.step_breaks = s1.graph_breaks - s0.graph_breaks;
  r.fallbacks = s1.fallbacks - s0.fallbacks;
  net.eval();
  NoGradGuard no_grad;
  int64_t correct = 0;
  for (int64_t s = 0; s < kTest / kBatch; ++s) {
    Tensor x = d.test_x.narrow(0, s * kBatch, kBatch), y = d.test_y.narrow(0, s * kBatch, kBatch);
    Tensor hits;
    {
      std::optional<jit::Region> reg;
      if (region) reg.emplace("eval_step");
      hits = eq(net(x).argmax(1), y).sum();  // argmax: a graph break
    }
    test::settle_compiles();
    correct += hits.item<int64_t>();
  }
  r.accuracy = static_cast<double>(correct) / static_cast<double>(kTest);
  return r;
}

}  // namespace

TEST_CASE("an MLP trained with its steps in a region reaches eager's test accuracy",
          "[jit][train_region]") {
  const std::string root = data::FashionMNIST::default_root();
  if (!std::filesystem::exists(root + "/train-labels-idx1-ubyte.gz")) {
    WARN("dataset-fashion-mnist is not installed; skipping");
    return;
  }
  test::CompiledPath path;
  const Data d = load(root);
  const Result eager = train(d, false);
  const Result fused = train(d, true);
  INFO("eager: loss " << eager.last_loss << ", accuracy " << eager.accuracy << "; fused: loss "
                      << fused.last_loss << ", accuracy " << fused.accuracy);
  CHECK(eager.accuracy > 0.75);  // it learned
  CHECK(std::abs(fused.accuracy - eager.accuracy) <= 0.005);
  CHECK(std::abs(fused.last_loss - eager.last_loss) <= 1e-3 * (1 + std::abs(eager.last_loss)));
  // Every training step but the first two ran fused (hot on the second, whose background compile
  // is queued after it), with no graph break and no fallback: one signature for all batches,
  // each a slice of the same tensor at another offset.
  CHECK(fused.fused_steps == kEpochs * (kTrain / kBatch) - 2);
  CHECK(fused.step_breaks == 0);
  CHECK(fused.fallbacks == 0);
}
