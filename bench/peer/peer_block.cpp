// ember against libtorch (Debian's libtorch 1.13, CPU) in one process on a transformer block, both
// on 2 threads: the ops where such a model spends its time, each forward + backward, and the whole
// training step. Batch 16, sequence 128, width 256, 4 heads of 64.
//   - layer_norm over the last dim of [16,128,256] with weight and bias: forward alone, and
//     forward + backward.
//   - softmax over the last dim of [16,4,128,128]: forward alone, and forward + backward.
//   - linear [16,128,256] -> 768 (the q/k/v projection: matmul by W^T, plus a bias), forward +
//     backward (gradients of the input, the weight and the bias).
//   - block: the pre-norm block x + attn(ln1(x)), then + mlp(ln2(.)) with a GELU MLP of width
//     1024, loss mean(y^2), backward, AdamW step; written once per library, op for op the same.
//     Each library alone, and both alternated step by step in one loop (block_interleaved: the
//     medians of the per-pair ratios as counters ratio_wall and ratio_cpu).
// The backward passes get a fixed output gradient (no reduction in the loop), and the leaves'
// gradients are reset to none every iteration in both libraries.
//
// Run libtorch with passive OpenMP waiting (see bench/README.md):
//   OMP_WAIT_POLICY=passive ./peer_block --benchmark_min_time=0.5 --benchmark_repetitions=5
#include <benchmark/benchmark.h>
#include <time.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <optional>
#include <vector>

#include "ember.hpp"
#include "interleave.hpp"

