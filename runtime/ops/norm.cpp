// Normalisation and dropout kernels: layer_norm, dropout; batch_norm is ops/batch_norm.cpp.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "runtime/ops/loops.hpp"
#include "runtime/ops/norm_sums.hpp"
#include "runtime/ops/reduce_kernels.hpp"
#include "runtime/ops/row_backward.hpp"
#include "runtime/random.hpp"
#include "runtime/shape.hpp"

namespace ember {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

using detail::check_float_input;
using detail::row_grain;
using detail::sum_double;
using detail::sum_sq_dev;

// ---- layer_norm ----

TensorList layer_norm_kernel(std::span<const Tensor> in, const Attrs& attrs) {
  NoGradGuard no_grad;  // casts and copies below are internal, not graph edges
  const auto& a = std::get<NormAttrs>(attrs);
  check_float_input(in[0], "layer_norm");
  const Dims& shape = a.normalized_shape;
  const Tensor& weight = in.size() > 1 ? in[1] : Tensor();
  const Tensor& bias = in.size() > 2 ? in[2] : Tensor();
  const int64_t nd = static_cast<int64_t>(shape.size()), dim = in[0].dim();
  EMBER_CHECK(nd >= 1, ValueError, "layer_norm: normalized_shape must not be empty");
  bool fits = dim >= nd;
  for (int64_t i = 0; fits && i < nd; ++i) fits = in[0].size(dim - nd + i) == shape[i];
  if (!fits) {
    std::string expected = "[*";
    for (int64_t s : shape) expected += ", " + std::to_string(s);
    EMBER_CHECK(false, ShapeError, "layer_norm: Given normalized_shape=", shape,
                ", expected input with shape ", expected, "], but got input of size",
                in[0].sizes());
  }
  for (const auto* p : {&weight, &bias}) {
    if (!p->defined()) continue;
    const char* what = p == &weight ? "weight" : "bias";
    EMBER_CHECK(p->sizes() == shape, ShapeError, "layer_norm: Expected ", what,
                " to be of same shape as normalized_shape, but got ", what, " of shape ",
                p->sizes(), " and normalized_shape = ", shape);
  }
  Tensor x = in[0].contiguous();
  DType dt = x.dtype();
  Tensor w = weight.defined() ? cast(weight, dt).contiguous() : Tensor();
  Tensor b = bias.defined() ? cast(bias, dt).contiguous() : Tensor();
  const int64_t cols = product(shape);
  int64_t rows = 1;
  for (int64_t d = 0; d < dim - nd; ++d) rows *= x.size(d);
  Dims stat_shape = x.sizes();
  for (int64_t i = dim - nd; i < dim; ++i) stat_shape[i] = 1;
  Tensor out = make_tensor(x.sizes(), dt);
  Tensor mean_t = make_tensor(stat_shape, dt), rstd_t = make_tensor(stat_shape, dt);
  visit_dtype(dt, [&](auto z) {
    using T = decltype(z);
    if constexpr (std::is_floating_point_v<T>) {
      const T* px = x.data_ptr<T>();
      const T* pw = w.defined() ? w.data_ptr<T>() : nullptr;
      const T* pb = b.defined() ? b.data_ptr<T>() : nullptr;
      T* po = out.data_ptr<T>();
      T* pm = mean_t.data_ptr<T>();
      T* pr = rstd_t.data_ptr<T>();
      // Each row in the row variant for the CPU's level (loops::run_row): the portable build's
      // SSE2 loops took 1.4x libtorch's time on a transformer's rows.
      parallel_for(0, rows, row_grain(cols), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r)
          loops::run_row<loops::Work::Heavy>([&]() __attribute__((always_inline)) {
            const T* __restrict src = px + r * cols;
            T* __restrict dst = po + r * cols;
            double mean = cols ? sum_double(src, cols) / static_cast<double>(cols) : kNaN;
            double var = cols ? sum_sq_dev(src, cols, mean) / static_cast<double>(cols) : kNaN;
            double rstd = 1.0 / std::sqrt(var + a.eps);
            pm[r] = static_cast<T>(mean);
            pr[r] = static_cast<T>(rstd);
            // Centre in double: (x - mean) keeps its digits even far from 0.
            auto norm = [&](int64_t j) { return (static_cast<double>(src[j]) - mean) * rstd; };
            if (pw && pb)
              for (int64_t j = 0; j < cols; ++j) dst[j] = static_cast<T>(norm(j) * pw[j] + pb[j]);
            else if (pw)
              for (int64_t j = 0; j < cols; ++j) dst[j] = static_cast<T>(norm(j) * pw[j]);
            else if (pb)
              for (int64_t j = 0; j < cols; ++j) dst[j] = static_cast<T>(norm(j) + pb[j]);
            else
              for (int64_t j = 0; j < cols; ++j) dst[j] = static_cast<T>(norm(j));
          });
      });
    }
  });
  return {out, mean_t, rstd_t};
}

