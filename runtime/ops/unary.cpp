// Unary pointwise ops: math, activations, clamp.
#include <cmath>

#include "runtime/ops/loops.hpp"
#include "runtime/ops/vecmath.hpp"
#include "runtime/shape.hpp"

namespace ember {
namespace {

// Ops that only make sense in floating point promote integer inputs to the default dtype.
constexpr bool float_only(Op op) {
  return op != Op::Neg && op != Op::Abs && op != Op::Relu && op != Op::Sign &&
         op != Op::LogicalNot && op != Op::Clamp;
}

template <Op op, class T>
auto unary_fn(const Attrs& attrs) {
  if constexpr (op == Op::Neg) return [](T x) -> T { return -x; };
  else if constexpr (op == Op::Abs) return [](T x) -> T {
    if constexpr (std::is_same_v<T, bool>) return x;
    else return x < 0 ? -x : x;
  };
  else if constexpr (op == Op::Exp) return [](T x) -> T { return std::exp(x); };
  else if constexpr (op == Op::Log) return [](T x) -> T { return std::log(x); };
  else if constexpr (op == Op::Log1p) return [](T x) -> T { return std::log1p(x); };
  else if constexpr (op == Op::Expm1) return [](T x) -> T { return std::expm1(x); };
  else if constexpr (op == Op::Sqrt) return [](T x) -> T { return std::sqrt(x); };
  else if constexpr (op == Op::Rsqrt) return [](T x) -> T { return T(1) / std::sqrt(x); };
  else if constexpr (op == Op::Sin) return [](T x) -> T { return std::sin(x); };
  else if constexpr (op == Op::Cos) return [](T x) -> T { return std::cos(x); };
  else if constexpr (op == Op::Tanh) return [](T x) -> T { return std::tanh(x); };
  else if constexpr (op == Op::Sigmoid) return [](T x) -> T { return T(1) / (T(1) + std::exp(-x)); };
  else if constexpr (op == Op::Relu) return [](T x) -> T { return x > T(0) ? x : (x != x ? x : T(0)); };
  else if constexpr (op == Op::Silu) return [](T x) -> T { return x / (T(1) + std::exp(-x)); };
  else if constexpr (op == Op::Erf) return [](T x) -> T { return std::erf(x); };
  else if constexpr (op == Op::Sign) return [](T x) -> T { return T((T(0) < x) - (x < T(0))); };
  else if constexpr (op == Op::LogicalNot) return [](T x) -> bool { return !x; };
  else if constexpr (op == Op::Gelu) {
    bool tanh_form = std::get<GeluAttrs>(attrs).tanh;
    return [tanh_form](T x) -> T {
      if (tanh_form) {
        constexpr T k = T(0.7978845608028654), c = T(0.044715);  // sqrt(2/pi)
        return T(0.5) * x * (T(1) + std::tanh(k * (x + c * x * x * x)));
      }
      return T(0.5) * x * (T(1) + std::erf(x * T(0.7071067811865476)));
    };
  } else {  // Clamp: NaN stays NaN, as PyTorch
    const auto& c = std::get<ClampAttrs>(attrs);
    T lo = c.min ? static_cast<T>(*c.min) : std::numeric_limits<T>::lowest();
    T hi = c.max ? static_cast<T>(*c.max) : std::numeric_limits<T>::max();
    // min(max(x, lo), hi): when lo > hi every element becomes hi, as in PyTorch.
    return [lo, hi](T x) -> T {
      T y = x < lo ? lo : x;
      return y > hi ? hi : y;
    };
  }
}

template <Op op>
TensorList unary_kernel(std::span<const Tensor> in, const Attrs& attrs) {
  const char* name = op_name(op);
  EMBER_CHECK(in[0].defined(), Error, name, ": the input tensor is undefined");
  DType d = in[0].dtype();
  if (float_only(op) && !is_floating(d)) d = default_dtype();
  if constexpr (op == Op::Neg)
    EMBER_CHECK(d != kBool, DTypeError,
                "neg: negation, the `-` operator, on a bool tensor is not supported; use "
                "logical_not");
  if constexpr (op == Op::Clamp) {
    const auto& c = std::get<ClampAttrs>(attrs);
    EMBER_CHECK(c.min || c.max, ValueError, "clamp: at least one of min or max must be given");
    if (!is_floating(d) && ((c.min && std::floor(*c.min) != *c.min) ||
                            (c.max && std::floor(*c.max) != *c.max)))
      d = default_dtype();  // int tensor, fractional bound: result is float, as PyTorch
  }
  Tensor a = in[0];
  if (a.dtype() != d) {
    NoGradGuard g;
    a = a.to(d);
  }
  DType out_dtype = op == Op::LogicalNot ? kBool : d;
  Tensor out = make_tensor(a.sizes(), out_dtype);
  constexpr bool cheap = op == Op::Neg || op == Op::Abs || op == Op::Relu || op == Op::Clamp ||
                         op == Op::Sign || op == Op::LogicalNot;
  visit_dtype(d, [&](auto x) {
    using T = decltype(x);
    if constexpr (std::is_same_v<T, bool> && op != Op::LogicalNot && op != Op::Abs &&
                  op != Op::Relu && op != Op::Clamp && op != Op::Sign) {
      EMBER_ASSERT(false, name, " on bool");
    } else if constexpr (op == Op::LogicalNot) {
      loops::for_each<bool, T>(out, {&a}, unary_fn<op, T>(attrs), kGrainSize);
    } else {
      loops::for_each<T, T>(out, {&a}, unary_fn<op, T>(attrs), cheap ? kGrainSize : 4096);
    }
  });
  return {out};
}

Tensor unary(Op op, const Tensor& a, Attrs attrs = {}) { return dispatch1(op, {a}, attrs); }

}  // namespace

namespace detail {
void register_unary_kernels() {
  register_kernel(Op::Neg, unary_kernel<Op::Neg>);
  register_kernel(Op::Abs, unary_kernel<Op::Abs>);
  register_kernel(Op::Exp, unary_kernel<Op::Exp>);
  register_kernel(Op::Log, unary_kernel<Op::Log>);
  register_kernel(Op::Log1p, unary_kernel<Op::Log1p>);
  register_kernel(Op::Expm1, unary_kernel<Op::Expm1>);
  register_kernel(Op::Sqrt, unary_kernel<Op::Sqrt>);
  register_kernel(Op::Rsqrt, unary_kernel<Op::Rsqrt>);
  register_kernel(Op::Sin, unary_kernel<Op::Sin>);
  register_kernel(Op::Cos, unary_kernel<Op::Cos>);
  register_kernel(Op::Tanh, unary_kernel<Op::Tanh>);
  register_kernel(Op::Sigmoid, unary_kernel<Op::Sigmoid>);
  register_kernel(Op::Relu, unary_kernel<Op::Relu>);
  register_kernel(Op::Gelu, unary_kernel<Op::Gelu>);
  register_kernel(Op::Silu, unary_kernel<Op::Silu>);
  register_kernel(Op::Erf, unary_kernel<Op::Erf>);
  register_kernel(Op::Sign, unary_kernel<Op::Sign>);
  register_kernel(Op::LogicalNot, unary_kernel<Op::LogicalNot>);
  register_kernel(Op::Clamp, unary_kernel<Op::Clamp>);
}
}  // namespace detail

Tensor neg(const Tensor& a) { return unary(Op::Neg, a); }
Tensor abs(const Tensor& a) { return unary(Op::Abs, a); }
Tensor exp(const Tensor& a) { return unary(Op::Exp, a); }
Tensor log(const Tensor& a) { return unary(Op::Log, a); }
Tensor log1p(const Tensor& a) { return unary(Op::Log1p, a); }
Tensor expm1(const Tensor& a) { return unary(Op::Expm1, a); }
Tensor sqrt(const Tensor& a) { return unary(Op::Sqrt, a); }
Tensor rsqrt(const Tensor& a) { return unary(Op::Rsqrt, a); }
Tensor sin(const Tensor& a) { return unary(Op::Sin, a); }
Tensor cos(const Tensor& a) { return unary(Op::Cos, a); }
Tensor tanh(const Tensor& a) { return unary(Op::Tanh, a); }
Tensor sigmoid(const Tensor& a) { return unary(Op::Sigmoid, a); }
Tensor relu(const Tensor& a) { return unary(Op::Relu, a); }
Tensor gelu(const Tensor& a, const std::string& approximate) {
  EMBER_CHECK(approximate == "none" || approximate == "tanh", ValueError,
              "gelu: approximate must be \"none\" or \"tanh\", got \"", approximate, "\"");
  return unary(Op::Gelu, a, GeluAttrs{approximate == "tanh"});
}
Tensor silu(const Tensor& a) { return unary(Op::Silu, a); }
Tensor erf(const Tensor& a) { return unary(Op::Erf, a); }
Tensor sign(const Tensor& a) { return unary(Op::Sign, a); }
Tensor logical_not(const Tensor& a) { return unary(Op::LogicalNot, a); }
Tensor clamp(const Tensor& a, std::optional<double> min, std::optional<double> max) {
  return unary(Op::Clamp, a, ClampAttrs{min, max});
}
Tensor square(const Tensor& a) { return mul(a, a); }
Tensor operator-(const Tensor& a) { return neg(a); }
Tensor operator!(const Tensor& a) { return logical_not(a); }

const Tensor& Tensor::clamp_(std::optional<double> min, std::optional<double> max) const {
  return copy_(ember::clamp(*this, min, max));
}

}  // namespace ember
