#include "jit/trace/decompose.hpp"

#include <algorithm>

#include "runtime/dispatch.hpp"
#include "runtime/ops.hpp"
#include "runtime/shape.hpp"

namespace ember::jit {
namespace {

bool is_float(const Tensor& t) {
  return t.defined() && !t.impl()->wrapped_number &&
         (t.dtype() == kFloat32 || t.dtype() == kFloat64);
}

Tensor op1(Op op, std::initializer_list<Tensor> in, const Attrs& attrs = {}) {
  return dispatch1(op, in, attrs);
}

// mean over `dims` (kept), and the mean of squared deviations from it divided by the count less
// `correction`: the two-pass form the eager kernels use, each pass a fused reduction.
struct Moments {
  Tensor mean, centered, var;
};
Moments moments(const Tensor& x, const Dims& dims, int64_t count, int64_t correction) {
  Moments m;
  m.mean = op1(Op::Mean, {x}, ReduceAttrs{dims, true});
  m.centered = op1(Op::Sub, {x, m.mean});
  Tensor sq = op1(Op::Sum, {op1(Op::Mul, {m.centered, m.centered})}, ReduceAttrs{dims, true});
  m.var = op1(Op::Div, {sq, wrapped_scalar(static_cast<double>(count - correction))});
  return m;
}

// layer_norm(x, w?, b?) over its last dims: (out, mean, rstd), the statistics with the
// normalised dims kept as 1, as the eager kernel gives them.
bool layer_norm(std::span<const Tensor> in, const NormAttrs& a, TensorList& out) {
  const Tensor& x = in[0];
  const int64_t k = static_cast<int64_t>(a.normalized_shape.size()), dim = x.dim();
  if (!is_float(x) || k < 1 || dim < k || x.numel() == 0) return false;
  Dims inner;
  for (int64_t d = dim - k; d < dim; ++d) {
    if (x.size(d) != a.normalized_shape[static_cast<size_t>(d - (dim - k))]) return false;
    inner.push_back(d);
  }
  for (size_t i = 1; i < in.size() && i < 3; ++i)
    if (in[i].defined() &&
        (!is_float(in[i]) || in[i].dtype() != x.dtype() || in[i].sizes() != a.normalized_shape))
      return false;
  // In float64 throughout, as the eager kernel computes (a float32 mean of a row whose spread is
  // far below its magnitude loses the digits x - mean keeps: found by the gradient fuzzer), the
  // results rounded to x's dtype at the end.
  const DType dt = x.dtype();
  auto wide = [](const Tensor& t) { return op1(Op::ToDtype, {t}, DTypeAttrs{kFloat64}); };
  auto narrow = [&](const Tensor& t) {
    return dt == kFloat64 ? t : op1(Op::ToDtype, {t}, DTypeAttrs{dt});
  };
  Moments m = moments(dt == kFloat64 ? x : wide(x), inner, product(a.normalized_shape), 0);
  Tensor rstd = op1(Op::Rsqrt, {op1(Op::Add, {m.var, wrapped_scalar(a.eps)})});
  Tensor y = op1(Op::Mul, {m.centered, rstd});
  if (in.size() > 1 && in[1].defined()) y = op1(Op::Mul, {y, dt == kFloat64 ? in[1] : wide(in[1])});
  if (in.size() > 2 && in[2].defined()) y = op1(Op::Add, {y, dt == kFloat64 ? in[2] : wide(in[2])});
  out = {narrow(y), narrow(m.mean), narrow(rstd)};
  return true;
}

// batch_norm(x, w?, b?, running_mean?, running_var?) over every dim but the channels (dim 1):
// (out, mean, invstd), the statistics per channel in x's dtype, as the eager kernel gives them,
// computed in float64 throughout as it computes. Training normalises with the batch's statistics
// and moves the running ones (their new values written with copy_: a mutation in the graph, one
// version step each, as the kernel's); evaluation uses the running ones.
bool batch_norm(std::span<const Tensor> in, const NormAttrs& a, TensorList& out) {
  auto opt = [&](size_t i) { return i < in.size() ? in[i] : Tensor(); };
  const Tensor& x = in[0];
  const Tensor w = opt(1), b = opt(2), rm = opt(3), rv = opt(4);
  if (!is_float(x) || x.dim() < 2 || x.numel() == 0) return false;
  const int64_t C = x.size(1), count = x.numel() / C;
  for (const Tensor& t : {w, b, rm, rv})
    if (t.defined() && (!is_float(t) || t.sizes() != Dims{C})) return false;
  if (rm.defined() != rv.defined() || (!a.training && !rm.defined()) || (a.training && count < 2))
    return false;  // the eager kernel reports these
  Dims red{0}, cs(static_cast<size_t>(x.dim()), 1);
  for (int64_t d = 2; d < x.dim(); ++d) red.push_back(d);
  cs[1] = C;
  auto wide = [](const Tensor& t) {
    return t.dtype() == kFloat64 ? t : op1(Op::ToDtype, {t}, DTypeAttrs{kFloat64});
  };
  auto narrow = [&](const Tensor& t) {
    return x.dtype() == kFloat64 ? t : op1(Op::ToDtype, {t}, DTypeAttrs{x.dtype()});
  };
  auto per_channel = [&](const Tensor& t) { return wide(t).reshape(cs); };
  auto scalar = [](double v) { return wrapped_scalar(v); };
  Tensor mean, invstd, centered;
  if (a.training) {
    Moments m = moments(wide(x), red, count, 0);
    mean = m.mean;
    centered = m.centered;
    invstd = op1(Op::Rsqrt, {op1(Op::Add, {m.var, scalar(a.eps)})});
    if (rm.defined()) {
      // (1 - momentum) running + momentum batch, the variance unbiased: the kernel's formula
      const double unbias = static_cast<double>(count) / static_cast<double>(count - 1);
      Tensor nm = op1(Op::Add, {op1(Op::Mul, {wide(rm), scalar(1 - a.momentum)}),
                                op1(Op::Mul, {mean.reshape({C}), scalar(a.momentum)})});
      Tensor nv = op1(
          Op::Add,
          {op1(Op::Mul, {wide(rv), scalar(1 - a.momentum)}),
           op1(Op::Mul, {op1(Op::Mul, {m.var.reshape({C}), scalar(a.momentum)}), scalar(unbias)})});
      rm.copy_(nm);
      rv.copy_(nv);
    }
  } else {
    mean = per_channel(rm);
    invstd = op1(Op::Rsqrt, {op1(Op::Add, {per_channel(rv), scalar(a.eps)})});
    centered = op1(Op::Sub, {wide(x), mean});
  }
  // (x - mean) * (w invstd) + b, as the kernel groups it
  Tensor y =
      op1(Op::Mul, {centered, w.defined() ? op1(Op::Mul, {per_channel(w), invstd}) : invstd});
  if (b.defined()) y = op1(Op::Add, {y, per_channel(b)});
  out = {narrow(y), narrow(mean.reshape({C})), narrow(invstd.reshape({C}))};
  return true;
}

// var and std with a positive count less the correction (otherwise the eager kernel's own rule
// for a zero or negative divisor applies).
bool variance(Op op, const Tensor& x, const ReduceAttrs& a, TensorList& out) {
  if (!is_float(x) || x.numel() == 0) return false;
  Dims dims = wrap_dims(a.dims, x.dim(), op_name(op));
  if (dims.empty())
    for (int64_t d = 0; d < x.dim(); ++d) dims.push_back(d);
  int64_t count = 1;
  for (int64_t d : dims) count *= x.size(d);
  if (count - a.correction <= 0) return false;
  Moments m = moments(x, dims, count, a.correction);
  Tensor v = m.var;
  if (!a.keepdim) {
    Dims s;
    for (int64_t d = 0; d < x.dim(); ++d)
      if (std::find(dims.begin(), dims.end(), d) == dims.end()) s.push_back(x.size(d));
    v = v.reshape(s);
  }
  out = {op == Op::Std ? op1(Op::Sqrt, {v}) : v};
  return true;
}

// clone: a conversion to its own dtype, which the JIT records as a new value (a kernel writes
// it to new memory) — the eager `to` of the same dtype would hand back the tensor itself.
bool clone(const Tensor& x, TensorList& out) {
  if (!is_float(x) || x.numel() == 0) return false;
  out = {op1(Op::ToDtype, {x}, DTypeAttrs{x.dtype()})};
  return true;
}

}  // namespace

bool decompose(Op op, std::span<const Tensor> in, const Attrs& attrs, TensorList& out) {
  NoGradGuard no_grad;  // the pieces get no history: the op's own row gives its gradients
  switch (op) {
    case Op::LayerNorm:
      return !in.empty() && layer_norm(in, std::get<NormAttrs>(attrs), out);
    case Op::BatchNorm:
      return !in.empty() && batch_norm(in, std::get<NormAttrs>(attrs), out);
    case Op::Clone:
      return in.size() == 1 && clone(in[0], out);
    case Op::Var:
    case Op::Std:
      return in.size() == 1 && variance(op, in[0], std::get<ReduceAttrs>(attrs), out);
    default:
      return false;
  }
}

}  // namespace ember::jit
