// Masks and indices: masked_fill, masked_select, nonzero, one_hot, index_put, and the public
// forms of the index_add, scatter and scatter_add kernels. Composed of differentiable ops where
// they are values (masked_fill, masked_select); nonzero and one_hot give integers.
#include "runtime/dispatch.hpp"
#include "runtime/ops.hpp"
#include "runtime/shape.hpp"

namespace ember {
namespace {

void check_mask(const Tensor& mask, const char* op) {
  EMBER_CHECK(mask.defined() && mask.dtype() == kBool, DTypeError, op,
              " only supports boolean masks, but got mask with dtype ",
              mask.defined() ? dtype_name(mask.dtype()) : "undefined");
}

// A write into `self` of a value of broadcast shape `sizes` must not grow it.
void check_in_place(const Tensor& self, const Dims& sizes, const char* op, const Tensor& other) {
  EMBER_CHECK(sizes == self.sizes(), ShapeError, op, ": a tensor of shape ", other.sizes(),
              " does not broadcast to self of shape ", self.sizes(), " in place");
}

}  // namespace

Tensor masked_fill(const Tensor& a, const Tensor& mask, const Tensor& value) {
  check_mask(mask, "masked_fill");
  EMBER_CHECK(value.dim() == 0, ShapeError,
              "masked_fill only supports a 0-dimensional value tensor, but got tensor with ",
              value.dim(), " dimension(s)");
  // The value takes self's dtype, as PyTorch casts it (an int tensor filled with 1.5 gets 1).
  return where(mask, value.dtype() == a.dtype() ? value : value.to(a.dtype()), a);
}

Tensor masked_fill(const Tensor& a, const Tensor& mask, Scalar value) {
  return masked_fill(a, mask, scalar_tensor(value, a.dtype()));
}

const Tensor& Tensor::masked_fill_(const Tensor& mask, Scalar value) const {
  check_mask(mask, "masked_fill_");
  check_in_place(*this, broadcast_shapes(sizes(), mask.sizes()), "masked_fill_", mask);
  return copy_(ember::masked_fill(*this, mask, value));
}

Tensor nonzero(const Tensor& a) {
  Tensor x = a.contiguous();
  const Dims& s = x.sizes();
  const auto nd = static_cast<int64_t>(s.size());
  std::vector<int64_t> out;
  std::vector<int64_t> idx(s.size(), 0);
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = x.data_ptr<T>();
    for (int64_t e = 0; e < x.numel(); ++e) {  // row-major, as PyTorch lists them
      if (p[e] != T(0)) out.insert(out.end(), idx.begin(), idx.end());
      for (int64_t d = nd; d-- > 0;) {
        if (++idx[static_cast<size_t>(d)] < s[static_cast<size_t>(d)]) break;
        idx[static_cast<size_t>(d)] = 0;
      }
    }
  });
  const auto count = nd ? static_cast<int64_t>(out.size()) / nd : (x.numel() && x.item<bool>());
  Tensor r = zeros({count, nd}, kInt64);
  if (!out.empty()) std::copy(out.begin(), out.end(), r.data_ptr<int64_t>());
  return r;
}

Tensor masked_select(const Tensor& a, const Tensor& mask) {
  check_mask(mask, "masked_select");
  Dims s = broadcast_shapes(a.sizes(), mask.sizes());
  Tensor flat_mask = mask.expand(s).reshape({-1});
  Tensor at = nonzero(flat_mask).view({-1});
  return a.expand(s).reshape({-1}).index_select(0, at);
}

Tensor one_hot(const Tensor& a, int64_t num_classes) {
  EMBER_CHECK(a.dtype() == kInt64, DTypeError,
              "one_hot is only applicable to index tensor (int64), got ", dtype_name(a.dtype()));
  if (num_classes == -1) {
    EMBER_CHECK(a.numel() > 0, ValueError,
                "one_hot: Can not infer total number of classes from empty tensor.");
    num_classes = a.max().item<int64_t>() + 1;
  }
  EMBER_CHECK(num_classes >= 0, ValueError, "one_hot: num_classes should be -1 or positive, got ",
              num_classes);
  if (a.numel() > 0) {
    EMBER_CHECK(a.min().item<int64_t>() >= 0, ValueError,
                "one_hot: Class values must be non-negative.");
    EMBER_CHECK(a.max().item<int64_t>() < num_classes, ValueError,
                "one_hot: Class values must be smaller than num_classes (", num_classes, ").");
  }
  return (a.unsqueeze(-1) == arange(num_classes)).to(kInt64);
}

