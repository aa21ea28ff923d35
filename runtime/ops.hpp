// The tensor surface as free functions in ember:: (the Tensor methods forward here).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "runtime/tensor.hpp"

namespace ember {

// ---- creation ----
Tensor empty(const Dims& sizes, TensorOptions o = {});
Tensor zeros(const Dims& sizes, TensorOptions o = {});
Tensor ones(const Dims& sizes, TensorOptions o = {});
Tensor full(const Dims& sizes, Scalar value, TensorOptions o = {});
/// A 0-d tensor holding v (dtype from v: float32 for floating, int64, bool).
Tensor scalar_tensor(Scalar v, TensorOptions o = {});
/// The 0-d "wrapped number" a C++ scalar becomes in `t + 2`: it does not promote t's dtype.
Tensor wrapped_scalar(Scalar v);
/// 1-d tensor of the values, as torch.tensor([...]) (the default float dtype unless given).
Tensor tensor(std::initializer_list<Scalar> values, TensorOptions o = {});
/// 2-d tensor of the rows: tensor({{1, 2}, {3, 4}}), tensor({{1}, {2}}).
Tensor tensor(std::initializer_list<std::initializer_list<double>> values, TensorOptions o = {});
Tensor tensor(const std::vector<float>& values, const Dims& sizes = {});
Tensor tensor(const std::vector<double>& values, const Dims& sizes = {});
Tensor tensor(const std::vector<int64_t>& values, const Dims& sizes = {});
Tensor arange(Scalar end, TensorOptions o = {});
Tensor arange(Scalar start, Scalar end, Scalar step = 1, TensorOptions o = {});
Tensor linspace(double start, double end, int64_t steps, TensorOptions o = {});
Tensor eye(int64_t n, std::optional<int64_t> m = std::nullopt, TensorOptions o = {});
Tensor empty_like(const Tensor& t, std::optional<DType> d = std::nullopt);
Tensor zeros_like(const Tensor& t, std::optional<DType> d = std::nullopt);
Tensor ones_like(const Tensor& t, std::optional<DType> d = std::nullopt);
Tensor full_like(const Tensor& t, Scalar v, std::optional<DType> d = std::nullopt);
Tensor rand_like(const Tensor& t);
Tensor randn_like(const Tensor& t);
/// A tensor over memory ember does not own (no copy); the caller keeps it alive.
Tensor from_blob(void* data, const Dims& sizes, DType dtype = kFloat32);
Tensor from_blob(void* data, const Dims& sizes, const Dims& strides, DType dtype);

// ---- random (counter-based Philox: results do not depend on the thread count) ----
void manual_seed(uint64_t seed);
/// The global generator's state as an int64 tensor [seed, offset] (bit patterns of the two
/// uint64 words), for checkpoints: set_rng_state(get_rng_state()) resumes the same numbers.
Tensor get_rng_state();
/// Restores a state from get_rng_state(); ValueError unless it is an int64 tensor of 2 elements.
void set_rng_state(const Tensor& state);
Tensor rand(const Dims& sizes, TensorOptions o = {});
Tensor randn(const Dims& sizes, TensorOptions o = {});
Tensor randint(int64_t low, int64_t high, const Dims& sizes, TensorOptions o = kInt64);
Tensor randint(int64_t high, const Dims& sizes, TensorOptions o = kInt64);
Tensor randperm(int64_t n, TensorOptions o = kInt64);
/// 1 with probability p (elementwise), else 0; ValueError for a p outside [0, 1] or NaN.
Tensor bernoulli(const Tensor& p);

// ---- unary math ----
Tensor neg(const Tensor& a);
Tensor abs(const Tensor& a);
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor log1p(const Tensor& a);
Tensor expm1(const Tensor& a);
Tensor sqrt(const Tensor& a);
Tensor rsqrt(const Tensor& a);
Tensor sin(const Tensor& a);
Tensor cos(const Tensor& a);
Tensor tanh(const Tensor& a);
Tensor sigmoid(const Tensor& a);
Tensor relu(const Tensor& a);
/// approximate "none" (erf form, PyTorch's default) or "tanh".
Tensor gelu(const Tensor& a, const std::string& approximate = "none");
Tensor silu(const Tensor& a);
Tensor erf(const Tensor& a);
Tensor sign(const Tensor& a);
/// log(1 + e^(beta a)) / beta, and a itself where beta a > threshold
/// (torch.nn.functional.softplus).
Tensor softplus(const Tensor& a, double beta = 1.0, double threshold = 20.0);
Tensor logical_not(const Tensor& a);
Tensor clamp(const Tensor& a, std::optional<double> min, std::optional<double> max = std::nullopt);
Tensor square(const Tensor& a);
/// x where x > 0, else negative_slope x (float types, as PyTorch).
Tensor leaky_relu(const Tensor& a, double negative_slope = 0.01);
/// x where x > 0, else alpha (e^x - 1).
Tensor elu(const Tensor& a, double alpha = 1.0);
/// clamp(x, min_val, max_val); the gradient is 1 strictly between the bounds, else 0.
Tensor hardtanh(const Tensor& a, double min_val = -1.0, double max_val = 1.0);
/// x tanh(softplus(x)).
Tensor mish(const Tensor& a);
/// x relu6(x + 3) / 6.
Tensor hardswish(const Tensor& a);

// ---- binary math (broadcasting) ----
Tensor add(const Tensor& a, const Tensor& b, Scalar alpha = 1);
Tensor sub(const Tensor& a, const Tensor& b, Scalar alpha = 1);
Tensor mul(const Tensor& a, const Tensor& b);
/// True division: integer inputs give a floating result, as in PyTorch.
Tensor div(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& e);
Tensor pow(const Tensor& a, Scalar e);
Tensor pow(Scalar a, const Tensor& e);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
/// True when every element of a and b is within atol + rtol * |b| (NaNs equal if equal_nan).
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8,
              bool equal_nan = false);