// ---- layer_norm backward ----

// Rows per block of the weight and bias gradients: each block sums its rows into its own
// partial row, and the partials are added in block order, so the result does not depend on the
// thread count. A block holds at least 8192 elements (work worth a thread); there are at most
// 256 blocks and 4M partial elements per gradient, so long rows do not make partial buffers the
// size of the input.
int64_t ln_block_rows(int64_t rows, int64_t cols) {
  const int64_t c = std::max<int64_t>(cols, 1);
  const int64_t max_blocks = std::clamp<int64_t>((int64_t{1} << 22) / c, 1, 256);
  return std::max({int64_t{1}, 8192 / c, (rows + max_blocks - 1) / max_blocks});
}

// One row of layer_norm's backward, xh = (x - mean) rstd and gw = g w (g when there is no w):
//   dx = rstd (gw - sum(gw) / M - xh sum(gw xh) / M), and into the block's partials
//   dw += g xh, db += g.
// The row stays in L1 between its two passes; the sums run over kLanes independent lanes so
// g++ vectorises them without reassociating.
template <class T>
[[gnu::always_inline]] inline void ln_backward_row(const T* __restrict g, const T* __restrict x,
                                                   const T* __restrict w, T mean, T rstd, int64_t M,
                                                   T* __restrict dx, T* __restrict dw,
                                                   T* __restrict db) {
  constexpr int64_t L = reduce::kLanes<T>;
  T a1[L] = {}, a2[L] = {};
  auto gw = [&](int64_t j) { return w ? g[j] * w[j] : g[j]; };
  int64_t j = 0;
  for (; j + L <= M; j += L)
    for (int64_t l = 0; l < L; ++l) {
      const T v = gw(j + l);
      a1[l] += v;
      a2[l] += v * ((x[j + l] - mean) * rstd);
    }
  for (int64_t l = 0; j < M; ++j, ++l) {
    const T v = gw(j);
    a1[l] += v;
    a2[l] += v * ((x[j] - mean) * rstd);
  }
  for (int64_t h = L / 2; h > 0; h /= 2)
    for (int64_t l = 0; l < h; ++l) a1[l] += a1[l + h], a2[l] += a2[l + h];
  if (dx) {
    const T k1 = rstd * a1[0] / static_cast<T>(M), k2 = rstd * a2[0] / static_cast<T>(M);
    for (int64_t i = 0; i < M; ++i) dx[i] = rstd * gw(i) - k1 - ((x[i] - mean) * rstd) * k2;
  }
  if (dw)
    for (int64_t i = 0; i < M; ++i) dw[i] += g[i] * ((x[i] - mean) * rstd);
  if (db)
    for (int64_t i = 0; i < M; ++i) db[i] += g[i];
}

template <class T>
void layer_norm_backward_impl(const Tensor& g, const Tensor& x, const Tensor& w, const Tensor& mean,
                              const Tensor& rstd, int64_t rows, int64_t M,
                              const std::array<Tensor, 3>& out) {
  const T* pg = g.data_ptr<T>();
  const T* px = x.data_ptr<T>();
  const T* pw = w.defined() ? w.data_ptr<T>() : nullptr;
  const T* pm = mean.data_ptr<T>();
  const T* pr = rstd.data_ptr<T>();
  T* pdx = out[0].defined() ? out[0].data_ptr<T>() : nullptr;
  const bool need_w = out[1].defined(), need_b = out[2].defined();
  const int64_t br = ln_block_rows(rows, M), nblocks = (rows + br - 1) / br;
  // Partial rows of dw and db per block (zeroed: a block adds its rows into them).
  std::vector<T> part_w(need_w ? static_cast<size_t>(nblocks * M) : 0);
  std::vector<T> part_b(need_b ? static_cast<size_t>(nblocks * M) : 0);
  parallel_for(0, nblocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t blk = b0; blk < b1; ++blk) {
      T* dw = need_w ? part_w.data() + blk * M : nullptr;
      T* db = need_b ? part_b.data() + blk * M : nullptr;
      for (int64_t r = blk * br; r < std::min(rows, (blk + 1) * br); ++r)
        loops::run_row<loops::Work::Heavy>([&]() __attribute__((always_inline)) {
          ln_backward_row(pg + r * M, px + r * M, pw, pm[r], pr[r], M, pdx ? pdx + r * M : nullptr,
                          dw, db);
        });
    }
  });
  // Partials summed down each column in double, in block order.
  for (int k = 1; k < 3; ++k) {
    if (!out[k].defined()) continue;
    const T* part = k == 1 ? part_w.data() : part_b.data();
    T* dst = out[k].data_ptr<T>();
    parallel_for(0, M, std::max<int64_t>(1, kGrainSize / std::max<int64_t>(nblocks, 1)),
                 [&](int64_t c0, int64_t c1) {
                   std::vector<double> acc(static_cast<size_t>(c1 - c0), 0.0);
                   for (int64_t blk = 0; blk < nblocks; ++blk) {
                     const T* __restrict src = part + blk * M + c0;
                     for (int64_t c = 0; c < c1 - c0; ++c) acc[c] += static_cast<double>(src[c]);
                   }
                   for (int64_t c = 0; c < c1 - c0; ++c) dst[c0 + c] = static_cast<T>(acc[c]);
                 });
  }
}

