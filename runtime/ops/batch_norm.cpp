// batch_norm forward (with running-stat updates) and backward. Every pass walks the input one
// (n, c) plane at a time, each task's planes in the variant for the CPU's level
// (loops::run_row): the portable build's SSE2 loops (two doubles a vector) made batch_norm a
// sixth of a resnet_fashion training step. This file is compiled with -ffp-contract=off, so the
// AVX2 and AVX-512 variants do the baseline's roundings (no FMA): the same values on every CPU.
#include <cmath>
#include <limits>
#include <vector>

#include "runtime/ops/loops.hpp"
#include "runtime/ops/norm_sums.hpp"
#include "runtime/shape.hpp"

namespace ember::detail {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Offset in elements of flat (row-major) element i of t, honouring its strides.
int64_t strided_offset(const Tensor& t, int64_t i) {
  int64_t off = 0;
  for (int64_t d = t.dim() - 1; d >= 0; --d) {
    off += (i % t.size(d)) * t.stride(d);
    i /= t.size(d);
  }
  return off;
}

// Writes v[c] into the (any-strided, floating) tensor t in place and bumps its version.
void write_values(const Tensor& t, const std::vector<double>& v) {
  visit_dtype(t.dtype(), [&](auto x) {
    using T = decltype(x);
    T* p = reinterpret_cast<T*>(t.raw_data());
    for (size_t c = 0; c < v.size(); ++c)
      p[strided_offset(t, static_cast<int64_t>(c))] = static_cast<T>(v[c]);
  });
  t.bump_version();
}

std::vector<double> doubles_or(const Tensor& t, int64_t n, double fill) {
  return t.defined() ? t.to_vector<double>() : std::vector<double>(static_cast<size_t>(n), fill);
}

void check_per_channel(const Tensor& t, int64_t C, const char* what) {
  if (!t.defined()) return;
  EMBER_CHECK(t.numel() == C, ShapeError, "batch_norm: ", what, " should contain ", C,
              " elements not ", t.numel());
  EMBER_CHECK(is_floating(t.dtype()), DTypeError, "batch_norm: expected ", what,
              " of a floating dtype, got ", dtype_name(t.dtype()));
}

// Runs plane(p) for every plane p of [0, planes) of `inner` elements (`passes` reads of each):
// in parallel, each task's planes in one call of the CPU level's variant.
template <class Plane>
void for_planes(int64_t planes, int64_t inner, int64_t passes, const Plane& plane) {
  parallel_for(0, planes, row_grain(passes * inner), [&](int64_t b, int64_t e) {
    loops::run_row<loops::Work::Heavy>([&]() __attribute__((always_inline)) {
      for (int64_t p = b; p < e; ++p) plane(p);
    });
  });
}

// dst = (src - m) * sc + sh over one plane, in double: no cancellation even for data far from 0.
template <class T>
[[gnu::always_inline]] inline void normalize_plane(const T* __restrict src, T* __restrict dst,
                                                   int64_t n, double m, double sc, double sh) {
  for (int64_t i = 0; i < n; ++i)
    dst[i] = static_cast<T>((static_cast<double>(src[i]) - m) * sc + sh);
}

// Per-channel mean and biased variance of x [N, C, inner], in double: per-(n, c) plane partial
// sums in parallel, combined per channel in a fixed order, so the statistics do not depend on
// the thread count.
template <class T>
void channel_stats(const T* px, int64_t N, int64_t C, int64_t inner, std::vector<double>& mean,
                   std::vector<double>& var) {
  const double count = static_cast<double>(N * inner);
  std::vector<double> part(static_cast<size_t>(N * C));
  double* pp = part.data();
  const double* pm = mean.data();
  auto combine = [&](std::vector<double>& dst) {
    for (int64_t c = 0; c < C; ++c) {
      double s = 0;
      for (int64_t n = 0; n < N; ++n) s += part[n * C + c];
      dst[c] = s / count;
    }
  };
  for_planes(N * C, inner, 1, [&](int64_t p) __attribute__((always_inline)) {
    pp[p] = sum_double(px + p * inner, inner);
  });
  combine(mean);
  for_planes(N * C, inner, 1, [&](int64_t p) __attribute__((always_inline)) {
    pp[p] = sum_sq_dev(px + p * inner, inner, pm[p % C]);
  });
  combine(var);
}

// out = (x - mean) * scale + shift per channel.
template <class T>
void normalize(const T* px, T* po, int64_t planes, int64_t C, int64_t inner, const double* mean,
               const double* scale, const double* shift) {
  for_planes(planes, inner, 1, [&](int64_t p) __attribute__((always_inline)) {
    normalize_plane(px + p * inner, po + p * inner, inner, mean[p % C], scale[p % C], shift[p % C]);
  });
}

// Per-plane sums of g and of g (x - mean), in double over eight lanes.
template <class T>
[[gnu::always_inline]] inline void grad_sums(const T* __restrict gs, const T* __restrict xs,
                                             int64_t n, double m, double& sum_g, double& sum_gx) {
  double acc_g[8] = {0, 0, 0, 0, 0, 0, 0, 0}, acc_x[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) {
      const double gv = static_cast<double>(gs[i + k]);
      acc_g[k] += gv;
      acc_x[k] += gv * (static_cast<double>(xs[i + k]) - m);
    }
  for (; i < n; ++i) {
    const double gv = static_cast<double>(gs[i]);
    acc_g[i & 7] += gv;
    acc_x[i & 7] += gv * (static_cast<double>(xs[i]) - m);
  }
  sum_g = 0;
  sum_gx = 0;
  for (int k = 0; k < 8; ++k) sum_g += acc_g[k], sum_gx += acc_x[k];
}

// dx over one plane: sc (g - sh - (x - m) kc) in training, sc g in evaluation.
template <class T>
[[gnu::always_inline]] inline void grad_input_plane(const T* __restrict gs, const T* __restrict xs,
                                                    T* __restrict dst, int64_t n, bool training,
                                                    double sc, double m, double sh, double kc) {
  if (!training) {
    for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<T>(static_cast<double>(gs[i]) * sc);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    const double xc = static_cast<double>(xs[i]) - m;
    dst[i] = static_cast<T>(sc * (static_cast<double>(gs[i]) - sh - xc * kc));
  }
}

}  // namespace

