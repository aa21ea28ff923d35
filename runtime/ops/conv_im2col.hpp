// Internal to the conv2d kernels (ops/conv.cpp, ops/conv_backward.cpp): the geometry of one
// convolution, im2col and its adjoint col2im over the planes of one image, and a scope that runs
// OpenBLAS single-threaded while ember's threads split the batch.
#pragma once

#include <algorithm>
#include <cstdint>

extern "C" void openblas_set_num_threads(int);

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

/// col[(c*kh + i)*kw + j][y*ow + x] = x[c][y*sh - ph + i*dh][x*sw - pw + j*dw] (0 off the edge)
/// for the cg channels of one group of one image (contiguous planes).
template <class T>
void im2col(const ConvGeom& g, const T* x, T* col) {
  const int64_t L = g.l();
  for (int64_t c = 0; c < g.cg; ++c)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        T* row = col + ((c * g.kh + i) * g.kw + j) * L;
        const T* plane = x + c * g.h * g.w;
        const auto [lo, hi, off] = col_range(g, j);
        for (int64_t y = 0; y < g.oh; ++y) {
          T* dst = row + y * g.ow;
          int64_t ih = y * g.sh - g.ph + i * g.dh;
          if (ih < 0 || ih >= g.h) {
            std::fill(dst, dst + g.ow, T(0));
            continue;
          }
          const T* src = plane + ih * g.w;
          std::fill(dst, dst + lo, T(0));
          if (g.sw == 1) std::copy(src + off + lo, src + off + hi, dst + lo);
          else
            for (int64_t x2 = lo; x2 < hi; ++x2) dst[x2] = src[off + x2 * g.sw];
          std::fill(dst + hi, dst + g.ow, T(0));
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

/// Runs OpenBLAS on one thread for its lifetime (ember's threads split the work instead; BLAS
/// threads would nest inside them), then restores `threads`. OpenBLAS's setting is global.
class SingleThreadedBlas {
 public:
  explicit SingleThreadedBlas(int threads) : threads_(threads) { openblas_set_num_threads(1); }
  ~SingleThreadedBlas() { openblas_set_num_threads(threads_); }
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

 private:
  int threads_;
};

}  // namespace ember::detail
