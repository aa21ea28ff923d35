// jit::Profiler: what each region did while the profiler lived, fused against eager.
//
//   jit::Profiler prof;                       // records from here on
//   for (int step = 0; step < 100; ++step) {
//     jit::Region r("features");
//     ...
//   }
//   prof.report(std::cout);                   // a table: runs, eager vs fused ms per run, ...
//   prof.write_chrome_trace("trace.json");    // a timeline for chrome://tracing or Perfetto
//
// Each graph a region runs is one event: run eagerly (not hot yet, or not compilable) or with
// its compiled kernels; each compile (first tier and tier-up) is one more. Times are those of
// running the graph, without the tracing around it (jit::Stats counts the rest). A fused run's
// steps (each kernel and library call) are timed too: steps() and report_steps() say where the
// fused time goes, and the Chrome trace nests them under their run.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

namespace ember::jit {

class Profiler {
 public:
  /// Starts recording. Profilers may overlap: each records what runs while it lives.
  Profiler();
  ~Profiler();
  Profiler(const Profiler&) = delete;
  Profiler& operator=(const Profiler&) = delete;

  /// Stops recording (the destructor does it too); what was recorded stays readable.
  void stop();

  /// One region's totals.
  struct RegionStats {
    std::string name;
    int64_t eager_runs = 0, fused_runs = 0;
    double eager_ms = 0, fused_ms = 0;  ///< total time running the graph, each way
    int64_t compiles = 0;               ///< plans compiled (first tier and tier-up)
    int64_t kernels_compiled = 0, disk_cache_hits = 0;
    double compile_ms = 0;
  };
  /// The regions seen, in order of first appearance.
  std::vector<RegionStats> regions() const;

  /// One step of a region's fused runs: a fused kernel or a library call (a GEMM, ...).
  struct StepStats {
    std::string region;
    int step = 0;      ///< its number in the compiled graph (EMBER_JIT_DUMP=graph lists them)
    std::string what;  ///< "matmul [256,784] x [784,512]", "fused pointwise mul, add over [512]"
    bool library = false;  ///< a library call rather than a kernel the JIT generated
    int64_t runs = 0;
    double ms = 0;  ///< total
  };
  /// Every step the fused runs ran, by region and step, in order of first appearance.
  std::vector<StepStats> steps() const;

  /// A table of regions(): runs, eager and fused ms per run, their ratio, compiles.
  void report(std::ostream& os) const;
  /// Where the fused runs' time went: per region, the time in library calls against generated
  /// kernels, then the `top` costliest steps (ms per run, share of the region's fused time).
  void report_steps(std::ostream& os, size_t top = 10) const;
  /// Writes the events as Chrome trace JSON (a "traceEvents" array of complete events, times in
  /// microseconds since the profiler started, one row per thread). Throws ember::Error when
  /// the file cannot be written.
  void write_chrome_trace(const std::string& path) const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace ember::jit