TensorList batch_norm_kernel(std::span<const Tensor> in, const Attrs& attrs) {
  NoGradGuard no_grad;  // casts and copies below are internal, not graph edges
  const auto& a = std::get<NormAttrs>(attrs);
  check_float_input(in[0], "batch_norm");
  const Tensor& weight = in.size() > 1 ? in[1] : Tensor();
  const Tensor& bias = in.size() > 2 ? in[2] : Tensor();
  const Tensor& running_mean = in.size() > 3 ? in[3] : Tensor();
  const Tensor& running_var = in.size() > 4 ? in[4] : Tensor();
  EMBER_CHECK(in[0].dim() >= 2, ShapeError,
              "batch_norm: expected an input of shape [N, C, ...] with at least 2 dims, got ",
              in[0].sizes());
  Tensor x = in[0].contiguous();
  const int64_t N = x.size(0), C = x.size(1);
  int64_t inner = 1;
  for (int64_t d = 2; d < x.dim(); ++d) inner *= x.size(d);
  const int64_t count = N * inner;  // values per channel
  check_per_channel(weight, C, "weight");
  check_per_channel(bias, C, "bias");
  check_per_channel(running_mean, C, "running_mean");
  check_per_channel(running_var, C, "running_var");
  EMBER_CHECK(running_mean.defined() == running_var.defined(), ValueError,
              "batch_norm: running_mean and running_var must both be given or both be omitted");
  EMBER_CHECK(a.training || running_mean.defined(), ValueError,
              "batch_norm: running_mean must be defined in evaluation mode");
  EMBER_CHECK(!a.training || count != 1, ValueError,
              "batch_norm: Expected more than 1 value per channel when training, got input size ",
              in[0].sizes());

  std::vector<double> mean(C), invstd(C);
  std::vector<double> w = doubles_or(weight, C, 1.0), bi = doubles_or(bias, C, 0.0);
  Tensor out = make_tensor(x.sizes(), x.dtype());
  if (a.training && count > 0) {
    std::vector<double> var(C);
    visit_dtype(x.dtype(), [&](auto z) {
      using T = decltype(z);
      if constexpr (std::is_floating_point_v<T>)
        channel_stats(x.data_ptr<T>(), N, C, inner, mean, var);
    });
    for (int64_t c = 0; c < C; ++c) invstd[c] = 1.0 / std::sqrt(var[c] + a.eps);
    if (running_mean.defined()) {
      std::vector<double> rm = running_mean.to_vector<double>();
      std::vector<double> rv = running_var.to_vector<double>();
      double unbias = static_cast<double>(count) / static_cast<double>(count - 1);
      for (int64_t c = 0; c < C; ++c) {
        rm[c] = (1 - a.momentum) * rm[c] + a.momentum * mean[c];
        rv[c] = (1 - a.momentum) * rv[c] + a.momentum * var[c] * unbias;
      }
      write_values(running_mean, rm);
      write_values(running_var, rv);
    }
  } else if (a.training) {
    // An empty batch has no statistics; the running ones are left alone, as PyTorch does.
    std::fill(mean.begin(), mean.end(), kNaN);
    std::fill(invstd.begin(), invstd.end(), kNaN);
  } else {
    mean = running_mean.to_vector<double>();
    std::vector<double> rv = running_var.to_vector<double>();
    for (int64_t c = 0; c < C; ++c) invstd[c] = 1.0 / std::sqrt(rv[c] + a.eps);
  }

  std::vector<double> scale(C);
  for (int64_t c = 0; c < C; ++c) scale[c] = w[c] * invstd[c];
  Tensor mean_t = make_tensor({C}, x.dtype()), invstd_t = make_tensor({C}, x.dtype());
  visit_dtype(x.dtype(), [&](auto z) {
    using T = decltype(z);
    if constexpr (std::is_floating_point_v<T>) {
      for (int64_t c = 0; c < C; ++c) {
        mean_t.data_ptr<T>()[c] = static_cast<T>(mean[c]);
        invstd_t.data_ptr<T>()[c] = static_cast<T>(invstd[c]);
      }
      normalize(x.data_ptr<T>(), out.data_ptr<T>(), N * C, C, inner, mean.data(), scale.data(),
                bi.data());
    }
  });
  return {out, mean_t, invstd_t};
}

