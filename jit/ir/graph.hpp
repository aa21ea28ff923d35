// The JIT's IR: one small node type in a hash-consed graph. A node is a graph input (a concrete
// tensor, described by its sizes, strides, dtype and which memory it shares with other inputs),
// a runtime scalar (a C++ number the traced code passed: a kernel argument, its value not part of
// the graph), a constant, or an ember Op applied to earlier nodes with the same attributes the
// dispatcher carries. Adding a node equal to one already in the graph returns the existing one, so
// the graph never holds duplicates. The graph is pure: an in-place op inside a region is traced as
// a pure op whose value becomes the tensor's memory's new content, and that value is written back
// into the memory when the graph has run (`writes`).
//
//   %0 = input[0] f32[4096, 4096] strides [4096, 1] storage 0
//   %1 = scalar[0] f64
//   %2 = mul %0, %1 : f32[4096, 4096]
//   %3 = softmax %2 {dim=1} : f32[4096, 4096]
//   outputs %3
//   writes %2 -> storage 0
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/dims.hpp"
#include "runtime/dtype.hpp"
#include "runtime/op.hpp"

namespace ember::jit {

enum class Kind : uint8_t { Input, Scalar, Const, Apply };
// Two Apply ops carry a strided layout (sizes in ShapeAttrs or the node's, `strides`, offset in
// `value`): View reads its operand's memory through it; Copy_ (base, value) is base's memory
// with the elements the layout selects replaced by value (a write through a view, as a pure op).

struct IrNode {
  Kind kind = Kind::Apply;
  Op op = Op::Add;            ///< for Apply
  DType dtype = kFloat32;     ///< the result's dtype
  DType compute = kFloat32;   ///< Apply: the dtype the op computes in (result_type of operands)
  Dims sizes;                 ///< the result's sizes
  Dims strides;               ///< Input, View, Copy_: the strides, in elements
  std::vector<int32_t> args;  ///< Apply: operand node ids (always smaller than this node's)
  Attrs attrs;                ///< Apply: as the dispatcher received them
  double value = 0;           ///< Const: the value (of dtype `dtype`); Input, View, Copy_: the
                              ///< offset into the memory, in elements
  int32_t input = -1;         ///< Input: index into the run's tensors; Scalar: into its scalars
  int32_t storage = -1;       ///< Input: which memory it reads (inputs that share memory, and
                              ///< writes into it, share the id), numbered in order of appearance

  /// The exact text this node hashes and compares by ("mul(%0,%1)f32[4,4]" and so on).
  std::string key() const;
};

class Graph {
 public:
  /// Adds n, or returns the id of an equal node already present.
  int32_t add(IrNode n);
  const IrNode& operator[](int32_t id) const { return nodes_[static_cast<size_t>(id)]; }
  /// For passes and tests that edit a node in place (it is not re-interned).
  IrNode& mutable_node(int32_t id) {
    dirty_ = true;
    return nodes_[static_cast<size_t>(id)];
  }
  const std::vector<IrNode>& nodes() const { return nodes_; }
  size_t size() const { return nodes_.size(); }
  int32_t num_inputs() const { return num_inputs_; }

  /// IrNode ids whose values leave the graph as new tensors, in the order their tensors asked for
  /// them.
  std::vector<int32_t> outputs;
  /// In-place writes: once the graph has run, node's value (sizes of a contiguous layout that
  /// covers the storage exactly) becomes the content of input storage `storage` (the id Input
  /// nodes carry; it may be a storage no input reads). At most one per storage.
  struct Write {
    int32_t node;
    int32_t storage;
  };
  std::vector<Write> writes;
  /// Copies outputs and writes from g, node ids mapped through remap (for passes).
  void take_results(const Graph& g, const std::vector<int32_t>& remap);

  /// The guard: the whole graph as text (node keys and outputs). Two graphs with equal
  /// signatures compute the same function of inputs with the same layouts (an input's offset
  /// into its memory counts only where another input reads that memory or the graph writes it).
  std::string signature() const;
  /// Printed as in the header comment above.
  std::string to_string() const;
  /// Throws ember::InternalError naming the node when the graph is malformed (operands out of
  /// order, input indices out of range, outputs out of range).
  void verify() const;

 private:
  std::vector<IrNode> nodes_;
  std::vector<std::string> keys_;  // nodes_[i].key(), kept for signature()
  bool dirty_ = false;             // a node was edited: keys_ may be stale
  std::unordered_map<std::string, int32_t> interned_;
  int32_t num_inputs_ = 0;
};

/// "sum {dims=[1], keepdim=0}" style text for an op's attributes ("" for none).
std::string attrs_to_string(const Attrs& a);

}  // namespace ember::jit
