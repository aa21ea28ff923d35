// conv2d backward: grad_input, grad_weight, grad_bias (each only when asked: output_mask), on
// oneDNN for float32 when ember has it (ops/conv_dnnl.cpp), else image by image. Each image's
// column matrix (im2col) and column gradient fit in cache; grad_weight is summed over a fixed
// split of the batch, so the result does not depend on the thread count.
#include <algorithm>
#include <memory>

#include "runtime/allocator.hpp"
#include "runtime/ops/conv_dnnl.hpp"
#include "runtime/ops/conv_im2col.hpp"
#include "runtime/ops/loops.hpp"
#include "runtime/shape.hpp"

namespace ember {
namespace detail {
// Row-major C = op(A) op(B) + beta C through BLAS; defined in ops/matmul.cpp.
void gemm_rowmajor(bool trans_a, bool trans_b, int64_t n, int64_t m, int64_t k, const float* a,
                   int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
void gemm_rowmajor(bool trans_a, bool trans_b, int64_t n, int64_t m, int64_t k, const double* a,
                   int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc);
}  // namespace detail

namespace {

using detail::ConvGeom;

// Partial grad_weight sums: at most this many, over consecutive runs of images.
constexpr int64_t kMaxParts = 8;

// Scratch from the caching allocator (no page faults per call); contents are undefined.
template <class T>
struct Scratch {
  size_t bytes;
  T* p;
  explicit Scratch(int64_t n)
      : bytes(std::max<size_t>(1, static_cast<size_t>(n) * sizeof(T))),
        p(static_cast<T*>(memory::allocate(bytes))) {}
  ~Scratch() { memory::deallocate(p, bytes); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

// gy [N, O, L], x [N, C, H, W], w [O, cg, kh, kw], all contiguous. grad_input and grad_weight
// only when asked (mask); grad_bias is the caller's.
template <class T>
TensorList conv_backward(const Tensor& gy, const Tensor& x, const Tensor& w, const ConvGeom& g,
                         const bool* mask) {
  const int64_t L = g.l(), K = g.k(), og = g.o / g.groups;
  const int64_t in_img = g.c * g.h * g.w, out_img = g.o * L, wsize = g.o * K;
  const bool need_in = mask[0], need_w = mask[1];
  Tensor gin = need_in ? make_tensor({g.n, g.c, g.h, g.w}, x.dtype()) : Tensor();
  Tensor gw = need_w ? make_tensor({g.o, g.cg, g.kh, g.kw}, x.dtype()) : Tensor();
  const T* px = x.data_ptr<T>();
  const T* pw = w.data_ptr<T>();
  const T* pgy = gy.data_ptr<T>();
  T* pgin = need_in ? gin.data_ptr<T>() : nullptr;
  const int64_t parts = std::clamp<int64_t>(g.n, 1, kMaxParts);
  Scratch<T> partial(need_w ? parts * wsize : 0);
  const bool empty = g.n == 0 || L == 0 || K == 0 || !(need_in || need_w);
  if (empty) {  // nothing flows back: zero gradients
    if (need_in) std::fill(pgin, pgin + g.n * in_img, T(0));
    if (need_w) std::fill(partial.p, partial.p + parts * wsize, T(0));
  }
  // grad_input of a stride-1 conv is the convolution of grad_out with the flipped, transposed
  // kernel (padding d (k - 1) - p): one im2col of grad_out and a GEMM that writes grad_input
  // directly, instead of a column gradient as large as the column matrix scattered back by
  // col2im. Used when it has no more columns to build (og <= cg).
  ConvGeom t{};
  const bool transposed = need_in && !g.direct() && g.sh == 1 && g.sw == 1 && og <= g.cg &&
                          g.dh * (g.kh - 1) >= g.ph && g.dw * (g.kw - 1) >= g.pw;
  Scratch<T> wt(transposed ? wsize : 0);
  if (transposed) {
    t = ConvGeom{.n = g.n,
                 .c = og,
                 .h = g.oh,
                 .w = g.ow,
                 .o = g.cg,
                 .cg = og,
                 .kh = g.kh,
                 .kw = g.kw,
                 .oh = g.h,
                 .ow = g.w,
                 .groups = 1,
                 .sh = 1,
                 .sw = 1,
                 .ph = g.dh * (g.kh - 1) - g.ph,
                 .pw = g.dw * (g.kw - 1) - g.pw,
                 .dh = g.dh,
                 .dw = g.dw};
    // wt[group][c][o][i][j] = w[group * og + o][c][kh - 1 - i][kw - 1 - j]
    const int64_t kk = g.kh * g.kw;
    for (int64_t gi = 0; gi < g.groups; ++gi)
      for (int64_t c = 0; c < g.cg; ++c)
        for (int64_t o = 0; o < og; ++o)
          for (int64_t q = 0; q < kk; ++q)
            wt.p[((gi * g.cg + c) * og + o) * kk + q] =
                pw[((gi * og + o) * g.cg + c) * kk + kk - 1 - q];
  }
  auto run_parts = [&](int64_t p0, int64_t p1) {
    if (empty) return;
    Scratch<T> cols(g.direct() || !need_w ? 0 : K * L);
    Scratch<T> gcols(g.direct() || !need_in ? 0 : transposed ? t.k() * t.l() : K * L);
    for (int64_t part = p0; part < p1; ++part) {
      T* gwp = need_w ? partial.p + part * wsize : nullptr;
      const int64_t first = part * g.n / parts, last = (part + 1) * g.n / parts;
      for (int64_t img = first; img < last; ++img) {
        T* gimg = need_in ? pgin + img * in_img : nullptr;
        if (need_in && !g.direct() && !transposed) std::fill(gimg, gimg + in_img, T(0));
        for (int64_t gi = 0; gi < g.groups; ++gi) {
          const T* xg = px + img * in_img + gi * g.cg * g.h * g.w;
          const T* gyg = pgy + img * out_img + gi * og * L;
          const T* wg = pw + gi * og * K;
          if (need_w) {
            const T* cm = xg;
            if (!g.direct()) {
              detail::im2col(g, xg, cols.p);
              cm = cols.p;
            }
            // grad_weight[group] (+)= grad_out [og, L] x cols^T [L, K]
            detail::gemm_rowmajor(false, true, og, K, L, gyg, L, cm, L, img == first ? T(0) : T(1),
                                  gwp + gi * og * K, K);
          }
          if (!need_in) continue;
          T* ging = gimg + gi * g.cg * g.h * g.w;
          // grad_cols = weight[group]^T [K, og] x grad_out [og, L], added back by col2im (a 1x1
          // stride-1 unpadded conv's column matrix is the input itself).
          if (g.direct()) {
            detail::gemm_rowmajor(true, false, K, L, og, wg, K, gyg, L, T(0), ging, L);
          } else if (transposed) {
            // grad_input[group] = wt[group] [cg, og*kh*kw] x im2col(grad_out[group])
            detail::im2col(t, gyg, gcols.p);
            detail::gemm_rowmajor(false, false, g.cg, t.l(), t.k(), wt.p + gi * og * K, t.k(),
                                  gcols.p, t.l(), T(0), ging, t.l());
          } else {
            detail::gemm_rowmajor(true, false, K, L, og, wg, K, gyg, L, T(0), gcols.p, L);
            detail::col2im(g, gcols.p, ging);
          }
        }
      }
    }
  };
  int threads = get_num_threads();
  if (parts >= 2 && threads > 1 && !in_parallel_region()) {
    detail::SingleThreadedBlas one(threads);
    parallel_for(0, parts, 1, run_parts);
  } else {
    run_parts(0, parts);
  }
  // grad_weight = the parts' sum, in a fixed order.
  if (need_w) {
    T* pgw = gw.data_ptr<T>();
    parallel_for(0, wsize, 4096, [&](int64_t b, int64_t e) {
      std::copy(partial.p + b, partial.p + e, pgw + b);
      for (int64_t part = 1; part < parts; ++part) {
        const T* __restrict src = partial.p + part * wsize;
        for (int64_t i = b; i < e; ++i) pgw[i] += src[i];
      }
    });
  }
  return {gin, gw, Tensor()};
}

// (grad_out, input, weight) -> (grad_input, grad_weight, grad_bias).
TensorList conv2d_backward_kernel(std::span<const Tensor> in, const Attrs& attrs) {
  NoGradGuard no_grad;  // the copies and the bias sum are internal, not graph nodes
  const auto& a = std::get<ConvAttrs>(attrs);
  bool batched = in[1].dim() == 4;
  Tensor x = (batched ? in[1] : in[1].unsqueeze(0)).contiguous();
  Tensor gy = batched ? in[0] : in[0].unsqueeze(0);
  EMBER_CHECK(is_floating(x.dtype()), DTypeError,
              "conv2d_backward: expected a floating input, got ", dtype_name(x.dtype()));
  Tensor w = cast(in[2], x.dtype()).contiguous();
  gy = cast(gy, x.dtype()).contiguous();
  ConvGeom g{};
  g.n = x.size(0);
  g.c = x.size(1);
  g.h = x.size(2);
  g.w = x.size(3);
  g.o = w.size(0);
  g.cg = w.size(1);
  g.kh = w.size(2);
  g.kw = w.size(3);
  g.oh = gy.size(2);
  g.ow = gy.size(3);
  g.groups = a.groups;
  g.sh = a.stride[0];
  g.sw = a.stride[1];
  g.ph = a.padding[0];
  g.pw = a.padding[1];
  g.dh = a.dilation[0];
  g.dw = a.dilation[1];
  std::optional<TensorList> dnnl;
  if (detail::conv_uses_dnnl(x.dtype(), g, true))
    dnnl = detail::dnnl_conv2d_backward(g, gy, x, w, a.output_mask);
  TensorList r = dnnl ? std::move(*dnnl) : visit_dtype(x.dtype(), [&](auto v) -> TensorList {
    using T = decltype(v);
    if constexpr (std::is_floating_point_v<T>) {
      TensorList grads = conv_backward<T>(gy, x, w, g, a.output_mask);
      if (a.output_mask[2]) grads[2] = sum(gy.view({g.n, g.o, g.l()}), {0, 2});
      return grads;
    } else {
      return {};
    }
  });
  if (!batched && r[0].defined()) r[0] = r[0].squeeze(0);
  return r;
}

}  // namespace

namespace detail {
void register_conv_backward_kernels() {
  register_kernel(Op::Conv2dBackward, conv2d_backward_kernel);
}
}  // namespace detail

}  // namespace ember
