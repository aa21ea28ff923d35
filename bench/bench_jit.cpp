// The JIT (jit::Region) against eager ember and a hand-written loop:
//   - y = gelu(x*a + b) * sigmoid(x) on 16M float32 (a, b scalars): fused in a Region (compiled
//     during warm-up, before timing), the same eager ops, a one-pass vectorised loop (libmvec);
//     Arg = thread count;
//   - softmax over the rows of a 4096x4096 float32 matrix: fused vs eager; Arg = thread count;
//     and, as the machine's limit, a plain loop copying the matrix (the bytes a one-pass softmax
//     reads and writes);
//     the same written out as exp(m - amax) / sum (five eager ops, one row kernel fused);
//   - a column sum (m*m).sum(0) of that matrix (a reduction over the outer dim), fused vs eager;
//   - compile latency: every iteration compiles a kernel never seen before (a fresh constant);
//     counter compile_ms_median = the median of jit::stats().compile_ms per kernel;
//   - disk-cache hit latency: every iteration empties the in-memory cache and runs a region whose
//     kernel is on disk (EMBER_JIT_CACHE); counter disk_hits = hits per iteration (should be 1);
//   - steady-state overhead of a hot region (trace, hash, lookup, launch) on 8 floats, next to
//     the same ops run eagerly.
// Fused benchmarks report fused = fused graphs per iteration (1 when the JIT did its job).
// Unless EMBER_JIT_CACHE is set, the disk cache is a fresh temporary directory.
//
//   ./bench_jit --benchmark_min_time=0.3 --benchmark_repetitions=5
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "bench/chain_loop.hpp"  // the hand-written one-pass loop
#include "ember.hpp"
#include "jit/jit.hpp"

