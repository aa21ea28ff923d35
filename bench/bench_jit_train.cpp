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

}  // namespace
