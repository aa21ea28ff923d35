// ember against libtorch (Debian's libtorch 1.13, CPU) in one process on the training step of
// examples/resnet_fashion and its twin bench/peer/peer_resnet_fashion (the same network: stem
// conv 3x3 + batch norm, stages of two residual blocks at widths 16, 32, 64 with stride-2
// downsampling and 1x1 projection skips, global average pool, linear), both on 2 threads: one
// batch of 128 random 1x28x28 images and labels, forward, cross_entropy, zero_grad, backward and
// an SGD step (Nesterov momentum 0.9, weight decay 5e-4, lr 0.01), without the data loader.
//   - step_ember, step_torch: each library alone.
//   - step_interleaved: both alternated step by step in one loop (counters ember_ms, torch_ms,
//     ember_cpu_ms, torch_cpu_ms, and the medians of the per-pair ratios ratio_wall, ratio_cpu).
//   - the non-convolution layers of the step at their largest shape, forward + backward:
//     batch_norm2d (training) over [128,16,28,28], relu(x + skip) over the same, and
//     adaptive_avg_pool2d + linear + cross_entropy over [128,64,7,7]. (The convolutions have
//     bench/bench_conv.)
//
// Run libtorch with passive OpenMP waiting (see bench/README.md):
//   OMP_WAIT_POLICY=passive ./peer_resnet --benchmark_min_time=2
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <cstdlib>
#include <functional>
#include <iostream>
#include <optional>
#include <vector>

#include "ember.hpp"
#include "interleave.hpp"
#include "resnet_torch.hpp"

namespace {

constexpr int kThreads = 2;
constexpr int64_t kBatch = 128;

void threads() {
  ember::set_num_threads(kThreads);
  torch::set_num_threads(kThreads);
}

// ---- the network, as examples/resnet_fashion.cpp ----

namespace en {

using ember::Tensor;
namespace nn = ember::nn;

struct Block : nn::Module<Block> {
  nn::Conv2d conv1, conv2;
  nn::BatchNorm2d bn1, bn2;
  nn::Sequential shortcut;

  Block(int64_t in, int64_t out, int64_t stride)
      : conv1(in, out, 3, {.stride = stride, .padding = 1, .bias = false}),
        conv2(out, out, 3, {.padding = 1, .bias = false}),
        bn1(out),
        bn2(out) {
    if (stride != 1 || in != out)
      shortcut = nn::Sequential(nn::Conv2d(in, out, 1, {.stride = stride, .bias = false}),
                                nn::BatchNorm2d(out));
  }
  Tensor forward(const Tensor& x) { return relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)); }
};

struct ResNet : nn::Module<ResNet> {
  nn::Conv2d stem;
  nn::BatchNorm2d stem_bn;
  std::vector<Block> blocks;
  nn::AdaptiveAvgPool2d pool{1};
  nn::Linear fc;

