// Shape arithmetic shared by every op: dim wrapping, broadcasting, view-size inference,
// and the dtype an op computes in.
#pragma once

#include <span>

#include "runtime/dims.hpp"
#include "runtime/dtype.hpp"
#include "runtime/tensor.hpp"

namespace ember {

/// d in [-ndim, ndim) to [0, ndim); IndexError naming op otherwise. 0-d tensors take -1 and 0.
int64_t wrap_dim(int64_t d, int64_t ndim, const char* op);
/// Wraps, sorts and de-duplicates a dim list (an error names a repeated dim).
Dims wrap_dims(const Dims& dims, int64_t ndim, const char* op);
/// Broadcast shape of a and b; the error names op and both shapes, as PyTorch's does.
Dims broadcast_shapes(const Dims& a, const Dims& b, const char* op);
/// Resolves one -1 in a view/reshape size list against numel.
Dims infer_size(const Dims& sizes, int64_t numel, const char* op);
/// Strides viewing (sizes, strides) as new_sizes without a copy, or empty if impossible.
std::optional<Dims> view_strides(const Dims& sizes, const Dims& strides, const Dims& new_sizes);
/// PyTorch's result_type: dimensioned tensors first, then 0-d tensors, then wrapped numbers;
/// a lower class only wins when its category (bool < int < float) is higher.
DType result_type(std::span<const Tensor> ts);
DType result_type(const Tensor& a, const Tensor& b);
/// t converted to dtype d (t itself when it already has it).
Tensor cast(const Tensor& t, DType d);

}  // namespace ember
