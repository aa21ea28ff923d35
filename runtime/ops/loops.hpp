// Strided loops for pointwise kernels (internal): broadcast the operands to one shape, drop and
// merge dims, split the flat index range over the thread pool, and run an inner loop over the
// last dim with fast paths for contiguous and broadcast-scalar operands, which g++ vectorises.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

#include "runtime/cpu.hpp"
#include "runtime/dispatch.hpp"
#include "runtime/ops.hpp"
#include "runtime/parallel.hpp"
#include "runtime/tensor.hpp"

namespace ember::loops {

inline constexpr int kMaxDims = 16;

/// How much arithmetic a loop does per element. Light loops (add, a copy, exp alone) are bound
/// by memory, and the hardware prefetcher keeps up with them. Heavy ones (a fused formula with
/// several transcendental functions, tens of instructions per element) are bound by the math:
/// there, the out-of-order window does not reach far enough ahead to hide the loads, so heavy
/// contiguous rows run in short blocks, each prefetching the inputs 4096 elements ahead, and,
/// where the CPU has AVX-512, with 512-bit vectors (g++ prefers 256 bits by default). On the
/// dsl chain gelu(x a + b) sigmoid(x), 16M floats: forward 25 -> 12 ms on 1 thread, 14 -> 6 ms
/// on 2; its backward 27 -> 20 ms. On add, the same prefetch made it 10% slower, so light
/// loops go without it.
enum class Work { Light, Heavy };

/// Prefetches the cache lines of [p, p + n) for reading.
template <class T>
[[gnu::always_inline]] inline void prefetch(const T* p, int64_t n) {
  const char* c = reinterpret_cast<const char*>(p);
  for (int64_t b = 0; b < n * static_cast<int64_t>(sizeof(T)); b += 64) __builtin_prefetch(c + b);
}

/// Heavy rows run in blocks of kHeavyBlock elements; before each block [b, e) of a row of n,
/// the inputs' elements kHeavyAhead further on are prefetched.
inline constexpr int64_t kHeavyBlock = 128, kHeavyAhead = 4096;
template <class... In>
[[gnu::always_inline]] inline void prefetch_ahead(int64_t b, int64_t e, int64_t n,
                                                  const In*... in) {
  const int64_t ahead = std::min(n, e + kHeavyAhead) - (b + kHeavyAhead);
  if (ahead > 0) (prefetch(in + b + kHeavyAhead, ahead), ...);
}

// ---- per-ISA variants of the contiguous rows ----
// These loops are instantiated where they are called: ember's own kernels, and every
// dsl::pointwise kernel in the user's translation unit, compiled with the user's flags, where
// plain -O3 means SSE2: a heavy dsl formula ran 3.8x slower than with -march=native. So each
// contiguous row is also compiled for x86-64-v3 (AVX2, FMA), and heavy rows (see Work) for
// x86-64-v4 (AVX-512 with 512-bit vectors, which g++ otherwise shuns), each level the
// translation unit does not already have; a row runs the variant for cpu::isa(), the CPU's level
// read once per row. Light rows are bound by memory: AVX2 serves them on AVX-512 CPUs too. Only
// contiguous rows are cloned (broadcast and strided rows stay at the TU's level): each clone is
// another copy of the formula's loop to compile.
#define EMBER_ISA_V4_CLONE 0
#define EMBER_ISA_V3_CLONE 0
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#if !defined(__AVX512F__)
#undef EMBER_ISA_V4_CLONE
#define EMBER_ISA_V4_CLONE 1
#endif
#if !(defined(__AVX2__) && defined(__FMA__))
#undef EMBER_ISA_V3_CLONE
#define EMBER_ISA_V3_CLONE 1
#endif
#endif

// In an unoptimised translation unit (CMake's empty build type is -O0) every row function is
// compiled with optimisation, so that a dsl kernel's row runs vectorised there too: everything a
// row calls per element is always-inline (dsl/expr.hpp, dsl/math.hpp) and so inlined into it.
// They are then in their own inline namespace: an optimised file of the same program
// instantiates the same rows without the attribute, and one name must have one definition.
#if defined(__GNUC__) && !defined(__clang__) && !defined(__OPTIMIZE__)
#define EMBER_ROW_O0 1
#define EMBER_ROW_OPTIMIZE gnu::optimize("O3"),
#else
#define EMBER_ROW_O0 0
#define EMBER_ROW_OPTIMIZE
#endif
#if EMBER_ROW_O0
inline namespace rows_in_unoptimised_tu {
#endif

#if EMBER_ISA_V4_CLONE
template <class Row>
[[ gnu::noinline, EMBER_ROW_OPTIMIZE gnu::target("arch=x86-64-v4,prefer-vector-width=512") ]] void
row_v4_wide(const Row& row) {
  row();
}
#endif
#if EMBER_ISA_V3_CLONE
template <class Row>
[[ gnu::noinline, EMBER_ROW_OPTIMIZE gnu::target("arch=x86-64-v3") ]] void row_v3(const Row& row) {
  row();
}
#endif
// At the translation unit's own level: heavy rows are not inlined (a separate function keeps
// g++'s register allocation of the caller out of the loop), with 512-bit vectors when the TU
// has AVX-512 (-march=native on such a CPU).
#if defined(__GNUC__) && !defined(__clang__) && defined(__AVX512F__)
#define EMBER_HEAVY_LOOP \
  [[ gnu::noinline, EMBER_ROW_OPTIMIZE gnu::target("prefer-vector-width=512") ]]
#else
#define EMBER_HEAVY_LOOP [[gnu::noinline, EMBER_ROW_OPTIMIZE]]
#endif
template <class Row>
EMBER_HEAVY_LOOP void row_heavy(const Row& row) {
  row();
}
#if EMBER_ROW_O0
// A light row at the TU's own level, which an optimised build inlines.
template <class Row>
[[gnu::noinline, gnu::optimize("O3")]] void row_light(const Row& row) {
  row();
}
}  // inline namespace rows_in_unoptimised_tu
#endif

/// Runs row() (an always-inline lambda over one contiguous row) compiled for cpu::isa().
template <Work W, class Row>
[[gnu::always_inline]] inline void run_row(const Row& row) {
#if EMBER_ISA_V4_CLONE || EMBER_ISA_V3_CLONE
  const cpu::Isa level = cpu::isa();
#endif
#if EMBER_ISA_V4_CLONE
  if constexpr (W == Work::Heavy)
    if (level == cpu::Isa::V4) return row_v4_wide(row);
#endif
#if EMBER_ISA_V3_CLONE
  if (level >= cpu::Isa::V3) return row_v3(row);
#endif
  if constexpr (W == Work::Heavy)
    row_heavy(row);
  else if constexpr (EMBER_ROW_O0)
    row_light(row);
  else
    row();
}

/// body(i) for i in [b, e): spans of kVecSpan elements, each a loop of constant trip count, then
/// the remainder. At -O2 (RelWithDebInfo) g++ vectorises only a loop with no scalar iterations
/// left over (its "very cheap" cost model), which a loop over [b, e) never is; a span of 16 is a
/// whole number of vectors at every width. -O3 vectorises both forms alike.
inline constexpr int64_t kVecSpan = 16;
template <class Body>
[[gnu::always_inline]] inline void vector_loop(int64_t b, int64_t e, const Body& body) {
  int64_t i = b;
  for (; i + kVecSpan <= e; i += kVecSpan)
    for (int64_t k = 0; k < kVecSpan; ++k) body(i + k);
  for (; i < e; ++i) body(i);
}

/// o[i] = f(in[i]...) over one contiguous row; heavy rows in prefetched blocks. f is copied into
/// the row's frame: its captured numbers then cannot alias o, which -O2 would otherwise reload
/// every element (its cost model refuses the run-time alias check that -O3 adds).
template <Work W, class Out, class... In, class F>
[[gnu::always_inline]] inline void contiguous_row(int64_t n, const F& fn, Out* __restrict o,
                                                  const In* __restrict... in) {
  const F f = fn;
  auto body = [&](int64_t i)
                  __attribute__((always_inline)) { o[i] = static_cast<Out>(f(in[i]...)); };
  if constexpr (W == Work::Heavy) {
    for (int64_t b = 0; b < n; b += kHeavyBlock) {
      const int64_t e = std::min(n, b + kHeavyBlock);
      prefetch_ahead(b, e, n, in...);
      vector_loop(b, e, body);
    }
  } else {
    vector_loop(0, n, body);
  }
}

/// N operands (operand 0 is the output) laid over one iteration shape, strides in bytes.
template <size_t N>
struct Plan {
  int ndim = 0;                  // >= 1 after coalescing
  int64_t sizes[kMaxDims];       // innermost last
  int64_t strides[N][kMaxDims];  // bytes; 0 along broadcast dims
  std::array<char*, N> base;
  int64_t numel = 0;