namespace {

constexpr int kThreads = 2;
constexpr int64_t kB = 16, kT = 128, kC = 256, kH = 4, kD = kC / kH, kMlp = 4 * kC;

void threads() {
  ember::set_num_threads(kThreads);
  torch::set_num_threads(kThreads);
}

using peer::run;

// ---- layer_norm ----

void BM_layer_norm_fwd_ember(benchmark::State& state) {
  threads();
  ember::manual_seed(0);
  ember::Tensor x = ember::randn({kB, kT, kC});
  ember::Tensor w = ember::randn({kC}), b = ember::randn({kC});
  run(state, [&] {
    benchmark::DoNotOptimize(ember::nn::functional::layer_norm(x, {kC}, w, b).raw_data());
  });
}

void BM_layer_norm_fwd_torch(benchmark::State& state) {
  threads();
  torch::manual_seed(0);
  torch::Tensor x = torch::randn({kB, kT, kC});
  torch::Tensor w = torch::randn({kC}), b = torch::randn({kC});
  run(state, [&] { benchmark::DoNotOptimize(torch::layer_norm(x, {kC}, w, b).data_ptr()); });
}

void BM_layer_norm_ember(benchmark::State& state) {
  threads();
  ember::manual_seed(0);
  ember::Tensor x = ember::randn({kB, kT, kC}).requires_grad_();
  ember::Tensor w = ember::randn({kC}).requires_grad_(), b = ember::randn({kC}).requires_grad_();
  ember::Tensor g = ember::randn({kB, kT, kC});
  run(state, [&] {
    for (const ember::Tensor* t : {&x, &w, &b}) t->set_grad(ember::Tensor());
    ember::nn::functional::layer_norm(x, {kC}, w, b).backward(g);
    benchmark::DoNotOptimize(x.grad().raw_data());
  });
}

void BM_layer_norm_torch(benchmark::State& state) {
  threads();
  torch::manual_seed(0);
  torch::Tensor x = torch::randn({kB, kT, kC}).requires_grad_();
  torch::Tensor w = torch::randn({kC}).requires_grad_(), b = torch::randn({kC}).requires_grad_();
  torch::Tensor g = torch::randn({kB, kT, kC});
  run(state, [&] {
    for (torch::Tensor* t : {&x, &w, &b}) t->mutable_grad().reset();
    torch::layer_norm(x, {kC}, w, b).backward(g);
    benchmark::DoNotOptimize(x.grad().data_ptr());
  });
}

// ---- softmax ----

void BM_softmax_fwd_ember(benchmark::State& state) {
  threads();
  ember::manual_seed(0);
  ember::Tensor x = ember::randn({kB, kH, kT, kT});
  run(state, [&] { benchmark::DoNotOptimize(ember::softmax(x, -1).raw_data()); });
}

void BM_softmax_fwd_torch(benchmark::State& state) {
  threads();
  torch::manual_seed(0);
  torch::Tensor x = torch::randn({kB, kH, kT, kT});
  run(state, [&] { benchmark::DoNotOptimize(torch::softmax(x, -1).data_ptr()); });
}

void BM_softmax_ember(benchmark::State& state) {
  threads();
  ember::manual_seed(0);
  ember::Tensor x = ember::randn({kB, kH, kT, kT}).requires_grad_();
  ember::Tensor g = ember::randn({kB, kH, kT, kT});
  run(state, [&] {
    x.set_grad(ember::Tensor());
    ember::softmax(x, -1).backward(g);
    benchmark::DoNotOptimize(x.grad().raw_data());
  });
}

void BM_softmax_torch(benchmark::State& state) {
  threads();
  torch::manual_seed(0);
  torch::Tensor x = torch::randn({kB, kH, kT, kT}).requires_grad_();
  torch::Tensor g = torch::randn({kB, kH, kT, kT});
  run(state, [&] {
    x.mutable_grad().reset();
    torch::softmax(x, -1).backward(g);
    benchmark::DoNotOptimize(x.grad().data_ptr());
  });
}

// ---- linear (the q/k/v projection) ----

void BM_linear_ember(benchmark::State& state) {
  threads();
  ember::manual_seed(0);
  ember::Tensor x = ember::randn({kB, kT, kC}).requires_grad_();
  ember::Tensor w = (ember::randn({3 * kC, kC}) * 0.05).requires_grad_();
  ember::Tensor b = ember::randn({3 * kC}).requires_grad_();
  ember::Tensor g = ember::randn({kB, kT, 3 * kC});
  run(state, [&] {
    for (const ember::Tensor* t : {&x, &w, &b}) t->set_grad(ember::Tensor());
    ember::nn::functional::linear(x, w, b).backward(g);
    benchmark::DoNotOptimize(w.grad().raw_data());
  });
}

void BM_linear_torch(benchmark::State& state) {
  threads();
  torch::manual_seed(0);
  torch::Tensor x = torch::randn({kB, kT, kC}).requires_grad_();
  torch::Tensor w = (torch::randn({3 * kC, kC}) * 0.05).requires_grad_();
  torch::Tensor b = torch::randn({3 * kC}).requires_grad_();
  torch::Tensor g = torch::randn({kB, kT, 3 * kC});
  run(state, [&] {
    for (torch::Tensor* t : {&x, &w, &b}) t->mutable_grad().reset();
    torch::nn::functional::linear(x, w, b).backward(g);
    benchmark::DoNotOptimize(w.grad().data_ptr());
  });
}

// ---- the block ----

// The parameters of one block, in the same order for both libraries.
template <class T>
struct Block {
  T ln1_w, ln1_b, qkv_w, qkv_b, out_w, out_b, ln2_w, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b;
  std::vector<T> params() const {
    return {ln1_w, ln1_b, qkv_w, qkv_b, out_w, out_b, ln2_w, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b};
  }
};

// Weights ~ N(0, 1/fan_in), biases 0.1 N(0, 1), norms' weights 1 + 0.1 N(0, 1).
template <class T, class Randn>
Block<T> make_block(Randn randn) {
  auto lin = [&](int64_t out, int64_t in) {
    return (randn({out, in}) * (1.0 / std::sqrt(static_cast<double>(in)))).requires_grad_();
  };
  auto vec = [&](int64_t n, double base) { return (randn({n}) * 0.1 + base).requires_grad_(); };
  return {vec(kC, 1), vec(kC, 0), lin(3 * kC, kC), vec(3 * kC, 0), lin(kC, kC),   vec(kC, 0),
          vec(kC, 1), vec(kC, 0), lin(kMlp, kC),   vec(kMlp, 0),   lin(kC, kMlp), vec(kC, 0)};
}

ember::Tensor block_forward(const Block<ember::Tensor>& p, const ember::Tensor& x) {
  namespace F = ember::nn::functional;
  ember::Tensor h = F::layer_norm(x, {kC}, p.ln1_w, p.ln1_b);
  // [B, T, 3C] -> 3 x [B, H, T, D]
  ember::Tensor qkv =
      F::linear(h, p.qkv_w, p.qkv_b).view({kB, kT, 3, kH, kD}).permute({2, 0, 3, 1, 4});
  ember::Tensor q = qkv.select(0, 0), k = qkv.select(0, 1), v = qkv.select(0, 2);
  ember::Tensor att = F::softmax(q.matmul(k.transpose(-2, -1)) * (1.0 / std::sqrt(double(kD))), -1);
  ember::Tensor o = att.matmul(v).transpose(1, 2).reshape({kB, kT, kC});
  ember::Tensor x1 = x + F::linear(o, p.out_w, p.out_b);
  ember::Tensor m = F::layer_norm(x1, {kC}, p.ln2_w, p.ln2_b);
  m = F::linear(F::gelu(F::linear(m, p.fc1_w, p.fc1_b)), p.fc2_w, p.fc2_b);
  return x1 + m;
}

torch::Tensor block_forward(const Block<torch::Tensor>& p, const torch::Tensor& x) {
  namespace F = torch::nn::functional;
  torch::Tensor h = torch::layer_norm(x, {kC}, p.ln1_w, p.ln1_b);
  torch::Tensor qkv =
      F::linear(h, p.qkv_w, p.qkv_b).view({kB, kT, 3, kH, kD}).permute({2, 0, 3, 1, 4});
  torch::Tensor q = qkv.select(0, 0), k = qkv.select(0, 1), v = qkv.select(0, 2);
  torch::Tensor att =
      torch::softmax(q.matmul(k.transpose(-2, -1)) * (1.0 / std::sqrt(double(kD))), -1);
  torch::Tensor o = att.matmul(v).transpose(1, 2).reshape({kB, kT, kC});
  torch::Tensor x1 = x + F::linear(o, p.out_w, p.out_b);
  torch::Tensor m = torch::layer_norm(x1, {kC}, p.ln2_w, p.ln2_b);
  m = F::linear(torch::gelu(F::linear(m, p.fc1_w, p.fc1_b)), p.fc2_w, p.fc2_b);
  return x1 + m;
}

// One training step of the block per call; loss() is the last step's loss.
struct EmberBlockStep {
  Block<ember::Tensor> p =
      make_block<ember::Tensor>([](const ember::Dims& s) { return ember::randn(s); });
  ember::Tensor x = ember::randn({kB, kT, kC});
  ember::optim::AdamW opt{p.params(), {.lr = 1e-4}};
  double loss = 0;
  bool region = false;  // the step in a jit::Region
  void operator()() {
    std::optional<ember::jit::Region> r;
    if (region) r.emplace("block_step");
    opt.zero_grad();
    ember::Tensor y = block_forward(p, x);
    ember::Tensor l = (y * y).mean();
    l.backward();
    opt.step();
    r.reset();
    loss = l.item<double>();
  }
};

struct TorchBlockStep {
  Block<torch::Tensor> p =
      make_block<torch::Tensor>([](at::IntArrayRef s) { return torch::randn(s); });
  torch::Tensor x = torch::randn({kB, kT, kC});
  torch::optim::AdamW opt{p.params(), torch::optim::AdamWOptions(1e-4)};
  double loss = 0;
  void operator()() {
    for (auto& t : p.params()) t.mutable_grad().reset();  // set to none, as ember's zero_grad
    torch::Tensor y = block_forward(p, x);
    torch::Tensor l = (y * y).mean();
    l.backward();
    opt.step();
    loss = l.item<double>();
  }
};

void BM_block_ember(benchmark::State& state) {
  threads();
  ember::manual_seed(0);
  EmberBlockStep step;
  run(state, std::ref(step));
  state.counters["loss"] = step.loss;
}

void BM_block_torch(benchmark::State& state) {
  threads();
  torch::manual_seed(0);
  TorchBlockStep step;
  run(state, std::ref(step));
  state.counters["loss"] = step.loss;
}

// The two steps alternated within one loop, each timed on its own (wall and process CPU time):
// on a machine whose load drifts from second to second, the median of the per-pair ratios
// (counters ratio_wall, ratio_cpu) is steadier than two benchmarks run one after the other.
// The benchmark's own time is that of a pair.
void BM_block_interleaved(benchmark::State& state) {
  threads();
  ember::manual_seed(0);
  torch::manual_seed(0);
  EmberBlockStep ember_step;
  TorchBlockStep torch_step;
  peer::interleave(state, ember_step, torch_step);
}

// The step in a jit::Region (fused once hot: warmed past hot detection and the tier-up first),
// the same step eagerly, and libtorch's, alternated: counters fused_ms, eager_ms, torch_ms and
// the medians of eager/fused (target >= 1.5) and torch/fused (target >= 1.3).
void BM_block_jit_interleaved(benchmark::State& state) {
  threads();
  ember::manual_seed(0);
  torch::manual_seed(0);
  EmberBlockStep fused_step, eager_step;
  fused_step.region = true;
  TorchBlockStep torch_step;
  for (int i = 0; i < 30; ++i) {
    fused_step();
    ember::jit::wait_for_compiles();
  }
  const ember::jit::Stats s0 = ember::jit::stats();
  peer::fused_eager_torch(state, fused_step, eager_step, torch_step);
  const ember::jit::Stats s1 = ember::jit::stats();
  state.counters["graphs_per_step"] =
      static_cast<double>(s1.graphs - s0.graphs) / static_cast<double>(state.iterations());
  state.counters["breaks_per_step"] = static_cast<double>(s1.graph_breaks - s0.graph_breaks) /
                                      static_cast<double>(state.iterations());
}

// Wall time (the pools' threads do the work) and the whole process's CPU time, which is steadier
// on a shared machine (it counts libtorch's OpenMP threads spinning, too).
#define EMBER_PEER(fn) \
  BENCHMARK(fn)->MeasureProcessCPUTime()->UseRealTime()->Unit(benchmark::kMillisecond)
EMBER_PEER(BM_layer_norm_fwd_ember);
EMBER_PEER(BM_layer_norm_fwd_torch);
EMBER_PEER(BM_layer_norm_ember);
EMBER_PEER(BM_layer_norm_torch);
EMBER_PEER(BM_softmax_fwd_ember);
EMBER_PEER(BM_softmax_fwd_torch);
EMBER_PEER(BM_softmax_ember);
EMBER_PEER(BM_softmax_torch);
EMBER_PEER(BM_linear_ember);
EMBER_PEER(BM_linear_torch);
EMBER_PEER(BM_block_ember);
EMBER_PEER(BM_block_torch);
EMBER_PEER(BM_block_interleaved);
EMBER_PEER(BM_block_jit_interleaved);

}  // namespace
