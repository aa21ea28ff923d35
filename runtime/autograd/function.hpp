// User-defined differentiable ops, as torch.autograd.Function:
//
//   struct Cube : autograd::Function<Cube> {
//     static Tensor forward(autograd::Context& ctx, const Tensor& x) {
//       ctx.save_for_backward({x});
//       return x * x * x;
//     }
//     static TensorList backward(autograd::Context& ctx, const TensorList& g) {
//       Tensor x = ctx.saved()[0];
//       return {g[0] * 3 * x * x};
//     }
//   };
//   Tensor y = Cube::apply(x);
#pragma once

#include <any>
#include <map>
#include <string>
#include <tuple>
#include <type_traits>

#include "runtime/autograd/node.hpp"

namespace ember::autograd {

/// What forward stores for backward.
class Context {
 public:
  /// Tensors for backward, checked for in-place edits when read back.
  void save_for_backward(const TensorList& ts) {
    saved_.clear();
    for (const Tensor& t : ts) saved_.emplace_back(t, false);
  }
  TensorList saved() const {
    TensorList out;
    for (const auto& s : saved_) out.push_back(s.unpack(node_));
    return out;
  }
  /// Whether the i-th Tensor argument of forward needs a gradient.
  bool needs_input_grad(size_t i) const { return i < needs_.size() && needs_[i]; }
  /// Anything else backward needs (sizes, scalars, flags).
  std::map<std::string, std::any> saved_data;

  void release() {
    for (auto& s : saved_) s.reset();
  }
  std::vector<bool> needs_;
  const Node* node_ = nullptr;

 private:
  std::vector<SavedTensor> saved_;
};

namespace detail {
template <class T>
struct CppNode : Node {
  Context ctx;
  std::string type_name;
  size_t n_outputs = 1;
  std::vector<std::pair<Dims, DType>> input_meta;  ///< sizes and dtype of each Tensor input
  TensorList apply(TensorList grads) override {
    TensorList out = T::backward(ctx, grads);
    EMBER_CHECK(out.size() >= next_edges.size(), Error, type_name, "::backward returned ",
                out.size(), " gradients, but forward took ", next_edges.size(), " tensor inputs");
    out.resize(next_edges.size());
    // As PyTorch's validate_outputs: a gradient must match its input, or the error surfaces
    // later as a broken .grad far from the Function that made it.
    for (size_t i = 0; i < out.size(); ++i) {
      if (!next_edges[i].valid() || !out[i].defined()) continue;
      const auto& [sizes, dtype] = input_meta[i];
      EMBER_CHECK(out[i].sizes() == sizes, ShapeError, "Function ", name(),
                  " returned an invalid gradient at index ", i, " - got ", out[i].sizes(),
                  " but expected shape compatible with ", sizes);
      EMBER_CHECK(out[i].dtype() == dtype, DTypeError, "Function ", name(),
                  " returned an invalid gradient at index ", i, " - expected dtype ",
                  dtype_name(dtype), " but got ", dtype_name(out[i].dtype()));
    }
    return out;
  }
  std::string name() const override { return type_name + "Backward"; }
  void release_saved() override { ctx.release(); }
  size_t num_outputs() const override { return n_outputs; }
};

template <class A>
void collect(std::vector<const Tensor*>& out, const A& a) {
  if constexpr (std::is_same_v<std::decay_t<A>, Tensor>) out.push_back(&a);
}
}  // namespace detail

/// Base for user-defined ops: T provides static forward(Context&, args...) returning a Tensor
/// or TensorList and static backward(Context&, const TensorList&) returning one gradient per
/// Tensor argument of forward (undefined for none).
template <class T>
struct Function {
  template <class... Args>
  static auto apply(Args&&... args) {
    std::vector<const Tensor*> tensors;
    (detail::collect(tensors, args), ...);
    bool any = false;
    for (const Tensor* t : tensors) any = any || (t->defined() && t->requires_grad());
    auto node = std::make_shared<detail::CppNode<T>>();
    node->type_name = T::name ? T::name : "Function";
    node->ctx.node_ = node.get();
    for (const Tensor* t : tensors) node->ctx.needs_.push_back(t->defined() && t->requires_grad());
    using R = decltype(T::forward(node->ctx, std::forward<Args>(args)...));
    R result = [&] {
      NoGradGuard g;
      return T::forward(node->ctx, std::forward<Args>(args)...);
    }();
    if (!any || !GradMode::is_enabled()) return result;
    node->sequence_nr = next_sequence_nr();
    for (const Tensor* t : tensors) {
      node->next_edges.push_back(t->defined() && t->requires_grad() ? gradient_edge(*t) : Edge{});
      node->input_meta.emplace_back(t->defined() ? t->sizes() : Dims{},
                                    t->defined() ? t->dtype() : kFloat32);
    }
    auto attach = [&](Tensor& out, uint32_t k) {
      // An output that aliases an input gets its own handle so the input keeps its history.
      for (const Tensor* t : tensors)
        if (out.is_same(*t)) out = make_view(out, out.sizes(), out.strides(), out.storage_offset());
      if (is_floating(out.dtype())) set_history(out, node, k);
    };
    if constexpr (std::is_same_v<R, Tensor>) {
      attach(result, 0);
    } else {
      node->n_outputs = result.size();
      for (size_t k = 0; k < result.size(); ++k) attach(result[k], static_cast<uint32_t>(k));
    }
    return result;
  }
  static constexpr const char* name = nullptr;
};

}  // namespace ember::autograd
