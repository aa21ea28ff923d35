// Test support: seeded inputs, non-contiguous twins, and comparison against double-precision
// references with messages that name the seed and the shapes.
#pragma once

#include <catch2/catch.hpp>
#include <functional>
#include <string>
#include <vector>

#include "ember.hpp"

namespace ember::test {

/// randn of the given sizes and dtype, from a fixed seed.
Tensor seeded_randn(const Dims& sizes, uint64_t seed, DType d = kFloat32);
/// A tensor equal to t whose storage is not contiguous: every element sits in a buffer twice as
/// wide along the last dim (strided). 0-d and zero-size tensors are returned as clones.
Tensor noncontiguous(const Tensor& t);
/// The elements of t (any dtype, any strides) as doubles, in row-major order.
std::vector<double> values(const Tensor& t);
/// Row-major index helpers for writing references: multi-index of flat i in sizes.
std::vector<int64_t> unravel(int64_t i, const Dims& sizes);
int64_t ravel(const std::vector<int64_t>& idx, const Dims& sizes);
/// Element of t at a multi-index (strides honoured), as double.
double at(const Tensor& t, const std::vector<int64_t>& idx);

/// amp * sin(1.3 i + phase) over the flat index i, in float64: deterministic values that a
/// Python script can reproduce (the PyTorch references of tests/nn/torch_reference_options.py).
Tensor wave(const Dims& sizes, double phase, double amp = 1.0);
/// Sets the k-th parameter of m (named_parameters order) to wave(shape, 0.1 + 0.7 k, 0.5).
void set_wave_parameters(nn::ModuleBase& m);
/// Every parameter's gradient, flattened and concatenated in named_parameters order.
Tensor parameter_grads(const nn::ModuleBase& m);

/// REQUIREs that `actual` has `sizes` and matches `expected` within atol + rtol * |expected|
/// (NaNs must match NaNs); the failure message names `what`.
void require_close(const Tensor& actual, const Dims& sizes, const std::vector<double>& expected,
                   const std::string& what, double rtol = 1e-5, double atol = 1e-6);

}  // namespace ember::test
