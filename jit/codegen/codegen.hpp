// Code generation: one fused step of a graph (passes/fuse) becomes one LLVM IR function,
// compiled by the Engine (internal; no LLVM in this header).
//
// Every kernel has the signature  void kernel(char* const* buffers, int64_t begin, int64_t end)
// and computes the items [begin, end) of its step: elements of the output (Pointwise), or
// output elements each reducing a row of the operand (Reduce, Row). The executor splits the
// range over the thread pool. Shapes, strides and constants are baked in: the graph's signature
// (its guard) fixes them.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "jit/ir/graph.hpp"
#include "jit/orc/tier.hpp"
#include "jit/passes/passes.hpp"

namespace ember::jit {

using KernelFn = void (*)(char* const* buffers, int64_t begin, int64_t end);

class Code;

struct CompiledStep {
  KernelFn fn = nullptr;
  std::shared_ptr<const Code> code;  ///< keeps fn's machine code mapped
  /// The node whose data pointer goes into each slot of `buffers`.
  std::vector<int32_t> buffers;
  int64_t range = 0;  ///< the items: [0, range)
  int64_t grain = 1;  ///< items per parallel chunk at least
  double compile_ms = 0;
  bool disk_hit = false;
};

/// Generates and compiles `step` of g (a Pointwise, Reduce or Row group); `mat` says which nodes
/// are in memory (passes::materialized). `symbol` must be unique in the process. Throws
/// ember::Error when LLVM fails.
/// `in_place` maps Input nodes to the root whose buffer they are (an in-place write stored by
/// this kernel: the input is read from the root's buffer, each element before it is stored).
CompiledStep compile_step(const Graph& g, const Group& step, const std::vector<bool>& mat,
                          const std::string& symbol, Tier tier = Tier::Full,
                          const std::map<int32_t, int32_t>& in_place = {});

}  // namespace ember::jit
