// dsl::pointwise: a formula written once as a lambda over placeholders, run on Tensors as one
// fused loop (broadcasting, any strides, f32/f64, split over the thread pool), differentiated
// at compile time, with one autograd node per call whose backward computes every input
// gradient in one fused pass.
//
//   constexpr auto swish = dsl::pointwise([](auto x) { return x * dsl::sigmoid(x); });
//   Tensor y = swish(x);             // one loop, no temporaries
//   y.sum().backward();              // x.grad() = sigmoid(x) (1 + x (1 - sigmoid(x)))
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "dsl/builtins.hpp"  // the built-ins by name: dsl::gelu, dsl::relu, ...
#include "dsl/describe.hpp"
#include "runtime/autograd/node.hpp"
#include "runtime/ops/dsl_loops.hpp"

namespace ember::dsl {

namespace detail {

/// The inputs of one call, broadcast-checked and converted to the floating dtype it runs in.
struct Prepared {
  std::vector<Tensor> inputs;
  Dims shape;
  DType dtype = kFloat32;
};
Prepared prepare(std::vector<Tensor> inputs, const char* name);
/// g summed over broadcast dims down to `sizes`, in dtype d.
Tensor reduce_to(const Tensor& g, const Dims& sizes, DType d);

/// The autograd node of one dsl call.
template <class E>
struct DslNode final : autograd::Node {
  E e;
  const char* fn_name;
  std::vector<autograd::SavedTensor> saved;
  std::vector<Dims> sizes;
  std::vector<DType> dtypes;

  DslNode(const E& expr, const char* n) : e(expr), fn_name(n) {}
  std::string name() const override { return std::string(fn_name) + "Backward"; }
  void release_saved() override {
    for (auto& s : saved) s.reset();
  }
  TensorList apply(TensorList grads) override;
};

template <class E>
TensorList DslNode<E>::apply(TensorList grads) {
  std::vector<Tensor> in;
  for (const auto& s : saved) in.push_back(s.unpack(this));
  std::vector<bool> needs;
  for (const auto& edge : next_edges) needs.push_back(edge.valid());
  Tensor g = grads.empty() ? Tensor() : grads[0];
  if (!g.defined()) return TensorList(in.size());
  if (g.dtype() != in[0].dtype()) g = g.to(in[0].dtype());
  std::vector<Tensor> r = gradients(e, in, g, needs, fn_name);
  TensorList out(in.size());
  for (size_t j = 0; j < in.size(); ++j)
    if (r[j].defined()) out[j] = reduce_to(r[j], sizes[j], dtypes[j]);
  return out;
}

/// Inside a jit::Region: the formula as the ops of its run-time tree, which the trace records and
/// the JIT fuses with the ops around them (their derivative rows give the backward, traced with
/// the step's). A loop over memory here would run the graph so far first, and end the fusion.
Tensor run_traced(const ExprTree& t, const Prepared& p);

/// Runs formula e on the tensors (autograd-recorded when an input requires grad).
template <class E>
Tensor run(const E& e, std::vector<Tensor> args, const char* name) {
  constexpr size_t n = static_cast<size_t>(arity<E>::value);
  EMBER_CHECK(args.size() == n, ValueError, name, ": the formula takes ", n,
              " inputs, but was called with ", args.size());
  Prepared p = prepare(std::move(args), name);
  if (ops_traced()) return run_traced(describe(e), p);
  Tensor out = make_tensor(p.shape, p.dtype);
  visit_dtype(p.dtype, [&](auto x) {
    using T = decltype(x);
    if constexpr (std::is_floating_point_v<T>)
      forward_loop<T>(e, out, p.inputs, std::make_index_sequence<n>{});
  });
  bool record = false;
  for (const Tensor& t : p.inputs) record = record || t.requires_grad();
  if (record && GradMode::is_enabled()) {
    auto node = std::make_shared<DslNode<E>>(e, name);
    node->sequence_nr = autograd::next_sequence_nr();
    for (const Tensor& t : p.inputs) {
      node->next_edges.push_back(t.requires_grad() ? autograd::gradient_edge(t) : autograd::Edge{});
      node->saved.emplace_back(t, false);
      node->sizes.push_back(t.sizes());
      node->dtypes.push_back(t.dtype());
    }
    autograd::set_history(out, node, 0);
  }
  return out;
}

template <class F, int N>
constexpr bool invocable_with() {
  return []<size_t... I>(std::index_sequence<I...>) {
    return std::is_invocable_v<const F&, Var<static_cast<int>(I)>...>;
  }(std::make_index_sequence<N>{});
}

template <class F>
constexpr int detect_arity() {
  if constexpr (invocable_with<F, 1>())
    return 1;
  else if constexpr (invocable_with<F, 2>())
    return 2;
  else if constexpr (invocable_with<F, 3>())
    return 3;
  else if constexpr (invocable_with<F, 4>())
    return 4;
  else
    return 0;
}

inline Tensor to_tensor(const Tensor& t) { return t; }
template <class S>
  requires std::is_arithmetic_v<S>
Tensor to_tensor(S v) {
  return wrapped_scalar(Scalar(v));
}

}  // namespace detail

/// A pointwise kernel built from a lambda over placeholders; call it on Tensors (or numbers).
template <class F>
class Pointwise {
 public:
  static constexpr int arity = detail::detect_arity<F>();
  static_assert(arity > 0, "dsl::pointwise: the lambda must take 1 to 4 `auto` arguments");

  constexpr explicit Pointwise(F f, const char* name = "pointwise") : f_(f), name_(name) {}

  /// The formula: the lambda applied to Var<0>, Var<1>, ...
  constexpr auto expr() const {
    return [&]<size_t... I>(std::index_sequence<I...>) {
      return lift(f_(Var<static_cast<int>(I)>{}...));
    }(std::make_index_sequence<arity>{});
  }
  /// The formula as a run-time tree (what the JIT lowers).
  ExprTree describe() const { return dsl::describe(expr()); }
  const char* name() const { return name_; }

  template <class... A>
  Tensor operator()(const A&... args) const {
    static_assert(sizeof...(A) == arity, "dsl::pointwise: wrong number of arguments");
    return detail::run(expr(), {detail::to_tensor(args)...}, name_);
  }

 private:
  F f_;
  const char* name_;
};

/// Builds a pointwise kernel: `constexpr auto k = dsl::pointwise([](auto x, auto y) {...});`
template <class F>
constexpr Pointwise<F> pointwise(F f, const char* name = "pointwise") {
  return Pointwise<F>(f, name);
}

}  // namespace ember::dsl
