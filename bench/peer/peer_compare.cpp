// ember against libtorch (Debian's libtorch 1.13, CPU) in one process, both on 2 threads.
//   - chain: y = gelu(x * a + b) * sigmoid(x) on 16M float32 as eager ops (5 ops, 5 results of
//     64 MiB each). libtorch takes each result from glibc malloc; run this binary once as is and
//     once with GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736
//     (a heap that keeps its pages) to see both sides of that.
//   - add8: per-op overhead of c = a + b on 8 floats, plain and with requires_grad inputs.
//
//   ./peer_compare --benchmark_min_time=0.3 --benchmark_repetitions=5
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "ember.hpp"

namespace {

constexpr int64_t kN = int64_t{1} << 24;
constexpr double kA = 0.75, kB = 0.25;
constexpr int kThreads = 2;

void threads() {
  ember::set_num_threads(kThreads);
  torch::set_num_threads(kThreads);
}

// ---- the chain ----

void BM_chain_ember(benchmark::State& state) {
  threads();
  ember::manual_seed(0);
  ember::Tensor x = ember::randn({kN});
  (void)(ember::gelu(x * kA + kB) * ember::sigmoid(x));  // warm-up: map the cached blocks
  for (auto _ : state) {
    ember::Tensor y = ember::gelu(x * kA + kB) * ember::sigmoid(x);
    benchmark::DoNotOptimize(y.raw_data());
  }
  state.SetItemsProcessed(state.iterations() * kN);
}

void BM_chain_torch(benchmark::State& state) {
  threads();
  torch::manual_seed(0);
  torch::Tensor x = torch::randn({kN});
  (void)(torch::gelu(x * kA + kB) * torch::sigmoid(x));  // warm-up: grows a keeping heap
  for (auto _ : state) {
    torch::Tensor y = torch::gelu(x * kA + kB) * torch::sigmoid(x);
    benchmark::DoNotOptimize(y.data_ptr());
  }
  state.SetItemsProcessed(state.iterations() * kN);
}

// ---- one big op each, for context (not a target) ----

void BM_add16M_ember(benchmark::State& state) {
  threads();
  ember::Tensor a = ember::randn({kN}), b = ember::randn({kN});
  (void)(a + b);
  for (auto _ : state) {
    ember::Tensor c = a + b;
    benchmark::DoNotOptimize(c.raw_data());
  }
}

void BM_add16M_torch(benchmark::State& state) {
  threads();
  torch::Tensor a = torch::randn({kN}), b = torch::randn({kN});
  (void)(a + b);
  for (auto _ : state) {
    torch::Tensor c = a + b;
    benchmark::DoNotOptimize(c.data_ptr());
  }
}

// ---- per-op overhead on 8 elements ----

void BM_add8_ember(benchmark::State& state) {
  threads();
  ember::Tensor a = ember::randn({8}), b = ember::randn({8});
  for (auto _ : state) {
    ember::Tensor c = a + b;
    benchmark::DoNotOptimize(c.raw_data());
  }
}

void BM_add8_torch(benchmark::State& state) {
  threads();
  torch::Tensor a = torch::randn({8}), b = torch::randn({8});
  for (auto _ : state) {
    torch::Tensor c = a + b;
    benchmark::DoNotOptimize(c.data_ptr());
  }
}

// libtorch's fastest eager mode (no autograd or version bookkeeping), for context.
void BM_add8_torch_inference_mode(benchmark::State& state) {
  threads();
  c10::InferenceMode guard;
  torch::Tensor a = torch::randn({8}), b = torch::randn({8});
  for (auto _ : state) {
    torch::Tensor c = a + b;
    benchmark::DoNotOptimize(c.data_ptr());
  }
}

// With requires_grad inputs each op also records a graph node. Skipped while ember has no
// autograd engine (an op on requires_grad inputs then records nothing and the figure would lie).
void BM_add8_grad_ember(benchmark::State& state) {
  threads();
  ember::Tensor a = ember::randn({8}).requires_grad_(), b = ember::randn({8}).requires_grad_();
  if (!(a + b).grad_fn()) {
    state.SkipWithError("ember autograd is not built yet: a + b records no grad_fn");
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

// Big ops: wall time (the pools' threads do the work) and the whole process's CPU time, which is
// steadier on a shared machine (it counts libtorch's OpenMP threads spinning, too).
#define EMBER_BIG(fn) \
  BENCHMARK(fn)->MeasureProcessCPUTime()->UseRealTime()->Unit(benchmark::kMillisecond)
EMBER_BIG(BM_chain_ember);
EMBER_BIG(BM_chain_torch);
EMBER_BIG(BM_add16M_ember);
EMBER_BIG(BM_add16M_torch);
// Tiny ops run on the calling thread alone: its CPU time is the steadier column.
BENCHMARK(BM_add8_ember)->UseRealTime();
BENCHMARK(BM_add8_torch)->UseRealTime();
BENCHMARK(BM_add8_torch_inference_mode)->UseRealTime();
BENCHMARK(BM_add8_grad_ember)->UseRealTime();
BENCHMARK(BM_add8_grad_torch)->UseRealTime();

}  // namespace
