// conv2d backward: grad_input, grad_weight, grad_bias by im2col/col2im and two large GEMMs
// over the whole batch (OpenBLAS threads them).
#include <cblas.h>

#include <vector>

#include "runtime/ops/loops.hpp"
#include "runtime/shape.hpp"

namespace ember {
namespace {

template <class T>
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b,
          int64_t ldb, T beta, T* c, int64_t ldc) {
  auto A = ta ? CblasTrans : CblasNoTrans, B = tb ? CblasTrans : CblasNoTrans;
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, A, B, m, n, k, 1.f, a, lda, b, ldb, beta, c, ldc);
  else
    cblas_dgemm(CblasRowMajor, A, B, m, n, k, 1.0, a, lda, b, ldb, beta, c, ldc);
}

struct Geometry {
  int64_t n, c, h, w, o, kh, kw, oh, ow, groups;
  ConvAttrs a;
};

// cols[(ci*kh + i)*kw + j][img*oh*ow + y*ow + x] = input[img][c0 + ci][y*sh - ph + i*dh][...]
template <class T>
void im2col(const T* in, T* cols, const Geometry& g, int64_t c0, int64_t cg) {
  int64_t plane = g.oh * g.ow, width = g.n * plane;
  parallel_for(0, cg * g.kh * g.kw, 1, [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      int64_t ci = r / (g.kh * g.kw), i = r / g.kw % g.kh, j = r % g.kw;
      T* dst = cols + r * width;
      for (int64_t img = 0; img < g.n; ++img) {
        const T* src = in + (img * g.c + c0 + ci) * g.h * g.w;
        for (int64_t y = 0; y < g.oh; ++y) {
          int64_t iy = y * g.a.stride[0] - g.a.padding[0] + i * g.a.dilation[0];
          T* row = dst + img * plane + y * g.ow;
          if (iy < 0 || iy >= g.h) {
            for (int64_t x = 0; x < g.ow; ++x) row[x] = T(0);
            continue;
          }
          for (int64_t x = 0; x < g.ow; ++x) {
            int64_t ix = x * g.a.stride[1] - g.a.padding[1] + j * g.a.dilation[1];
            row[x] = (ix >= 0 && ix < g.w) ? src[iy * g.w + ix] : T(0);
          }
        }
      }
    }
  });
}

// The adjoint of im2col: adds every column entry back into its input position.
template <class T>
void col2im(const T* cols, T* gin, const Geometry& g, int64_t c0, int64_t cg) {
  int64_t plane = g.oh * g.ow, width = g.n * plane;
  // Parallel over (image, channel) planes: each input plane is written by one thread only.
  parallel_for(0, g.n * cg, 1, [&](int64_t pb, int64_t pe) {
    for (int64_t p = pb; p < pe; ++p) {
      int64_t img = p / cg, ci = p % cg;
      T* dst = gin + (img * g.c + c0 + ci) * g.h * g.w;
      for (int64_t i = 0; i < g.kh; ++i)
        for (int64_t j = 0; j < g.kw; ++j) {
          const T* src = cols + ((ci * g.kh + i) * g.kw + j) * width + img * plane;
          for (int64_t y = 0; y < g.oh; ++y) {
            int64_t iy = y * g.a.stride[0] - g.a.padding[0] + i * g.a.dilation[0];
            if (iy < 0 || iy >= g.h) continue;
            for (int64_t x = 0; x < g.ow; ++x) {
              int64_t ix = x * g.a.stride[1] - g.a.padding[1] + j * g.a.dilation[1];
              if (ix >= 0 && ix < g.w) dst[iy * g.w + ix] += src[y * g.ow + x];
            }
          }
        }
    }
  });
}

template <class T>
TensorList conv_backward(const Tensor& grad_out, const Tensor& input, const Tensor& weight,
                         const Geometry& g) {
  int64_t cg = g.c / g.groups, og = g.o / g.groups, k = cg * g.kh * g.kw;
  int64_t plane = g.oh * g.ow, width = g.n * plane;
  // grad_out as [O, N*oh*ow] so each group's rows are one contiguous GEMM operand.
  Tensor go = grad_out.reshape({g.n, g.o, plane}).permute({1, 0, 2}).contiguous();
  Tensor gin = zeros({g.n, g.c, g.h, g.w}, input.dtype());
  Tensor gw = make_tensor({g.o, cg, g.kh, g.kw}, input.dtype());
  std::vector<T> cols(static_cast<size_t>(k * width));
  std::vector<T> gcols(static_cast<size_t>(k * width));
  const T* in = input.data_ptr<T>();
  const T* w = weight.data_ptr<T>();
  for (int64_t grp = 0; grp < g.groups; ++grp) {
    const T* gop = go.data_ptr<T>() + grp * og * width;
    im2col(in, cols.data(), g, grp * cg, cg);
    // grad_weight[grp] = grad_out[grp] [og, width] x cols^T [width, k]
    gemm<T>(false, true, og, k, width, gop, width, cols.data(), width, T(0),
            gw.data_ptr<T>() + grp * og * k, k);
    // grad_cols = weight[grp]^T [k, og] x grad_out[grp] [og, width]
    gemm<T>(true, false, k, width, og, w + grp * og * k, k, gop, width, T(0), gcols.data(), width);
    col2im(gcols.data(), gin.data_ptr<T>(), g, grp * cg, cg);
  }
  Tensor gb = sum(go, {1}).sum({1});
  return {gin, gw, gb};
}

// (grad_out, input, weight) -> (grad_input, grad_weight, grad_bias).
TensorList conv2d_backward_kernel(std::span<const Tensor> in, const Attrs& attrs) {
  const auto& a = std::get<ConvAttrs>(attrs);
  bool batched = in[1].dim() == 4;
  Tensor x = (batched ? in[1] : in[1].unsqueeze(0)).contiguous();
  Tensor gy = batched ? in[0] : in[0].unsqueeze(0);
  EMBER_CHECK(is_floating(x.dtype()), DTypeError, "conv2d_backward: expected a floating input, got ",
              dtype_name(x.dtype()));
  Tensor w = cast(in[2], x.dtype()).contiguous();
  gy = cast(gy, x.dtype());
  Geometry g{x.size(0), x.size(1), x.size(2), x.size(3), w.size(0), w.size(2), w.size(3),
             gy.size(2), gy.size(3), a.groups, a};
  TensorList r = visit_dtype(x.dtype(), [&](auto v) -> TensorList {
    using T = decltype(v);
    if constexpr (std::is_floating_point_v<T>) return conv_backward<T>(gy, x, w, g);
    else return {};
  });
  if (!batched) r[0] = r[0].squeeze(0);
  return r;
}

}  // namespace

namespace detail {
void register_conv_backward_kernels() { register_kernel(Op::Conv2dBackward, conv2d_backward_kernel); }
}  // namespace detail

}  // namespace ember