/// Same sizes and exactly equal values.
bool equal(const Tensor& a, const Tensor& b);

Tensor operator-(const Tensor& a);
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, Scalar b);
Tensor operator-(const Tensor& a, Scalar b);
Tensor operator*(const Tensor& a, Scalar b);
Tensor operator/(const Tensor& a, Scalar b);
Tensor operator+(Scalar a, const Tensor& b);
Tensor operator-(Scalar a, const Tensor& b);
Tensor operator*(Scalar a, const Tensor& b);
Tensor operator/(Scalar a, const Tensor& b);
Tensor operator==(const Tensor& a, const Tensor& b);
Tensor operator!=(const Tensor& a, const Tensor& b);
Tensor operator<(const Tensor& a, const Tensor& b);
Tensor operator<=(const Tensor& a, const Tensor& b);
Tensor operator>(const Tensor& a, const Tensor& b);
Tensor operator>=(const Tensor& a, const Tensor& b);
Tensor operator==(const Tensor& a, Scalar b);
Tensor operator!=(const Tensor& a, Scalar b);
Tensor operator<(const Tensor& a, Scalar b);
Tensor operator<=(const Tensor& a, Scalar b);
Tensor operator>(const Tensor& a, Scalar b);
Tensor operator>=(const Tensor& a, Scalar b);
Tensor operator&&(const Tensor& a, const Tensor& b);
Tensor operator||(const Tensor& a, const Tensor& b);
Tensor operator!(const Tensor& a);

