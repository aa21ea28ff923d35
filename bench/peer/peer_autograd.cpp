// ember's autograd against libtorch's (Debian's libtorch 1.13, CPU) in one process, both set to
// 2 threads. The three benchmarks of the autograd issue:
//   - add8_grad: c = a + b on 8 floats that require grad (forward only; each op records a node).
//   - chain10: ten pointwise ops on 8 floats (x*w + b, tanh, *x, sigmoid, -b, *0.5, exp, *w,
//     sin, relu), then sum and backward: graph building plus the engine, with tiny kernels.
//   - mlp: 784-256-256-10 (Linear, ReLU, Linear, ReLU, Linear), batch 64, cross_entropy,
//     zero_grad (gradients set to none in both), backward and an SGD step (lr 0.01, momentum
//     0.9): one training step, dominated by the matmuls and the pointwise/reduction passes.
//     Run on 2 threads (the target) and on 1 (context: steadier when other jobs share the cores).
// The leaves' gradients are reset (to none) every iteration in both libraries, as a training
// loop's zero_grad does, so every backward takes the same path.
//
//   ./peer_autograd --benchmark_min_time=0.3 --benchmark_repetitions=5
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "ember.hpp"

namespace {

constexpr int kThreads = 2;

void threads(int n = kThreads) {
  ember::set_num_threads(n);
  torch::set_num_threads(n);
}

// ---- c = a + b, requires_grad ----

void BM_add8_grad_ember(benchmark::State& state) {
  threads();
  ember::Tensor a = ember::randn({8}).requires_grad_(), b = ember::randn({8}).requires_grad_();
  if (!(a + b).grad_fn()) {
    state.SkipWithError("ember recorded no grad_fn for a + b");
    return;
  }
  for (auto _ : state) {
    ember::Tensor c = a + b;
    benchmark::DoNotOptimize(c.raw_data());
  }
}

void BM_add8_grad_torch(benchmark::State& state) {
  threads();
  torch::Tensor a = torch::randn({8}).requires_grad_(), b = torch::randn({8}).requires_grad_();
  for (auto _ : state) {
    torch::Tensor c = a + b;
    benchmark::DoNotOptimize(c.data_ptr());
  }
}

// ---- a 10-op pointwise chain, forward + backward ----

// The same expression for both libraries (T is ember::Tensor or torch::Tensor).
template <class T>
T chain10(const T& x, const T& w, const T& b) {
  T y = x * w + b;      // 2: mul, add
  y = y.tanh() * x;     // 4: tanh, mul
  y = y.sigmoid() - b;  // 6: sigmoid, sub
  y = (y * 0.5).exp();  // 8: mul by a scalar, exp
  y = (y * w).sin();    // 10: mul, sin
  return y.sum();
}

void BM_chain10_ember(benchmark::State& state) {
  threads();
  ember::manual_seed(0);
  ember::Tensor x = ember::randn({8}).requires_grad_(), w = ember::randn({8}).requires_grad_(),
                b = ember::randn({8}).requires_grad_();
  for (auto _ : state) {
    for (const ember::Tensor* t : {&x, &w, &b}) t->set_grad(ember::Tensor());
    ember::Tensor loss = chain10(x, w, b);
    loss.backward();
    benchmark::DoNotOptimize(x.grad().raw_data());
  }
}

void BM_chain10_torch(benchmark::State& state) {
  threads();
  torch::manual_seed(0);
  torch::Tensor x = torch::randn({8}).requires_grad_(), w = torch::randn({8}).requires_grad_(),
                b = torch::randn({8}).requires_grad_();
  for (auto _ : state) {
    for (torch::Tensor* t : {&x, &w, &b}) t->mutable_grad().reset();
    torch::Tensor loss = chain10(x, w, b);
    loss.backward();
    benchmark::DoNotOptimize(x.grad().data_ptr());
  }
}

// ---- MLP training step ----

constexpr int64_t kBatch = 64, kIn = 784, kHidden = 256, kClasses = 10;
constexpr double kLr = 0.01, kMomentum = 0.9;

// state.range(0): threads (2 for the target; 1 for context, steadier on a shared machine).
void BM_mlp_ember(benchmark::State& state) {
  threads(static_cast<int>(state.range(0)));
  ember::manual_seed(0);
  namespace nn = ember::nn;
  auto net = nn::Sequential(nn::Linear(kIn, kHidden), nn::ReLU(), nn::Linear(kHidden, kHidden),
                            nn::ReLU(), nn::Linear(kHidden, kClasses));
  ember::optim::SGD opt(net.parameters(), {.lr = kLr, .momentum = kMomentum});
  ember::Tensor x = ember::randn({kBatch, kIn});
  ember::Tensor y = ember::randint(0, kClasses, {kBatch});
  auto step = [&] {
    opt.zero_grad();  // set to none
    ember::Tensor loss = nn::functional::cross_entropy(net(x), y);
    loss.backward();
    opt.step();
    return loss;
  };
  step();  // warm-up: momentum buffers, the allocator's cache
  for (auto _ : state) benchmark::DoNotOptimize(step().raw_data());
  state.SetItemsProcessed(state.iterations() * kBatch);
}

void BM_mlp_torch(benchmark::State& state) {
  threads(static_cast<int>(state.range(0)));
  torch::manual_seed(0);
  namespace nn = torch::nn;
  nn::Sequential net(nn::Linear(kIn, kHidden), nn::ReLU(), nn::Linear(kHidden, kHidden), nn::ReLU(),
                     nn::Linear(kHidden, kClasses));
  torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(kLr).momentum(kMomentum));
  torch::Tensor x = torch::randn({kBatch, kIn});
  torch::Tensor y = torch::randint(0, kClasses, {kBatch});
  auto step = [&] {
    // libtorch 1.13's zero_grad() zeroes in place; set to none as ember's (and PyTorch 2's) does.
    for (auto& p : net->parameters()) p.mutable_grad().reset();
    torch::Tensor loss = nn::functional::cross_entropy(net->forward(x), y);
    loss.backward();
    opt.step();
    return loss;
  };
  step();
  for (auto _ : state) benchmark::DoNotOptimize(step().data_ptr());
  state.SetItemsProcessed(state.iterations() * kBatch);
}

// Tiny graphs run on the calling thread alone. The MLP uses both threads: wall time, plus the
// process CPU time (steadier on a shared machine; it counts pool threads spinning, too).
BENCHMARK(BM_add8_grad_ember)->UseRealTime();
BENCHMARK(BM_add8_grad_torch)->UseRealTime();
BENCHMARK(BM_chain10_ember)->UseRealTime();
BENCHMARK(BM_chain10_torch)->UseRealTime();
#define EMBER_MLP(fn)                                                          \
  BENCHMARK(fn)->Arg(2)->Arg(1)->MeasureProcessCPUTime()->UseRealTime()->Unit( \
      benchmark::kMicrosecond)
EMBER_MLP(BM_mlp_ember);
EMBER_MLP(BM_mlp_torch);

}  // namespace
