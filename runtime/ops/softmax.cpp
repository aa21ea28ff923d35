// softmax and log_softmax along one dim, stable: exp(x - max) over sum(exp(x - max)).
// The input is viewed as [outer, n, inner] (n along dim). The last dim (inner == 1) is the fast
// path: each row in three vectorised passes. Otherwise tiles of columns are reduced a whole
// contiguous row at a time, as in the reductions.
#include <array>
#include <cmath>
#include <limits>

#include "dsl/math.hpp"
#include "runtime/dispatch.hpp"
#include "runtime/ops.hpp"
#include "runtime/ops/loops.hpp"
#include "runtime/ops/reduce_kernels.hpp"
#include "runtime/ops/row_backward.hpp"
#include "runtime/ops/vecmath.hpp"
#include "runtime/parallel.hpp"
#include "runtime/shape.hpp"

namespace ember {
namespace {

using reduce::kTile;

// The max of x[0..n) over its non-NaN elements (-inf if none): a compare-and-select per lane,
// which g++ turns into vmaxps, where reduce::extreme_row's NaN-sticky pick vectorises poorly
// (3.7x slower on rows of 128 floats). A NaN needs no max of its own: it makes the row's sum of
// exps NaN, and with it every output of the row, as in PyTorch.
template <class T>
[[gnu::always_inline]] inline T row_max(const T* __restrict x, int64_t n) {
  constexpr int64_t L = 128 / sizeof(T);
  T acc[L];
  std::fill(acc, acc + L, -std::numeric_limits<T>::infinity());
  int64_t i = 0;
  for (; i + L <= n; i += L)
    for (int64_t l = 0; l < L; ++l) acc[l] = x[i + l] > acc[l] ? x[i + l] : acc[l];
  for (int64_t l = 0; i < n; ++i, ++l) acc[l] = x[i] > acc[l] ? x[i] : acc[l];
  for (int64_t w = L / 2; w > 0; w /= 2)
    for (int64_t l = 0; l < w; ++l) acc[l] = acc[l + w] > acc[l] ? acc[l + w] : acc[l];
  return acc[0];
}

// One row of n contiguous elements, inlined into the row variant for the CPU's level
// (loops::run_row: with the portable default build, AVX2 or AVX-512 exps instead of SSE2's, 2.8x
// libtorch's time before on attention's rows). A NaN gives a NaN row; an all -inf row gives NaN, as
// PyTorch (exp(-inf - -inf)). A row up to one leaf long (attention's rows, a classifier's
// logits) takes the max, then e^(x - max) stored and summed over lane accumulators in the same
// pass, then the scaling: three passes over a row in L1. Longer rows sum pairwise (sum_row).
template <bool kLog, class T>
[[gnu::always_inline]] inline void softmax_row(const T* __restrict x, T* __restrict y, int64_t n) {
  const T m = row_max(x, n);
  if (n > reduce::kLeaf) {
    if constexpr (kLog) {
      T s = reduce::sum_row<T>(x, n, [m](T v) { return dsl::math::exp(v - m); });
      const T ls = std::log(s);
      for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - m) - ls;
    } else {
      for (int64_t i = 0; i < n; ++i) y[i] = dsl::math::exp(x[i] - m);
      const T inv = T(1) / reduce::sum_row(y, n);
      for (int64_t i = 0; i < n; ++i) y[i] *= inv;
    }
    return;
  }
  constexpr int64_t L = reduce::kLanes<T>;
  T acc[L] = {};
  int64_t i = 0;
  for (; i + L <= n; i += L)
    for (int64_t l = 0; l < L; ++l) {
      const T e = dsl::math::exp(x[i + l] - m);
      if constexpr (!kLog) y[i + l] = e;
      acc[l] += e;
    }
  for (int64_t l = 0; i < n; ++i, ++l) {
    const T e = dsl::math::exp(x[i] - m);
    if constexpr (!kLog) y[i] = e;
    acc[l] += e;
  }
  for (int64_t w = L / 2; w > 0; w /= 2)
    for (int64_t l = 0; l < w; ++l) acc[l] += acc[l + w];
  if constexpr (kLog) {
    const T ls = std::log(acc[0]);
    for (int64_t k = 0; k < n; ++k) y[k] = (x[k] - m) - ls;
  } else {
    const T inv = T(1) / acc[0];
    for (int64_t k = 0; k < n; ++k) y[k] *= inv;
  }
}

// Columns [0, nc) of an [n, ld] block (nc <= kTile): softmax down each column.
template <bool kLog, class T>
void softmax_cols(const T* x, T* y, int64_t n, int64_t ld, int64_t nc) {
  T m[kTile], s[kTile];
  std::fill(m, m + nc, reduce::extreme_identity<true, T>());
  reduce::extreme_cols<true>(x, n, ld, nc, m);
  std::fill(s, s + nc, T(0));
  if constexpr (kLog) {
    auto f = [&m](T v, int64_t j) { return dsl::math::exp(v - m[j]); };
    reduce::sum_cols<T>(x, n, ld, nc, s, f);
    for (int64_t j = 0; j < nc; ++j) s[j] = std::log(s[j]);
    for (int64_t r = 0; r < n; ++r) {
      const T* __restrict xr = x + r * ld;
      T* __restrict yr = y + r * ld;
      for (int64_t j = 0; j < nc; ++j) yr[j] = (xr[j] - m[j]) - s[j];
    }
  } else {
    for (int64_t r = 0; r < n; ++r) {
      const T* __restrict xr = x + r * ld;
      T* __restrict yr = y + r * ld;
      for (int64_t j = 0; j < nc; ++j) yr[j] = dsl::math::exp(xr[j] - m[j]);
    }
    auto f = [](T v, int64_t) { return v; };
    reduce::sum_cols<T>(static_cast<const T*>(y), n, ld, nc, s, f);
    for (int64_t j = 0; j < nc; ++j) s[j] = T(1) / s[j];
    for (int64_t r = 0; r < n; ++r) {
      T* __restrict yr = y + r * ld;
      for (int64_t j = 0; j < nc; ++j) yr[j] *= s[j];
    }
  }
}

// Backward of one row of n contiguous elements (y the forward's output): softmax
// dx = y (g - sum(g y)), log_softmax dx = g - e^y sum(g). Two passes over a row in L1.
template <bool kLog, class T>
[[gnu::always_inline]] inline void softmax_backward_row(const T* __restrict g,
                                                        const T* __restrict y, T* __restrict dx,
                                                        int64_t n) {
  if constexpr (kLog) {
    const T s = reduce::sum_row(g, n);
    for (int64_t i = 0; i < n; ++i) dx[i] = g[i] - dsl::math::exp(y[i]) * s;
  } else {
    constexpr int64_t L = reduce::kLanes<T>;
    T acc[L] = {};
    int64_t i = 0;
    for (; i + L <= n; i += L)
      for (int64_t l = 0; l < L; ++l) acc[l] += g[i + l] * y[i + l];
    for (int64_t l = 0; i < n; ++i, ++l) acc[l] += g[i] * y[i];
    for (int64_t h = L / 2; h > 0; h /= 2)
      for (int64_t l = 0; l < h; ++l) acc[l] += acc[l + h];
    const T s = acc[0];
    for (int64_t k = 0; k < n; ++k) dx[k] = y[k] * (g[k] - s);
  }
}

// Columns [0, nc) of [n, ld] blocks of g, y, dx (nc <= kTile): the backward down each column.
template <bool kLog, class T>
void softmax_backward_cols(const T* g, const T* y, T* dx, int64_t n, int64_t ld, int64_t nc) {
  T s[kTile];
  std::fill(s, s + nc, T(0));
  for (int64_t r = 0; r < n; ++r) {
    const T* __restrict gr = g + r * ld;
    const T* __restrict yr = y + r * ld;
    for (int64_t j = 0; j < nc; ++j) s[j] += kLog ? gr[j] : gr[j] * yr[j];
  }
  for (int64_t r = 0; r < n; ++r) {
    const T* __restrict gr = g + r * ld;
    const T* __restrict yr = y + r * ld;
    T* __restrict dr = dx + r * ld;
    for (int64_t j = 0; j < nc; ++j)
      dr[j] = kLog ? gr[j] - dsl::math::exp(yr[j]) * s[j] : yr[j] * (gr[j] - s[j]);
  }
}

// Runs row(k) for each of `outer` rows of n elements, or tile(i) for each of outer * ntiles
// column tiles of [n, inner] blocks, over the pool: the shared iteration of the forward and the
// backward kernels.
template <class Row, class Tile>
void for_rows_or_tiles(int64_t outer, int64_t n, int64_t inner, Row row, Tile tile) {
  if (inner == 1) {
    parallel_for(0, outer, std::max<int64_t>(1, 4096 / n), [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) row(k);
    });
    return;
  }
  const int64_t ntiles = (inner + kTile - 1) / kTile;
  const int64_t per_item = n * std::min(inner, kTile);
  parallel_for(0, outer * ntiles, std::max<int64_t>(1, 4096 / per_item), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const int64_t k = i / ntiles, j0 = (i % ntiles) * kTile;
      tile(k * n * inner + j0, std::min(kTile, inner - j0));
    }
  });
}

