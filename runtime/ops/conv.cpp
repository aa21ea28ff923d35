// conv2d forward: oneDNN for float32 when ember has it (ops/conv_dnnl.cpp), else im2col + GEMM
// per image and group (OpenBLAS for f32/f64, a loop for int64).
#include <algorithm>
#include <memory>

#include "runtime/allocator.hpp"
#include "runtime/dispatch.hpp"
#include "runtime/ops.hpp"
#include "runtime/ops/conv_dnnl.hpp"
#include "runtime/ops/conv_im2col.hpp"
#include "runtime/parallel.hpp"

namespace ember {
namespace detail {
// Row-major C = op(A) op(B) + beta C through BLAS; defined in ops/matmul.cpp.
void gemm_rowmajor(bool trans_a, bool trans_b, int64_t n, int64_t m, int64_t k, const float* a,
                   int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
void gemm_rowmajor(bool trans_a, bool trans_b, int64_t n, int64_t m, int64_t k, const double* a,
                   int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc);
}  // namespace detail

namespace {

// C[n x m] = A[n x k] B[k x m] + beta C, every matrix row-major with its own row stride.
template <class T>
void gemm_nn(int64_t n, int64_t m, int64_t k, const T* a, int64_t lda, const T* b, int64_t ldb,
             bool accumulate, T* c, int64_t ldc) {
  if constexpr (std::is_floating_point_v<T>) {
    detail::gemm_rowmajor(false, false, n, m, k, a, lda, b, ldb, accumulate ? T(1) : T(0), c, ldc);
  } else {
    for (int64_t i = 0; i < n; ++i) {
      T* __restrict crow = c + i * ldc;
      if (!accumulate) std::fill(crow, crow + m, T(0));
      for (int64_t q = 0; q < k; ++q) {
        T av = a[i * lda + q];
        const T* __restrict brow = b + q * ldb;
        for (int64_t j = 0; j < m; ++j) crow[j] += av * brow[j];
      }
    }
  }
}

using detail::ConvGeom;

// One image: every group's GEMM into out [O, OH*OW] (already holding the bias if has_bias).
template <class T>
void conv_image(const ConvGeom& g, const T* x, const T* w, bool has_bias, T* out, T* col) {
  int64_t L = g.oh * g.ow, K = g.cg * g.kh * g.kw, og = g.o / g.groups;
  for (int64_t gi = 0; gi < g.groups; ++gi) {
    const T* xg = x + gi * g.cg * g.h * g.w;
    const T* cm = xg;
    if (!g.direct()) {
      detail::im2col(g, xg, col);
      cm = col;
    }
    gemm_nn(og, L, K, w + gi * og * K, K, cm, L, has_bias, out + gi * og * L, L);
  }
}

struct ColFree {
  size_t bytes;
  void operator()(void* p) const { memory::deallocate(p, bytes); }
};

template <class T>
void conv_forward(const ConvGeom& g, const Tensor& x, const Tensor& w, const Tensor& b,
                  const Tensor& out) {
  const T* xp = x.data_ptr<T>();
  const T* wp = w.data_ptr<T>();
  T* op = out.data_ptr<T>();
  int64_t L = g.oh * g.ow, K = g.cg * g.kh * g.kw;
  int64_t in_img = g.c * g.h * g.w, out_img = g.o * L;
  bool has_bias = b.defined();
  if (has_bias) {
    const T* bp = b.data_ptr<T>();
    for (int64_t i = 0; i < g.n * g.o; ++i) std::fill(op + i * L, op + (i + 1) * L, bp[i % g.o]);
  }
  if (K == 0) {
    if (!has_bias) std::fill(op, op + g.n * out_img, T(0));
    return;
  }
  size_t col_size = g.direct() ? 0 : static_cast<size_t>(K * L);
  auto run_images = [&](int64_t lo, int64_t hi) {
    // From the caching allocator (no page faults per call); im2col writes every element.
    size_t bytes = std::max<size_t>(1, col_size * sizeof(T));
    std::unique_ptr<void, ColFree> col(memory::allocate(bytes), ColFree{bytes});
    for (int64_t i = lo; i < hi; ++i)
      conv_image(g, xp + i * in_img, wp, has_bias, op + i * out_img, static_cast<T*>(col.get()));
  };
  // Batch 64, 32 -> 32 channels 3x3, 28x28 on 2 threads: images in parallel with BLAS on one
  // thread took 8.8-11 ms; one image at a time with BLAS threading each GEMM 12-15.5 ms (the
  // per-image GEMMs, 32 x 288 x 784, are too small to split well). So images go in parallel
  // whenever there are two or more; a single image lets BLAS thread its GEMMs.
  int threads = get_num_threads();
  if (g.n >= 2 && threads > 1 && !in_parallel_region()) {
    detail::SingleThreadedBlas one(threads);
    parallel_for(0, g.n, 1, run_images);
    return;
  }
  run_images(0, g.n);
}

// Checks conv2d's operands (PyTorch's messages) and gives the geometry of the batched input
// (an unbatched one counts as a batch of 1).
ConvGeom conv_geometry(const Tensor& input, const Tensor& weight, const Tensor& bias,
                       const ConvAttrs& a) {
  EMBER_CHECK(input.defined() && weight.defined(), Error,
              "conv2d: input and weight must be defined");
  EMBER_CHECK(input.dim() == 3 || input.dim() == 4, ShapeError,
              "conv2d: Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of "
              "size: ",
              input.sizes());
  EMBER_CHECK(weight.dim() == 4, ShapeError,
              "conv2d: expected weight to be 4-dimensional [out_channels, in_channels/groups, kH, "
              "kW], but got weight of size ",
              weight.sizes());
  EMBER_CHECK(input.dtype() == weight.dtype(), DTypeError, "conv2d: input type (",
              dtype_name(input.dtype()), ") and weight type (", dtype_name(weight.dtype()),
              ") should be the same");
  EMBER_CHECK(input.dtype() != kBool, DTypeError, "conv2d: not implemented for 'bool'");
  for (int d = 0; d < 2; ++d) {
    EMBER_CHECK(a.stride[d] > 0, ValueError, "conv2d: non-positive stride is not supported, got ",
                a.stride[0], "x", a.stride[1]);
    EMBER_CHECK(a.padding[d] >= 0, ValueError, "conv2d: negative padding is not supported, got ",
                a.padding[0], "x", a.padding[1]);
    EMBER_CHECK(a.dilation[d] > 0, ValueError,
                "conv2d: dilation should be greater than zero, but got ", a.dilation[0], "x",
                a.dilation[1]);
  }
  EMBER_CHECK(a.groups > 0, ValueError, "conv2d: non-positive groups is not supported, got ",
              a.groups);
  const int64_t lead = input.dim() == 4 ? 1 : 0;
  ConvGeom g{};
  g.n = lead ? input.size(0) : 1;
  g.c = input.size(lead);
  g.h = input.size(lead + 1);
  g.w = input.size(lead + 2);
  g.o = weight.size(0);
  g.cg = weight.size(1);
  g.kh = weight.size(2);
  g.kw = weight.size(3);
  g.groups = a.groups;
  g.sh = a.stride[0];
  g.sw = a.stride[1];
  g.ph = a.padding[0];
  g.pw = a.padding[1];
  g.dh = a.dilation[0];
  g.dw = a.dilation[1];
  EMBER_CHECK(g.o % g.groups == 0, ShapeError, "conv2d: Given groups=", g.groups,
              ", expected weight to be divisible by ", g.groups,
              " at dimension 0, but got weight of size ", weight.sizes(), " instead");
  EMBER_CHECK(g.c == g.cg * g.groups, ShapeError, "conv2d: Given groups=", g.groups,
              ", weight of size ", weight.sizes(), ", expected input", input.sizes(), " to have ",
              g.cg * g.groups, " channels, but got ", g.c, " channels instead");
  int64_t ekh = g.dh * (g.kh - 1) + 1, ekw = g.dw * (g.kw - 1) + 1;
  int64_t hp = g.h + 2 * g.ph, wp = g.w + 2 * g.pw;
  EMBER_CHECK(hp >= ekh && wp >= ekw, ShapeError,
              "conv2d: Calculated padded input size per channel: (", hp, " x ", wp,
              "). Kernel size: (", ekh, " x ", ekw,
              "). Kernel size can't be greater than actual input size");
  if (bias.defined()) {
    EMBER_CHECK(bias.dim() == 1 && bias.size(0) == g.o, ShapeError, "conv2d: Given weight of size ",
                weight.sizes(), ", expected bias to be 1-dimensional with ", g.o,
                " elements, but got bias of size ", bias.sizes(), " instead");
    EMBER_CHECK(bias.dtype() == input.dtype(), DTypeError, "conv2d: bias type (",
                dtype_name(bias.dtype()), ") should be the same as input type (",
                dtype_name(input.dtype()), ")");
  }
  g.oh = (hp - ekh) / g.sh + 1;
  g.ow = (wp - ekw) / g.sw + 1;
  return g;
}

TensorList conv2d_kernel(std::span<const Tensor> in, const Attrs& attrs) {
  const auto& a = std::get<ConvAttrs>(attrs);
  Tensor input = in[0], weight = in[1];
  Tensor bias = in.size() > 2 ? in[2] : Tensor();
  const ConvGeom g = conv_geometry(input, weight, bias, a);
  bool batched = input.dim() == 4;
  if (!batched) {
    Dims sizes = input.sizes(), strides = input.strides();
    sizes.insert(0, 1);
    strides.insert(0, input.numel());
    input = make_view(input, sizes, strides, input.storage_offset());
  }
  Tensor out = make_tensor({g.n, g.o, g.oh, g.ow}, input.dtype());
  if (out.numel() > 0) {
    NoGradGuard no_grad;  // the contiguous copies are internal, not graph nodes
    Tensor x = input.contiguous(), w = weight.contiguous();
    if (bias.defined()) bias = bias.contiguous();
    const bool dnnl = detail::conv_uses_dnnl(input.dtype(), g, false) &&
                      detail::dnnl_conv2d_forward(g, x, w, bias, out);
    if (!dnnl)
      visit_dtype(input.dtype(), [&](auto v) {
        using T = decltype(v);
        if constexpr (!std::is_same_v<T, bool>) conv_forward<T>(g, x, w, bias, out);
      });
  }
  if (!batched) out = make_view(out, {g.o, g.oh, g.ow}, {g.oh * g.ow, g.ow, 1}, 0);
  return {out};
}

}  // namespace

namespace detail {
void register_conv_kernels() { register_kernel(Op::Conv2d, conv2d_kernel); }

Dims conv2d_sizes(const Tensor& input, const Tensor& weight, const Tensor& bias,
                  const ConvAttrs& a) {
  const ConvGeom g = conv_geometry(input, weight, bias, a);
  if (input.dim() == 3) return {g.o, g.oh, g.ow};
  return {g.n, g.o, g.oh, g.ow};
}
}  // namespace detail

}  // namespace ember
