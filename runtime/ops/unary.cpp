// Unary pointwise ops: math, activations, clamp.
#include <cmath>

#include "runtime/ops/loops.hpp"
#include "runtime/ops/pointwise_defs.hpp"
#include "runtime/ops/vecmath.hpp"
#include "runtime/shape.hpp"

namespace ember {
namespace {

// Ops that only make sense in floating point promote integer inputs to the default dtype.
constexpr bool float_only(Op op) {
  return op != Op::Neg && op != Op::Abs && op != Op::Relu && op != Op::Sign &&
         op != Op::LogicalNot && op != Op::Clamp && op != Op::Hardtanh;
}

// The scalar function of op in T: the op's dsl definition, evaluated (bool and clamp aside).
template <Op op, class T, class Def = dsl_def_t<op>>
auto unary_fn(const Attrs& attrs) {
  if constexpr (std::is_same_v<T, bool> && op != Op::LogicalNot && op != Op::Clamp)
    return [](T x) -> T { return x; };  // abs, sign and relu of a bool are the bool itself
  else if constexpr (op == Op::LogicalNot)
    return [](T x) -> bool { return !x; };
  else if constexpr (op == Op::Clamp) {  // NaN stays NaN, as PyTorch
    const auto& c = std::get<ClampAttrs>(attrs);
    T lo = c.min ? static_cast<T>(*c.min) : std::numeric_limits<T>::lowest();
    T hi = c.max ? static_cast<T>(*c.max) : std::numeric_limits<T>::max();
    // min(max(x, lo), hi): when lo > hi every element becomes hi, as in PyTorch.
    return [lo, hi](T x) -> T {
      T y = x < lo ? lo : x;
      return y > hi ? hi : y;
    };
  } else {
    return [e = call_expr<Def>(attrs)](T x) -> T { return dsl::eval<T>(e, x); };
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
  // The activations PyTorch defines for floating types only refuse integers (its message).
  if constexpr (op == Op::LeakyRelu || op == Op::Elu || op == Op::Mish || op == Op::Hardswish)
    EMBER_CHECK(is_floating(in[0].dtype()), DTypeError, "\"", name, "\" not implemented for '",
                dtype_name(in[0].dtype()), "'");
  // hardtanh keeps an integer tensor's dtype, its bounds truncated (as PyTorch)
  if constexpr (op == Op::Hardtanh)
    EMBER_CHECK(d != kBool, DTypeError, "\"hardtanh\" not implemented for 'bool'");
  if constexpr (op == Op::Clamp) {
    const auto& c = std::get<ClampAttrs>(attrs);
    EMBER_CHECK(c.min || c.max, ValueError, "clamp: at least one of min or max must be given");
    if (!is_floating(d) &&
        ((c.min && std::floor(*c.min) != *c.min) || (c.max && std::floor(*c.max) != *c.max)))
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
    } else if constexpr (op == Op::Gelu) {
      if (std::get<GeluAttrs>(attrs).tanh)
        loops::for_each<T, T>(out, {&a}, unary_fn<op, T, dsl::builtin::gelu_tanh>(attrs), 4096);
      else
        loops::for_each<T, T>(out, {&a}, unary_fn<op, T>(attrs), 4096);
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
  register_kernel(Op::Softplus, unary_kernel<Op::Softplus>);
  register_kernel(Op::LogicalNot, unary_kernel<Op::LogicalNot>);
  register_kernel(Op::Clamp, unary_kernel<Op::Clamp>);
  register_kernel(Op::LeakyRelu, unary_kernel<Op::LeakyRelu>);
  register_kernel(Op::Elu, unary_kernel<Op::Elu>);
  register_kernel(Op::Hardtanh, unary_kernel<Op::Hardtanh>);
  register_kernel(Op::Mish, unary_kernel<Op::Mish>);
  register_kernel(Op::Hardswish, unary_kernel<Op::Hardswish>);
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
Tensor softplus(const Tensor& a, double beta, double threshold) {
  if (beta == 1 && threshold == 20) return unary(Op::Softplus, a);  // the built-in
  // Other parameters: the same formula from ops (torch.nn.functional.softplus).
  Tensor bx = a * beta;
  return where(bx > threshold, a, log1p(exp(bx)) / beta);
}
Tensor logical_not(const Tensor& a) { return unary(Op::LogicalNot, a); }
Tensor clamp(const Tensor& a, std::optional<double> min, std::optional<double> max) {
  return unary(Op::Clamp, a, ClampAttrs{min, max});
}
Tensor leaky_relu(const Tensor& a, double negative_slope) {
  return unary(Op::LeakyRelu, a, ActivationAttrs{negative_slope});
}
Tensor elu(const Tensor& a, double alpha) { return unary(Op::Elu, a, ActivationAttrs{alpha}); }
Tensor hardtanh(const Tensor& a, double min_val, double max_val) {
  return unary(Op::Hardtanh, a, ActivationAttrs{min_val, max_val});
}
Tensor mish(const Tensor& a) { return unary(Op::Mish, a); }
Tensor hardswish(const Tensor& a) { return unary(Op::Hardswish, a); }
Tensor square(const Tensor& a) { return mul(a, a); }
Tensor operator-(const Tensor& a) { return neg(a); }
Tensor operator!(const Tensor& a) { return logical_not(a); }

const Tensor& Tensor::clamp_(std::optional<double> min, std::optional<double> max) const {
  return copy_(ember::clamp(*this, min, max));
}

}  // namespace ember