// [outer, n, inner] around dim d of t.
std::array<int64_t, 3> split_at(const Tensor& t, int64_t d) {
  std::array<int64_t, 3> s{1, 1, 1};
  for (int64_t i = 0; i < t.dim(); ++i) s[i < d ? 0 : i == d ? 1 : 2] *= t.size(i);
  return s;
}

template <bool kLog, class T>
void softmax_backward_run(const Tensor& g, const Tensor& y, const Tensor& dx, int64_t outer,
                          int64_t n, int64_t inner) {
  const T* pg = g.data_ptr<T>();
  const T* py = y.data_ptr<T>();
  T* pd = dx.data_ptr<T>();
  for_rows_or_tiles(
      outer, n, inner,
      [&](int64_t k) {
        loops::run_row<loops::Work::Heavy>([&]() __attribute__((always_inline)) {
          softmax_backward_row<kLog>(pg + k * n, py + k * n, pd + k * n, n);
        });
      },
      [&](int64_t off, int64_t nc) {
        softmax_backward_cols<kLog>(pg + off, py + off, pd + off, n, inner, nc);
      });
}

template <Op op>
TensorList softmax_kernel(std::span<const Tensor> in, const Attrs& attrs) {
  constexpr bool kLog = op == Op::LogSoftmax;
  const char* name = op_name(op);
  EMBER_CHECK(in[0].defined(), Error, name, ": the input tensor is undefined");
  Tensor a = in[0];
  const int64_t d = wrap_dim(std::get<DimAttrs>(attrs).dim, a.dim(), name);
  {
    NoGradGuard g;  // integer inputs compute in the default floating dtype
    if (!is_floating(a.dtype())) a = a.to(default_dtype());
    a = a.contiguous();
  }
  Tensor out = make_tensor(a.sizes(), a.dtype());
  if (a.numel() == 0) return {out};
  const auto [outer, n, inner] = split_at(a, d);
  auto run = [&](auto z) {
    using T = decltype(z);
    const T* x = a.data_ptr<T>();
    T* y = out.data_ptr<T>();
    for_rows_or_tiles(
        outer, n, inner,
        [&](int64_t k) {
          loops::run_row<loops::Work::Heavy>(
              [&]() __attribute__((always_inline)) { softmax_row<kLog>(x + k * n, y + k * n, n); });
        },
        [&](int64_t off, int64_t nc) { softmax_cols<kLog>(x + off, y + off, n, inner, nc); });
  };
  if (a.dtype() == kFloat64)
    run(double{});
  else
    run(float{});
  return {out};
}

}  // namespace

