// Internal to the conv2d kernels (ops/conv.cpp, ops/conv_backward.cpp): the geometry of one
// convolution, and im2col and its adjoint col2im over the planes of one image.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>

#include "runtime/parallel.hpp"

namespace ember::detail {

struct ConvGeom {
  int64_t n, c, h, w;     // input
  int64_t o, cg, kh, kw;  // weight: out channels, in channels per group, kernel
  int64_t oh, ow, groups;
  int64_t sh, sw, ph, pw, dh, dw;
  /// 1x1, stride 1, no padding: the input plane already is the column matrix.
  bool direct() const { return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0; }
  /// Rows of the column matrix of one group: cg * kh * kw.
  int64_t k() const { return cg * kh * kw; }
  /// Output positions per channel: oh * ow.
  int64_t l() const { return oh * ow; }
};

/// For kernel column j: the output columns [lo, hi) whose input column lies inside [0, w), and
/// the input column of output column 0 (off, possibly negative).
struct ColRange {
  int64_t lo, hi, off;
};
inline ColRange col_range(const ConvGeom& g, int64_t j) {
  int64_t off = j * g.dw - g.pw;
  int64_t lo = off >= 0 ? 0 : (-off + g.sw - 1) / g.sw;
  int64_t hi = g.w - off <= 0 ? 0 : (g.w - off - 1) / g.sw + 1;
  lo = std::min(lo, g.ow);
  hi = std::clamp(hi, lo, g.ow);
  return {lo, hi, off};
}

/// Rows [lo, hi) of the output whose input row y*sh - ph + i*dh lies inside [0, h).
inline std::pair<int64_t, int64_t> row_range(const ConvGeom& g, int64_t i) {
  int64_t off = i * g.dh - g.ph;
  int64_t lo = off >= 0 ? 0 : (-off + g.sh - 1) / g.sh;
  int64_t hi = g.h - off <= 0 ? 0 : (g.h - off - 1) / g.sh + 1;
  lo = std::min(lo, g.oh);
  return {lo, std::clamp(hi, lo, g.oh)};
}

/// col[(c*kh + i)*kw + j][y*ow + x] = x[c][y*sh - ph + i*dh][x*sw - pw + j*dw] (0 off the edge)
/// for the cg channels of one group of one image (contiguous planes).
template <class T>
void im2col(const ConvGeom& g, const T* x, T* col) {
  const int64_t L = g.l();
  // Stride 1 with output rows as wide as the input ("same" padding): a kernel offset's rows
  // are one shifted run of the input plane, copied at once; the columns that fall off the
  // edge are zeroed after.
  const bool shifted = g.sh == 1 && g.sw == 1 && g.ow == g.w;
  for (int64_t c = 0; c < g.cg; ++c)
    for (int64_t i = 0; i < g.kh; ++i) {
      const auto [ylo, yhi] = row_range(g, i);
      for (int64_t j = 0; j < g.kw; ++j) {
        T* __restrict row = col + ((c * g.kh + i) * g.kw + j) * L;
        const T* __restrict plane = x + c * g.h * g.w;
        const auto [lo, hi, off] = col_range(g, j);
        std::fill(row, row + ylo * g.ow, T(0));
        std::fill(row + yhi * g.ow, row + L, T(0));
        if (shifted && lo < hi && ylo < yhi) {
          const int64_t base = (i * g.dh - g.ph) * g.w + off;  // input index - column index
          const int64_t first = ylo * g.w + lo, last = (yhi - 1) * g.w + hi;
          std::copy(plane + first + base, plane + last + base, row + first);
          for (int64_t y = ylo; y < yhi; ++y) {
            for (int64_t x2 = 0; x2 < lo; ++x2) row[y * g.ow + x2] = T(0);
            for (int64_t x2 = hi; x2 < g.ow; ++x2) row[y * g.ow + x2] = T(0);
          }
          continue;
        }
        for (int64_t y = ylo; y < yhi; ++y) {
          T* __restrict dst = row + y * g.ow;
          const T* __restrict src = plane + (y * g.sh - g.ph + i * g.dh) * g.w;
          for (int64_t x2 = 0; x2 < lo; ++x2) dst[x2] = T(0);
          if (g.sw == 1)
            for (int64_t x2 = lo; x2 < hi; ++x2) dst[x2] = src[off + x2];
          else
            for (int64_t x2 = lo; x2 < hi; ++x2) dst[x2] = src[off + x2 * g.sw];
          for (int64_t x2 = hi; x2 < g.ow; ++x2) dst[x2] = T(0);
        }
      }
    }
}

/// The adjoint of im2col: adds every column entry into its input position of x (cg planes of
/// one group of one image; the caller zeroes x first).
template <class T>
void col2im(const ConvGeom& g, const T* col, T* x) {
  const int64_t L = g.l();
  for (int64_t c = 0; c < g.cg; ++c)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        const T* row = col + ((c * g.kh + i) * g.kw + j) * L;
        T* plane = x + c * g.h * g.w;
        const auto [lo, hi, off] = col_range(g, j);
        for (int64_t y = 0; y < g.oh; ++y) {
          int64_t ih = y * g.sh - g.ph + i * g.dh;
          if (ih < 0 || ih >= g.h) continue;
          const T* __restrict src = row + y * g.ow;
          T* __restrict dst = plane + ih * g.w;
          if (g.sw == 1)
            for (int64_t x2 = lo; x2 < hi; ++x2) dst[off + x2] += src[x2];
          else
            for (int64_t x2 = lo; x2 < hi; ++x2) dst[off + x2 * g.sw] += src[x2];
        }
      }
}

}  // namespace ember::detail
