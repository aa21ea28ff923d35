// Scans along one dim: cumsum and cumprod.
#include "runtime/dispatch.hpp"
#include "runtime/ops.hpp"
#include "runtime/parallel.hpp"
#include "runtime/shape.hpp"

namespace ember {
namespace {

// out[.., i, ..] = x[.., 0, ..] op ... op x[.., i, ..] along dim. Integers and bools scan in
// int64; floats accumulate in double, as PyTorch's CPU kernels (acc_type), then round once per
// element.
template <Op op>
TensorList scan_kernel(std::span<const Tensor> in, const Attrs& attrs) {
  const char* name = op_name(op);
  const Tensor& x0 = in[0];
  EMBER_CHECK(x0.defined(), Error, name, ": the input tensor is undefined");
  const int64_t dim = wrap_dim(std::get<DimAttrs>(attrs).dim, x0.dim(), name);
  DType d = is_floating(x0.dtype()) ? x0.dtype() : kInt64;
  Tensor x = (x0.dtype() == d ? x0 : x0.to(d)).contiguous();
  Tensor out = make_tensor(x.sizes(), d);
  if (x.numel() == 0) return {out};
  const Dims& s = x.sizes();
  int64_t outer = 1, n = x.dim() ? s[dim] : 1, inner = 1;
  for (int64_t i = 0; i < dim; ++i) outer *= s[i];
  for (int64_t i = dim + 1; i < x.dim(); ++i) inner *= s[i];
  visit_dtype(d, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_same_v<T, bool>) {
      using Acc = std::conditional_t<std::is_floating_point_v<T>, double, T>;
      const T* src = x.data_ptr<T>();
      T* dst = out.data_ptr<T>();
      // One item: one outer index and a block of inner columns, scanned along dim together (the
      // inner loop vectorises).
      constexpr int64_t kBlock = 256;
      const int64_t blocks = (inner + kBlock - 1) / kBlock;
      parallel_for(0, outer * blocks, std::max<int64_t>(1, 4096 / (n * kBlock)),
                   [&](int64_t b, int64_t e) {
                     Acc acc[kBlock];
                     for (int64_t item = b; item < e; ++item) {
                       int64_t o = item / blocks, c0 = (item % blocks) * kBlock;
                       int64_t w = std::min(kBlock, inner - c0);
                       for (int64_t j = 0; j < w; ++j) acc[j] = op == Op::Cumsum ? Acc(0) : Acc(1);
                       for (int64_t i = 0; i < n; ++i) {
                         const T* xs = src + (o * n + i) * inner + c0;
                         T* ys = dst + (o * n + i) * inner + c0;
                         for (int64_t j = 0; j < w; ++j) {
                           if constexpr (op == Op::Cumsum)
                             acc[j] += static_cast<Acc>(xs[j]);
                           else
                             acc[j] *= static_cast<Acc>(xs[j]);
                           ys[j] = static_cast<T>(acc[j]);
                         }
                       }
                     }
                   });
    }
  });
  return {out};
}

}  // namespace

namespace detail {
void register_scan_kernels() {
  register_kernel(Op::Cumsum, scan_kernel<Op::Cumsum>);
  register_kernel(Op::Cumprod, scan_kernel<Op::Cumprod>);
}
}  // namespace detail

Tensor cumsum(const Tensor& a, int64_t dim) { return dispatch1(Op::Cumsum, {a}, DimAttrs{dim}); }
Tensor cumprod(const Tensor& a, int64_t dim) { return dispatch1(Op::Cumprod, {a}, DimAttrs{dim}); }

}  // namespace ember