  /// `shape` is the output shape; every operand must broadcast to it.
  Plan(const std::array<const Tensor*, N>& ops, const Dims& shape) {
    int nd = static_cast<int>(shape.size());
    EMBER_CHECK(nd <= kMaxDims, ShapeError, "pointwise ops support at most ", kMaxDims,
                " dims, got ", nd);
    numel = product(shape);
    int64_t full[N][kMaxDims];
    for (size_t k = 0; k < N; ++k) {
      const TensorImpl& t = *ops[k]->impl();
      base[k] = t.data();
      int off = nd - static_cast<int>(t.sizes.size());
      int64_t es = static_cast<int64_t>(element_size(t.dtype));
      for (int d = 0; d < nd; ++d) {
        int td = d - off;
        full[k][d] = (td < 0 || t.sizes[td] == 1) ? 0 : t.strides[td] * es;
      }
    }
    // Drop size-1 dims, merge a dim into the next when every operand is contiguous across them.
    ndim = 0;
    for (int d = 0; d < nd; ++d) {
      if (shape[d] == 1) continue;
      if (ndim > 0) {
        bool merge = true;
        for (size_t k = 0; k < N && merge; ++k)
          merge = strides[k][ndim - 1] == full[k][d] * shape[d];
        if (merge) {
          sizes[ndim - 1] *= shape[d];
          for (size_t k = 0; k < N; ++k) strides[k][ndim - 1] = full[k][d];
          continue;
        }
      }
      sizes[ndim] = shape[d];
      for (size_t k = 0; k < N; ++k) strides[k][ndim] = full[k][d];
      ++ndim;
    }
    if (ndim == 0) {
      ndim = 1;
      sizes[0] = 1;
      for (size_t k = 0; k < N; ++k) strides[k][0] = 0;
    }
  }

