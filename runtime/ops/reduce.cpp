// Reductions over dims: sum, mean, prod, amax, amin, var, std, logsumexp (and max()/min() of a
// whole tensor). The walk over memory is ReducePlan's; the loops are reduce_kernels.hpp's.
#include <cmath>

#include "dsl/math.hpp"
#include "runtime/dispatch.hpp"
#include "runtime/ops.hpp"
#include "runtime/ops/reduce_plan.hpp"
#include "runtime/ops/vecmath.hpp"
#include "runtime/shape.hpp"

namespace ember {
namespace {

using reduce::ReducePlan;
using reduce::run_reduction;

Tensor cast_nograd(const Tensor& t, DType d) {
  if (t.dtype() == d) return t;
  NoGradGuard g;
  return t.to(d);
}

/// f(T{}) for the dtypes arithmetic reductions compute in (bool has been cast away).
template <class F>
void visit_numeric(DType d, F&& f) {
  switch (d) {
    case DType::Float32:
      f(float{});
      return;
    case DType::Float64:
      f(double{});
      return;
    case DType::Int64:
      f(int64_t{});
      return;
    case DType::Bool:
      break;
  }
  EMBER_ASSERT(false, "reduction computed in bool");
}
template <class F>
void visit_floating(DType d, F&& f) {
  if (d == kFloat64)
    f(double{});
  else
    f(float{});
}

// fin(o, sum over output o's elements of f(x, param[o])); param may be null when kParam is false.
template <bool kParam, class T, class F, class Fin>
void run_sum(const ReducePlan& p, const T* param, F f, Fin fin) {
  const T* x = p.data<T>();
  const int64_t R = p.rows, W = p.inner;
  run_reduction<T>(
      p, T(0),
      [&](int64_t k, int64_t r0, int64_t n) {
        T pm = kParam ? param[k] : T(0);
        return reduce::sum_row<T>(x + k * R + r0, n, [&](T v) { return f(v, pm); });
      },
      [&](int64_t k, int64_t r0, int64_t nr, int64_t j0, int64_t nc, T* acc) {
        const T* xb = x + (k * R + r0) * W + j0;
        if constexpr (kParam) {
          const T* pm = param + k * W + j0;
          auto g = [&](T v, int64_t j) { return f(v, pm[j]); };
          reduce::sum_cols<T>(xb, nr, W, nc, acc, g);
        } else {
          auto g = [&](T v, int64_t) { return f(v, T(0)); };
          reduce::sum_cols<T>(xb, nr, W, nc, acc, g);
        }
      },
      [](T a, T b) { return a + b; }, fin);
}

template <bool kMax, class T, class Fin>
void run_extreme(const ReducePlan& p, Fin fin) {
  const T* x = p.data<T>();
  const int64_t R = p.rows, W = p.inner;
  run_reduction<T>(
      p, reduce::extreme_identity<kMax, T>(),
      [&](int64_t k, int64_t r0, int64_t n) {
        return reduce::extreme_row<kMax>(x + k * R + r0, n);
      },
      [&](int64_t k, int64_t r0, int64_t nr, int64_t j0, int64_t nc, T* acc) {
        reduce::extreme_cols<kMax>(x + (k * R + r0) * W + j0, nr, W, nc, acc);
      },
      [](T a, T b) { return reduce::pick<kMax>(b, a); }, fin);
}

template <class T, class Fin>
void run_prod(const ReducePlan& p, Fin fin) {
  const T* x = p.data<T>();
  const int64_t R = p.rows, W = p.inner;
  run_reduction<T>(
      p, T(1),
      [&](int64_t k, int64_t r0, int64_t n) { return reduce::prod_row(x + k * R + r0, n); },
      [&](int64_t k, int64_t r0, int64_t nr, int64_t j0, int64_t nc, T* acc) {
        reduce::prod_cols(x + (k * R + r0) * W + j0, nr, W, nc, acc);
      },
      [](T a, T b) { return a * b; }, fin);
}

const ReduceAttrs& reduce_attrs(const Attrs& attrs) { return std::get<ReduceAttrs>(attrs); }

// sum and prod: bool and int64 accumulate in int64, as PyTorch.
template <Op op>
TensorList sum_prod_kernel(std::span<const Tensor> in, const Attrs& attrs) {
  const char* name = op_name(op);
  Dims dims = reduce::kernel_dims(in[0], attrs, name);
  Tensor a = is_floating(in[0].dtype()) ? in[0] : cast_nograd(in[0], kInt64);
  ReducePlan p(a, dims, reduce_attrs(attrs).keepdim);
  Tensor out = p.buffer(a.dtype());
  visit_numeric(a.dtype(), [&](auto z) {
    using T = decltype(z);
    T* o = out.data_ptr<T>();
    auto fin = [o](int64_t i, T v) { o[i] = v; };
    if constexpr (op == Op::Sum)
      run_sum<false, T>(p, nullptr, [](T v, T) { return v; }, fin);
    else
      run_prod<T>(p, fin);
  });
  return {p.result(out)};
}

void check_floating(const Tensor& a, Op op) {
  if (op == Op::Mean)
    EMBER_CHECK(is_floating(a.dtype()), DTypeError,
                "mean(): could not infer output dtype. Input dtype must be either a floating "
                "point or complex dtype. Got: ",
                a.dtype() == kBool ? "Bool" : "Long");
  else
    EMBER_CHECK(is_floating(a.dtype()), DTypeError, op_name(op),
                "(): std and var only support floating point and complex dtypes, got ",
                dtype_name(a.dtype()));
}

// mean, var, std: floating inputs only. var is two-pass (mean, then squared deviations), which
// is as accurate as Welford's and vectorises.
template <Op op>
TensorList moment_kernel(std::span<const Tensor> in, const Attrs& attrs) {
  const char* name = op_name(op);
  Dims dims = reduce::kernel_dims(in[0], attrs, name);
  const Tensor& a = in[0];
  check_floating(a, op);
  const auto& ra = reduce_attrs(attrs);
  ReducePlan p(a, dims, ra.keepdim);
  Tensor out = p.buffer(a.dtype());
  visit_floating(a.dtype(), [&](auto z) {
    using T = decltype(z);
    T* o = out.data_ptr<T>();
    const T n = static_cast<T>(p.rows);
    auto identity = [](T v, T) { return v; };
    if constexpr (op == Op::Mean) {
      run_sum<false, T>(p, nullptr, identity, [o, n](int64_t i, T s) { o[i] = s / n; });
    } else {
      std::vector<T> mu(p.outer * p.inner);
      run_sum<false, T>(p, nullptr, identity, [&mu, n](int64_t i, T s) { mu[i] = s / n; });
      // PyTorch divides by max(0, N - correction): inf or nan when that is zero.
      const T div = static_cast<T>(std::max<int64_t>(0, p.rows - ra.correction));
      run_sum<true, T>(
          p, mu.data(),
          [](T v, T m) {
            T d = v - m;
            return d * d;
          },
          [o, div](int64_t i, T s) {
            T v = s / div;
            o[i] = op == Op::Std ? std::sqrt(v) : v;
          });
    }
  });
  return {p.result(out)};
}

template <Op op>
TensorList extreme_kernel(std::span<const Tensor> in, const Attrs& attrs) {
  constexpr bool kMax = op == Op::Amax;
  const char* name = op_name(op);
  Dims dims = reduce::kernel_dims(in[0], attrs, name);
  const Tensor& a = in[0];
  reduce::check_nonempty(a, dims, name);
  ReducePlan p(a, dims, reduce_attrs(attrs).keepdim);
  Tensor out = p.buffer(a.dtype());
  visit_dtype(a.dtype(), [&](auto z) {
    using T = decltype(z);
    T* o = out.data_ptr<T>();
    run_extreme<kMax, T>(p, [o](int64_t i, T v) { o[i] = v; });
  });
  return {p.result(out)};
}

// log(sum(exp(x - m))) + m with m the max; an infinite m is replaced by 0 (as PyTorch) so that
// all -inf gives -inf and any +inf gives +inf rather than nan.
TensorList logsumexp_kernel(std::span<const Tensor> in, const Attrs& attrs) {
  Dims dims = reduce::kernel_dims(in[0], attrs, "logsumexp");
  Tensor a = is_floating(in[0].dtype()) ? in[0] : cast_nograd(in[0], default_dtype());
  ReducePlan p(a, dims, reduce_attrs(attrs).keepdim);
  Tensor out = p.buffer(a.dtype());
  visit_floating(a.dtype(), [&](auto z) {
    using T = decltype(z);
    T* o = out.data_ptr<T>();
    std::vector<T> m(p.outer * p.inner);
    run_extreme<true, T>(p, [&m](int64_t i, T v) { m[i] = std::isinf(v) ? T(0) : v; });
    run_sum<true, T>(
        p, m.data(), [](T v, T mx) { return dsl::math::exp(v - mx); },
        [o, &m](int64_t i, T s) { o[i] = std::log(s) + m[i]; });
  });
  return {p.result(out)};
}

Tensor reduce_op(Op op, const Tensor& a, const Dims& dims, bool keepdim, int64_t correction = 1) {
  const char* name = op_name(op);
  EMBER_CHECK(a.defined(), Error, name, ": the input tensor is undefined");
  return dispatch1(op, {a}, ReduceAttrs{wrap_dims(dims, a.dim(), name), keepdim, correction});
}

}  // namespace

namespace detail {
void register_reduce_kernels() {
  register_kernel(Op::Sum, sum_prod_kernel<Op::Sum>);
  register_kernel(Op::Prod, sum_prod_kernel<Op::Prod>);
  register_kernel(Op::Mean, moment_kernel<Op::Mean>);
  register_kernel(Op::Var, moment_kernel<Op::Var>);
  register_kernel(Op::Std, moment_kernel<Op::Std>);
  register_kernel(Op::Amax, extreme_kernel<Op::Amax>);
  register_kernel(Op::Amin, extreme_kernel<Op::Amin>);
  register_kernel(Op::Logsumexp, logsumexp_kernel);
  reduce::register_arg_reduce_kernels();
}
}  // namespace detail

Tensor sum(const Tensor& a, const Dims& dims, bool keepdim) {
  return reduce_op(Op::Sum, a, dims, keepdim);
}
Tensor mean(const Tensor& a, const Dims& dims, bool keepdim) {
  return reduce_op(Op::Mean, a, dims, keepdim);
}
Tensor prod(const Tensor& a, const Dims& dims, bool keepdim) {
  return reduce_op(Op::Prod, a, dims, keepdim);
}
Tensor amax(const Tensor& a, const Dims& dims, bool keepdim) {
  return reduce_op(Op::Amax, a, dims, keepdim);
}
Tensor amin(const Tensor& a, const Dims& dims, bool keepdim) {
  return reduce_op(Op::Amin, a, dims, keepdim);
}
Tensor max(const Tensor& a) {
  EMBER_CHECK(a.defined(), Error, "max: the input tensor is undefined");
  reduce::check_nonempty(a, {}, "max");
  return reduce_op(Op::Amax, a, {}, false);
}
Tensor min(const Tensor& a) {
  EMBER_CHECK(a.defined(), Error, "min: the input tensor is undefined");
  reduce::check_nonempty(a, {}, "min");
  return reduce_op(Op::Amin, a, {}, false);
}
Tensor var(const Tensor& a, const Dims& dims, bool keepdim, int64_t correction) {
  return reduce_op(Op::Var, a, dims, keepdim, correction);
}
Tensor std(const Tensor& a, const Dims& dims, bool keepdim, int64_t correction) {
  return reduce_op(Op::Std, a, dims, keepdim, correction);
}
Tensor logsumexp(const Tensor& a, const Dims& dims, bool keepdim) {
  return reduce_op(Op::Logsumexp, a, dims, keepdim);
}

}  // namespace ember
