// Inner loops shared by the reduction and softmax kernels (internal). Two shapes of work:
//  - a row: n contiguous elements to one value. Many independent lane accumulators (a few
//    vectors' worth, so g++ vectorises and the adds pipeline), summed pairwise over leaves of
//    kLeaf elements: the error grows like log(n), not n.
//  - columns: rows of a [rows, cols] block folded into cols accumulators, one whole contiguous
//    row at a time (acc[j] += x[r, j]), sums cascaded pairwise over blocks of kLeafRows rows.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace ember::reduce {

/// Lane accumulators per leaf: four 64-byte vectors of T (at most 64).
template <class T>
inline constexpr int64_t kLanes = std::min<int64_t>(64, 256 / sizeof(T));
/// Elements per lane-wise leaf of a pairwise row sum.
inline constexpr int64_t kLeaf = 4096;
/// Columns per tile of a column reduction: the accumulators stay in L1.
inline constexpr int64_t kTile = 256;
/// Rows per leaf of a cascaded column sum.
inline constexpr int64_t kLeafRows = 64;

/// a + b and a * b; signed integers wrap around (two's complement, as PyTorch's int64 sums and
/// products do) where plain signed overflow is undefined behaviour. Floats are unchanged.
template <class T>
inline T add(T a, T b) {
  if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
  } else {
    return a + b;
  }
}
template <class T>
inline T mul(T a, T b) {
  if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
  } else {
    return a * b;
  }
}

/// v if it beats a (greater for max, less for min) or is NaN: NaN, once met, sticks.
template <bool kMax, class T>
inline T pick(T v, T a) {
  bool beats = kMax ? v > a : v < a;
  if constexpr (std::is_floating_point_v<T>) beats = beats || v != v;
  return beats ? v : a;
}

/// The identity of max (lowest, -inf) or min (highest, +inf).
template <bool kMax, class T>
constexpr T extreme_identity() {
  using L = std::numeric_limits<T>;
  if constexpr (std::is_floating_point_v<T>)
    return kMax ? -L::infinity() : L::infinity();
  else
    return kMax ? L::lowest() : L::max();
}

template <class Acc, class T, class F>
Acc sum_leaf(const T* __restrict x, int64_t n, F& f) {
  constexpr int64_t L = kLanes<Acc>;
  Acc acc[L] = {};
  int64_t i = 0;
  for (; i + L <= n; i += L)
    for (int64_t l = 0; l < L; ++l) acc[l] = add<Acc>(acc[l], f(x[i + l]));
  for (int64_t l = 0; i < n; ++i, ++l) acc[l] = add<Acc>(acc[l], f(x[i]));
  for (int64_t w = L / 2; w > 0; w /= 2)
    for (int64_t l = 0; l < w; ++l) acc[l] = add(acc[l], acc[l + w]);
  return acc[0];
}

/// Sum of f(x[i]) for i < n in Acc, pairwise over leaves.
template <class Acc, class T, class F>
Acc sum_row(const T* x, int64_t n, F&& f) {
  if (n <= kLeaf) return sum_leaf<Acc>(x, n, f);
  int64_t half = (n / kLeaf + 1) / 2 * kLeaf;  // split on a leaf boundary
  return add(sum_row<Acc>(x, half, f), sum_row<Acc>(x + half, n - half, f));
}
template <class T>
T sum_row(const T* x, int64_t n) {
  return sum_row<T>(x, n, [](T v) { return v; });
}

/// Max (or min) of x[0..n), n >= 1; NaN when any element is NaN.
template <bool kMax, class T>
T extreme_row(const T* __restrict x, int64_t n) {
  constexpr int64_t L = kLanes<T>;
  T acc[L];
  std::fill(acc, acc + L, x[0]);
  int64_t i = 0;
  for (; i + L <= n; i += L)
    for (int64_t l = 0; l < L; ++l) acc[l] = pick<kMax>(x[i + l], acc[l]);
  T r = x[0];
  for (; i < n; ++i) r = pick<kMax>(x[i], r);
  // The lanes folded pairwise (vectorised, where one lane after another is a chain of L
  // dependent compares: most of the work on a row of 128). NaN still sticks.
  for (int64_t w = L / 2; w > 0; w /= 2)
    for (int64_t l = 0; l < w; ++l) acc[l] = pick<kMax>(acc[l + w], acc[l]);
  return pick<kMax>(acc[0], r);
}

/// Product of x[0..n).
template <class T>
T prod_row(const T* __restrict x, int64_t n) {
  constexpr int64_t L = kLanes<T>;
  T acc[L];
  std::fill(acc, acc + L, T(1));
  int64_t i = 0;
  for (; i + L <= n; i += L)
    for (int64_t l = 0; l < L; ++l) acc[l] = mul(acc[l], x[i + l]);
  T r = 1;
  for (; i < n; ++i) r = mul(r, x[i]);
  for (int64_t l = 0; l < L; ++l) r = mul(r, acc[l]);
  return r;
}

/// acc[j] += sum over r < nrows of f(x[r * ld + j], j), for j < ncols <= kTile.
template <class Acc, class T, class F>
void sum_cols(const T* x, int64_t nrows, int64_t ld, int64_t ncols, Acc* __restrict acc, F& f) {
  if (nrows <= kLeafRows) {
    for (int64_t r = 0; r < nrows; ++r) {
      const T* __restrict xr = x + r * ld;
      for (int64_t j = 0; j < ncols; ++j) acc[j] = add<Acc>(acc[j], f(xr[j], j));
    }
    return;
  }
  int64_t half = nrows / 2;
  sum_cols(x, half, ld, ncols, acc, f);
  Acc tmp[kTile];
  std::fill(tmp, tmp + ncols, Acc(0));
  sum_cols(x + half * ld, nrows - half, ld, ncols, tmp, f);
  for (int64_t j = 0; j < ncols; ++j) acc[j] = add(acc[j], tmp[j]);
}

/// acc[j] = max (or min) of acc[j] and the column j of x[nrows, ld] (NaN propagates).
template <bool kMax, class T>
void extreme_cols(const T* x, int64_t nrows, int64_t ld, int64_t ncols, T* __restrict acc) {
  for (int64_t r = 0; r < nrows; ++r) {
    const T* __restrict xr = x + r * ld;
    for (int64_t j = 0; j < ncols; ++j) acc[j] = pick<kMax>(xr[j], acc[j]);
  }
}

/// acc[j] *= the product of column j of x[nrows, ld].
template <class T>
void prod_cols(const T* x, int64_t nrows, int64_t ld, int64_t ncols, T* __restrict acc) {
  for (int64_t r = 0; r < nrows; ++r) {
    const T* __restrict xr = x + r * ld;
    for (int64_t j = 0; j < ncols; ++j) acc[j] = mul(acc[j], xr[j]);
  }
}

}  // namespace ember::reduce