Tensor index_add(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& source,
                 Scalar alpha) {
  Tensor src = alpha.to<double>() == 1.0 ? source : source * alpha;
  return dispatch1(Op::IndexAdd, {a, index, src}, DimAttrs{dim});
}

const Tensor& Tensor::index_add_(int64_t dim, const Tensor& index, const Tensor& source,
                                 Scalar alpha) const {
  return copy_(ember::index_add(*this, dim, index, source, alpha));
}

Tensor scatter_add(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& src) {
  return dispatch1(Op::ScatterAdd, {a, index, src}, DimAttrs{dim});
}

const Tensor& Tensor::scatter_add_(int64_t dim, const Tensor& index, const Tensor& src) const {
  return copy_(ember::scatter_add(*this, dim, index, src));
}

Tensor scatter(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& src) {
  return dispatch1(Op::Scatter, {a, index, src}, DimAttrs{dim});
}

Tensor scatter(const Tensor& a, int64_t dim, const Tensor& index, Scalar value) {
  return scatter(a, dim, index, full(index.sizes(), value, a.dtype()));
}

const Tensor& Tensor::scatter_(int64_t dim, const Tensor& index, const Tensor& src) const {
  return copy_(ember::scatter(*this, dim, index, src));
}

Tensor index_put(const Tensor& a, const std::vector<Tensor>& indices, const Tensor& values,
                 bool accumulate) {
  const auto k = static_cast<int64_t>(indices.size());
  EMBER_CHECK(k >= 1 && k <= a.dim(), IndexError, "index_put: too many indices (", k,
              ") for tensor of dimension ", a.dim());
  // The index tensors broadcast together; each picks along one of the first k dims. Their
  // positions become one linear index into a's first k dims flattened.
  Dims b;
  for (const Tensor& t : indices) {
    EMBER_CHECK(t.defined() && t.dtype() == kInt64, DTypeError,
                "index_put: indices must be int64 tensors, got ",
                t.defined() ? dtype_name(t.dtype()) : "undefined",
                " (for a bool mask use masked_fill or masked_select)");
    b = broadcast_shapes(b, t.sizes());
  }
  Tensor lin = zeros(b, kInt64);
  for (int64_t i = 0; i < k; ++i) {
    const Tensor& t = indices[static_cast<size_t>(i)];
    const int64_t n = a.size(i);
    if (t.numel() > 0) {
      int64_t lo = t.min().item<int64_t>(), hi = t.max().item<int64_t>();
      int64_t bad = lo < -n ? lo : hi;
      EMBER_CHECK(lo >= -n && hi < n, IndexError, "index_put: index ", bad,
                  " is out of bounds for dimension ", i, " with size ", n);
    }
    lin = lin * n + where(t < 0, t + n, t);
  }
  Dims rest, flat_sizes{1}, value_sizes = b;
  for (int64_t d = 0; d < a.dim(); ++d) {
    if (d < k) {
      flat_sizes[0] *= a.size(d);
    } else {
      rest.push_back(a.size(d));
      flat_sizes.push_back(a.size(d));
      value_sizes.push_back(a.size(d));
    }
  }
  Dims rows{lin.numel()};
  for (int64_t s : rest) rows.push_back(s);
  Tensor v = values.dtype() == a.dtype() ? values : values.to(a.dtype());
  v = v.expand(value_sizes).reshape(rows);
  Tensor flat = a.reshape(flat_sizes);
  Tensor at = lin.reshape({-1});
  if (accumulate) return index_add(flat, 0, at, v).view(a.sizes());
  // a write: scatter along the flattened dim, the index repeated over the remaining dims
  Dims col(rows.size(), 1);  // NOLINT: (count, fill)
  col[0] = rows[0];
  return scatter(flat, 0, at.view(col).expand(rows).contiguous(), v).view(a.sizes());
}

const Tensor& Tensor::index_put_(const std::vector<Tensor>& indices, const Tensor& values,
                                 bool accumulate) const {
  return copy_(ember::index_put(*this, indices, values, accumulate));
}

}  // namespace ember
