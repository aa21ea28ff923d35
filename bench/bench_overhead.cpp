// Per-op overhead of eager ember on tiny tensors: what dispatch, dtype promotion, broadcasting,
// result allocation and the loop set-up cost when the arithmetic itself is a few nanoseconds.
// The same-run comparison against libtorch is in bench/peer/peer_compare.cpp.
//
//   ./bench_overhead --benchmark_min_time=0.3 --benchmark_repetitions=5
#include <benchmark/benchmark.h>

#include "ember.hpp"

namespace {

ember::Tensor small(int64_t n, bool grad = false) {
  ember::Tensor t = ember::randn({n});
  if (grad) t.requires_grad_(true);
  return t;
}

// c = a + b on 8 floats: the headline overhead figure.
void BM_add8_ember(benchmark::State& state) {
  ember::set_num_threads(2);
  ember::Tensor a = small(8), b = small(8);
  for (auto _ : state) {
    ember::Tensor c = a + b;
    benchmark::DoNotOptimize(c.raw_data());
  }
}

// With a C++ scalar: adds making the wrapped 0-d tensor.
void BM_mul_scalar8_ember(benchmark::State& state) {
  ember::Tensor a = small(8);
  for (auto _ : state) {
    ember::Tensor c = a * 2.0;
    benchmark::DoNotOptimize(c.raw_data());
  }
}

void BM_exp8_ember(benchmark::State& state) {
  ember::Tensor a = small(8);
  for (auto _ : state) {
    ember::Tensor c = a.exp();
    benchmark::DoNotOptimize(c.raw_data());
  }
}

// A [4, 8] + [8] broadcast: the strided plan with a broadcast operand.
void BM_add_broadcast32_ember(benchmark::State& state) {
  ember::Tensor a = ember::randn({4, 8}), b = small(8);
  for (auto _ : state) {
    ember::Tensor c = a + b;
    benchmark::DoNotOptimize(c.raw_data());
  }
}

// The allocation part alone: a new 8-element tensor (TensorImpl + Storage + cached block).
void BM_empty8_ember(benchmark::State& state) {
  for (auto _ : state) {
    ember::Tensor c = ember::empty({8});
    benchmark::DoNotOptimize(c.raw_data());
  }
}

BENCHMARK(BM_add8_ember);
BENCHMARK(BM_mul_scalar8_ember);
BENCHMARK(BM_exp8_ember);
BENCHMARK(BM_add_broadcast32_ember);
BENCHMARK(BM_empty8_ember);

}  // namespace
