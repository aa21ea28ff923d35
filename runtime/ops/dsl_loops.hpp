// dsl formulas run on Tensors: the forward loop of a dsl::pointwise call and the fused backward
// loops that compute every needed input gradient in one pass. The derivative table's pointwise
// rows (runtime/autograd/derivatives_pointwise.cpp) and dsl::pointwise (dsl/pointwise.hpp) run
// them. Internal header; it sits in runtime so that the dsl core (dsl/expr.hpp, derivative.hpp,
// math.hpp, builtins.hpp, describe.hpp) includes nothing from runtime.
#pragma once

#include <array>
#include <utility>
#include <vector>

#include "dsl/derivative.hpp"
#include "dsl/describe.hpp"
#include "runtime/ops/loops.hpp"

namespace ember::dsl::detail {
template <size_t I, class T>
using Same = T;

/// e with its runtime scalars numbered (see number_params): an empty type.
template <class E>
using Numbered = decltype(number_params<0>(std::declval<const E&>()));

/// Heavy when the formula holds two or more costly functions (see loops::Work).
template <class E>
inline constexpr loops::Work work_of =
    costly_fns<E>::value >= 2 ? loops::Work::Heavy : loops::Work::Light;

/// A row callback with its type erased: Plan::run over it (the walk over dims, the split over
/// threads) is compiled once per operand count in a translation unit, not once per formula.
template <size_t N>
struct RowFn {
  void (*fn)(const void* ctx, const std::array<char*, N>&, const std::array<int64_t, N>&, int64_t);
  const void* ctx;
  void operator()(const std::array<char*, N>& p, const std::array<int64_t, N>& s,
                  int64_t cnt) const {
    fn(ctx, p, s, cnt);
  }
};
template <size_t N, class F>
RowFn<N> erase_rows(const F& f) {
  return {[](const void* c, const std::array<char*, N>& p, const std::array<int64_t, N>& s,
             int64_t cnt) { (*static_cast<const F*>(c))(p, s, cnt); },
          &f};
}

/// dst[i] = src[i * stride] for i < m: a strided or broadcast row into a contiguous block; and
/// back. Out of line, for float and double (dsl_loops.cpp): one copy for every kernel.
template <class T>
void gather_row(T* dst, const char* src, int64_t stride, int64_t m);
template <class T>
void scatter_row(char* dst, int64_t stride, const T* src, int64_t m);

/// Runs row(q, m) over one row of cnt elements whose operands (p, byte strides s) are all
/// contiguous; otherwise over blocks of it, each strided or broadcast operand copied into a
/// contiguous buffer first, and the outputs (operands in out_mask) copied back after. So a
/// formula's loop is compiled for contiguous rows only (once per ISA, runtime/ops/loops.hpp): a
/// strided copy of it was a fifth of the machine code of a kernel, and ran scalar.
template <class T, size_t N, class Row>
[[gnu::always_inline]] inline void contiguous_blocks(const std::array<char*, N>& p,
                                                     const std::array<int64_t, N>& s, int64_t cnt,
                                                     unsigned out_mask, const Row& row) {
  std::array<T*, N> q;
  bool contiguous = true;
  for (size_t k = 0; k < N; ++k) contiguous = contiguous && s[k] == sizeof(T);
  if (contiguous) {
    for (size_t k = 0; k < N; ++k) q[k] = reinterpret_cast<T*>(p[k]);
    return row(q, cnt);
  }
  constexpr int64_t kBlock = 256;
  alignas(64) T buf[N][kBlock];
  for (int64_t b = 0; b < cnt; b += kBlock) {
    const int64_t m = std::min(kBlock, cnt - b);
    for (size_t k = 0; k < N; ++k) {
      char* at = p[k] + b * s[k];
      q[k] = s[k] == sizeof(T) ? reinterpret_cast<T*>(at) : buf[k];
      if (s[k] != sizeof(T) && !(out_mask >> k & 1u)) gather_row(buf[k], at, s[k], m);
    }
    row(q, m);
    for (size_t k = 0; k < N; ++k)
      if (s[k] != sizeof(T) && (out_mask >> k & 1u)) scatter_row(p[k] + b * s[k], s[k], buf[k], m);
  }
}

/// out = e(in...) elementwise: one vectorisable loop.
template <class T, class E, size_t... I>
void forward_loop(const E& e, const Tensor& out, const std::vector<Tensor>& in,
                  std::index_sequence<I...>) {
  static constexpr Numbered<E> ne{};
  constexpr size_t N = sizeof...(I) + 1;
  loops::Plan<N> plan(std::array<const Tensor*, N>{&out, &in[I]...}, out.sizes());
  if (plan.numel == 0) return;
  auto f = [pv = param_values<T>(e)](Same<I, T>... v)
               __attribute__((always_inline)) -> T { return eval_with<T>(ne, pv, v...); };
  constexpr loops::Work W = work_of<E>;
  auto rows = [&](const std::array<char*, N>& p, const std::array<int64_t, N>& s, int64_t cnt) {
    contiguous_blocks<T, N>(
        p, s, cnt, 1u, [&](const std::array<T*, N>& q, int64_t m) __attribute__((always_inline)) {
          loops::run_row<W>([&]() __attribute__((always_inline)) {
            loops::contiguous_row<W, T, Same<I, T>...>(m, f, q[0], q[I + 1]...);
          });
        });
  };
  plan.run(erase_rows<N>(rows), 4096);
}

/// d e / d x_J of the numbered E, as differentiated: the numbers diff makes (2/sqrt(pi) in erf's
/// derivative) are Params. Built once: built per element it would block vectorising wherever
/// g++ does not inline all of diff.
template <class E, int J>
inline constexpr auto raw_derivative = diff<J>(Numbered<E>{});
template <class E, int J>
using RawDerivative = std::remove_cvref_t<decltype(raw_derivative<E, J>)>;

/// Where the numbers of derivative J start in the backward's values: after E's own and those of
/// the derivatives before J.
template <class E, int J>
constexpr int derivative_base() {
  return [&]<size_t... K>(std::index_sequence<K...>) {
    return (param_count<E>::value + ... +
            param_count<RawDerivative<E, static_cast<int>(K)>>::value);
  }(std::make_index_sequence<static_cast<size_t>(J)>{});
}

/// d e / d x_J with its numbers numbered too (PRef<derivative_base + k>): a formula that holds
/// no number, so its evaluation reads no tuple (hana::at_c, a call per node and element at -O0).
template <class E, int J>
inline constexpr auto derivative_of = number_params<derivative_base<E, J>()>(raw_derivative<E, J>);

/// The values the derivatives of e in T read: e's runtime scalars, then each derivative's numbers.
template <class T, class E, size_t... I>
auto backward_params(const E& e, std::index_sequence<I...>) {
  constexpr int n = static_cast<int>(sizeof...(I));
  ParamValues<T, static_cast<size_t>(derivative_base<E, n>())> out{};
  size_t k = 0;
  auto append = [&](const auto& pv) {
    for (size_t j = 0; j < pv.count; ++j) out.v[k++] = pv.v[j];
  };
  append(param_values<T>(e));
  (append(param_values<T>(raw_derivative<E, static_cast<int>(I)>)), ...);
  return out;
}

/// grad_j[i] = g[i] * (d e / d x_j)(x[i]...) for each j in Mask, over one contiguous row. The
/// pointers are restrict (the gradients are fresh tensors): without that, g++ needs run-time
/// alias checks between every output and every input, which it caps, and gives up vectorising.
/// Heavy rows (see loops::Work) run in prefetched blocks, with wide vectors.
template <class T, unsigned Mask, size_t... I>
struct BackwardRow {
  template <class E, class PV>
  [[gnu::always_inline]] static void block(const PV& pv, int64_t b, int64_t e,
                                           const T* __restrict g, Same<I, T* __restrict>... out,
                                           Same<I, const T* __restrict>... x) {
    loops::vector_loop(b, e, [&](int64_t i) __attribute__((always_inline)) {
      T gv = g[i];
      ((Mask >> I & 1u
            ? void(out[i] = gv * eval_with<T>(derivative_of<E, static_cast<int>(I)>, pv, x[i]...))
            : void()),
       ...);
    });
  }
  /// The whole row, compiled for cpu::isa() (see loops::run_row); heavy rows (see loops::Work)
  /// in prefetched blocks.
  template <loops::Work W, class E, class PV>
  [[gnu::always_inline]] static void run(const PV& params, int64_t cnt, const T* __restrict g,
                                         Same<I, T* __restrict>... out,
                                         Same<I, const T* __restrict>... x) {
    loops::run_row<W>([&]() __attribute__((always_inline)) {
      const PV pv = params;  // a local copy: the outputs' stores cannot alias it
      if constexpr (W == loops::Work::Heavy) {
        for (int64_t b = 0; b < cnt; b += loops::kHeavyBlock) {
          const int64_t e = std::min(cnt, b + loops::kHeavyBlock);
          loops::prefetch_ahead(b, e, cnt, g, x...);
          block<E>(pv, b, e, g, out..., x...);
        }
      } else {
        block<E>(pv, 0, cnt, g, out..., x...);
      }
    });
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
  const auto pv = backward_params<T>(e, std::index_sequence<I...>{});
  constexpr unsigned out_mask = Mask;  // operand j < n is gradient j: written when in Mask
  auto rows = [&](const std::array<char*, N>& p, const std::array<int64_t, N>& s, int64_t cnt) {
    contiguous_blocks<T, N>(p, s, cnt, out_mask,
                            [&](const std::array<T*, N>& q, int64_t m)
                                __attribute__((always_inline)) {
                                  BackwardRow<T, Mask, I...>::template run<work_of<E>, E>(
                                      pv, m, q[n], q[I]..., q[n + 1 + I]...);
                                });
  };
  plan.run(erase_rows<N>(rows), 2048);
}

/// A formula's run-time tree (dsl/describe.hpp) evaluated with eager Tensor ops, each recorded
/// by autograd: how gradients are built under create_graph, so that they can be differentiated
/// again. One function for every formula: built as a template per formula node, this was 15% of
/// the machine code of each user kernel.
Tensor eval_tree(const ExprTree& t, const std::vector<Tensor>& x);

template <class E, class T, size_t... I>
void dispatch_mask(unsigned mask, const E& e, const std::vector<Tensor>& grads, const Tensor& g,
                   const std::vector<Tensor>& in, std::index_sequence<I...> is) {
  constexpr size_t n = sizeof...(I);
  [&]<size_t... M>(std::index_sequence<M...>) {
    ((mask == M + 1 ? backward_loop<T, M + 1>(e, grads, g, in, is) : void()), ...);
  }(std::make_index_sequence<(1u << n) - 1>{});
}

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
  if (GradMode::is_enabled() || ops_traced()) {
    // create_graph: g * d e / d x_j as recorded eager ops, differentiable to any order. Inside
    // a jit::Region the same ops are traced, and fused with the rest of the step.
    [&]<size_t... I>(std::index_sequence<I...>) {
      auto one = [&](auto j) {
        constexpr int J = decltype(j)::value;
        if constexpr (!(constant >> J & 1u))
          if (mask >> J & 1u) out[J] = g * eval_tree(describe(diff<J>(e)), in);
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

}  // namespace ember::dsl::detail
