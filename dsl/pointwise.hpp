// dsl::pointwise: a formula written once as a lambda over placeholders, run on Tensors as one
// fused loop (broadcasting, any strides, f32/f64, split over the thread pool), differentiated
// at compile time, with one autograd node per call whose backward computes every input
// gradient in one fused pass.
//
//   constexpr auto swish = dsl::pointwise([](auto x) { return x * dsl::sigmoid(x); });
//   Tensor y = swish(x);             // one loop, no temporaries
//   y.sum().backward();              // x.grad() = sigmoid(x) (1 + x (1 - sigmoid(x)))
#pragma once

#include <array>
#include <bit>
#include <memory>
#include <utility>
#include <vector>

#include "dsl/derivative.hpp"
#include "dsl/describe.hpp"
#include "runtime/autograd/node.hpp"
#include "runtime/ops/loops.hpp"

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

template <size_t I, class T>
using Same = T;

/// e with its runtime scalars numbered (see number_params): an empty type.
template <class E>
using Numbered = decltype(number_params<0>(std::declval<const E&>()));

/// Heavy when the formula holds two or more costly functions (see loops::Work).
template <class E>
inline constexpr loops::Work work_of =
    costly_fns<E>::value >= 2 ? loops::Work::Heavy : loops::Work::Light;

/// out = e(in...) elementwise: one vectorisable loop.
template <class T, class E, size_t... I>
void forward_loop(const E& e, const Tensor& out, const std::vector<Tensor>& in,
                  std::index_sequence<I...>) {
  static constexpr Numbered<E> ne{};
  loops::for_each<work_of<E>, T, Same<I, T>...>(
      out, {&in[I]...},
      [pv = param_values<T>(e)](Same<I, T>... v) -> T { return eval_with<T>(ne, pv, v...); }, 4096);
}

/// grad_j[i] = g[i] * (d e / d x_j)(x[i]...) for each j in Mask, over one contiguous row. The
/// pointers are restrict (the gradients are fresh tensors): without that, g++ needs run-time
/// alias checks between every output and every input, which it caps, and gives up vectorising.
/// Heavy rows (see loops::Work) run in prefetched blocks, with wide vectors.
template <class T, unsigned Mask, size_t... I>
struct BackwardRow {
  template <class DE, class PV>
  [[gnu::always_inline]] static void block(const DE& de, const PV& pv, int64_t b, int64_t e,
                                           const T* __restrict g, Same<I, T* __restrict>... out,
                                           Same<I, const T* __restrict>... x) {
    for (int64_t i = b; i < e; ++i) {
      T gv = g[i];
      ((Mask >> I & 1u ? void(out[i] = gv * eval_with<T>(std::get<I>(de), pv, x[i]...)) : void()),
       ...);
    }
  }
  template <class DE, class PV>
  static void run(const DE& de, const PV& params, int64_t cnt, const T* __restrict g,
                  Same<I, T* __restrict>... out, Same<I, const T* __restrict>... x) {
    const PV pv = params;  // a local copy: the outputs' stores cannot alias it
    block(de, pv, 0, cnt, g, out..., x...);
  }
  template <class DE, class PV>
  EMBER_HEAVY_LOOP static void run_heavy(const DE& de, const PV& params, int64_t cnt,
                                         const T* __restrict g, Same<I, T* __restrict>... out,
                                         Same<I, const T* __restrict>... x) {
    const PV pv = params;
    for (int64_t b = 0; b < cnt; b += loops::kHeavyBlock) {
      const int64_t e = std::min(cnt, b + loops::kHeavyBlock);
      loops::prefetch_ahead(b, e, cnt, g, x...);
      block(de, pv, b, e, g, out..., x...);
    }
  }
};

/// For every input j in Mask: grad_j = g * d e / d x_j, all in one pass over the output shape.
template <class T, unsigned Mask, class E, size_t... I>
void backward_loop(const E& e, const std::vector<Tensor>& grads, const Tensor& g,
                   const std::vector<Tensor>& in, std::index_sequence<I...>) {
  constexpr size_t n = sizeof...(I);
  constexpr size_t N = 2 * n + 1;  // grads (all slots, unused ones alias g), g, inputs
  std::array<const Tensor*, N> ops{};
  for (size_t j = 0; j < n; ++j) ops[j] = (Mask >> j & 1u) ? &grads[j] : &g;
  ops[n] = &g;
  for (size_t j = 0; j < n; ++j) ops[n + 1 + j] = &in[j];
  loops::Plan<N> plan(ops, g.sizes());
  if (plan.numel == 0) return;
  // The derivative formulas of the numbered e: compile-time constants, built once (built per
  // element they would block vectorising wherever g++ does not inline all of diff).
  static constexpr Numbered<E> ne{};
  static constexpr std::tuple<decltype(diff<static_cast<int>(I)>(ne))...> de{
      diff<static_cast<int>(I)>(ne)...};
  const auto pv = param_values<T>(e);
  plan.run(
      [&](const std::array<char*, N>& p, const std::array<int64_t, N>& s, int64_t cnt) {
        auto at = [&](size_t k, int64_t i) { return reinterpret_cast<T*>(p[k] + i * s[k]); };
        bool contiguous = true;
        for (size_t k = 0; k < N; ++k) contiguous = contiguous && s[k] == sizeof(T);
        if (contiguous) {
          using Row = BackwardRow<T, Mask, I...>;
          if constexpr (work_of<E> == loops::Work::Heavy)
            Row::run_heavy(de, pv, cnt, at(n, 0), at(I, 0)..., at(n + 1 + I, 0)...);
          else
            Row::run(de, pv, cnt, at(n, 0), at(I, 0)..., at(n + 1 + I, 0)...);
          return;
        }
        for (int64_t i = 0; i < cnt; ++i) {
          T gv = *at(n, i);
          ((Mask >> I & 1u
                ? void(*at(I, i) = gv * eval_with<T>(std::get<I>(de), pv, *at(n + 1 + I, i)...))
                : void()),
           ...);
        }
      },
      2048);
}

