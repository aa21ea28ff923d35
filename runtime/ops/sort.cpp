// Sorting along one dim: sort (argsort) and topk, each giving values and int64 indices.
#include <algorithm>
#include <numeric>

#include "runtime/dispatch.hpp"
#include "runtime/ops.hpp"
#include "runtime/parallel.hpp"
#include "runtime/shape.hpp"

namespace ember {
namespace {

// The order PyTorch sorts in: NaN above every number (last ascending, first descending); equal
// values in the order of their indices, so sort is stable and topk picks the first of ties.
template <class T>
struct Before {
  const T* v;
  bool descending;
  bool operator()(int64_t a, int64_t b) const {
    T x = v[a], y = v[b];
    bool xn = x != x, yn = y != y;  // NaN (false for integers and bools)
    if (xn || yn) {
      if (xn && yn) return a < b;
      return descending ? xn : yn;
    }
    if (x != y) return descending ? y < x : x < y;
    return a < b;
  }
};

// (values, indices): the k first of each row along dim in the order above (k = -1: all).
TensorList sort_kernel(std::span<const Tensor> in, const Attrs& attrs) {
  const auto& a = std::get<SortAttrs>(attrs);
  const bool topk = a.k >= 0;
  const char* name = topk ? "topk" : "sort";
  const Tensor& x = in[0];
  EMBER_CHECK(x.defined(), Error, name, ": the input tensor is undefined");
  const int64_t dim = wrap_dim(a.dim, x.dim(), name);
  const int64_t n = x.dim() ? x.size(dim) : 1;
  EMBER_CHECK(!topk || a.k <= n, IndexError, "topk: selected index k out of range (k = ", a.k,
              ", dimension ", dim, " of size ", n, ")");
  const int64_t k = topk ? a.k : n;
  // Rows along the last dim of a contiguous copy; the results are moved back at the end.
  Tensor xt = x.dim() ? x.transpose(dim, -1).contiguous() : x.contiguous();
  Dims out_sizes = xt.sizes();
  if (x.dim()) out_sizes.back() = k;
  Tensor values = make_tensor(out_sizes, x.dtype()), indices = make_tensor(out_sizes, kInt64);
  const int64_t rows = n ? xt.numel() / n : 0;
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* src = xt.data_ptr<T>();
    T* vo = values.data_ptr<T>();
    int64_t* io = indices.data_ptr<int64_t>();
    parallel_for(0, rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(n, 1)),
                 [&](int64_t b, int64_t e) {
                   std::vector<int64_t> order(static_cast<size_t>(n));
                   for (int64_t r = b; r < e; ++r) {
                     const T* row = src + r * n;
                     std::iota(order.begin(), order.end(), int64_t{0});
                     Before<T> before{row, a.descending};
                     if (k < n)
                       std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
                     else
                       std::sort(order.begin(), order.end(), before);
                     for (int64_t j = 0; j < k; ++j) {
                       vo[r * k + j] = row[order[static_cast<size_t>(j)]];
                       io[r * k + j] = order[static_cast<size_t>(j)];
                     }
                   }
                 });
  });
  if (x.dim() == 0) return {values, indices};
  return {values.transpose(dim, -1).contiguous(), indices.transpose(dim, -1).contiguous()};
}

}  // namespace

namespace detail {
void register_sort_kernels() {
  register_kernel(Op::Sort, sort_kernel);
  register_kernel(Op::Topk, sort_kernel);
}
}  // namespace detail

ValuesIndices sort(const Tensor& a, int64_t dim, bool descending, bool stable) {
  TensorList r = dispatch(Op::Sort, {a}, SortAttrs{dim, descending, stable});
  return {r[0], r[1]};
}

Tensor argsort(const Tensor& a, int64_t dim, bool descending, bool stable) {
  return sort(a, dim, descending, stable).indices;
}

ValuesIndices topk(const Tensor& a, int64_t k, int64_t dim, bool largest, bool sorted) {
  (void)sorted;  // the k values always come in order (PyTorch leaves the order unspecified)
  EMBER_CHECK(k >= 0, IndexError, "topk: selected index k out of range (k = ", k, ")");
  TensorList r = dispatch(Op::Topk, {a}, SortAttrs{dim, largest, true, k});
  return {r[0], r[1]};
}

}  // namespace ember
