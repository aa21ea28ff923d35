// The dsl's fusion on 16M float32: y = gelu(x * a + b) * sigmoid(x) (a, b runtime scalars)
//   - as ONE dsl::pointwise kernel (one pass, no temporaries), compiled as a user's project
//     compiles it (this file gets CMAKE_BUILD_TYPE's flags only, no -march: the kernel's loops
//     run their AVX2 / AVX-512 variants, runtime/ops/loops.hpp),
//   - the same kernel compiled with -march=native (bench/dsl_chain_native.cpp),
//   - as the same formula composed of eager ember ops (five passes, five results),
//   - as a hand-written one-pass C++ loop with vectorised libm (libmvec), split over the same
//     thread pool, built with -march=native (bench/chain_loop.cpp),
// and the backward of the dsl kernel (one fused pass) against the backward of the eager graph.
// Arg = thread count.
//
//   ./bench_dsl --benchmark_min_time=0.3 --benchmark_repetitions=5
#include <benchmark/benchmark.h>

#include "bench/chain_loop.hpp"  // the hand-written one-pass loop
#include "bench/dsl_chain.hpp"   // the kernel
#include "ember.hpp"

namespace {

constexpr int64_t kN = int64_t{1} << 24;  // 16M elements, 64 MiB per tensor
constexpr double kA = ember::bench::kChainA, kB = ember::bench::kChainB;
constexpr auto chain = ember::bench::dsl_chain;

ember::Tensor chain_eager(const ember::Tensor& x) {
  return ember::gelu(x * kA + kB) * ember::sigmoid(x);
}

struct Data {
  ember::Tensor x, g, out;
  Data() {
    ember::manual_seed(0);
    x = ember::randn({kN});
    g = ember::ones({kN});     // the upstream gradient of both backward benchmarks
    out = ember::empty({kN});  // the hand loop's output, warmed once
    out.zero_();
  }
};

const Data& data() {
  static Data d;
  return d;
}

void setup_threads(benchmark::State& state) { ember::set_num_threads(int(state.range(0))); }

void report(benchmark::State& state) { state.SetItemsProcessed(state.iterations() * kN); }

void BM_chain_dsl(benchmark::State& state) {
  setup_threads(state);
  const Data& d = data();
  (void)chain(d.x);  // the first call maps the result block; later ones reuse it from the cache
  for (auto _ : state) {
    ember::Tensor y = chain(d.x);
    benchmark::DoNotOptimize(y.raw_data());
  }
  report(state);
}

void BM_chain_dsl_native(benchmark::State& state) {
  setup_threads(state);
  const Data& d = data();
  (void)ember::bench::dsl_chain_native(d.x);
  for (auto _ : state) {
    ember::Tensor y = ember::bench::dsl_chain_native(d.x);
    benchmark::DoNotOptimize(y.raw_data());
  }
  report(state);
}

void BM_chain_eager(benchmark::State& state) {
  setup_threads(state);
  const Data& d = data();
  (void)chain_eager(d.x);
  for (auto _ : state) {
    ember::Tensor y = chain_eager(d.x);
    benchmark::DoNotOptimize(y.raw_data());
  }
  report(state);
}

void BM_chain_plain(benchmark::State& state) {
  setup_threads(state);
  const Data& d = data();
  const float* x = d.x.data_ptr<float>();
  float* y = d.out.data_ptr<float>();
  const float a = kA, b = kB;
  for (auto _ : state) {
    ember::bench::chain_plain(x, y, kN, a, b);
    benchmark::DoNotOptimize(y);
    benchmark::ClobberMemory();
  }
  report(state);
}

// Backward alone: the graph is built once and kept (retain_graph); each iteration computes
// dy/dx for the upstream gradient g, returned without touching x.grad().
template <class F>
void backward(benchmark::State& state, F&& forward) {
  setup_threads(state);
  const Data& d = data();
  ember::Tensor x = d.x.detach().requires_grad_();
  ember::Tensor y = forward(x);
  (void)ember::autograd::grad({y}, {x}, {d.g}, true);
  for (auto _ : state) {
    ember::Tensor gx = ember::autograd::grad({y}, {x}, {d.g}, true)[0];
    benchmark::DoNotOptimize(gx.raw_data());
  }
  report(state);
}

void BM_chain_backward_dsl(benchmark::State& state) {
  backward(state, [](const ember::Tensor& x) { return chain(x); });
}

void BM_chain_backward_dsl_native(benchmark::State& state) {
  backward(state, ember::bench::dsl_chain_native);
}

void BM_chain_backward_eager(benchmark::State& state) { backward(state, chain_eager); }

// The same gradient from a hand-written one-pass loop: the bound for the fused backward.
void BM_chain_backward_plain(benchmark::State& state) {
  setup_threads(state);
  const Data& d = data();
  const float* x = d.x.data_ptr<float>();
  const float* g = d.g.data_ptr<float>();
  float* gx = d.out.data_ptr<float>();
  for (auto _ : state) {
    ember::bench::chain_backward_plain(x, g, gx, kN, float(kA), float(kB));
    benchmark::DoNotOptimize(gx);
    benchmark::ClobberMemory();
  }
  report(state);
}

// The pool's threads do the work: wall time is the measure; the CPU column is the whole
// process's, which is steadier than wall time when other jobs share the cores.
#define EMBER_DSL_BENCH(fn)                                                                        \
  BENCHMARK(fn)->ArgName("threads")->Arg(1)->Arg(2)->MeasureProcessCPUTime()->UseRealTime()->Unit( \
      benchmark::kMillisecond)

EMBER_DSL_BENCH(BM_chain_dsl);
EMBER_DSL_BENCH(BM_chain_dsl_native);
EMBER_DSL_BENCH(BM_chain_eager);
EMBER_DSL_BENCH(BM_chain_plain);
EMBER_DSL_BENCH(BM_chain_backward_dsl);
EMBER_DSL_BENCH(BM_chain_backward_dsl_native);
EMBER_DSL_BENCH(BM_chain_backward_eager);
EMBER_DSL_BENCH(BM_chain_backward_plain);

}  // namespace