  ResNet() : stem(1, 16, 3, {.padding = 1, .bias = false}), stem_bn(16), fc(64, 10) {
    int64_t in = 16;
    for (int64_t width : {16, 32, 64}) {
      blocks.emplace_back(in, width, width == 16 ? 1 : 2);
      blocks.emplace_back(width, width, 1);
      in = width;
    }
  }
  Tensor forward(const Tensor& images) {
    Tensor x = relu(stem_bn(stem(images)));
    for (Block& b : blocks) x = b(x);
    return fc(pool(x).flatten(1));
  }
};

}  // namespace en
}  // namespace
EMBER_MODULE(en::Block, conv1, bn1, conv2, bn2, shortcut);
EMBER_MODULE(en::ResNet, stem, stem_bn, blocks, pool, fc);
namespace {

// ---- the training step ----

struct EmberStep {
  en::ResNet net;
  ember::Tensor x = ember::randn({kBatch, 1, 28, 28});
  ember::Tensor y = ember::randint(10, {kBatch});
  ember::optim::SGD opt{net.parameters(),
                        {.lr = 0.01, .momentum = 0.9, .weight_decay = 5e-4, .nesterov = true}};
  double loss = 0;
  bool region = false;  // the step in a jit::Region: one fused graph once hot
  void operator()() {
    std::optional<ember::jit::Region> r;
    if (region) r.emplace("resnet_step");
    ember::Tensor l = ember::nn::functional::cross_entropy(net(x), y);
    opt.zero_grad();
    l.backward();
    opt.step();
    r.reset();
    loss = l.item<double>();
  }
};

struct TorchStep {
  peer::resnet::ResNet net{std::vector<int64_t>{16, 32, 64}, 2, 10};
  torch::Tensor x = torch::randn({kBatch, 1, 28, 28});
  torch::Tensor y = torch::randint(10, {kBatch}, torch::kInt64);
  torch::optim::SGD opt{
      net->parameters(),
      torch::optim::SGDOptions(0.01).momentum(0.9).weight_decay(5e-4).nesterov(true)};
  double loss = 0;
  void operator()() {
    torch::Tensor l = torch::nn::functional::cross_entropy(net->forward(x), y);
    opt.zero_grad();
    l.backward();
    opt.step();
    loss = l.item<double>();
  }
};

// One step per iteration, after a warm-up step that fills the allocators' and oneDNN's caches.
using peer::run;

void BM_step_ember(benchmark::State& state) {
  threads();
  ember::manual_seed(0);
  EmberStep step;
  run(state, std::ref(step));
  state.counters["loss"] = step.loss;
}

void BM_step_torch(benchmark::State& state) {
  threads();
  torch::manual_seed(0);
  TorchStep step;
  run(state, std::ref(step));
  state.counters["loss"] = step.loss;
}

// The two steps alternated within one loop, each timed on its own; the benchmark's own time is
// that of a pair.
void BM_step_interleaved(benchmark::State& state) {
  threads();
  ember::manual_seed(0);
  torch::manual_seed(0);
  EmberStep ember_step;
  TorchStep torch_step;
  peer::interleave(state, ember_step, torch_step);
}

// The step in a jit::Region (fused once hot: warmed past hot detection and the compile first),
// the same step eagerly, and libtorch's, alternated: counters fused_ms, eager_ms, torch_ms,
// the medians of eager/fused (target >= 1.25) and torch/fused, and the graphs and graph breaks
// per fused step.
void BM_step_jit_interleaved(benchmark::State& state) {
  threads();
  ember::manual_seed(0);
  torch::manual_seed(0);
  EmberStep fused_step, eager_step;
  fused_step.region = true;
  TorchStep torch_step;
  for (int i = 0; i < 10; ++i) {
    fused_step();
    ember::jit::wait_for_compiles();
  }
  const ember::jit::Stats s0 = ember::jit::stats();
  std::optional<ember::jit::Profiler> prof;  // EMBER_BENCH_STEPS=n: the fused step's n costliest
  if (std::getenv("EMBER_BENCH_STEPS")) prof.emplace();
  peer::fused_eager_torch(state, fused_step, eager_step, torch_step);
  if (prof) prof->report_steps(std::cerr, std::atoi(std::getenv("EMBER_BENCH_STEPS")));
  const ember::jit::Stats s1 = ember::jit::stats();
  const auto steps = static_cast<double>(state.iterations());
  state.counters["fused_per_step"] = static_cast<double>(s1.fused_graphs - s0.fused_graphs) / steps;
  state.counters["breaks_per_step"] =
      static_cast<double>(s1.graph_breaks - s0.graph_breaks) / steps;
}

// ---- the layers between the convolutions ----

void BM_batch_norm_ember(benchmark::State& state) {
  threads();
  ember::manual_seed(0);
  ember::nn::BatchNorm2d bn(16);
  ember::Tensor x = ember::randn({kBatch, 16, 28, 28}).requires_grad_();
  ember::Tensor g = ember::randn({kBatch, 16, 28, 28});
  run(state, [&] {
    x.set_grad(ember::Tensor());
    bn.zero_grad();
    bn(x).backward(g);
    benchmark::DoNotOptimize(x.grad().raw_data());
  });
}

void BM_batch_norm_torch(benchmark::State& state) {
  threads();
  torch::manual_seed(0);
  torch::nn::BatchNorm2d bn(16);
  torch::Tensor x = torch::randn({kBatch, 16, 28, 28}).requires_grad_();
  torch::Tensor g = torch::randn({kBatch, 16, 28, 28});
  run(state, [&] {
    x.mutable_grad().reset();
    bn->zero_grad();
    bn(x).backward(g);
    benchmark::DoNotOptimize(x.grad().data_ptr());
  });
}

void BM_relu_add_ember(benchmark::State& state) {
  threads();
  ember::manual_seed(0);
  ember::Tensor a = ember::randn({kBatch, 16, 28, 28}).requires_grad_();
  ember::Tensor b = ember::randn({kBatch, 16, 28, 28}).requires_grad_();
  ember::Tensor g = ember::randn({kBatch, 16, 28, 28});
  run(state, [&] {
    a.set_grad(ember::Tensor());
    b.set_grad(ember::Tensor());
    ember::relu(a + b).backward(g);
    benchmark::DoNotOptimize(a.grad().raw_data());
  });
}

void BM_relu_add_torch(benchmark::State& state) {
  threads();
  torch::manual_seed(0);
  torch::Tensor a = torch::randn({kBatch, 16, 28, 28}).requires_grad_();
  torch::Tensor b = torch::randn({kBatch, 16, 28, 28}).requires_grad_();
  torch::Tensor g = torch::randn({kBatch, 16, 28, 28});
  run(state, [&] {
    a.mutable_grad().reset();
    b.mutable_grad().reset();
    torch::relu(a + b).backward(g);
    benchmark::DoNotOptimize(a.grad().data_ptr());
  });
}

void BM_head_ember(benchmark::State& state) {
  threads();
  ember::manual_seed(0);
  ember::nn::AdaptiveAvgPool2d pool(1);
  ember::nn::Linear fc(64, 10);
  ember::Tensor x = ember::randn({kBatch, 64, 7, 7}).requires_grad_();
  ember::Tensor y = ember::randint(10, {kBatch});
  run(state, [&] {
    x.set_grad(ember::Tensor());
    fc.zero_grad();
    ember::nn::functional::cross_entropy(fc(pool(x).flatten(1)), y).backward();
    benchmark::DoNotOptimize(x.grad().raw_data());
  });
}

void BM_head_torch(benchmark::State& state) {
  threads();
  torch::manual_seed(0);
  torch::nn::Linear fc(64, 10);
  torch::Tensor x = torch::randn({kBatch, 64, 7, 7}).requires_grad_();
  torch::Tensor y = torch::randint(10, {kBatch}, torch::kInt64);
  run(state, [&] {
    x.mutable_grad().reset();
    fc->zero_grad();
    torch::nn::functional::cross_entropy(fc(torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1)), y)
        .backward();
    benchmark::DoNotOptimize(x.grad().data_ptr());
  });
}

// Wall time (the pools' threads do the work) and the whole process's CPU time.
#define EMBER_PEER(fn) \
  BENCHMARK(fn)->MeasureProcessCPUTime()->UseRealTime()->Unit(benchmark::kMillisecond)
EMBER_PEER(BM_step_ember);
EMBER_PEER(BM_step_torch);
EMBER_PEER(BM_step_interleaved);
EMBER_PEER(BM_step_jit_interleaved);
EMBER_PEER(BM_batch_norm_ember);
EMBER_PEER(BM_batch_norm_torch);
EMBER_PEER(BM_relu_add_ember);
EMBER_PEER(BM_relu_add_torch);
EMBER_PEER(BM_head_ember);
EMBER_PEER(BM_head_torch);

}  // namespace
