// matmul 1024 x 1024 x 1024 float32: ember::matmul against a raw cblas_sgemm on the same data in
// the same binary (both OpenBLAS underneath; ember::set_num_threads sets OpenBLAS's threads).
// Arg = thread count.
//
//   ./bench_matmul --benchmark_min_time=0.3 --benchmark_repetitions=5
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <exception>

#include "ember.hpp"

namespace {

constexpr int64_t kM = 1024, kK = 1024, kN = 1024;

struct Data {
  ember::Tensor a, b, out;
  Data() {
    ember::manual_seed(0);
    a = ember::randn({kM, kK});
    b = ember::randn({kK, kN});
    out = ember::zeros({kM, kN});
  }
};

const Data& data() {
  static Data d;
  return d;
}

void report(benchmark::State& state) {
  state.counters["GFLOPS"] = benchmark::Counter(
      double(state.iterations()) * 2.0 * kM * kK * kN * 1e-9, benchmark::Counter::kIsRate);
}

void BM_matmul_ember(benchmark::State& state) {
  ember::set_num_threads(int(state.range(0)));
  const Data& d = data();
  try {
    ember::matmul(d.a, d.b);  // warm-up; also tells a missing kernel apart from a slow one
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  for (auto _ : state) {
    ember::Tensor c = ember::matmul(d.a, d.b);
    benchmark::DoNotOptimize(c.raw_data());
  }
  report(state);
}

void BM_matmul_cblas(benchmark::State& state) {
  ember::set_num_threads(int(state.range(0)));
  const Data& d = data();
  const float* a = d.a.data_ptr<float>();
  const float* b = d.b.data_ptr<float>();
  float* c = d.out.data_ptr<float>();
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, kM, kN, kK, 1.0f, a, kK, b, kN, 0.0f, c,
                kN);
    benchmark::DoNotOptimize(c);
    benchmark::ClobberMemory();
  }
  report(state);
}

#define EMBER_MATMUL(fn)                                                                           \
  BENCHMARK(fn)->ArgName("threads")->Arg(1)->Arg(2)->MeasureProcessCPUTime()->UseRealTime()->Unit( \
      benchmark::kMillisecond)

EMBER_MATMUL(BM_matmul_ember);
EMBER_MATMUL(BM_matmul_cblas);

}  // namespace
