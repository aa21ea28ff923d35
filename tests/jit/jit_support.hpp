// Shared helpers of the JIT tests: scoped settings and a private disk cache.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
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

/// Turns the JIT on or off for a scope (restored after).
struct JitEnabled {
  bool old = jit::enabled();
  explicit JitEnabled(bool on) { jit::set_enabled(on); }
  ~JitEnabled() { jit::set_enabled(old); }
};

/// Waits until the JIT's compiles started so far have finished, so that a test's next region
/// run sees their kernels.
inline void settle_compiles() {}

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
}  // namespace detail

}  // namespace ember::test