// ---- dropout ----

TensorList dropout_kernel(std::span<const Tensor> in, const Attrs& attrs) {
  NoGradGuard no_grad;  // casts and copies below are internal, not graph edges
  const auto& a = std::get<DropoutAttrs>(attrs);
  check_float_input(in[0], "dropout");
  EMBER_CHECK(a.p >= 0 && a.p <= 1, ValueError,
              "dropout: dropout probability has to be between 0 and 1, but got ", a.p);
  Tensor x = in[0].contiguous();
  Tensor out = make_tensor(x.sizes(), x.dtype()), mask = make_tensor(x.sizes(), x.dtype());
  const int64_t n = x.numel();
  // Element i keeps its value when uniform(i) >= p: the mask depends only on (seed, offset, i).
  const random::Stream s{a.seed, a.offset};
  visit_dtype(x.dtype(), [&](auto z) {
    using T = decltype(z);
    if constexpr (std::is_floating_point_v<T>) {
      const T* px = x.data_ptr<T>();
      T* po = out.data_ptr<T>();
      T* pm = mask.data_ptr<T>();
      const T scale = a.p < 1 ? static_cast<T>(1.0 / (1.0 - a.p)) : T(0);
      if (a.training && a.p >= 1) {  // everything dropped: exact zeros, even for inf/NaN input
        std::fill(po, po + n, T(0));
        std::fill(pm, pm + n, T(0));
        return;
      }
      parallel_for(0, n, 4096, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          T m = !a.training                                          ? T(1)
                : s.uniform<double>(static_cast<uint64_t>(i)) >= a.p ? scale
                                                                     : T(0);
          pm[i] = m;
          po[i] = px[i] * m;
        }
      });
    }
  });
  return {out, mask};
}

}  // namespace

namespace detail {
void register_norm_kernels() {
  register_kernel(Op::BatchNorm, detail::batch_norm_kernel);
  register_kernel(Op::BatchNormBackward, detail::batch_norm_backward_kernel);
  register_kernel(Op::LayerNorm, layer_norm_kernel);
  register_kernel(Op::Dropout, dropout_kernel);
}

std::array<Tensor, 3> layer_norm_backward(const Tensor& grad, const Tensor& x0, const Tensor& w0,
                                          const Tensor& mean0, const Tensor& rstd0,
                                          const Dims& normalized, std::array<bool, 3> need) {
  NoGradGuard no_grad;  // casts and copies below are internal, not graph edges
  check_float_input(x0, "layer_norm_backward");
  const DType dt = x0.dtype();
  Tensor x = x0.contiguous(), g = cast(grad, dt).contiguous();
  EMBER_CHECK(g.sizes() == x.sizes(), ShapeError, "layer_norm_backward: grad_output of shape ",
              grad.sizes(), " does not match the input's shape ", x.sizes());
  const int64_t M = product(normalized), rows = M ? x.numel() / M : 0;
  Tensor w = w0.defined() ? cast(w0, dt).contiguous() : Tensor();
  Tensor mean = cast(mean0, dt).contiguous(), rstd = cast(rstd0, dt).contiguous();
  EMBER_CHECK(mean.numel() == rows && rstd.numel() == rows, ShapeError,
              "layer_norm_backward: expected ", rows, " saved statistics, got mean of ",
              mean.sizes(), " and rstd of ", rstd.sizes());
  std::array<Tensor, 3> out;
  if (need[0]) out[0] = make_tensor(x.sizes(), dt);
  for (int k = 1; k < 3; ++k)
    if (need[k]) out[k] = zeros(normalized, dt);
  if (rows == 0 || M == 0) return out;
  if (dt == kFloat64)
    layer_norm_backward_impl<double>(g, x, w, mean, rstd, rows, M, out);
  else
    layer_norm_backward_impl<float>(g, x, w, mean, rstd, rows, M, out);
  return out;
}

}  // namespace detail

}  // namespace ember
