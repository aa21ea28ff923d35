// Running a traced graph (internal): the signature cache, hot detection, compilation into a
// plan of fused kernels and library calls, and eager replay.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "jit/ir/graph.hpp"
#include "runtime/tensor.hpp"

namespace ember::jit {

/// What one run of a traced graph binds: its Input nodes' tensors, its Scalar nodes' numbers,
/// and the memory its Input nodes and writes name by storage id.
struct Run {
  const std::vector<Tensor>& inputs;
  const std::vector<Scalar>& scalars;
  const std::vector<std::shared_ptr<Storage>>& storages;
};

/// Computes g's outputs (g.outputs[i] into outs[i], each a pending storage of the right size) and
/// its writes (into run.storages) from the run's inputs: eagerly until the signature is hot, then
/// with compiled kernels. `segment` is g's place among the graphs of one run of the region (0,
/// then one more after each graph break): the specialisation cap counts signatures per segment.
void execute(const std::string& region, int segment, const Graph& g, const Run& run,
             const std::vector<std::shared_ptr<Storage>>& outs);

void count_graph_break();

/// Whether a run of `region` beginning now runs untraced, and if so counts it
/// (Stats::untraced_runs): while a first compile of one of the region's graphs is queued or
/// running on the background compiler, the region runs plain eager. A traced run that is not
/// fused costs about twice an eager one (recording, the graph's interpreter, derivatives as
/// separate ops), and the region's next steps would only repeat the signature being compiled.
bool untraced_run(const std::string& region);

/// Test-only: called on every fused run with the plan's graph and its node values, before they
/// are stored (shadow mode's test injects a wrong kernel result through it). nullptr: none.
using FusedRunHook = void (*)(const Graph& g, std::vector<Tensor>& values);
void set_fused_run_hook(FusedRunHook h);
/// Test-only: forgets that tiers were asked for (EMBER_JIT_TIERUP or set_tier_up_runs), so that
/// background compiles go to the full tier at once, as in a program that never asked.
void forget_tier_up_choice();
/// Test-only: while held, the background compiler starts no queued compile (one running
/// finishes), so a test can run a region while its compile is certainly still pending.
void hold_background_compiles(bool held);

}  // namespace ember::jit
