// Tracing (internal): while a jit::Region is open on a thread, the dispatcher's trace hook
// records supported ops into that thread's graph and hands back lazy tensors — tensors with
// sizes, strides and dtype but a pending storage (Storage::pending, no data yet). Reading any
// pending storage, ending the region, or an op the JIT does not handle (a graph break) runs
// what was recorded so far (flush).
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "jit/ir/graph.hpp"
#include "runtime/tensor.hpp"

namespace ember::jit {

struct Trace {
  std::string name;  ///< the outermost region's name
  Graph graph;
  std::vector<Tensor> inputs;  ///< concrete tensors the graph reads, by input index
  std::unordered_map<const TensorImpl*, int32_t> input_node;
  /// Lazy results: a weak reference to each pending storage and the node it holds. Those still
  /// alive when the trace runs are its outputs.
  struct Lazy {
    std::weak_ptr<Storage> storage;
    int32_t node;
  };
  std::vector<Lazy> lazies;
  std::unordered_map<const Storage*, size_t> lazy_index;
};

/// Opens and closes a region on this thread (the outermost one owns the trace).
bool begin_region(const std::string& name);
void end_region(bool outermost);
/// Runs the current thread's trace, if any.
void flush_current();

}  // namespace ember::jit