  /// Calls inner(ptrs, inner_strides, n) over rows of the flat range [begin, end).
  template <class F>
  void run_range(int64_t begin, int64_t end, F&& inner) const {
    int64_t idx[kMaxDims];
    int64_t rem = begin;
    for (int d = ndim - 1; d >= 0; --d) {
      idx[d] = rem % sizes[d];
      rem /= sizes[d];
    }
    std::array<int64_t, N> in_strides;
    for (size_t k = 0; k < N; ++k) in_strides[k] = strides[k][ndim - 1];
    int64_t pos = begin;
    while (pos < end) {
      std::array<char*, N> p = base;
      for (size_t k = 0; k < N; ++k)
        for (int d = 0; d < ndim; ++d) p[k] += idx[d] * strides[k][d];
      int64_t n = std::min(sizes[ndim - 1] - idx[ndim - 1], end - pos);
      inner(p, in_strides, n);
      pos += n;
      idx[ndim - 1] += n;
      for (int d = ndim - 1; d > 0 && idx[d] == sizes[d]; --d) {
        idx[d] = 0;
        ++idx[d - 1];
      }
    }
  }

  /// run_range over the whole plan, split over the thread pool in chunks of at least `grain`.
  template <class F>
  void run(F&& inner, int64_t grain = kGrainSize) const {
    parallel_for(0, numel, grain, [&](int64_t b, int64_t e) { run_range(b, e, inner); });
  }
};

template <Work W, class Out, class... In, class F, size_t... I>
inline void inner_loop(const std::array<char*, sizeof...(In) + 1>& p,
                       const std::array<int64_t, sizeof...(In) + 1>& s, int64_t n, F& f,
                       std::index_sequence<I...>) {
  Out* __restrict o = reinterpret_cast<Out*>(p[0]);
  bool out_contig = s[0] == sizeof(Out);
  bool all_contig = out_contig && ((s[I + 1] == sizeof(In)) && ...);
  if (all_contig) {
    return run_row<W>([&]() __attribute__((always_inline)) {
      contiguous_row<W, Out, In...>(n, f, o, reinterpret_cast<const In*>(p[I + 1])...);
    });
  }
  // One operand contiguous, the others broadcast scalars (x * 2, x + bias along rows).
  bool scalar_mix = out_contig && (((s[I + 1] == sizeof(In)) || s[I + 1] == 0) && ...);
  if (scalar_mix) {
    if constexpr (sizeof...(In) == 2) {
      using A = std::tuple_element_t<0, std::tuple<In...>>;
      using B = std::tuple_element_t<1, std::tuple<In...>>;
      const A* __restrict a = reinterpret_cast<const A*>(p[1]);
      const B* __restrict b = reinterpret_cast<const B*>(p[2]);
      if (s[1] == 0 && s[2] == 0) {  // both broadcast along this row
        Out v = static_cast<Out>(f(*a, *b));
        for (int64_t i = 0; i < n; ++i) o[i] = v;
        return;
      }
      if (s[1] == 0) {
        A av = *a;
        for (int64_t i = 0; i < n; ++i) o[i] = static_cast<Out>(f(av, b[i]));
        return;
      }
      B bv = *b;
      for (int64_t i = 0; i < n; ++i) o[i] = static_cast<Out>(f(a[i], bv));
      return;
    }
  }
  for (int64_t i = 0; i < n; ++i)
    *reinterpret_cast<Out*>(p[0] + i * s[0]) =
        static_cast<Out>(f(*reinterpret_cast<const In*>(p[I + 1] + i * s[I + 1])...));
}

/// out[i] = f(in[i]...) for contiguous or broadcast-scalar operands, strided otherwise.
/// Out and In are C++ element types; f takes In... and returns something convertible to Out.
/// for_each<Work::Heavy, Out, In...> runs contiguous rows as heavy loops (see Work).
template <Work W, class Out, class... In, class F>
void for_each(const Tensor& out, const std::array<const Tensor*, sizeof...(In)>& ins, F f,
              int64_t grain = kGrainSize) {
  constexpr size_t N = sizeof...(In) + 1;
  std::array<const Tensor*, N> ops;
  ops[0] = &out;
  for (size_t k = 0; k < sizeof...(In); ++k) ops[k + 1] = ins[k];
  Plan<N> plan(ops, out.sizes());
  if (plan.numel == 0) return;
  plan.run(
      [&](const std::array<char*, N>& p, const std::array<int64_t, N>& s, int64_t n) {
        inner_loop<W, Out, In...>(p, s, n, f, std::index_sequence_for<In...>{});
      },
      grain);
}
template <class Out, class... In, class F>
void for_each(const Tensor& out, const std::array<const Tensor*, sizeof...(In)>& ins, F f,
              int64_t grain = kGrainSize) {
  for_each<Work::Light, Out, In...>(out, ins, std::move(f), grain);
}

}  // namespace ember::loops
