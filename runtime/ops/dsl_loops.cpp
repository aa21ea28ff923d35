// The dsl formulas evaluated with eager Tensor ops (gradients built under create_graph).
#include "runtime/ops/dsl_loops.hpp"

#include <algorithm>

namespace ember::dsl::detail {
namespace {

bool is_comparison(Fn f) {
  return f == Fn::Lt || f == Fn::Le || f == Fn::Gt || f == Fn::Ge || f == Fn::Eq || f == Fn::Ne;
}

// Comparison f's bools.
Tensor compare(Fn f, const Tensor& a, const Tensor& b) {
  switch (f) {
    case Fn::Lt:
      return a < b;
    case Fn::Le:
      return a <= b;
    case Fn::Gt:
      return a > b;
    case Fn::Ge:
      return a >= b;
    case Fn::Eq:
      return a == b;
    default:
      return a != b;
  }
}

Tensor tensor_fn(Fn f, const std::vector<Tensor>& a) {
  // C++ numbers only (a derivative's factor, 1/b of x/b): computed as float64 0-d tensors. A
  // wrapped result would be typed float32 by promotion and round the factor of a float64 gradient
  // (found by the JIT's gradient fuzzer); a 0-d tensor takes the other operands' dtype later.
  if (std::all_of(a.begin(), a.end(),
                  [](const Tensor& t) { return t.defined() && t.impl()->wrapped_number; })) {
    std::vector<Tensor> wide;
    for (const Tensor& t : a)
      wide.push_back(scalar_tensor(t.item(), TensorOptions{}.dtype(kFloat64)));
    return tensor_fn(f, wide);
  }
  auto as_float = [&](const Tensor& b) { return b.to(a[0].dtype()); };
  switch (f) {
    case Fn::Neg:
      return -a[0];
    case Fn::Exp:
      return exp(a[0]);
    case Fn::Log:
      return log(a[0]);
    case Fn::Log1p:
      return log1p(a[0]);
    case Fn::Expm1:
      return expm1(a[0]);
    case Fn::Sqrt:
      return sqrt(a[0]);
    case Fn::Rsqrt:
      return rsqrt(a[0]);
    case Fn::Abs:
      return abs(a[0]);
    case Fn::Sign:
      return sign(a[0]);
    case Fn::Sin:
      return sin(a[0]);
    case Fn::Cos:
      return cos(a[0]);
    case Fn::Tanh:
      return tanh(a[0]);
    case Fn::Sigmoid:
      return sigmoid(a[0]);
    case Fn::Erf:
      return erf(a[0]);
    case Fn::Add:
      return a[0] + a[1];
    case Fn::Sub:
      return a[0] - a[1];
    case Fn::Mul:
      return a[0] * a[1];
    case Fn::Div:
      return a[0] / a[1];
    case Fn::Pow:
      return pow(a[0], a[1]);
    case Fn::Min:
      return minimum(a[0], a[1]);
    case Fn::Max:
      return maximum(a[0], a[1]);
    case Fn::Lt:
    case Fn::Le:
    case Fn::Gt:
    case Fn::Ge:
    case Fn::Eq:
    case Fn::Ne:
      return as_float(compare(f, a[0], a[1]));
    case Fn::Where:
      return where(a[0] != 0, a[1], a[2]);
  }
  throw Error("dsl: unknown function");
}

}  // namespace

template <class T>
void gather_row(T* dst, const char* src, int64_t stride, int64_t m) {
  for (int64_t i = 0; i < m; ++i) dst[i] = *reinterpret_cast<const T*>(src + i * stride);
}
template <class T>
void scatter_row(char* dst, int64_t stride, const T* src, int64_t m) {
  for (int64_t i = 0; i < m; ++i) *reinterpret_cast<T*>(dst + i * stride) = src[i];
}
template void gather_row<float>(float*, const char*, int64_t, int64_t);
template void gather_row<double>(double*, const char*, int64_t, int64_t);
template void scatter_row<float>(char*, int64_t, const float*, int64_t);
template void scatter_row<double>(char*, int64_t, const double*, int64_t);

Tensor eval_tree(const ExprTree& t, const std::vector<Tensor>& x) {
  switch (t.kind) {
    case ExprTree::Kind::Var:
      return x[static_cast<size_t>(t.var)];
    case ExprTree::Kind::Const:
      return wrapped_scalar(t.value);
    case ExprTree::Kind::Apply:
      break;
  }
  // where(a < b, u, v): the comparison's bools pick directly (through the float 0 or 1 a
  // comparison is in a formula, it took two more ops: a conversion and `!= 0`).
  if (t.fn == Fn::Where && t.args[0].kind == ExprTree::Kind::Apply && is_comparison(t.args[0].fn)) {
    const ExprTree& c = t.args[0];
    Tensor a = eval_tree(c.args[0], x), b = eval_tree(c.args[1], x);
    Tensor cond = a.impl()->wrapped_number && b.impl()->wrapped_number
                      ? tensor_fn(c.fn, {a, b}) != 0  // numbers: compared in float64 there
                      : compare(c.fn, a, b);
    return where(cond, eval_tree(t.args[1], x), eval_tree(t.args[2], x));
  }
  std::vector<Tensor> args;
  args.reserve(t.args.size());
  for (const ExprTree& a : t.args) args.push_back(eval_tree(a, x));
  return tensor_fn(t.fn, args);
}

}  // namespace ember::dsl::detail
