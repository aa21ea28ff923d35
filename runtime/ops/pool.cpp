// 2-d pooling forward: max (with flat h*w argmax indices), average, adaptive average.
// Each kernel walks contiguous [planes, H, W] input, one (n, c) plane per work item.
#include <cmath>
#include <limits>

#include "runtime/dispatch.hpp"
#include "runtime/ops.hpp"
#include "runtime/parallel.hpp"

namespace ember {
namespace {

// The input as [planes, H, W] plus the shape the output gets ([N, C, oh, ow] or [C, oh, ow]).
struct PoolInput {
  Tensor x;  // contiguous
  int64_t planes = 0, h = 0, w = 0;
  Dims lead;  // N, C or just C
};

// The input's planes and lead dims, checked; no copy yet (x is left undefined).
PoolInput pool_dims(const Tensor& input, const char* op) {
  EMBER_CHECK(input.defined(), Error, op, ": input is undefined");
  int64_t d = input.dim();
  bool ok = (d == 3 && input.size(0) != 0 && input.size(1) != 0 && input.size(2) != 0) ||
            (d == 4 && input.size(1) != 0 && input.size(2) != 0 && input.size(3) != 0);
  EMBER_CHECK(ok, ShapeError, op,
              ": Expected 3D or 4D (batch mode) tensor with optional 0 dim "
              "batch size for input, but got: ",
              input.sizes());
  PoolInput p;
  p.h = input.size(-2);
  p.w = input.size(-1);
  p.planes = input.numel() / (p.h * p.w);
  for (int64_t i = 0; i < d - 2; ++i) p.lead.push_back(input.size(i));
  return p;
}

PoolInput pool_input(const Tensor& input, const char* op) {
  PoolInput p = pool_dims(input, op);
  NoGradGuard no_grad;  // an internal copy, not a graph node
  p.x = input.contiguous();
  return p;
}

Dims out_sizes(const PoolInput& p, int64_t oh, int64_t ow) {
  Dims s = p.lead;
  s.push_back(oh);
  s.push_back(ow);
  return s;
}

int64_t div_floor(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// PyTorch's pooling_output_shape: a last window that would start in the right padding is dropped.
int64_t pool_out_size(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dil, bool ceil) {
  int64_t out = div_floor(in + 2 * pad - dil * (k - 1) - 1 + (ceil ? stride - 1 : 0), stride) + 1;
  if (ceil && (out - 1) * stride >= in + pad) --out;
  return out;
}

// Checks the attributes and computes (oh, ow); PyTorch's messages.
void pool_shape(const PoolAttrs& a, const PoolInput& p, const char* op, int64_t& oh, int64_t& ow) {
  EMBER_CHECK(a.kernel[0] > 0 && a.kernel[1] > 0, ValueError, op,
              ": kernel size should be greater than zero, but got kH: ", a.kernel[0],
              " kW: ", a.kernel[1]);
  EMBER_CHECK(a.stride[0] > 0 && a.stride[1] > 0, ValueError, op,
              ": stride should be greater than zero, but got dH: ", a.stride[0],
              " dW: ", a.stride[1]);
  EMBER_CHECK(a.dilation[0] > 0 && a.dilation[1] > 0, ValueError, op,
              ": dilation should be greater than zero, but got dilationH: ", a.dilation[0],
              " dilationW: ", a.dilation[1]);
  for (int d = 0; d < 2; ++d) {
    EMBER_CHECK(a.padding[d] >= 0, ValueError, op,
                ": pad must be non-negative, but got pad: ", a.padding[d]);
    EMBER_CHECK(a.padding[d] <= a.kernel[d] / 2, ValueError, op,
                ": pad should be at most half of kernel size, but got pad=", a.padding[d],
                " and kernel_size=", a.kernel[d]);
  }
  oh = pool_out_size(p.h, a.kernel[0], a.padding[0], a.stride[0], a.dilation[0], a.ceil_mode);
  ow = pool_out_size(p.w, a.kernel[1], a.padding[1], a.stride[1], a.dilation[1], a.ceil_mode);
  int64_t c = p.lead.empty() ? 1 : p.lead.back();
  EMBER_CHECK(oh >= 1 && ow >= 1, ShapeError, op, ": Given input size: (", c, "x", p.h, "x", p.w,
              "). Calculated output size: (", c, "x", oh, "x", ow, "). Output size is too small");
}

int64_t plane_grain(int64_t work_per_plane) {
  return std::max<int64_t>(1, kGrainSize / std::max<int64_t>(1, work_per_plane));
}

template <class T>
void max_pool(const PoolAttrs& a, const PoolInput& p, int64_t oh, int64_t ow, T* out,
              int64_t* idx) {
  const T* x = p.x.data_ptr<T>();
  int64_t H = p.h, W = p.w, kh = a.kernel[0], kw = a.kernel[1], sh = a.stride[0], sw = a.stride[1],
          ph = a.padding[0], pw = a.padding[1], dh = a.dilation[0], dw = a.dilation[1];
  parallel_for(0, p.planes, plane_grain(oh * ow * kh * kw), [&](int64_t lo, int64_t hi) {
    for (int64_t pl = lo; pl < hi; ++pl) {
      const T* plane = x + pl * H * W;
      T* o = out + pl * oh * ow;
      int64_t* ix = idx + pl * oh * ow;
      for (int64_t y = 0; y < oh; ++y) {
        int64_t hs = y * sh - ph, he = std::min(hs + (kh - 1) * dh + 1, H);
        while (hs < 0) hs += dh;
        for (int64_t xo = 0; xo < ow; ++xo) {
          int64_t ws = xo * sw - pw, we = std::min(ws + (kw - 1) * dw + 1, W);
          while (ws < 0) ws += dw;
          // As PyTorch: start at the window's first in-bounds element; NaN wins and sticks.
          int64_t best = hs * W + ws;
          T m = -std::numeric_limits<T>::infinity();
          for (int64_t ih = hs; ih < he; ih += dh)
            for (int64_t iw = ws; iw < we; iw += dw) {
              T v = plane[ih * W + iw];
              if (v > m || std::isnan(v)) {
                m = v;
                best = ih * W + iw;
              }
            }
          o[y * ow + xo] = m;
          ix[y * ow + xo] = best;
        }
      }
    }
  });
}

template <class T>
void avg_pool(const PoolAttrs& a, const PoolInput& p, int64_t oh, int64_t ow, T* out) {
  const T* x = p.x.data_ptr<T>();
  using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;
  int64_t H = p.h, W = p.w, kh = a.kernel[0], kw = a.kernel[1], sh = a.stride[0], sw = a.stride[1],
          ph = a.padding[0], pw = a.padding[1];
  parallel_for(0, p.planes, plane_grain(oh * ow * kh * kw), [&](int64_t lo, int64_t hi) {
    for (int64_t pl = lo; pl < hi; ++pl) {
      const T* plane = x + pl * H * W;
      T* o = out + pl * oh * ow;
      for (int64_t y = 0; y < oh; ++y) {
        for (int64_t xo = 0; xo < ow; ++xo) {
          // The padded window size counts for count_include_pad; then clip to the input.
          int64_t hs = y * sh - ph, ws = xo * sw - pw;
          int64_t he = std::min(hs + kh, H + ph), we = std::min(ws + kw, W + pw);
          int64_t pool_size = (he - hs) * (we - ws);
          hs = std::max<int64_t>(hs, 0);
          ws = std::max<int64_t>(ws, 0);
          he = std::min(he, H);
          we = std::min(we, W);
          if (hs >= he || ws >= we) {
            o[y * ow + xo] = T(0);
            continue;
          }
          Acc s = 0;
          for (int64_t ih = hs; ih < he; ++ih)
            for (int64_t iw = ws; iw < we; ++iw) s += plane[ih * W + iw];
          int64_t div = a.divisor_override    ? *a.divisor_override
                        : a.count_include_pad ? pool_size
                                              : (he - hs) * (we - ws);
          o[y * ow + xo] = static_cast<T>(s / static_cast<Acc>(div));
        }
      }
    }
  });
}

TensorList max_pool2d_kernel(std::span<const Tensor> in, const Attrs& attrs) {
  const auto& a = std::get<PoolAttrs>(attrs);
  PoolInput p = pool_input(in[0], "max_pool2d");
  EMBER_CHECK(is_floating(p.x.dtype()), DTypeError, "max_pool2d: not implemented for '",
              dtype_name(p.x.dtype()), "'");
  int64_t oh = 0, ow = 0;
  pool_shape(a, p, "max_pool2d", oh, ow);
  Dims sizes = out_sizes(p, oh, ow);
  Tensor out = make_tensor(sizes, p.x.dtype()), idx = make_tensor(sizes, kInt64);
  if (out.numel() == 0) return {out, idx};
  if (p.x.dtype() == kFloat32)
    max_pool<float>(a, p, oh, ow, out.data_ptr<float>(), idx.data_ptr<int64_t>());
  else
    max_pool<double>(a, p, oh, ow, out.data_ptr<double>(), idx.data_ptr<int64_t>());
  return {out, idx};
}

// Checks avg_pool2d's input and attributes; the output's (oh, ow).
void avg_pool_shape(const Tensor& input, const PoolAttrs& a, const PoolInput& p, int64_t& oh,
                    int64_t& ow) {
  EMBER_CHECK(input.dtype() != kBool, DTypeError, "avg_pool2d: not implemented for 'bool'");
  EMBER_CHECK(!a.divisor_override || *a.divisor_override != 0, ValueError,
              "avg_pool2d: divisor must be not zero");
  EMBER_CHECK(a.dilation[0] == 1 && a.dilation[1] == 1, ValueError,
              "avg_pool2d: dilation is not supported, got ", a.dilation[0], "x", a.dilation[1]);
  pool_shape(a, p, "avg_pool2d", oh, ow);
}

TensorList avg_pool2d_kernel(std::span<const Tensor> in, const Attrs& attrs) {
  const auto& a = std::get<PoolAttrs>(attrs);
  PoolInput p = pool_input(in[0], "avg_pool2d");
  int64_t oh = 0, ow = 0;
  avg_pool_shape(in[0], a, p, oh, ow);
  Tensor out = make_tensor(out_sizes(p, oh, ow), p.x.dtype());
  if (out.numel() == 0) return {out};
  visit_dtype(p.x.dtype(), [&](auto v) {
    using T = decltype(v);
    if constexpr (!std::is_same_v<T, bool>) avg_pool<T>(a, p, oh, ow, out.data_ptr<T>());
  });
  return {out};
}

template <class T>
void adaptive_avg_pool(const PoolInput& p, int64_t oh, int64_t ow, T* out) {
  const T* x = p.x.data_ptr<T>();
  int64_t H = p.h, W = p.w;
  // Window o spans [floor(o*I/O), ceil((o+1)*I/O)).
  auto start = [](int64_t o, int64_t in, int64_t outn) { return (o * in) / outn; };
  auto end = [](int64_t o, int64_t in, int64_t outn) { return ((o + 1) * in + outn - 1) / outn; };
  int64_t win = ((H + oh - 1) / oh + 1) * ((W + ow - 1) / ow + 1);
  parallel_for(0, p.planes, plane_grain(oh * ow * win), [&](int64_t lo, int64_t hi) {
    for (int64_t pl = lo; pl < hi; ++pl) {
      const T* plane = x + pl * H * W;
      T* o = out + pl * oh * ow;
      for (int64_t y = 0; y < oh; ++y) {
        int64_t hs = start(y, H, oh), he = end(y, H, oh);
        for (int64_t xo = 0; xo < ow; ++xo) {
          int64_t ws = start(xo, W, ow), we = end(xo, W, ow);
          double s = 0;
          for (int64_t ih = hs; ih < he; ++ih)
            for (int64_t iw = ws; iw < we; ++iw) s += plane[ih * W + iw];
          o[y * ow + xo] = static_cast<T>(s / static_cast<double>((he - hs) * (we - ws)));
        }
      }
    }
  });
}

// Checks adaptive_avg_pool2d's input and output size (PyTorch's messages).
void adaptive_shape(const Tensor& input, const Dims& size) {
  EMBER_CHECK(input.defined(), Error, "adaptive_avg_pool2d: input is undefined");
  EMBER_CHECK(size.size() == 2, ValueError,
              "adaptive_avg_pool2d: output_size must be 2 numbers, got ", size);
  EMBER_CHECK(size[0] >= 0 && size[1] >= 0, ValueError,
              "adaptive_avg_pool2d: elements of output_size must be greater than or equal to 0 "
              "but received ",
              size);
  EMBER_CHECK(input.dim() == 3 || input.dim() == 4, ShapeError,
              "adaptive_avg_pool2d: Expected 3D or 4D tensor, but got ", input.sizes());
  for (int64_t d = input.dim() - 3; d < input.dim(); ++d)
    EMBER_CHECK(input.size(d) != 0, ShapeError,
                "adaptive_avg_pool2d: Expected input to have non-zero size for non-batch "
                "dimensions, but input has sizes ",
                input.sizes(), " with dimension ", d, " being empty");
  EMBER_CHECK(is_floating(input.dtype()), DTypeError, "adaptive_avg_pool2d: not implemented for '",
              dtype_name(input.dtype()), "'");
}

TensorList adaptive_avg_pool2d_kernel(std::span<const Tensor> in, const Attrs& attrs) {
  const Dims& size = std::get<ShapeAttrs>(attrs).sizes;
  const Tensor& input = in[0];
  adaptive_shape(input, size);
  PoolInput p = pool_input(input, "adaptive_avg_pool2d");
  Tensor out = make_tensor(out_sizes(p, size[0], size[1]), input.dtype());
  if (out.numel() == 0) return {out};
  if (input.dtype() == kFloat32)
    adaptive_avg_pool<float>(p, size[0], size[1], out.data_ptr<float>());
  else
    adaptive_avg_pool<double>(p, size[0], size[1], out.data_ptr<double>());
  return {out};
}

}  // namespace

namespace detail {
Dims avg_pool2d_sizes(const Tensor& input, const PoolAttrs& a) {
  PoolInput p = pool_dims(input, "avg_pool2d");
  int64_t oh = 0, ow = 0;
  avg_pool_shape(input, a, p, oh, ow);
  return out_sizes(p, oh, ow);
}

Dims max_pool2d_sizes(const Tensor& input, const PoolAttrs& a) {
  PoolInput p = pool_dims(input, "max_pool2d");
  EMBER_CHECK(is_floating(input.dtype()), DTypeError, "max_pool2d: not implemented for '",
              dtype_name(input.dtype()), "'");
  int64_t oh = 0, ow = 0;
  pool_shape(a, p, "max_pool2d", oh, ow);
  return out_sizes(p, oh, ow);
}

Dims adaptive_avg_pool2d_sizes(const Tensor& input, const Dims& size) {
  adaptive_shape(input, size);
  return out_sizes(pool_dims(input, "adaptive_avg_pool2d"), size[0], size[1]);
}

void register_pool_kernels() {
  register_kernel(Op::MaxPool2d, max_pool2d_kernel);
  register_kernel(Op::AvgPool2d, avg_pool2d_kernel);
  register_kernel(Op::AdaptiveAvgPool2d, adaptive_avg_pool2d_kernel);
}
}  // namespace detail

}  // namespace ember