namespace {

namespace jit = ember::jit;

constexpr int64_t kN = int64_t{1} << 24;  // 16M elements, 64 MiB per tensor
constexpr int64_t kRows = 4096;
constexpr double kA = 0.75, kB = 0.25;

// A private disk cache, made before the JIT first reads EMBER_JIT_CACHE.
const bool kCacheSet = [] {
  if (std::getenv("EMBER_JIT_CACHE")) return false;
  static std::string dir =
      (std::filesystem::temp_directory_path() / "ember-bench-jit-XXXXXX").string();
  if (!::mkdtemp(dir.data())) return false;
  ::setenv("EMBER_JIT_CACHE", dir.c_str(), 0);
  std::atexit([] {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  });
  return true;
}();

ember::Tensor chain(const ember::Tensor& x) { return ember::gelu(x * kA + kB) * ember::sigmoid(x); }

struct Data {
  ember::Tensor x, out, m, m_out, tiny;
  Data() {
    ember::manual_seed(0);
    x = ember::randn({kN});
    out = ember::empty({kN});  // the hand loop's output, warmed once
    out.zero_();
    m = ember::randn({kRows, kRows});
    m_out = ember::empty({kRows, kRows});  // the copy's output, warmed once
    m_out.zero_();
    tiny = ember::randn({8});
  }
};

const Data& data() {
  static Data d;
  return d;
}

void setup_threads(benchmark::State& state) { ember::set_num_threads(int(state.range(0))); }

// Runs `body` inside a Region named `name` until its signature is hot and compiled.
template <class F>
void warm(const char* name, F&& body) {
  // Past the hot threshold (eager runs, then the quick compile) and the tier-up (the optimising
  // back end's recompile), so that the timed runs use the final kernels.
  for (int i = 0; i < jit::hot_threshold() + jit::tier_up_runs() + 1; ++i) {
    ember::Tensor keep;  // a result that dies inside the region is never computed
    jit::Region r(name);
    keep = body();
  }
}

// fused = fused graphs per iteration since `before`.
void report_fused(benchmark::State& state, const jit::Stats& before) {
  jit::Stats after = jit::stats();
  state.counters["fused"] = double(after.fused_graphs - before.fused_graphs) /
                            double(std::max<int64_t>(1, state.iterations()));
}

void BM_chain_fused(benchmark::State& state) {
  setup_threads(state);
  const Data& d = data();
  warm("bench_chain", [&] { return chain(d.x); });
  jit::Stats before = jit::stats();
  for (auto _ : state) {
    ember::Tensor y;
    {
      jit::Region r("bench_chain");
      y = chain(d.x);
    }
    benchmark::DoNotOptimize(y.raw_data());
  }
  report_fused(state, before);
  state.SetItemsProcessed(state.iterations() * kN);
}

void BM_chain_eager(benchmark::State& state) {
  setup_threads(state);
  const Data& d = data();
  (void)chain(d.x);  // the first call maps the result blocks; later ones reuse them
  for (auto _ : state) {
    ember::Tensor y = chain(d.x);
    benchmark::DoNotOptimize(y.raw_data());
  }
  state.SetItemsProcessed(state.iterations() * kN);
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
  state.SetItemsProcessed(state.iterations() * kN);
}

// Times `body` on the 4096x4096 matrix in a Region named `name` (compiled before timing).
template <class F>
void run_fused(benchmark::State& state, const char* name, F&& body) {
  setup_threads(state);
  const Data& d = data();
  warm(name, [&] { return body(d.m); });
  jit::Stats before = jit::stats();
  for (auto _ : state) {
    ember::Tensor y;
    {
      jit::Region r(name);
      y = body(d.m);
    }
    benchmark::DoNotOptimize(y.raw_data());
  }
  report_fused(state, before);
  state.SetItemsProcessed(state.iterations() * kRows * kRows);
}

// Times `body` on the 4096x4096 matrix, eagerly.
template <class F>
void run_eager(benchmark::State& state, F&& body) {
  setup_threads(state);
  const Data& d = data();
  (void)body(d.m);  // the first call maps the result blocks; later ones reuse them
  for (auto _ : state) {
    ember::Tensor y = body(d.m);
    benchmark::DoNotOptimize(y.raw_data());
  }
  state.SetItemsProcessed(state.iterations() * kRows * kRows);
}

ember::Tensor softmax_op(const ember::Tensor& m) { return ember::softmax(m, -1); }
// The same formula written out as a user would: one eager op each, fused into a row kernel.
ember::Tensor softmax_composed(const ember::Tensor& m) {
  ember::Tensor e = ember::exp(m - m.amax({1}, /*keepdim=*/true));
  return e / e.sum({1}, /*keepdim=*/true);
}
// A reduction over the outer dim with a pointwise producer.
ember::Tensor column_sum(const ember::Tensor& m) { return (m * m).sum({0}); }

void BM_softmax_fused(benchmark::State& state) { run_fused(state, "bench_softmax", softmax_op); }
void BM_softmax_eager(benchmark::State& state) { run_eager(state, softmax_op); }
// The memory traffic of a one-pass softmax alone: y = x over the matrix, on ember's pool.
void BM_softmax_copy(benchmark::State& state) {
  setup_threads(state);
  const Data& d = data();
  const float* x = d.m.data_ptr<float>();
  float* y = d.m_out.data_ptr<float>();
  for (auto _ : state) {
    ember::parallel_for(0, kRows * kRows, 4096, [=](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) y[i] = x[i];
    });
    benchmark::DoNotOptimize(y);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * kRows * kRows);
}
void BM_softmax_composed_fused(benchmark::State& state) {
  run_fused(state, "bench_softmax_composed", softmax_composed);
}
void BM_softmax_composed_eager(benchmark::State& state) { run_eager(state, softmax_composed); }
void BM_column_sum_fused(benchmark::State& state) {
  run_fused(state, "bench_column_sum", column_sum);
}
void BM_column_sum_eager(benchmark::State& state) { run_eager(state, column_sum); }

