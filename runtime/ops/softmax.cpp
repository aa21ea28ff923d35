// softmax and log_softmax along one dim, stable: exp(x - max) over sum(exp(x - max)).
// The input is viewed as [outer, n, inner] (n along dim). The last dim (inner == 1) is the fast
// path: each row in three vectorised passes. Otherwise tiles of columns are reduced a whole
// contiguous row at a time, as in the reductions.
#include <cmath>

#include "dsl/math.hpp"
#include "runtime/dispatch.hpp"
#include "runtime/ops.hpp"
#include "runtime/ops/reduce_kernels.hpp"
#include "runtime/ops/vecmath.hpp"
#include "runtime/parallel.hpp"
#include "runtime/shape.hpp"

namespace ember {
namespace {

using reduce::kTile;

// One row of n contiguous elements. A NaN gives a NaN row; an all -inf row gives NaN, as
// PyTorch (exp(-inf - -inf)).
template <bool kLog, class T>
void softmax_row(const T* __restrict x, T* __restrict y, int64_t n) {
  const T m = reduce::extreme_row<true>(x, n);
  if constexpr (kLog) {
    T s = reduce::sum_row<T>(x, n, [m](T v) { return dsl::math::exp(v - m); });
    const T ls = std::log(s);
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - m) - ls;
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = dsl::math::exp(x[i] - m);
    const T inv = T(1) / reduce::sum_row(y, n);
    for (int64_t i = 0; i < n; ++i) y[i] *= inv;
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
  int64_t outer = 1, n = 1, inner = 1;
  for (int64_t i = 0; i < a.dim(); ++i) (i < d ? outer : i == d ? n : inner) *= a.size(i);
  auto run = [&](auto z) {
    using T = decltype(z);
    const T* x = a.data_ptr<T>();
    T* y = out.data_ptr<T>();
    if (inner == 1) {
      parallel_for(0, outer, std::max<int64_t>(1, 4096 / n), [&](int64_t b, int64_t e) {
        for (int64_t k = b; k < e; ++k) softmax_row<kLog>(x + k * n, y + k * n, n);
      });
      return;
    }
    const int64_t ntiles = (inner + kTile - 1) / kTile;
    const int64_t per_item = n * std::min(inner, kTile);
    parallel_for(0, outer * ntiles, std::max<int64_t>(1, 4096 / per_item),
                 [&](int64_t b, int64_t e) {
                   for (int64_t i = b; i < e; ++i) {
                     int64_t k = i / ntiles, j0 = (i % ntiles) * kTile;
                     int64_t off = k * n * inner + j0;
                     softmax_cols<kLog>(x + off, y + off, n, inner, std::min(kTile, inner - j0));
                   }
                 });
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
