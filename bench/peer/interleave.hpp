// Steps of several contenders alternated within one loop, each timed on its own (wall and process
// CPU time): on a machine whose load drifts from second to second, medians of per-round ratios are
// steadier than benchmarks run one after the other.
#pragma once

#include <benchmark/benchmark.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <vector>

namespace peer {

inline double process_cpu_ms() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) * 1e-6;
}

inline double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

/// One call of step per benchmark iteration, after a warm-up call that fills the allocators'
/// caches.
template <class Step>
void run(benchmark::State& state, Step step) {
  step();
  for (auto _ : state) step();
}

/// The wall and CPU milliseconds of each call of each contender, by contender index.
struct Rounds {
  std::vector<std::vector<double>> wall, cpu;
  explicit Rounds(size_t contenders) : wall(contenders), cpu(contenders) {}
  template <class Step>
  void time(size_t k, Step&& step) {
    const auto w0 = std::chrono::steady_clock::now();
    const double c0 = process_cpu_ms();
    step();
    cpu[k].push_back(process_cpu_ms() - c0);
    wall[k].push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - w0).count());
  }
  /// The median over rounds of contender a's time over contender b's (wall or CPU).
  double ratio(size_t a, size_t b, bool use_cpu = false) const {
    const auto& t = use_cpu ? cpu : wall;
    std::vector<double> r;
    for (size_t i = 0; i < t[a].size() && i < t[b].size(); ++i) r.push_back(t[a][i] / t[b][i]);
    return median(r);
  }
};

/// One call of ember's step and one of libtorch's per benchmark iteration, alternated (after a
/// warm-up call of each), with counters ember_ms, torch_ms, ember_cpu_ms, torch_cpu_ms (medians)
/// and the medians of the per-pair ratios ember / libtorch, ratio_wall and ratio_cpu. The
/// benchmark's own time is that of a pair.
template <class EmberStep, class TorchStep>
void interleave(benchmark::State& state, EmberStep& ember_step, TorchStep& torch_step) {
  ember_step();
  torch_step();
  Rounds r(2);
  for (auto _ : state) {
    r.time(0, ember_step);
    r.time(1, torch_step);
  }
  state.counters["ember_ms"] = median(r.wall[0]);
  state.counters["torch_ms"] = median(r.wall[1]);
  state.counters["ember_cpu_ms"] = median(r.cpu[0]);
  state.counters["torch_cpu_ms"] = median(r.cpu[1]);
  state.counters["ratio_wall"] = r.ratio(0, 1);
  state.counters["ratio_cpu"] = r.ratio(0, 1, true);
}

/// A step fused by ember's JIT, the same step eagerly and libtorch's, one call each per
/// benchmark iteration, alternated (the caller has warmed the fused step past hot detection
/// and its compile): counters fused_ms, eager_ms, torch_ms (medians) and the medians of the
/// per-round ratios eager_over_fused and torch_over_fused.
template <class Fused, class Eager, class Torch>
void fused_eager_torch(benchmark::State& state, Fused& fused, Eager& eager, Torch& torch) {
  eager();
  torch();
  Rounds r(3);
  for (auto _ : state) {
    r.time(0, fused);
    r.time(1, eager);
    r.time(2, torch);
  }
  state.counters["fused_ms"] = median(r.wall[0]);
  state.counters["eager_ms"] = median(r.wall[1]);
  state.counters["torch_ms"] = median(r.wall[2]);
  state.counters["eager_over_fused"] = r.ratio(1, 0);
  state.counters["torch_over_fused"] = r.ratio(2, 0);
}

}  // namespace peer
