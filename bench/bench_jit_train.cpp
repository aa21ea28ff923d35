// A training step in a jit::Region, as users write it: an MLP's forward, cross_entropy,
// backward, and an SGD-with-momentum update whose lr a scheduler changes every step.
//   BM_step_eager          the step without a region
//   BM_step_region         the same step in a region, kernels ready (counter: kernels compiled
//                          during the timed steps, which must be 0: the lr is a runtime scalar)
//   BM_step_shadow         the region step in shadow mode (each fused run also run eagerly)
//   BM_first_steps         50 steps from an empty kernel cache with background compilation,
//                          against the median eager step (eager_ms), counters:
//                          slowest_over_eager     the slowest of the 50 region steps
//                          capture_over_eager     the slowest traced step run eagerly (the
//                                                 region's first runs, before any compile)
//                          compiling_over_eager   the slowest step while its kernels compile
//                                                 (untraced, one core left to the compiler)
//                          steps_to_fused         steps until the first fused one (it goes on
//                                                 past 50 until then)
//                          eager_slowest_over_eager  the slowest of the 50 eager steps (the
//                                                 same code, untraced, run first in the process:
//                                                 its first steps pay the process's first-time
//                                                 costs), for comparison
//   BM_compile_step        the whole step's compile on the calling thread: the first tier
//                          (quick_ms), the tier-up (full_ms), kernels
//   BM_compile_optimizer/N AdamW's update of N parameter tensors alone (10 and 1,000): its
//                          compile (compile_ms) and kernels, which must not grow with N
// 784-256-256-10, batch 64, 2 threads unless --benchmark_filter picks otherwise.
// Unless EMBER_JIT_CACHE is set, the disk cache is off: compiles are really compiles.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <vector>

#include "ember.hpp"

using namespace ember;

