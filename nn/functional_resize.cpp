// pad and interpolate, composed of differentiable ops: each padded or resized dim is one
// index_select (reflect, replicate, circular, nearest) or two and a lerp (linear modes), so the
// gradients come from those ops' rows.
#include <cmath>

#include "nn/functional.hpp"
#include "runtime/ops.hpp"

namespace ember::nn::functional {
namespace {

// Input positions of the n + left + right outputs of a padded dim (non-constant modes).
Tensor pad_source(int64_t n, int64_t left, int64_t right, PadMode mode) {
  std::vector<int64_t> idx;
  for (int64_t o = 0; o < n + left + right; ++o) {
    int64_t i = o - left;
    if (mode == PadMode::Reflect)
      i = i < 0 ? -i : (i >= n ? 2 * (n - 1) - i : i);
    else if (mode == PadMode::Replicate)
      i = std::clamp<int64_t>(i, 0, n - 1);
    else
      i = ((i % n) + n) % n;
    idx.push_back(i);
  }
  return tensor(idx);
}

const char* mode_name(PadMode m) {
  switch (m) {
    case PadMode::Constant:
      return "constant";
    case PadMode::Reflect:
      return "reflect";
    case PadMode::Replicate:
      return "replicate";
    case PadMode::Circular:
      return "circular";
  }
  return "?";
}

// Source coordinates of `out` outputs from `in` inputs along one dim (PyTorch's
// area_pixel_compute_source_index); `scale` is in / out or 1 / scale_factor.
std::vector<double> source_coords(int64_t in, int64_t out, double scale, bool linear,
                                  bool align_corners) {
  std::vector<double> src(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o) {
    double s;
    if (!linear)  // in float, as PyTorch's nearest_idx, so the same outputs round alike
      s = static_cast<double>(std::min(
          static_cast<int64_t>(std::floor(static_cast<float>(o) * static_cast<float>(scale))),
          in - 1));
    else if (align_corners)
      s = out > 1 ? static_cast<double>(o) * static_cast<double>(in - 1) / (out - 1) : 0.0;
    else
      s = std::max(scale * (o + 0.5) - 0.5, 0.0);
    src[static_cast<size_t>(o)] = s;
  }
  return src;
}

}  // namespace

Tensor pad(const Tensor& input, const Dims& padding, const PadOptions& o) {
  const auto pairs = static_cast<int64_t>(padding.size() / 2);
  EMBER_CHECK(padding.size() % 2 == 0, ValueError, "pad: Padding length must be divisible by 2");
  EMBER_CHECK(pairs <= input.dim(), ValueError, "pad: Padding length (", padding.size(),
              ") too large for an input of ", input.dim(), " dimensions");
  if (o.mode != PadMode::Constant)
    EMBER_CHECK(pairs >= 1 && pairs <= 3 && (input.dim() == pairs + 1 || input.dim() == pairs + 2),
                ValueError,
                "pad: Only 2D, 3D, 4D, 5D padding with non-constant padding are supported for "
                "now (mode ",
                mode_name(o.mode), ", padding ", padding, ", input ", input.sizes(), ")");
  Tensor x = input;
  for (int64_t p = 0; p < pairs; ++p) {
    const int64_t d = input.dim() - 1 - p;
    int64_t left = padding[static_cast<size_t>(2 * p)],
            right = padding[static_cast<size_t>(2 * p + 1)];
    const int64_t n = x.size(d);
    if (o.mode == PadMode::Constant) {
      EMBER_CHECK(n + left + right >= 0, ValueError, "pad: The input size ", n, ", plus negative ",
                  "padding ", left, " and ", right, " resulted in a negative output size at dim ",
                  d);
      // negative padding crops
      if (left < 0 || right < 0) {
        int64_t start = std::max<int64_t>(-left, 0);
        x = x.narrow(d, start, std::max<int64_t>(n - start - std::max<int64_t>(-right, 0), 0));
        left = std::max<int64_t>(left, 0);
        right = std::max<int64_t>(right, 0);
      }
      if (left == 0 && right == 0) continue;
      Dims sl = x.sizes(), sr = x.sizes();
      sl[static_cast<size_t>(d)] = left;
      sr[static_cast<size_t>(d)] = right;
      x = cat({full(sl, o.value, x.dtype()), x, full(sr, o.value, x.dtype())}, d);
      continue;
    }
    EMBER_CHECK(left >= 0 && right >= 0, ValueError, "pad: ", mode_name(o.mode),
                " padding must not be negative, got (", left, ", ", right, ") at dimension ", d);
    if (o.mode == PadMode::Reflect)
      EMBER_CHECK(left < n && right < n, ValueError,
                  "pad: Padding size should be less than the corresponding input dimension, but "
                  "got: padding (",
                  left, ", ", right, ") at dimension ", d, " of input ", input.sizes());
    else if (o.mode == PadMode::Circular)
      EMBER_CHECK(left <= n && right <= n, ValueError,
                  "pad: Padding value causes wrapping around more than once (padding (", left, ", ",
                  right, ") at dimension ", d, " of input ", input.sizes(), ")");
    else
      EMBER_CHECK(n > 0, ValueError, "pad: replicate padding of an empty dimension ", d);
    if (left || right) x = x.index_select(d, pad_source(n, left, right, o.mode));
  }
  return x.is_same(input) ? input.clone() : x;
}

Tensor interpolate(const Tensor& input, const InterpolateOptions& o) {
  const bool linear = o.mode == "linear" || o.mode == "bilinear" || o.mode == "trilinear";
  EMBER_CHECK(linear || o.mode == "nearest", ValueError, "interpolate: mode \"", o.mode,
              "\" is not supported (nearest, linear, bilinear, trilinear)");
  EMBER_CHECK(!o.align_corners || linear, ValueError,
              "interpolate: align_corners option can only be set with the interpolating modes: "
              "linear | bilinear | bicubic | trilinear");
  EMBER_CHECK(o.size.empty() != o.scale_factor.empty(), ValueError,
              !o.size.empty() ? "interpolate: only one of size or scale_factor should be defined"
                              : "interpolate: either size or scale_factor should be defined");
  const int64_t spatial = input.dim() - 2;
  EMBER_CHECK(spatial >= 1 && spatial <= 3, ShapeError,
              "interpolate: expected a 3-D, 4-D or 5-D input (N, C, d1, ...), got ", input.sizes());
  if (linear) {
    const int64_t want = o.mode == "linear" ? 1 : o.mode == "bilinear" ? 2 : 3;
    EMBER_CHECK(spatial == want, ShapeError, "interpolate: Got ", input.dim(), "D input, but ",
                o.mode, " mode needs ", want + 2, "D input");
  }
  auto per_dim = [&](const auto& v, const char* what) {
    using V = std::decay_t<decltype(v[0])>;
    std::vector<V> r(v.begin(), v.end());
    if (r.size() == 1) r.assign(static_cast<size_t>(spatial), r[0]);
    EMBER_CHECK(static_cast<int64_t>(r.size()) == spatial, ValueError,
                "interpolate: Input and output must have the same number of spatial dimensions, "
                "but got input of shape ",
                input.sizes(), " and ", what, " with ", v.size(), " entries");
    return r;
  };
  std::vector<int64_t> out_size;
  std::vector<double> scales;  // input step per output step
  if (!o.size.empty()) {
    out_size = per_dim(o.size, "output size");
    for (int64_t i = 0; i < spatial; ++i)
      scales.push_back(static_cast<double>(input.size(2 + i)) /
                       static_cast<double>(out_size[static_cast<size_t>(i)]));
  } else {
    std::vector<double> f = per_dim(o.scale_factor, "scale_factor");
    for (int64_t i = 0; i < spatial; ++i) {
      EMBER_CHECK(f[static_cast<size_t>(i)] > 0, ValueError,
                  "interpolate: scale_factor must be positive, got ", f[static_cast<size_t>(i)]);
      out_size.push_back(static_cast<int64_t>(
          std::floor(static_cast<double>(input.size(2 + i)) * f[static_cast<size_t>(i)])));
      scales.push_back(1.0 / f[static_cast<size_t>(i)]);
    }
  }
  Tensor x = input;
  for (int64_t i = 0; i < spatial; ++i) {
    const int64_t d = 2 + i, in = input.size(d), out = out_size[static_cast<size_t>(i)];
    EMBER_CHECK(out > 0 && in > 0, ValueError, "interpolate: input ", input.sizes(),
                " and output size ", out, " at dimension ", d, " must be positive");
    std::vector<double> src =
        source_coords(in, out, scales[static_cast<size_t>(i)], linear, o.align_corners);
    std::vector<int64_t> i0(src.size()), i1(src.size());
    std::vector<double> w(src.size());
    for (size_t k = 0; k < src.size(); ++k) {
      i0[k] = static_cast<int64_t>(src[k]);
      i1[k] = std::min(i0[k] + 1, in - 1);
      w[k] = src[k] - static_cast<double>(i0[k]);
    }
    Tensor lo = x.index_select(d, tensor(i0));
    if (!linear) {
      x = lo;
      continue;
    }
    // x0 (1 - w) + x1 w along d, w broadcast over the other dims
    Dims ws(static_cast<size_t>(x.dim()), 1);  // NOLINT: (count, fill)
    ws[static_cast<size_t>(d)] = out;
    Tensor wt = tensor(w).to(x.dtype()).view(ws);
    x = lo * (1 - wt) + x.index_select(d, tensor(i1)) * wt;
  }
  return x;
}

}  // namespace ember::nn::functional
