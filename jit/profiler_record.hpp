// The executor's side of jit::Profiler (internal): it reports each graph run and compile here.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace ember::jit::profiling {

using Clock = std::chrono::steady_clock;

enum class Event : uint8_t { Eager, Fused, Compile, TierUp, Step };

/// Whether a Profiler is recording: one atomic load, so the executor asks before timing.
bool active();

/// One event of `region` from `start` to `end`, to every recording Profiler. For compiles:
/// kernels compiled, kernels loaded from the disk cache, and LLVM's compile time.
void record(const std::string& region, Event what, Clock::time_point start, Clock::time_point end,
            int64_t kernels = 0, int64_t disk_hits = 0, double compile_ms = 0);

/// One step (a fused kernel, or a library call when `library`) of a fused run of `region`: its
/// number in the plan and what it computes.
void record_step(const std::string& region, int step, const std::string& what, bool library,
                 Clock::time_point start, Clock::time_point end);

}  // namespace ember::jit::profiling
