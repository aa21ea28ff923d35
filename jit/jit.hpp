// The JIT's user API: opt a hot region of ordinary eager code into traced, fused, compiled
// execution.
//
//   for (...) {
//     jit::Region r("step");                 // ops inside return lazy tensors
//     Tensor y = gelu(x * a + b) * sigmoid(x);
//   }                                        // the region ends: the graph runs, fused
//
//   auto f = jit::compile([](const Tensor& x) { return softmax(x * 2, -1); });
//   Tensor y = f(x);                         // a Region around each call
//
// A region's graph runs eagerly until its signature (graph + input shapes, dtypes, strides) has
// been seen EMBER_JIT_HOT times (default 2); then it is compiled by LLVM and cached in memory
// and on disk (EMBER_JIT_CACHE). Reading a value (item(), printing, data access) inside the
// region runs the graph so far; ops the JIT does not handle run eagerly (a graph break).
// EMBER_JIT=0 turns it all off; EMBER_JIT_DUMP=graph,llvm,asm prints each stage of a kernel.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

namespace ember::jit {

/// An RAII scope: ops on this thread record into a graph until the scope ends. Regions nest;
/// the outermost one owns the graph.
class Region {
 public:
  explicit Region(std::string name = "region");
  ~Region();
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;

 private:
  bool outermost_;
};

/// A callable that runs `fn` inside a Region on each call and returns its (computed) results.
template <class F>
class Compiled {
 public:
  explicit Compiled(F fn, std::string name) : fn_(std::move(fn)), name_(std::move(name)) {}
  template <class... A>
  decltype(auto) operator()(A&&... args) {
    Region r(name_);
    return fn_(std::forward<A>(args)...);
  }

 private:
  F fn_;
  std::string name_;
};
template <class F>
Compiled<F> compile(F fn, std::string name = "compiled") {
  return Compiled<F>(std::move(fn), std::move(name));
}

/// Runs whatever the current region has recorded so far (a no-op outside regions).
void sync();

/// Whether regions trace at all (EMBER_JIT=0 turns it off), and the switch.
bool enabled();
void set_enabled(bool on);
/// How many times a signature runs eagerly before it is compiled (EMBER_JIT_HOT, default 2).
int hot_threshold();
void set_hot_threshold(int n);
/// Tiered compilation: a hot signature's kernels are compiled quickly first (LLVM's fast back
/// end), and compiled again with the optimising back end on the N-th run after that
/// (EMBER_JIT_TIERUP=N, default 16; 0 compiles optimised at once). With background compilation
/// (the default) the first compile is the optimising one, unless EMBER_JIT_TIERUP or
/// set_tier_up_runs asks for tiers: nobody waits for it, and quick kernels run slower.
int tier_up_runs();
void set_tier_up_runs(int n);
/// Shadow mode (EMBER_JIT_SHADOW=1): every fused run also runs the same graph eagerly on the same
/// inputs and compares every output and every written tensor; a mismatch warns once per
/// signature (region, output, worst element, graph; also written to a file), counts in
/// Stats::shadow_mismatches, and the eager values are kept. The Profiler then times both.
bool shadow();
void set_shadow(bool on);
/// Background compilation (default on; EMBER_JIT_ASYNC=0 turns it off): a hot signature is
/// compiled on a worker thread while its region goes on running eagerly; the first run after
/// its kernels are ready uses them. The tier-up recompile is in the background too.
bool async_compile();
void set_async_compile(bool on);
/// Waits until every compile started so far has finished (for tests and benchmarks).
void wait_for_compiles();
/// The most specialisations (distinct signatures: shapes, dtypes, strides, what the step does)
/// each graph of a region may compile before its new ones stay eager, with one warning (default
/// 8). A region's graphs are counted apart: the first, then the one after each graph break.
int max_specializations();
void set_max_specializations(int n);
/// The most compiled signatures kept in memory, over all regions (EMBER_JIT_MAX_PLANS, default
/// 256). Past it the one that ran least recently is dropped and its machine code freed; if it
/// turns hot again it compiles again (from the disk cache, usually).
int max_cached_plans();
void set_max_cached_plans(int n);

/// Counters since the start of the process (or the last reset_stats()).
struct Stats {
  int64_t graphs = 0;             ///< graphs run (each region end or sync with pending work)
  int64_t eager_graphs = 0;       ///< of those, run eagerly (not hot yet, or not compilable)
  int64_t fused_graphs = 0;       ///< of those, run with compiled kernels
  int64_t kernels_compiled = 0;   ///< compiles of both tiers (tier_ups recompile)
  int64_t disk_cache_hits = 0;    ///< kernels loaded from EMBER_JIT_CACHE instead of compiled
  int64_t graph_breaks = 0;       ///< ops run eagerly inside a region
  int64_t fallbacks = 0;          ///< compile failures that fell back to eager
  double compile_ms = 0;          ///< total time spent compiling (IR, optimisation, machine code)
  int64_t tier_ups = 0;           ///< signatures recompiled with the optimising back end
  int64_t shadow_mismatches = 0;  ///< shadow mode: fused runs whose values differed from eager
  int64_t plans_evicted = 0;      ///< compiled signatures dropped by the max_cached_plans bound
  int64_t untraced_runs = 0;      ///< region runs not traced: a first compile was in the background
};
Stats stats();
void reset_stats();
/// Empties the in-memory kernel cache and frees its machine code (the disk cache stays).
void clear_cache();

}  // namespace ember::jit