// (grad_out, input, weight?, mean, invstd) -> (grad_input, grad_weight, grad_bias), with
// xh = (x - mean) invstd and n values per channel:
//   training: dx = w invstd (g - sum g / n - xh sum(g xh) / n);  eval: dx = w invstd g;
//   dw = sum(g xh), db = sum g.
// Two passes over x and g (per-channel sums, then dx), where the same formula on Tensors takes
// a dozen; the row of the derivative table uses it unless the backward is being recorded.
TensorList batch_norm_backward_kernel(std::span<const Tensor> in, const Attrs& attrs) {
  NoGradGuard no_grad;
  const auto& a = std::get<NormAttrs>(attrs);
  check_float_input(in[1], "batch_norm_backward");
  Tensor x = in[1].contiguous();
  Tensor gy = cast(in[0], x.dtype()).contiguous();
  EMBER_CHECK(gy.sizes() == x.sizes(), ShapeError, "batch_norm_backward: grad_output of shape ",
              in[0].sizes(), " does not match the input's shape ", x.sizes());
  const int64_t N = x.size(0), C = x.size(1);
  int64_t inner = 1;
  for (int64_t d = 2; d < x.dim(); ++d) inner *= x.size(d);
  const Tensor& weight = in[2];
  check_per_channel(weight, C, "weight");
  check_per_channel(in[3], C, "mean");
  check_per_channel(in[4], C, "invstd");
  std::vector<double> w = doubles_or(weight, C, 1.0);
  std::vector<double> mean = in[3].to_vector<double>(), invstd = in[4].to_vector<double>();
  Tensor gx = make_tensor(x.sizes(), x.dtype());
  Tensor gw = make_tensor({C}, x.dtype()), gb = make_tensor({C}, x.dtype());
  visit_dtype(x.dtype(), [&](auto z) {
    using T = decltype(z);
    if constexpr (std::is_floating_point_v<T>) {
      const T* px = x.data_ptr<T>();
      const T* pg = gy.data_ptr<T>();
      T* po = gx.data_ptr<T>();
      const bool training = a.training;
      // Per-(n, c) plane partial sums in parallel, combined per channel in a fixed order.
      std::vector<double> part_g(static_cast<size_t>(N * C)), part_gx(static_cast<size_t>(N * C));
      std::vector<double> sg(C, 0.0), sgxh(C, 0.0);
      const double* pm = mean.data();
      double* ppg = part_g.data();
      double* ppx = part_gx.data();
      for_planes(N * C, inner, 2, [&](int64_t p) __attribute__((always_inline)) {
        grad_sums(pg + p * inner, px + p * inner, inner, pm[p % C], ppg[p], ppx[p]);
      });
      for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c) {
          sg[c] += part_g[n * C + c];
          sgxh[c] += part_gx[n * C + c];
        }
      for (int64_t c = 0; c < C; ++c) {
        sgxh[c] *= invstd[c];
        gw.data_ptr<T>()[c] = static_cast<T>(sgxh[c]);
        gb.data_ptr<T>()[c] = static_cast<T>(sg[c]);
      }
      const double count = static_cast<double>(N * inner);
      std::vector<double> scale(C), shift(C), k(C);
      for (int64_t c = 0; c < C; ++c) {
        scale[c] = w[c] * invstd[c];
        shift[c] = sg[c] / count;
        k[c] = invstd[c] * sgxh[c] / count;
      }
      const double *psc = scale.data(), *psh = shift.data(), *pk = k.data();
      for_planes(N * C, inner, 2, [&](int64_t p) __attribute__((always_inline)) {
        const int64_t c = p % C;
        grad_input_plane(pg + p * inner, px + p * inner, po + p * inner, inner, training, psc[c],
                         pm[c], psh[c], pk[c]);
      });
    }
  });
  return {gx, gw, gb};
}

}  // namespace ember::detail