// A small pointwise chain whose constant makes each kernel new.
ember::Tensor compile_body(const ember::Tensor& x, double c) {
  return ember::tanh(x * c + 1) * ember::exp(-x) - c;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Arg 0: the first compile of a hot region (the quick tier); 1: the optimising back end (the
// tier-up's recompile, or every compile with EMBER_JIT_TIERUP=0).
void BM_compile_fresh(benchmark::State& state) {
  ember::set_num_threads(1);
  jit::set_hot_threshold(1);
  const int tier_up = jit::tier_up_runs();
  if (state.range(0) == 1)
    jit::set_tier_up_runs(0);
  else if (tier_up == 0)
    jit::set_tier_up_runs(16);
  jit::set_max_specializations(INT_MAX);
  ember::Tensor x = ember::randn({1024});
  // Salted per process: a second run with the same EMBER_JIT_CACHE must still compile.
  static uint64_t counter = std::random_device{}() % 1000000 * 1000;
  std::vector<double> ms;
  int64_t compiled = 0;
  for (auto _ : state) {
    double c = 1.0 + double(++counter) * 1e-9;
    jit::Stats s0 = jit::stats();
    ember::Tensor y;
    {
      jit::Region r("bench_compile");
      y = compile_body(x, c);
    }
    benchmark::DoNotOptimize(y.raw_data());
    jit::Stats s1 = jit::stats();
    ms.push_back(s1.compile_ms - s0.compile_ms);
    compiled += s1.kernels_compiled - s0.kernels_compiled;
  }
  state.counters["compile_ms_median"] = median(ms);
  state.counters["kernels"] = double(compiled) / double(std::max<int64_t>(1, state.iterations()));
  jit::set_tier_up_runs(tier_up);
}

void BM_disk_cache_hit(benchmark::State& state) {
  ember::set_num_threads(1);
  jit::set_hot_threshold(1);
  ember::Tensor x = ember::randn({1024});
  auto once = [&] {
    jit::Region r("bench_disk");
    return compile_body(x, 0.4242);
  };
  (void)once();  // compiled and written to the disk cache (or already there)
  int64_t hits = 0;
  for (auto _ : state) {
    state.PauseTiming();
    jit::clear_cache();
    jit::Stats s0 = jit::stats();
    state.ResumeTiming();
    ember::Tensor y = once();
    benchmark::DoNotOptimize(y.raw_data());
    state.PauseTiming();
    hits += jit::stats().disk_cache_hits - s0.disk_cache_hits;
    state.ResumeTiming();
  }
  state.counters["disk_hits"] = double(hits) / double(std::max<int64_t>(1, state.iterations()));
}

// The same region, hot and cached: per-call cost of tracing 2 ops, hashing, lookup and launch.
void BM_overhead_fused(benchmark::State& state) {
  ember::set_num_threads(1);
  const Data& d = data();
  warm("bench_tiny", [&] { return d.tiny * 2 + 1; });
  jit::Stats before = jit::stats();
  for (auto _ : state) {
    ember::Tensor y;
    {
      jit::Region r("bench_tiny");
      y = d.tiny * 2 + 1;
    }
    benchmark::DoNotOptimize(y.raw_data());
  }
  report_fused(state, before);
}

void BM_overhead_eager(benchmark::State& state) {
  ember::set_num_threads(1);
  const Data& d = data();
  for (auto _ : state) {
    ember::Tensor y = d.tiny * 2 + 1;
    benchmark::DoNotOptimize(y.raw_data());
  }
}

// The pool's threads do the work: wall time is the measure; the CPU column is the whole
// process's, which is steadier than wall time when other jobs share the cores.
#define EMBER_JIT_BENCH(fn)                                                                        \
  BENCHMARK(fn)->ArgName("threads")->Arg(1)->Arg(2)->MeasureProcessCPUTime()->UseRealTime()->Unit( \
      benchmark::kMillisecond)

EMBER_JIT_BENCH(BM_chain_fused);
EMBER_JIT_BENCH(BM_chain_eager);
EMBER_JIT_BENCH(BM_chain_plain);
EMBER_JIT_BENCH(BM_softmax_fused);
EMBER_JIT_BENCH(BM_softmax_eager);
EMBER_JIT_BENCH(BM_softmax_copy);
EMBER_JIT_BENCH(BM_softmax_composed_fused);
EMBER_JIT_BENCH(BM_softmax_composed_eager);
EMBER_JIT_BENCH(BM_column_sum_fused);
EMBER_JIT_BENCH(BM_column_sum_eager);
BENCHMARK(BM_compile_fresh)
    ->ArgName("full")
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(30);
BENCHMARK(BM_disk_cache_hit)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_overhead_fused)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_overhead_eager)->Unit(benchmark::kMicrosecond);

}  // namespace