/// The formula evaluated with eager Tensor ops (each recorded by autograd): how gradients are
/// built under create_graph, so that they can be differentiated again.
Tensor tensor_fn(Fn f, const std::vector<Tensor>& a);
Tensor tensor_const(double v);

template <int I>
Tensor eval_tensor(const Var<I>&, const std::vector<Tensor>& x) {
  return x[I];
}
template <std::intmax_t N, std::intmax_t D>
Tensor eval_tensor(const Const<N, D>&, const std::vector<Tensor>&) {
  return tensor_const(Const<N, D>::value);
}
inline Tensor eval_tensor(const Param& p, const std::vector<Tensor>&) {
  return tensor_const(p.value);
}
template <Fn F, class... A>
Tensor eval_tensor(const Node<F, A...>& n, const std::vector<Tensor>& x) {
  return hana::unpack(n.args, [&](const auto&... a) {
    return tensor_fn(F, std::vector<Tensor>{eval_tensor(a, x)...});
  });
}

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

template <class E, class T, size_t... I>
void dispatch_mask(unsigned mask, const E& e, const std::vector<Tensor>& grads, const Tensor& g,
                   const std::vector<Tensor>& in, std::index_sequence<I...> is) {
  constexpr size_t n = sizeof...(I);
  [&]<size_t... M>(std::index_sequence<M...>) {
    ((mask == M + 1 ? backward_loop<T, M + 1>(e, grads, g, in, is) : void()), ...);
  }(std::make_index_sequence<(1u << n) - 1>{});
}

/// Gradients of e with respect to each input that `needs` marks: fused in one pass, or, while
/// grad mode is on (create_graph), as recorded dsl calls so they can be differentiated again.
/// Bit j set when d e / d x_j is a compile-time constant (x + y, 3 x): no kernel needed.
template <class E, size_t... I>
constexpr unsigned constant_mask(std::index_sequence<I...>) {
  return ((is_const<decltype(diff<static_cast<int>(I)>(std::declval<const E&>()))>::value ? 1u << I
                                                                                          : 0u) |
          ... | 0u);
}

/// True when some input's derivative needs the inputs' values (so they must be saved).
template <class E>
constexpr bool needs_inputs() {
  constexpr size_t n = static_cast<size_t>(arity<E>::value);
  return constant_mask<E>(std::make_index_sequence<n>{}) != (1u << n) - 1;
}

/// Gradients of e with respect to each input that `needs` marks: fused in one pass, or, while
/// grad mode is on (create_graph), as recorded dsl calls so they can be differentiated again.
template <class E>
std::vector<Tensor> gradients(const E& e, const std::vector<Tensor>& in, const Tensor& g,
                              const std::vector<bool>& needs, const char* /*name*/) {
  constexpr size_t n = static_cast<size_t>(arity<E>::value);
  constexpr unsigned constant = constant_mask<E>(std::make_index_sequence<n>{});
  std::vector<Tensor> out(in.size());
  if (!g.defined()) return out;
  unsigned mask = 0;
  [&]<size_t... I>(std::index_sequence<I...>) {
    auto one = [&](auto j) {
      constexpr int J = decltype(j)::value;
      if (!needs[J]) return;
      if constexpr (constant >> J & 1u) {
        constexpr double k = decltype(diff<J>(e))::value;
        out[J] = k == 1 ? g : k == -1 ? -g : g * k;
      } else {
        mask |= 1u << J;
      }
    };
    (one(std::integral_constant<int, static_cast<int>(I)>{}), ...);
  }(std::make_index_sequence<n>{});
  if (mask == 0) return out;
  if (GradMode::is_enabled()) {
    // create_graph: g * d e / d x_j as recorded eager ops, differentiable to any order.
    [&]<size_t... I>(std::index_sequence<I...>) {
      auto one = [&](auto j) {
        constexpr int J = decltype(j)::value;
        if constexpr (!(constant >> J & 1u))
          if (mask >> J & 1u) out[J] = g * eval_tensor(diff<J>(e), in);
      };
      (one(std::integral_constant<int, static_cast<int>(I)>{}), ...);
    }(std::make_index_sequence<n>{});
    return out;
  }
  DType d = g.dtype();
  std::vector<Tensor> grads(n);
  for (size_t j = 0; j < n; ++j)
    if (mask >> j & 1u) grads[j] = make_tensor(g.sizes(), d);
  visit_dtype(d, [&](auto x) {
    using T = decltype(x);
    if constexpr (std::is_floating_point_v<T>)
      dispatch_mask<E, T>(mask, e, grads, g, in, std::make_index_sequence<n>{});
  });
  for (size_t j = 0; j < n; ++j)
    if (mask >> j & 1u) out[j] = grads[j];
  return out;
}

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

/// Runs formula e on the tensors (autograd-recorded when an input requires grad).
template <class E>
Tensor run(const E& e, std::vector<Tensor> args, const char* name) {
  constexpr size_t n = static_cast<size_t>(arity<E>::value);
  EMBER_CHECK(args.size() == n, ValueError, name, ": the formula takes ", n,
              " inputs, but was called with ", args.size());
  Prepared p = prepare(std::move(args), name);
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
