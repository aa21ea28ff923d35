// What the normalisation kernels share (internal): double sums over a row in fixed lanes, the
// row grain, the input check; and the batch_norm kernels (ops/batch_norm.cpp), which
// ops/norm.cpp registers.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>

#include "runtime/dispatch.hpp"
#include "runtime/parallel.hpp"
#include "runtime/tensor.hpp"

namespace ember::detail {

// Sums in double over eight independent lanes: accurate for float data, and the fixed lane
// pattern lets g++ vectorise without reassociating (no -ffast-math needed).
template <class T>
[[gnu::always_inline]] inline double sum_double(const T* __restrict p, int64_t n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) acc[k] += static_cast<double>(p[i + k]);
  for (; i < n; ++i) acc[i & 7] += static_cast<double>(p[i]);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// Sum of (p[i] - mean)^2 in double (the two-pass variance: no cancellation).
template <class T>
[[gnu::always_inline]] inline double sum_sq_dev(const T* __restrict p, int64_t n, double mean) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) {
      double d = static_cast<double>(p[i + k]) - mean;
      acc[k] += d * d;
    }
  for (; i < n; ++i) {
    double d = static_cast<double>(p[i]) - mean;
    acc[i & 7] += d * d;
  }
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// Grain (in rows) so that one task covers about kGrainSize elements.
inline int64_t row_grain(int64_t row_len) {
  return std::max<int64_t>(1, kGrainSize / std::max<int64_t>(row_len, 1));
}

inline void check_float_input(const Tensor& t, const char* op) {
  EMBER_CHECK(t.defined(), Error, op, ": the input tensor is undefined");
  EMBER_CHECK(is_floating(t.dtype()), DTypeError, op, ": expected a floating point input, got ",
              dtype_name(t.dtype()));
}

/// batch_norm: (input, weight?, bias?, running_mean?, running_var?) -> (out, mean, invstd).
TensorList batch_norm_kernel(std::span<const Tensor> in, const Attrs& attrs);
/// (grad_out, input, weight?, mean, invstd) -> (grad_input, grad_weight, grad_bias).
TensorList batch_norm_backward_kernel(std::span<const Tensor> in, const Attrs& attrs);

}  // namespace ember::detail
