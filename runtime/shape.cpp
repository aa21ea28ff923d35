#include "runtime/shape.hpp"

#include <algorithm>

#include "runtime/ops.hpp"

namespace ember {

int64_t wrap_dim(int64_t d, int64_t ndim, const char* op) {
  int64_t n = std::max<int64_t>(ndim, 1);
  EMBER_CHECK(d >= -n && d < n, IndexError, op,
              ": dimension out of range (expected to be in range of [", -n, ", ", n - 1,
              "], but got ", d, ")");
  return d < 0 ? d + n : d;
}

Dims wrap_dims(const Dims& dims, int64_t ndim, const char* op) {
  Dims out;
  for (int64_t d : dims) out.push_back(wrap_dim(d, ndim, op));
  std::sort(out.begin(), out.end());
  for (size_t i = 1; i < out.size(); ++i)
    EMBER_CHECK(out[i] != out[i - 1], ValueError, op, ": dim ", out[i],
                " appears multiple times in the list of dims");
  return out;
}

Dims broadcast_shapes(const Dims& a, const Dims& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  Dims out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    EMBER_CHECK(da == db || da == 1 || db == 1, ShapeError, op, ": The size of tensor a (", da,
                ") must match the size of tensor b (", db, ") at non-singleton dimension ", i,
                " (shapes ", a, " and ", b, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Dims broadcast_shapes(const Dims& a, const Dims& b) { return broadcast_shapes(a, b, "broadcast"); }

Dims infer_size(const Dims& sizes, int64_t numel, const char* op) {
  Dims out = sizes;
  int64_t known = 1;
  int infer = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      EMBER_CHECK(infer < 0, ValueError, op, ": only one dimension can be inferred (sizes ", sizes,
                  ")");
      infer = static_cast<int>(i);
    } else {
      EMBER_CHECK(out[i] >= 0, ValueError, op, ": invalid shape dimension ", out[i], " in ", sizes);
      // Sizes whose product overflows cannot match any tensor: report the shape, do not wrap.
      EMBER_CHECK(!__builtin_mul_overflow(known, out[i], &known), ShapeError, op, ": shape '",
                  sizes, "' is invalid for input of size ", numel);
    }
  }
  if (infer >= 0) {
    EMBER_CHECK(known != 0 && numel % known == 0, ShapeError, op, ": shape '", sizes,
                "' is invalid for input of size ", numel);
    out[infer] = numel / known;
  } else {
    EMBER_CHECK(known == numel, ShapeError, op, ": shape '", sizes,
                "' is invalid for input of size ", numel);
  }
  return out;
}

std::optional<Dims> view_strides(const Dims& sizes, const Dims& strides, const Dims& new_sizes) {
  // Walk chunks of old dims that are contiguous among themselves and match them to new dims
  // with the same element count (PyTorch's computeStride).
  Dims out(new_sizes.size());
  if (sizes.empty() || product(sizes) == 0) {
    return contiguous_strides(new_sizes);
  }
  int64_t view_d = static_cast<int64_t>(new_sizes.size()) - 1;
  int64_t chunk_base_stride = strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(sizes.size()) - 1; d >= 0; --d) {
    tensor_numel *= sizes[d];
    if (d == 0 || (sizes[d - 1] != 1 && strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || new_sizes[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= new_sizes[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base_stride = strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return out;
}

DType result_type(std::span<const Tensor> ts) {
  // Three priority classes; each keeps its own promoted dtype.
  std::optional<DType> dimmed, zero_dim, wrapped;
  auto fold = [](std::optional<DType>& acc, DType t) { acc = acc ? promote(*acc, t) : t; };
  for (const Tensor& t : ts) {
    if (!t.defined()) continue;
    const TensorImpl& i = *t.impl();
    if (i.wrapped_number) {
      // A wrapped float is "the default dtype", a wrapped int is int64.
      fold(wrapped, is_floating(i.dtype) ? default_dtype() : i.dtype);
    } else if (i.sizes.empty()) {
      fold(zero_dim, i.dtype);
    } else {
      fold(dimmed, i.dtype);
    }
  }
  auto combine = [](std::optional<DType> hi, std::optional<DType> lo) -> std::optional<DType> {
    if (!hi) return lo;
    if (!lo) return hi;
    return category(*lo) > category(*hi) ? *lo : *hi;
  };
  auto r = combine(combine(dimmed, zero_dim), wrapped);
  return r ? *r : default_dtype();
}

DType result_type(const Tensor& a, const Tensor& b) {
  Tensor ts[2] = {a, b};
  return result_type(std::span<const Tensor>(ts, 2));
}

Tensor cast(const Tensor& t, DType d) { return t.dtype() == d ? t : t.to(d); }

}  // namespace ember
