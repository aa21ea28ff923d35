// Reductions that return positions: max(dim) and min(dim) (values and indices), argmax and
// argmin (one dim, or the index into the flattened tensor). The first extreme wins ties; a NaN
// counts as the extreme, so the first NaN's index is returned, as in PyTorch.
#include <cmath>

#include "runtime/dispatch.hpp"
#include "runtime/ops.hpp"
#include "runtime/ops/reduce_plan.hpp"
#include "runtime/shape.hpp"

namespace ember {
namespace {

using reduce::ReducePlan;

template <class T>
struct ArgAcc {
  T v;
  int64_t i;  // -1 until a value is seen
};

// v strictly beats a (so earlier equal values keep their place); NaN beats every number.
template <bool kMax, class T>
inline bool beats(T v, T a) {
  bool b = kMax ? v > a : v < a;
  if constexpr (std::is_floating_point_v<T>) b = b || (v != v && a == a);
  return b;
}

template <bool kMax, class T, class Fin>
void run_arg(const ReducePlan& p, Fin fin) {
  using A = ArgAcc<T>;
  const T* x = p.data<T>();
  const int64_t R = p.rows, W = p.inner;
  reduce::run_reduction<A>(
      p, A{reduce::extreme_identity<kMax, T>(), -1},
      // A row: the vectorised extreme first, then a scan for its first position.
      [&](int64_t k, int64_t r0, int64_t n) {
        const T* xr = x + k * R + r0;
        T m = reduce::extreme_row<kMax>(xr, n);
        int64_t i = 0;
        bool nan = false;
        if constexpr (std::is_floating_point_v<T>) nan = std::isnan(m);
        if (nan) {
          while (!std::isnan(xr[i])) ++i;
        } else {
          while (xr[i] != m) ++i;
        }
        return A{m, r0 + i};
      },
      // Columns: values and indices in separate arrays so the update is a pair of blends.
      [&](int64_t k, int64_t r0, int64_t nr, int64_t j0, int64_t nc, A* acc) {
        const T* xb = x + (k * R + r0) * W + j0;
        T val[reduce::kTile];
        int64_t idx[reduce::kTile];
        for (int64_t j = 0; j < nc; ++j) {
          val[j] = xb[j];
          idx[j] = r0;
        }
        for (int64_t r = 1; r < nr; ++r) {
          const T* __restrict xr = xb + r * W;
          for (int64_t j = 0; j < nc; ++j) {
            bool b = beats<kMax>(xr[j], val[j]);
            val[j] = b ? xr[j] : val[j];
            idx[j] = b ? r0 + r : idx[j];
          }
        }
        for (int64_t j = 0; j < nc; ++j) acc[j] = A{val[j], idx[j]};
      },
      [](A a, A b) {
        if (a.i < 0) return b;
        if (b.i < 0) return a;
        return beats<kMax>(b.v, a.v) ? b : a;
      },
      fin);
}

// max(dim) / min(dim): values and int64 indices.
template <Op op>
TensorList minmax_dim_kernel(std::span<const Tensor> in, const Attrs& attrs) {
  constexpr bool kMax = op == Op::MaxDim;
  const char* name = op_name(op);
  Dims dims = reduce::kernel_dims(in[0], attrs, name);
  const Tensor& a = in[0];
  EMBER_CHECK(dims.size() == 1, ValueError, name, "(): expected exactly one dim, got ", dims);
  reduce::check_nonempty(a, dims, name);
  ReducePlan p(a, dims, std::get<ReduceAttrs>(attrs).keepdim);
  Tensor values = p.buffer(a.dtype()), indices = p.buffer(kInt64);
  visit_dtype(a.dtype(), [&](auto z) {
    using T = decltype(z);
    T* v = values.data_ptr<T>();
    int64_t* ix = indices.data_ptr<int64_t>();
    run_arg<kMax, T>(p, [v, ix](int64_t o, ArgAcc<T> r) {
      v[o] = r.v;
      ix[o] = r.i;
    });
  });
  return {p.result(values), p.result(indices)};
}

// argmax / argmin: no dim reduces the flattened tensor (its reduced dims stay in logical order).
template <Op op>
TensorList arg_kernel(std::span<const Tensor> in, const Attrs& attrs) {
  constexpr bool kMax = op == Op::Argmax;
  const char* name = op_name(op);
  Dims dims = reduce::kernel_dims(in[0], attrs, name);
  const Tensor& a = in[0];
  EMBER_CHECK(a.dtype() != kBool, DTypeError, name, "(): not implemented for bool tensors");
  EMBER_CHECK(dims.size() <= 1, ValueError, name, "(): expected at most one dim, got ", dims);
  reduce::check_nonempty(a, dims, name);
  ReducePlan p(a, dims, std::get<ReduceAttrs>(attrs).keepdim, /*keep_reduced_order=*/true);
  Tensor indices = p.buffer(kInt64);
  visit_dtype(a.dtype(), [&](auto z) {
    using T = decltype(z);
    if constexpr (!std::is_same_v<T, bool>) {
      int64_t* ix = indices.data_ptr<int64_t>();
      run_arg<kMax, T>(p, [ix](int64_t o, ArgAcc<T> r) { ix[o] = r.i; });
    }
  });
  return {p.result(indices)};
}

ValuesIndices minmax_dim(Op op, const Tensor& a, int64_t dim, bool keepdim) {
  const char* name = op_name(op);
  EMBER_CHECK(a.defined(), Error, name, ": the input tensor is undefined");
  TensorList r = dispatch(op, {a}, ReduceAttrs{{wrap_dim(dim, a.dim(), name)}, keepdim});
  return {r[0], r[1]};
}

Tensor arg(Op op, const Tensor& a, std::optional<int64_t> dim, bool keepdim) {
  const char* name = op_name(op);
  EMBER_CHECK(a.defined(), Error, name, ": the input tensor is undefined");
  Dims dims;
  if (dim) dims.push_back(wrap_dim(*dim, a.dim(), name));
  return dispatch1(op, {a}, ReduceAttrs{dims, keepdim});
}

}  // namespace

namespace reduce {
void register_arg_reduce_kernels() {
  register_kernel(Op::MaxDim, minmax_dim_kernel<Op::MaxDim>);
  register_kernel(Op::MinDim, minmax_dim_kernel<Op::MinDim>);
  register_kernel(Op::Argmax, arg_kernel<Op::Argmax>);
  register_kernel(Op::Argmin, arg_kernel<Op::Argmin>);
}
}  // namespace reduce

ValuesIndices max(const Tensor& a, int64_t dim, bool keepdim) {
  return minmax_dim(Op::MaxDim, a, dim, keepdim);
}
ValuesIndices min(const Tensor& a, int64_t dim, bool keepdim) {
  return minmax_dim(Op::MinDim, a, dim, keepdim);
}
Tensor argmax(const Tensor& a) { return arg(Op::Argmax, a, std::nullopt, false); }
Tensor argmax(const Tensor& a, int64_t dim, bool keepdim) {
  return arg(Op::Argmax, a, dim, keepdim);
}
Tensor argmin(const Tensor& a) { return arg(Op::Argmin, a, std::nullopt, false); }
Tensor argmin(const Tensor& a, int64_t dim, bool keepdim) {
  return arg(Op::Argmin, a, dim, keepdim);
}

}  // namespace ember