namespace {

const bool no_disk_cache = [] { return ::setenv("EMBER_JIT_CACHE", "0", 0) == 0; }();

struct Trainer {
  nn::Sequential net = nn::Sequential(nn::Linear(784, 256), nn::ReLU(), nn::Linear(256, 256),
                                      nn::ReLU(), nn::Linear(256, 10));
  optim::SGD opt{net.parameters(), {.lr = 0.05, .momentum = 0.9}};
  optim::StepLR sched{opt, 1, 0.999};  // a new lr every step
  Tensor x, y;
  Trainer() {
    manual_seed(0);
    x = randn({64, 784});
    y = randint(0, 10, {64});
  }
  void step(bool region) {
    std::optional<jit::Region> r;
    if (region) r.emplace("train_step");
    Tensor loss = nn::functional::cross_entropy(net(x), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
    r.reset();
    sched.step();
  }
};

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

void BM_step_eager(benchmark::State& state) {
  set_num_threads(2);
  Trainer t;
  for (int i = 0; i < 5; ++i) t.step(false);
  for (auto _ : state) t.step(false);
}
BENCHMARK(BM_step_eager)->Unit(benchmark::kMillisecond)->UseRealTime();

void warm(Trainer& t) {
  for (int i = 0; i < 40; ++i) {  // past hot detection and the tier-up
    t.step(true);
    jit::wait_for_compiles();
  }
}

void BM_step_region(benchmark::State& state) {
  set_num_threads(2);
  Trainer t;
  warm(t);
  const jit::Stats s0 = jit::stats();
  for (auto _ : state) t.step(true);
  const jit::Stats s1 = jit::stats();
  state.counters["kernels_compiled"] = double(s1.kernels_compiled - s0.kernels_compiled);
  state.counters["fused_per_step"] =
      double(s1.fused_graphs - s0.fused_graphs) / double(state.iterations());
}
BENCHMARK(BM_step_region)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_step_shadow(benchmark::State& state) {
  set_num_threads(2);
  Trainer t;
  warm(t);
  jit::set_shadow(true);
  const int64_t m0 = jit::stats().shadow_mismatches;
  for (auto _ : state) t.step(true);
  jit::set_shadow(false);
  state.counters["mismatches"] = double(jit::stats().shadow_mismatches - m0);
}
BENCHMARK(BM_step_shadow)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_first_steps(benchmark::State& state) {
  set_num_threads(2);
  double slowest = 0, capture = 0, compiling = 0, eager = 0, eager_slowest = 0;
  int to_fused = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<double> eager_ms;
    {
      Trainer e;
      for (int i = 0; i < 50; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        e.step(false);
        eager_ms.push_back(ms_since(t0));
      }
    }
    eager_slowest = *std::max_element(eager_ms.begin(), eager_ms.end());
    std::nth_element(eager_ms.begin(), eager_ms.begin() + 25, eager_ms.end());
    eager = eager_ms[25];
    jit::wait_for_compiles();
    jit::clear_cache();  // every signature new again (and no disk cache)
    state.ResumeTiming();
    Trainer t;
    slowest = capture = compiling = 0;
    to_fused = 0;
    for (int i = 0; i < 50 || to_fused == 0; ++i) {
      const jit::Stats s0 = jit::stats();
      auto t0 = std::chrono::steady_clock::now();
      t.step(true);
      const double ms = ms_since(t0);
      const jit::Stats s1 = jit::stats();
      if (s1.fused_graphs > s0.fused_graphs && to_fused == 0) to_fused = i + 1;
      if (i >= 50) continue;
      slowest = std::max(slowest, ms);
      if (s1.untraced_runs > s0.untraced_runs) compiling = std::max(compiling, ms);
      if (s1.eager_graphs > s0.eager_graphs) capture = std::max(capture, ms);
    }
    state.PauseTiming();
    jit::wait_for_compiles();
    state.ResumeTiming();
  }
  state.counters["eager_ms"] = eager;
  state.counters["slowest_over_eager"] = slowest / eager;
  state.counters["capture_over_eager"] = capture / eager;
  state.counters["compiling_over_eager"] = compiling / eager;
  state.counters["steps_to_fused"] = to_fused;
  state.counters["eager_slowest_over_eager"] = eager_slowest / eager;
}
BENCHMARK(BM_first_steps)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

// Compiles on the calling thread from an empty kernel cache, hot at first sight, one tier-up
// after one run: what the compile of a region costs. Restores the JIT's settings after.
struct CompileSettings {
  int hot = jit::hot_threshold(), tier = jit::tier_up_runs();
  bool async = jit::async_compile();
  explicit CompileSettings(int tier_up) {
    jit::set_hot_threshold(1);
    jit::set_tier_up_runs(tier_up);
    jit::set_async_compile(false);
  }
  ~CompileSettings() {
    jit::set_hot_threshold(hot);
    jit::set_tier_up_runs(tier);
    jit::set_async_compile(async);
  }
};

// The whole MLP step (forward, loss, backward, SGD): counters quick_ms (the first compile, LLVM's
// fast back end), full_ms (the tier-up's optimising recompile) and kernels (of the first).
void BM_compile_step(benchmark::State& state) {
  set_num_threads(2);
  CompileSettings settings(1);
  std::vector<double> quick, full;
  double kernels = 0;
  for (auto _ : state) {
    state.PauseTiming();
    jit::clear_cache();
    Trainer t;
    state.ResumeTiming();
    const jit::Stats s0 = jit::stats();
    t.step(true);  // compiled (quick) and run fused
    const jit::Stats s1 = jit::stats();
    t.step(true);  // the tier-up
    const jit::Stats s2 = jit::stats();
    quick.push_back(s1.compile_ms - s0.compile_ms);
    full.push_back(s2.compile_ms - s1.compile_ms);
    kernels = static_cast<double>(s1.kernels_compiled - s0.kernels_compiled);
  }
  std::sort(quick.begin(), quick.end());
  std::sort(full.begin(), full.end());
  state.counters["quick_ms"] = quick[quick.size() / 2];
  state.counters["full_ms"] = full[full.size() / 2];
  state.counters["kernels"] = kernels;
}
BENCHMARK(BM_compile_step)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

// AdamW's update alone over N parameter tensors of four shapes, in a region (the optimising
// back end at once): its compile must not grow with N, since the update of all parameters of
// one shape is one kernel. Counters compile_ms and kernels.
void BM_compile_optimizer(benchmark::State& state) {
  set_num_threads(2);
  CompileSettings settings(0);
  const Dims shapes[] = {{64}, {32, 16}, {128}, {16, 16}};
  std::vector<Tensor> params;
  for (int64_t i = 0; i < state.range(0); ++i) {
    params.push_back(randn(shapes[i % 4]).requires_grad_());
    params.back().set_grad(randn(shapes[i % 4]));
  }
  double ms = 0, kernels = 0;
  for (auto _ : state) {
    state.PauseTiming();
    jit::clear_cache();
    optim::AdamW opt(params, {.lr = 1e-3});
    state.ResumeTiming();
    const jit::Stats s0 = jit::stats();
    {
      jit::Region r("adamw_update");
      opt.step();
    }
    const jit::Stats s1 = jit::stats();
    ms = s1.compile_ms - s0.compile_ms;
    kernels = static_cast<double>(s1.kernels_compiled - s0.kernels_compiled);
  }
  state.counters["compile_ms"] = ms;
  state.counters["kernels"] = kernels;
}
BENCHMARK(BM_compile_optimizer)
    ->Arg(10)
    ->Arg(100)
    ->Arg(300)
    ->Arg(1000)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(1);

}  // namespace
