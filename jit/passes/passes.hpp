// Graph passes, one per file, run as a straight script by run_pipeline() (jit/passes/pipeline.cpp):
// fold, cse, dce, split_reductions; then fuse() cuts the graph into fused kernels and library
// calls, and stores_in_place() picks the writes those kernels store straight into their memory.
#pragma once

#include <string>
#include <vector>

#include "jit/ir/graph.hpp"

namespace ember::jit {

/// Constant folding: ops whose operands are all constants become constants; x*1, x/1, x+0,
/// x-0 become x when that changes neither dtype nor shape. Outputs are never folded away.
Graph fold(const Graph& g);
/// Common-subexpression elimination: rebuilds through the hash-consing Graph::add, so nodes
/// that became equal (after folding) merge.
Graph cse(const Graph& g);
/// Dead-code elimination: drops nodes no output depends on.
Graph dce(const Graph& g);

/// A reduction of every dim of a large floating operand ([16, 128, 256] -> [], a loss's mean)
/// becomes a reduction over all dims but the first, then one over the partials: the first runs
/// in parallel over the first dim's indices, where one item would run on one thread. Sum, mean
/// (of equal-sized parts), amax and amin give the same value up to the partials' rounding.
Graph split_reductions(const Graph& g);

/// True for ops the fused kernels compute elementwise (with broadcasting).
bool is_pointwise(Op op);
/// True for ops fused as a reduction (sum, mean, amax, amin) or a row op (softmax,
/// log_softmax) with their pointwise producers inlined.
bool is_reduction(Op op);
bool is_row_op(Op op);
/// True for ops that stay library calls inside a compiled graph (matmul).
bool is_library(Op op);
/// True for Op::View nodes: a strided view of a computed value (its operand is materialised,
/// the view is read in place by the steps that use it).
bool is_strided_view(Op op);

/// One step of a compiled graph.
struct Group {
  /// Softmax: a softmax or log_softmax over the last dim (codegen/last_dim.cpp). RowReduce:
  /// reductions over the last dim (keepdim) of one space, each of which may read the
  /// earlier ones, then pointwise roots of that space reading them: one kernel walking each
  /// row once per reduction and once for the pointwise roots, with the row's reduced values in
  /// registers (softmax or layer norm written out as ops, say). The row stays in cache.
  enum class Kind : uint8_t {
    Pointwise,
    Reduce,
    Softmax,
    Library,
    RowReduce
  } kind = Kind::Pointwise;
  /// The nodes this step computes and stores, in order (one for Reduce, Softmax and Library;
  /// for RowReduce the reductions first, then the pointwise roots).
  std::vector<int32_t> roots;
  /// The iteration space: the roots' sizes (Pointwise), or the reduced operand's (Reduce, Softmax,
  /// RowReduce).
  Dims space;
};

/// Fusion with the materialised nodes given (materialized(g), computed once per compile).
std::vector<Group> fuse(const Graph& g, const std::vector<bool>& mat);
/// Fusion: every node whose value must exist in memory (outputs, reductions, row ops, library
/// calls and their operands) becomes a root; pointwise nodes that are not roots are inlined
/// into every root that reads them. Consecutive pointwise roots of the same shape share one
/// kernel. Reductions over the last dim and the pointwise roots that read them row by row
/// share a RowReduce kernel. Returns the steps in execution order.
std::vector<Group> fuse(const Graph& g);
/// Which nodes fuse() made roots (materialised in memory), by node id.
std::vector<bool> materialized(const Graph& g);

/// A write whose value the kernel computing it stores straight into the written memory.
struct InPlaceStore {
  int32_t node;                 ///< the write's value: a root of a pointwise step
  int32_t storage;              ///< the memory written
  std::vector<int32_t> inputs;  ///< Input nodes of that memory the step reads, element for
                                ///< element: the kernel reads them from the root's buffer
};
/// The writes of g (fused into `steps`) whose old content nobody reads after the writing step
/// stores the new one, so that no copy pass is needed.
std::vector<InPlaceStore> stores_in_place(const Graph& g, const std::vector<Group>& steps,
                                          const std::vector<bool>& mat);
/// Whether `in`, an Input node of the memory that the write of `value` fills, reads it element
/// for element as value's own layout (whole, contiguous, same dtype): then a kernel computing
/// value may store each element where it read it.
bool reads_as_written(const IrNode& in, const IrNode& value);

}  // namespace ember::jit

namespace ember::jit {

/// A traced graph after the pipeline (jit/passes/pipeline.cpp): the optimised graph, its steps,
/// and the writes its kernels store in place.
struct Lowered {
  Graph graph;
  std::vector<bool> mat;  ///< materialized(graph): the steps' roots and what they read
  std::vector<Group> steps;
  std::vector<InPlaceStore> in_place;
};
/// fold, cse, dce, split_reductions, verify, fuse, store_in_place; EMBER_JIT_DUMP=passes prints the
/// graph after each.
Lowered run_pipeline(const Graph& traced, const std::string& region);
/// One step in a line for the profiler: "matmul [256,784] x [784,512] -> [256,512]", "fused
/// pointwise mul, add (3 values) over [512]".
std::string step_label(const Graph& g, const Group& step);
/// The steps as text ("  0: fused pointwise computing %3 %6 over [4, 3]").
std::string steps_to_string(const Lowered& l);

}  // namespace ember::jit