// ---- reductions (dims may be negative; empty dims = all) ----
Tensor sum(const Tensor& a, const Dims& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& a, const Dims& dims = {}, bool keepdim = false);
Tensor prod(const Tensor& a, const Dims& dims = {}, bool keepdim = false);
Tensor amax(const Tensor& a, const Dims& dims = {}, bool keepdim = false);
Tensor amin(const Tensor& a, const Dims& dims = {}, bool keepdim = false);
/// Max over all elements (0-d).
Tensor max(const Tensor& a);
Tensor min(const Tensor& a);
/// Max along one dim with the index of the first maximum.
ValuesIndices max(const Tensor& a, int64_t dim, bool keepdim = false);
ValuesIndices min(const Tensor& a, int64_t dim, bool keepdim = false);
/// Index into the flattened tensor.
Tensor argmax(const Tensor& a);
Tensor argmax(const Tensor& a, int64_t dim, bool keepdim = false);
Tensor argmin(const Tensor& a);
Tensor argmin(const Tensor& a, int64_t dim, bool keepdim = false);
/// Unbiased (correction = 1) by default, as PyTorch.
Tensor var(const Tensor& a, const Dims& dims = {}, bool keepdim = false, int64_t correction = 1);
Tensor std(const Tensor& a, const Dims& dims = {}, bool keepdim = false, int64_t correction = 1);
Tensor logsumexp(const Tensor& a, const Dims& dims, bool keepdim = false);
// One integer dim: sum(x, 1), mean(x, -1, true), var(x, 0) (a braced list still means Dims).
template <DimIndex I>
Tensor sum(const Tensor& a, I dim, bool keepdim = false) {
  return sum(a, Dims{static_cast<int64_t>(dim)}, keepdim);
}
template <DimIndex I>
Tensor mean(const Tensor& a, I dim, bool keepdim = false) {
  return mean(a, Dims{static_cast<int64_t>(dim)}, keepdim);
}
template <DimIndex I>
Tensor prod(const Tensor& a, I dim, bool keepdim = false) {
  return prod(a, Dims{static_cast<int64_t>(dim)}, keepdim);
}
template <DimIndex I>
Tensor amax(const Tensor& a, I dim, bool keepdim = false) {
  return amax(a, Dims{static_cast<int64_t>(dim)}, keepdim);
}
template <DimIndex I>
Tensor amin(const Tensor& a, I dim, bool keepdim = false) {
  return amin(a, Dims{static_cast<int64_t>(dim)}, keepdim);
}
template <DimIndex I>
Tensor var(const Tensor& a, I dim, bool keepdim = false, int64_t correction = 1) {
  return var(a, Dims{static_cast<int64_t>(dim)}, keepdim, correction);
}
template <DimIndex I>
Tensor std(const Tensor& a, I dim, bool keepdim = false, int64_t correction = 1) {
  return std(a, Dims{static_cast<int64_t>(dim)}, keepdim, correction);
}
template <DimIndex I>
Tensor logsumexp(const Tensor& a, I dim, bool keepdim = false) {
  return logsumexp(a, Dims{static_cast<int64_t>(dim)}, keepdim);
}
Tensor softmax(const Tensor& a, int64_t dim);
Tensor log_softmax(const Tensor& a, int64_t dim);

// ---- linear algebra ----
/// torch.matmul: 1-d/2-d rules, broadcasting batch dims; through OpenBLAS for floats.
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor mm(const Tensor& a, const Tensor& b);
Tensor bmm(const Tensor& a, const Tensor& b);

// ---- movement ----
Tensor view(const Tensor& a, const Dims& sizes);
Tensor reshape(const Tensor& a, const Dims& sizes);
Tensor flatten(const Tensor& a, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor squeeze(const Tensor& a);
Tensor squeeze(const Tensor& a, int64_t dim);
Tensor unsqueeze(const Tensor& a, int64_t dim);
Tensor transpose(const Tensor& a, int64_t d0, int64_t d1);
Tensor t(const Tensor& a);
Tensor permute(const Tensor& a, const Dims& perm);
Tensor expand(const Tensor& a, const Dims& sizes);
Tensor contiguous(const Tensor& a);
Tensor narrow(const Tensor& a, int64_t dim, int64_t start, int64_t length);
Tensor slice(const Tensor& a, int64_t dim, int64_t start, int64_t end, int64_t step = 1);
Tensor select(const Tensor& a, int64_t dim, int64_t index);
Tensor index_select(const Tensor& a, int64_t dim, const Tensor& index);
Tensor gather(const Tensor& a, int64_t dim, const Tensor& index);
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);
std::vector<Tensor> split(const Tensor& a, int64_t split_size, int64_t dim = 0);
std::vector<Tensor> split(const Tensor& a, const std::vector<int64_t>& sizes, int64_t dim = 0);
std::vector<Tensor> chunk(const Tensor& a, int64_t chunks, int64_t dim = 0);
std::vector<Tensor> unbind(const Tensor& a, int64_t dim = 0);