namespace detail {
void register_softmax_kernels() {
  register_kernel(Op::Softmax, softmax_kernel<Op::Softmax>);
  register_kernel(Op::LogSoftmax, softmax_kernel<Op::LogSoftmax>);
}

Tensor softmax_backward(const Tensor& grad, const Tensor& y0, int64_t dim, bool log) {
  NoGradGuard no_grad;  // casts and copies below are internal, not graph edges
  const char* name = log ? "log_softmax_backward" : "softmax_backward";
  EMBER_CHECK(y0.defined() && is_floating(y0.dtype()), DTypeError, name,
              ": expected a floating point output of the forward");
  Tensor y = y0.contiguous(), g = cast(grad, y.dtype()).contiguous();
  EMBER_CHECK(g.sizes() == y.sizes(), ShapeError, name, ": grad_output of shape ", grad.sizes(),
              " does not match the output's shape ", y.sizes());
  const int64_t d = wrap_dim(dim, y.dim(), name);
  Tensor dx = make_tensor(y.sizes(), y.dtype());
  if (y.numel() == 0) return dx;
  auto [outer, n, inner] = split_at(y, d);
  if (y.dtype() == kFloat64)
    (log ? softmax_backward_run<true, double>
         : softmax_backward_run<false, double>)(g, y, dx, outer, n, inner);
  else
    (log ? softmax_backward_run<true, float> : softmax_backward_run<false, float>)(g, y, dx, outer,
                                                                                   n, inner);
  return dx;
}

}  // namespace detail

Tensor softmax(const Tensor& a, int64_t dim) {
  EMBER_CHECK(a.defined(), Error, "softmax: the input tensor is undefined");
  return dispatch1(Op::Softmax, {a}, DimAttrs{wrap_dim(dim, a.dim(), "softmax")});
}
Tensor log_softmax(const Tensor& a, int64_t dim) {
  EMBER_CHECK(a.defined(), Error, "log_softmax: the input tensor is undefined");
  return dispatch1(Op::LogSoftmax, {a}, DimAttrs{wrap_dim(dim, a.dim(), "log_softmax")});
}

}  // namespace ember
