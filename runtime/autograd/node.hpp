// The autograd graph: one Node per differentiable op call, edges to the nodes that produced its
// inputs, saved tensors with version checks, and AccumulateGrad at the leaves.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "runtime/dispatch.hpp"
#include "runtime/op.hpp"
#include "runtime/tensor.hpp"

namespace ember::autograd {

struct Node;

/// Where a gradient flows: input `input_nr` of `fn` (fn is null for inputs without grad).
struct Edge {
  std::shared_ptr<Node> fn;
  uint32_t input_nr = 0;
  bool valid() const { return fn != nullptr; }
};

/// A tensor kept for backward. Outputs of the saving node are stored without their grad_fn (no
/// reference cycle) and re-attached on unpack; the version at save time catches in-place edits.
class SavedTensor {
 public:
  SavedTensor() = default;
  SavedTensor(const Tensor& t, bool is_output);
  /// The saved tensor; Error if it was freed by a backward without retain_graph, or modified
  /// in place since it was saved. `saved_for` is the node unpacking it (for the message).
  Tensor unpack(const Node* saved_for) const;
  bool defined() const { return defined_; }
  void reset() {
    data_ = Tensor();
    released_ = defined_;
  }

 private:
  Tensor data_;
  std::weak_ptr<Node> grad_fn_;
  uint32_t output_nr_ = 0;
  uint32_t version_ = 0;
  bool defined_ = false, is_output_ = false, requires_grad_ = false, released_ = false;
};

/// A function from output gradients to input gradients.
struct Node : std::enable_shared_from_this<Node> {
  std::vector<Edge> next_edges;  ///< one per differentiable input, in input order
  uint64_t sequence_nr = 0;      ///< creation order: later nodes run first among ready ones
  std::string forward_trace;     ///< anomaly mode: where the forward op was called

  /// Releases next_edges through release_node (no recursion down a long chain).
  virtual ~Node();
  /// Input gradients (undefined where an input needs none) from the output gradients.
  virtual TensorList apply(TensorList grad_outputs) = 0;
  /// PyTorch-style name: "MulBackward0", "AccumulateGrad".
  virtual std::string name() const = 0;
  /// Frees saved tensors (after a backward without retain_graph).
  virtual void release_saved() {}
  /// Number of outputs of the forward op (gradient slots this node receives).
  virtual size_t num_outputs() const { return 1; }

  /// Hooks on output gradients (register_hook on non-leaf tensors, retain_grad): each may
  /// replace the gradient it is given.
  std::vector<std::pair<uint32_t, std::function<Tensor(const Tensor&)>>> pre_hooks;
};

/// Drops one reference to n. The last reference destroys it, and the nodes it alone kept alive,
/// iteratively (as PyTorch's deleteNode): a chain of 200,000 nodes is freed in a loop, not
/// through 200,000 nested destructors that overflow the stack.
void release_node(std::shared_ptr<Node>&& n) noexcept;

/// Accumulates the gradient into a leaf tensor's .grad (running the leaf's hooks first; they
/// live in the leaf's AutogradMeta, so hooks registered before the accumulator exists are kept).
struct AccumulateGrad : Node {
  std::shared_ptr<TensorImpl> variable;
  explicit AccumulateGrad(std::shared_ptr<TensorImpl> v) : variable(std::move(v)) {}
  TensorList apply(TensorList grads) override;
  std::string name() const override { return "AccumulateGrad"; }
};

/// State that few tensors carry: a leaf's gradient accumulator and its post-accumulate hooks.
struct AutogradMeta {
  std::weak_ptr<AccumulateGrad> grad_accumulator;
  /// Called (with the leaf) after each backward accumulated into the leaf's .grad, by id.
  std::vector<std::pair<uint64_t, std::function<void(const Tensor&)>>> post_accumulate_hooks;
  /// register_hook on a leaf: run on its gradient before accumulation.
  std::vector<std::function<Tensor(const Tensor&)>> hooks;
};

/// Calls hook(leaf) every time a backward has accumulated a gradient into leaf.grad(), as
/// PyTorch's register_post_accumulate_grad_hook (the gradient-ready signal DDP buckets on). The
/// hook is kept on the tensor; returns an id for remove_post_accumulate_grad_hook.
uint64_t register_post_accumulate_grad_hook(const Tensor& leaf,
                                            std::function<void(const Tensor&)> hook);
/// Removes a hook by the id register_post_accumulate_grad_hook returned (absent ids are ignored).
void remove_post_accumulate_grad_hook(const Tensor& leaf, uint64_t id);

/// Runs fn once the backward running on this thread has finished its graph (after every
/// gradient is accumulated, before backward() returns), as PyTorch's engine queue_callback.
/// Error outside a backward.
void queue_callback(std::function<void()> fn);

/// The edge a gradient for t should flow along (its grad_fn, or its leaf accumulator).
Edge gradient_edge(const Tensor& t);
/// Makes t an output of fn (output slot output_nr) that requires grad.
void set_history(const Tensor& t, const std::shared_ptr<Node>& fn, uint32_t output_nr);
/// Next sequence number for a new node.
uint64_t next_sequence_nr();

/// Anomaly mode: records where each forward op ran and checks every backward output for
/// NaN/Inf, naming the forward op whose backward produced it.
struct AnomalyMode {
  static bool is_enabled();
  static void set_enabled(bool on);
};
class DetectAnomalyGuard {
 public:
  DetectAnomalyGuard() : prev_(AnomalyMode::is_enabled()) { AnomalyMode::set_enabled(true); }
  ~DetectAnomalyGuard() { AnomalyMode::set_enabled(prev_); }
  DetectAnomalyGuard(const DetectAnomalyGuard&) = delete;
  DetectAnomalyGuard& operator=(const DetectAnomalyGuard&) = delete;

 private:
  bool prev_;
};

}  // namespace ember::autograd