// ---- masks and indices ----
/// where(mask, value, a): mask is bool and broadcasts with a (the result takes both shapes).
Tensor masked_fill(const Tensor& a, const Tensor& mask, Scalar value);
/// With a 0-d value tensor (differentiable in the value too).
Tensor masked_fill(const Tensor& a, const Tensor& mask, const Tensor& value);
/// The elements of a where the (broadcast) bool mask is true, as a 1-d tensor.
Tensor masked_select(const Tensor& a, const Tensor& mask);
/// Indices of the non-zero elements, [count, a.dim()] int64 in row-major order.
Tensor nonzero(const Tensor& a);
/// [..., num_classes] int64 with a 1 at each index (num_classes -1: the largest index + 1).
Tensor one_hot(const Tensor& a, int64_t num_classes = -1);
/// a with alpha * source.select(dim, i) added at a.select(dim, index[i]) (repeats add up).
Tensor index_add(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& source,
                 Scalar alpha = 1);
/// a with src[i][j] added at a[index[i][j]][j] (dim 0; likewise for other dims).
Tensor scatter_add(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& src);
/// a with src[i][j] written at a[index[i][j]][j] (dim 0; likewise for other dims); of repeated
/// indices the last write wins.
Tensor scatter(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& src);
Tensor scatter(const Tensor& a, int64_t dim, const Tensor& index, Scalar value);
/// a[indices...] = values (+= with accumulate): int64 index tensors for the leading dims,
/// broadcast together; values broadcast to the indexed shape.
Tensor index_put(const Tensor& a, const std::vector<Tensor>& indices, const Tensor& values,
                 bool accumulate = false);

// ---- sorting and scans ----
/// Sorted along dim (NaN above every number), with the indices; ties keep their order.
ValuesIndices sort(const Tensor& a, int64_t dim = -1, bool descending = false, bool stable = false);
Tensor argsort(const Tensor& a, int64_t dim = -1, bool descending = false, bool stable = false);
/// The k largest (or smallest) along dim with their indices, in sorted order.
ValuesIndices topk(const Tensor& a, int64_t k, int64_t dim = -1, bool largest = true,
                   bool sorted = true);
/// Running sum along dim (integers and bools give int64; floats accumulate in double).
Tensor cumsum(const Tensor& a, int64_t dim);
Tensor cumprod(const Tensor& a, int64_t dim);

// ---- rearrangements ----
Tensor flip(const Tensor& a, const Dims& dims);
/// Elements shifted along dims, wrapping round (no dims: over the flattened tensor).
Tensor roll(const Tensor& a, const Dims& shifts, const Dims& dims = {});
/// Tiled `repeats` times per dim (at least a.dim() entries; extra ones add leading dims).
Tensor repeat(const Tensor& a, const Dims& repeats);
/// repeat, with missing leading reps taken as 1.
Tensor tile(const Tensor& a, const Dims& reps);
/// The lower (upper) triangle of the last two dims: element (i, j) kept where j - i <= diagonal
/// (>= for triu), else 0.
Tensor tril(const Tensor& a, int64_t diagonal = 0);
Tensor triu(const Tensor& a, int64_t diagonal = 0);

/// Sizes after broadcasting a against b; ShapeError naming both when they do not fit.
Dims broadcast_shapes(const Dims& a, const Dims& b);

}  // namespace ember
