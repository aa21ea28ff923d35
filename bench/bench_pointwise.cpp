// Pointwise throughput on 16M float32: ember's eager add, maximum and exp (which allocate their
// result each call, through the caching allocator) against a plain C++ loop doing the same pass
// in the same binary, split over the same thread pool. Arg = thread count.
//
//   ./bench_pointwise --benchmark_min_time=0.3 --benchmark_repetitions=5
#include <benchmark/benchmark.h>

#include <cmath>

#include "ember.hpp"
#include "runtime/ops/vecmath.hpp"  // libmvec declarations: the plain exp loop vectorises too

namespace {

constexpr int64_t kN = int64_t{1} << 24;  // 16M elements, 64 MiB per tensor

struct Data {
  ember::Tensor a, b, out;
  Data() {
    ember::manual_seed(0);
    a = ember::randn({kN});
    b = ember::randn({kN});
    out = ember::empty({kN});  // the plain loops' output, warmed once
    out.zero_();
  }
};

const Data& data() {
  static Data d;
  return d;
}

void setup_threads(benchmark::State& state) { ember::set_num_threads(int(state.range(0))); }

void report(benchmark::State& state, int tensors) {
  state.SetItemsProcessed(state.iterations() * kN);
  state.SetBytesProcessed(state.iterations() * kN * int64_t(sizeof(float)) * tensors);
}

// A raw loop over [0, n) split over ember's pool exactly as the kernels split theirs.
template <class F>
void plain_parallel(F&& body) {
  ember::parallel_for(0, kN, ember::kGrainSize, body);
}

void BM_add_ember(benchmark::State& state) {
  setup_threads(state);
  const Data& d = data();
  (void)(d.a + d.b);  // the first call maps the result block; later ones reuse it from the cache
  for (auto _ : state) {
    ember::Tensor c = d.a + d.b;
    benchmark::DoNotOptimize(c.raw_data());
  }
  report(state, 3);
}

// maximum: the NaN rule (a NaN in either input wins) on top of the compare.
void BM_maximum_ember(benchmark::State& state) {
  setup_threads(state);
  const Data& d = data();
  (void)ember::maximum(d.a, d.b);
  for (auto _ : state) {
    ember::Tensor c = ember::maximum(d.a, d.b);
    benchmark::DoNotOptimize(c.raw_data());
  }
  report(state, 3);
}

void BM_add_plain(benchmark::State& state) {
  setup_threads(state);
  const Data& d = data();
  const float* a = d.a.data_ptr<float>();
  const float* b = d.b.data_ptr<float>();
  float* c = d.out.data_ptr<float>();
  for (auto _ : state) {
    plain_parallel([=](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) c[i] = a[i] + b[i];
    });
    benchmark::DoNotOptimize(c);
    benchmark::ClobberMemory();
  }
  report(state, 3);
}

void BM_exp_ember(benchmark::State& state) {
  setup_threads(state);
  const Data& d = data();
  (void)d.a.exp();
  for (auto _ : state) {
    ember::Tensor c = d.a.exp();
    benchmark::DoNotOptimize(c.raw_data());
  }
  report(state, 2);
}

void BM_exp_plain(benchmark::State& state) {
  setup_threads(state);
  const Data& d = data();
  const float* a = d.a.data_ptr<float>();
  float* c = d.out.data_ptr<float>();
  for (auto _ : state) {
    plain_parallel([=](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) c[i] = std::exp(a[i]);
    });
    benchmark::DoNotOptimize(c);
    benchmark::ClobberMemory();
  }
  report(state, 2);
}

// The pool's threads do the work: wall time is the measure; the CPU column is the whole
// process's, which is steadier than wall time when other jobs share the cores.
#define EMBER_POINTWISE(fn)                                                                        \
  BENCHMARK(fn)->ArgName("threads")->Arg(1)->Arg(2)->MeasureProcessCPUTime()->UseRealTime()->Unit( \
      benchmark::kMillisecond)

EMBER_POINTWISE(BM_add_ember);
EMBER_POINTWISE(BM_add_plain);
EMBER_POINTWISE(BM_maximum_ember);
EMBER_POINTWISE(BM_exp_ember);
EMBER_POINTWISE(BM_exp_plain);

}  // namespace
