// Shared helpers of the JIT tests: scoped settings and a private disk cache.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "jit/jit.hpp"

namespace ember::test {

/// Sets the hot threshold for a scope (restored after).
struct HotThreshold {
  int old = jit::hot_threshold();
  explicit HotThreshold(int n) { jit::set_hot_threshold(n); }
  ~HotThreshold() { jit::set_hot_threshold(old); }
};

/// Sets jit::set_tier_up_runs for a scope (restored after).
struct TierUpRuns {
  int old = jit::tier_up_runs();
  explicit TierUpRuns(int n) { jit::set_tier_up_runs(n); }
  ~TierUpRuns() { jit::set_tier_up_runs(old); }
};

/// Turns background compilation on or off for a scope (restored after).
struct AsyncCompile {
  bool old = jit::async_compile();
  explicit AsyncCompile(bool on) { jit::set_async_compile(on); }
  ~AsyncCompile() { jit::set_async_compile(old); }
};

/// Turns shadow mode on or off for a scope (restored after).
struct ShadowMode {
  bool old = jit::shadow();
  explicit ShadowMode(bool on) { jit::set_shadow(on); }
  ~ShadowMode() { jit::set_shadow(old); }
};

/// Turns the JIT on or off for a scope (restored after).
struct JitEnabled {
  bool old = jit::enabled();
  explicit JitEnabled(bool on) { jit::set_enabled(on); }
  ~JitEnabled() { jit::set_enabled(old); }
};

/// Waits until every compile the JIT has started is done, so that the next region run uses its
/// kernels. A no-op while the JIT compiles on the calling thread; once compiles run in the
/// background this is where the tests call jit::wait_for_compiles() (the one place to change).
inline void settle_compiles() { jit::wait_for_compiles(); }

/// Every JIT setting of the tests that drive a region through all its execution paths
/// (tests/jit/test_mutation.cpp, test_differential.cpp, tests/nn/test_optim_region.cpp), for a
/// scope. With the defaults (hot 2, tier-up 2) and settle_compiles() after each run, a region
/// whose graph stays the same runs: 1 as an eager graph (the capture), 2 compiled with the quick
/// tier, 3 quick, 4 recompiled with the full tier, 5 and on replayed from the cache; so 6 runs
/// see every path. Background compilation, when it comes, is chosen here too.
struct CompiledPath {
  HotThreshold hot;
  TierUpRuns tier_up;
  explicit CompiledPath(int hot_runs = 2, int tier_up_runs = 2)
      : hot(hot_runs), tier_up(tier_up_runs) {}
};

/// Says what the JIT did during one region run, from jit::stats() around it, for failure
/// messages: "eager graph", "fused, quick tier, compiled this run", "fused, full tier", or "no
/// graph ran". The tier counts tier-ups since the watch was made.
class RunWatch {
 public:
  RunWatch() : start_(jit::stats()), before_(start_) {}
  /// Call before the run.
  void begin() { before_ = jit::stats(); }
  /// Call after the run (and settle_compiles()); returns the label and updates the counts.
  std::string end() {
    jit::Stats now = jit::stats();
    const bool fused = now.fused_graphs > before_.fused_graphs;
    const bool eager = now.eager_graphs > before_.eager_graphs;
    const bool full = now.tier_ups > start_.tier_ups;
    last_fused_ = fused;
    fused_runs_ += fused;
    std::string s;
    if (fused)
      s = std::string("fused, ") + (full ? "full" : "quick") + " tier";
    else if (eager)
      s = "eager graph";
    else
      s = "no graph ran";
    if (fused && eager) s += ", and eager graphs";
    if (now.kernels_compiled > before_.kernels_compiled ||
        now.disk_cache_hits > before_.disk_cache_hits)
      s += ", compiled this run";
    if (now.tier_ups > before_.tier_ups) s += ", tier-up this run";
    return s;
  }
  /// Whether the last run ran at least one fused graph.
  bool last_fused() const { return last_fused_; }
  /// Runs with at least one fused graph since the watch was made.
  int fused_runs() const { return fused_runs_; }
  /// Whether a signature was recompiled with the full tier since the watch was made.
  bool reached_full_tier() const { return jit::stats().tier_ups > start_.tier_ups; }
  /// Kernels compiled (or loaded from the disk cache) since the watch was made.
  int64_t kernels() const {
    jit::Stats now = jit::stats();
    return now.kernels_compiled - start_.kernels_compiled + now.disk_cache_hits -
           start_.disk_cache_hits;
  }

 private:
  jit::Stats start_, before_;
  bool last_fused_ = false;
  int fused_runs_ = 0;
};

/// An integer from the environment, or `fallback` when unset or empty.
inline long long env_int(const char* name, long long fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoll(v) : fallback;
}

namespace detail {
// The tests compile thousands of throwaway kernels: unless the user chose EMBER_JIT_CACHE, they
// go to a per-process directory removed at exit, not the user's cache. Runs before main, so
// before the JIT first reads the variable.
inline bool isolate_jit_disk_cache() {
  if (std::getenv("EMBER_JIT_CACHE")) return false;
  static std::string dir =
      (std::filesystem::temp_directory_path() / ("ember-jit-tests-" + std::to_string(::getpid())))
          .string();
  ::setenv("EMBER_JIT_CACHE", dir.c_str(), 0);
  std::atexit([] {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  });
  return true;
}
inline const bool jit_disk_cache_isolated = isolate_jit_disk_cache();
// Tests count runs (compiled at the hot threshold's run, tier-up at the N-th): they compile on
// the calling thread unless EMBER_JIT_ASYNC says otherwise. ctest also runs the tests that
// settle_compiles() after each run with EMBER_JIT_ASYNC=1 (tests/CMakeLists.txt).
inline bool synchronous_compiles() {
  if (std::getenv("EMBER_JIT_ASYNC")) return false;
  jit::set_async_compile(false);
  return true;
}
inline const bool jit_compiles_synchronous = synchronous_compiles();
// The background compiler runs below the caller's priority (EMBER_JIT_COMPILE_NICE, default
// 10), which starves it while ctest runs other test processes on every core and the tests wait
// for it: they run it at their own priority unless told otherwise.
inline const bool compile_at_test_priority = ::setenv("EMBER_JIT_COMPILE_NICE", "0", 0) == 0;
}  // namespace detail

/// Captures what is written to stderr (fd 2) while it lives.
struct StderrCapture {
  std::filesystem::path file =
      std::filesystem::temp_directory_path() / ("ember_test_err_" + std::to_string(::getpid()));
  int saved = -1;
  StderrCapture() {
    std::fflush(stderr);
    saved = ::dup(2);
    std::FILE* f = std::fopen(file.c_str(), "w");
    ::dup2(::fileno(f), 2);
    std::fclose(f);
  }
  std::string finish() {
    std::fflush(stderr);
    ::dup2(saved, 2);
    ::close(saved);
    std::ifstream in(file);
    std::stringstream ss;
    ss << in.rdbuf();
    std::filesystem::remove(file);
    return ss.str();
  }
};

}  // namespace ember::test
