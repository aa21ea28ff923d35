// Fused training (issue 14's MLP): the training step of an MLP 784-512-512-10 with LayerNorm and
// GELU, cross_entropy, AdamW, batch 256, 2 threads — in a jit::Region (fused once hot), the same
// step eagerly, libtorch's step written the same way, and the step's GEMMs alone through
// OpenBLAS (the floor no fusion goes below: 3 forward, 2 + 3 backward). Alternated in one loop
// (bench/peer/interleave.hpp): counters fused_ms, eager_ms, torch_ms, gemm_ms and the medians of
// eager/fused (target >= 1.3), torch/fused (target >= 1.3) and fused/gemm.
//
//   OMP_WAIT_POLICY=passive ./peer_jit_train --benchmark_min_time=2
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <torch/torch.h>

#include <optional>

#include "ember.hpp"
#include "interleave.hpp"

namespace {

constexpr int64_t kBatch = 256, kIn = 784, kHidden = 512, kOut = 10;

struct EmberStep {
  ember::nn::Sequential net = ember::nn::Sequential(
      ember::nn::Linear(kIn, kHidden), ember::nn::LayerNorm(kHidden), ember::nn::GELU(),
      ember::nn::Linear(kHidden, kHidden), ember::nn::LayerNorm(kHidden), ember::nn::GELU(),
      ember::nn::Linear(kHidden, kOut));
  ember::optim::AdamW opt{net.parameters(), {.lr = 1e-3}};
  ember::Tensor x = ember::randn({kBatch, kIn}), y = ember::randint(0, kOut, {kBatch});
  bool region = false;
  void operator()() {
    std::optional<ember::jit::Region> r;
    if (region) r.emplace("mlp_step");
    ember::Tensor loss = ember::nn::functional::cross_entropy(net(x), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
};

struct TorchStep {
  torch::nn::Sequential net{torch::nn::Linear(kIn, kHidden),
                            torch::nn::LayerNorm(torch::nn::LayerNormOptions({kHidden})),
                            torch::nn::GELU(),
                            torch::nn::Linear(kHidden, kHidden),
                            torch::nn::LayerNorm(torch::nn::LayerNormOptions({kHidden})),
                            torch::nn::GELU(),
                            torch::nn::Linear(kHidden, kOut)};
  torch::optim::AdamW opt{net->parameters(), torch::optim::AdamWOptions(1e-3)};
  torch::Tensor x = torch::randn({kBatch, kIn}), y = torch::randint(0, kOut, {kBatch});
  void operator()() {
    torch::Tensor loss = torch::nn::functional::cross_entropy(net->forward(x), y);
    for (auto& p : net->parameters()) p.mutable_grad().reset();  // none, as ember's zero_grad
    loss.backward();
    opt.step();
  }
};

// The step's GEMMs in the layouts the step uses: y = x W^T forward; dx = g W and dW = g^T x
// backward (no dx for the first layer).
struct Gemms {
  std::vector<float> x = std::vector<float>(kBatch * kIn, 0.5f),
                     h = std::vector<float>(kBatch * kHidden, 0.5f),
                     w1 = std::vector<float>(kHidden * kIn, 0.01f),
                     w2 = std::vector<float>(kHidden * kHidden, 0.01f),
                     w3 = std::vector<float>(kOut * kHidden, 0.01f),
                     g3 = std::vector<float>(kBatch * kOut, 0.1f),
                     g = std::vector<float>(kBatch * kHidden, 0.1f),
                     out = std::vector<float>(kHidden * kIn);
  // c[m, n] = a[m, k] b[k, n], a and b given transposed or not.
  void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, const float* b) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                int(m), int(n), int(k), 1.f, a, ta ? int(m) : int(k), b, tb ? int(k) : int(n), 0.f,
                out.data(), int(n));
  }
  void operator()() {
    gemm(false, true, kBatch, kHidden, kIn, x.data(), w1.data());       // layer 1
    gemm(false, true, kBatch, kHidden, kHidden, h.data(), w2.data());   // layer 2
    gemm(false, true, kBatch, kOut, kHidden, h.data(), w3.data());      // layer 3
    gemm(false, false, kBatch, kHidden, kOut, g3.data(), w3.data());    // dx3
    gemm(true, false, kOut, kHidden, kBatch, g3.data(), h.data());      // dW3
    gemm(false, false, kBatch, kHidden, kHidden, g.data(), w2.data());  // dx2
    gemm(true, false, kHidden, kHidden, kBatch, g.data(), h.data());    // dW2
    gemm(true, false, kHidden, kIn, kBatch, g.data(), x.data());        // dW1
  }
};

void BM_mlp_jit_interleaved(benchmark::State& state) {
  ember::set_num_threads(2);
  torch::set_num_threads(2);
  ember::manual_seed(0);
  torch::manual_seed(0);
  EmberStep fused, eager;
  fused.region = true;
  TorchStep torch_step;
  Gemms gemms;
  for (int i = 0; i < 30; ++i) {  // past hot detection and the tier-up
    fused();
    ember::jit::wait_for_compiles();
  }
  eager();
  torch_step();
  gemms();
  const ember::jit::Stats s0 = ember::jit::stats();
  peer::Rounds r(4);
  for (auto _ : state) {
    r.time(0, fused);
    r.time(1, eager);
    r.time(2, torch_step);
    r.time(3, gemms);
  }
  const ember::jit::Stats s1 = ember::jit::stats();
  const auto per_step = [&](int64_t n) {
    return static_cast<double>(n) / static_cast<double>(state.iterations());
  };
  state.counters["fused_ms"] = peer::median(r.wall[0]);
  state.counters["eager_ms"] = peer::median(r.wall[1]);
  state.counters["torch_ms"] = peer::median(r.wall[2]);
  state.counters["gemm_ms"] = peer::median(r.wall[3]);
  state.counters["eager_over_fused"] = r.ratio(1, 0);
  state.counters["torch_over_fused"] = r.ratio(2, 0);
  state.counters["fused_over_gemm"] = r.ratio(0, 3);
  state.counters["graphs_per_step"] = per_step(s1.graphs - s0.graphs);
  state.counters["breaks_per_step"] = per_step(s1.graph_breaks - s0.graph_breaks);
  state.counters["kernels_compiled"] =
      static_cast<double>(s1.kernels_compiled - s0.kernels_compiled);
}
BENCHMARK(BM_mlp_jit_interleaved)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
