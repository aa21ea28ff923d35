// Tracing (internal): while a jit::Region is open on a thread, the dispatcher's trace hook
// records supported ops into that thread's graph and hands back lazy tensors — tensors with
// sizes, strides and dtype but a pending storage (Storage::pending, no data yet). An in-place op
// is recorded as the pure op plus a write: the node becomes the memory's content, which later
// reads (through any view of that memory) see, and which is written back when the graph runs.
// C++ numbers become runtime scalars (kernel arguments). Reading any pending storage, ending the
// region, or an op the JIT does not handle (a graph break) runs what was recorded so far (flush).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "jit/ir/graph.hpp"
#include "runtime/tensor.hpp"

namespace ember::jit {

struct Trace {
  std::string name;  ///< the outermost region's name
  int segment = 0;   ///< how many graphs of this region run ran before this one (graph breaks)
  Graph graph;
  std::vector<Tensor> inputs;   ///< concrete tensors the graph reads, by input index
  std::vector<Scalar> scalars;  ///< the C++ numbers it was given, by Scalar node index
  std::unordered_map<const TensorImpl*, int32_t> input_node;
  /// The memory that existed before the trace and that it reads or writes, by storage id.
  std::vector<std::shared_ptr<Storage>> storages;
  std::unordered_map<const Storage*, int32_t> storage_id;
  /// Storage id -> the node holding that memory's content after an in-place write in the
  /// region; written back when the trace runs.
  std::map<int32_t, int32_t> written;
  /// Lazy results: a weak reference to each pending storage and the node holding its value (the
  /// op's result, or what an in-place write left there). Those still alive when the trace runs
  /// are its outputs.
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
