// Scatters: scatter (writes; the last of repeated indices wins, as PyTorch's CPU loop) and the
// scatter-adds, the adjoints of gather and index_select (used by the derivative table, and
// public).
#include "runtime/ops/loops.hpp"
#include "runtime/shape.hpp"

namespace ember {
namespace {

// out = self.clone(); out[..., index[i, j, ...], ...] += src[i, j, ...] along dim (= for
// scatter).
template <bool add>
TensorList scatter_kernel(std::span<const Tensor> in, const Attrs& attrs) {
  const char* name = add ? "scatter_add" : "scatter";
  const Tensor& self = in[0];
  Tensor index = in[1].contiguous(), src = in[2];
  int64_t dim = wrap_dim(std::get<DimAttrs>(attrs).dim, self.dim(), name);
  EMBER_CHECK(index.dtype() == kInt64, DTypeError, name, ": expected index of dtype int64, got ",
              dtype_name(index.dtype()));
  EMBER_CHECK(index.dim() == self.dim() && src.dim() == self.dim(), ShapeError, name, ": index ",
              index.sizes(), ", src ", src.sizes(), " and self ", self.sizes(),
              " must have the same number of dimensions");
  for (int64_t d = 0; d < self.dim(); ++d) {
    EMBER_CHECK(
        index.sizes()[d] <= src.sizes()[d] && (d == dim || index.sizes()[d] <= self.sizes()[d]),
        ShapeError, name, ": index ", index.sizes(), " is larger than src ", src.sizes(),
        " or self ", self.sizes(), " at dimension ", d);
  }
  Tensor out = self.clone();
  Tensor s = src.to(out.dtype());
  visit_dtype(out.dtype(), [&](auto x) {
    using T = decltype(x);
    T* o = out.data_ptr<T>();
    const int64_t* ip = index.data_ptr<int64_t>();
    const Dims& is = index.sizes();
    int64_t n = index.numel(), limit = self.sizes().empty() ? 1 : self.sizes()[dim];
    std::vector<int64_t> idx(is.size(), 0);
    const Dims& ostr = out.strides();
    const Dims& sstr = s.strides();
    const T* sp = s.data_ptr<T>();
    for (int64_t e = 0; e < n; ++e) {  // serial: indices may repeat
      int64_t target = ip[e];
      EMBER_CHECK(target >= -limit && target < limit, IndexError, name, ": index ", target,
                  " is out of bounds for dimension ", dim, " with size ", limit);
      if (target < 0) target += limit;
      int64_t oo = 0, so = 0;
      for (size_t d = 0; d < is.size(); ++d) {
        oo += (static_cast<int64_t>(d) == dim ? target : idx[d]) * ostr[d];
        so += idx[d] * sstr[d];
      }
      if constexpr (add)
        o[oo] += sp[so];
      else
        o[oo] = sp[so];
      for (size_t d = is.size(); d-- > 0;) {
        if (++idx[d] < is[d]) break;
        idx[d] = 0;
      }
    }
  });
  return {out};
}

// out = self.clone(); out.select(dim, index[i]) += source.select(dim, i).
TensorList index_add_kernel(std::span<const Tensor> in, const Attrs& attrs) {
  const Tensor& self = in[0];
  Tensor index = in[1].contiguous();
  const Tensor& source = in[2];
  int64_t dim = wrap_dim(std::get<DimAttrs>(attrs).dim, self.dim(), "index_add");
  EMBER_CHECK(index.dtype() == kInt64 && index.dim() <= 1, DTypeError,
              "index_add: expected a 1-d int64 index, got ", dtype_name(index.dtype()),
              " of shape ", index.sizes());
  int64_t n = index.numel();
  Dims expect = self.sizes();
  if (!expect.empty()) expect[dim] = n;
  EMBER_CHECK(source.sizes() == expect || (self.dim() == 0 && source.numel() == n), ShapeError,
              "index_add: source of shape ", source.sizes(), " does not match self ", self.sizes(),
              " with ", n, " indices along dimension ", dim);
  Tensor out = self.clone();
  if (self.dim() == 0) {
    Tensor total = source.sum();
    return {out + total.to(out.dtype())};
  }
  int64_t limit = self.sizes()[dim];
  const int64_t* ip = index.data_ptr<int64_t>();
  Tensor src = source.to(out.dtype());
  {
    NoGradGuard g;
    for (int64_t i = 0; i < n; ++i) {
      int64_t t = ip[i];
      EMBER_CHECK(t >= -limit && t < limit, IndexError, "index_add: index ", t,
                  " is out of bounds for dimension ", dim, " with size ", limit);
      if (t < 0) t += limit;
      Tensor dst = out.select(dim, t);
      Tensor row = src.select(dim, i);
      visit_dtype(out.dtype(), [&](auto x) {
        using T = decltype(x);
        loops::for_each<T, T, T>(dst, {&dst, &row}, [](T a, T b) { return a + b; });
      });
    }
  }
  return {out};
}

}  // namespace

namespace detail {
void register_scatter_kernels() {
  register_kernel(Op::ScatterAdd, scatter_kernel<true>);
  register_kernel(Op::Scatter, scatter_kernel<false>);
  register_kernel(Op::IndexAdd, index_add_kernel);
}
}  // namespace detail

}  // namespace ember
