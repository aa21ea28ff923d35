// Binary pointwise ops with broadcasting: arithmetic, comparisons, logic, where.
#include <cmath>

#include "runtime/ops/loops.hpp"
#include "runtime/ops/pointwise_defs.hpp"
#include "runtime/ops/vecmath.hpp"
#include "runtime/shape.hpp"

namespace ember {
namespace {

// t in dtype d; a 0-d operand (a wrapped scalar, usually) is converted without a dispatch.
Tensor as_dtype(const Tensor& t, DType d) {
  if (t.dtype() == d) return t;
  if (t.dim() == 0) {
    Tensor out = make_tensor({}, d);
    Scalar v = t.item();
    visit_dtype(d, [&](auto x) {
      using T = decltype(x);
      *out.data_ptr<T>() = v.to<T>();
    });
    return out;
  }
  NoGradGuard g;
  return t.to(d);
}

enum class Kind { Arith, Compare, Logic };

// The scalar function of op in T. add, sub, mul, div, maximum and minimum evaluate their dsl
// definitions (dsl/builtins.hpp; int64 wraps around there, and max/min's NaN rule is
// dsl::math::maximum/minimum). Written here: add and mul of bools (logical or and and, as
// PyTorch), pow (integers by square-and-multiply, which the dsl cannot express; floats by
// std::pow, as the dsl's pow may be vectorised through libmvec, whose last bits can differ from
// libm's), and the comparisons and logic ops (bool results; the dsl's give 1 or 0 in T).
template <Op op, class T>
auto binary_fn() {
  constexpr bool from_dsl = op == Op::Add || op == Op::Sub || op == Op::Mul || op == Op::Div ||
                            op == Op::Maximum || op == Op::Minimum;
  if constexpr (std::is_same_v<T, bool> && op == Op::Add)
    return [](T a, T b) -> T { return a || b; };
  else if constexpr (std::is_same_v<T, bool> && op == Op::Mul)
    return [](T a, T b) -> T { return a && b; };
  else if constexpr (from_dsl)
    return [](T a, T b) -> T { return dsl::eval<T>(dsl_def_t<op>::expr, a, b); };
  else if constexpr (op == Op::Pow) {
    if constexpr (std::is_floating_point_v<T>)
      return [](T a, T b) -> T { return std::pow(a, b); };
    else if constexpr (std::is_same_v<T, bool>)
      return [](T a, T b) -> T { return b ? a : true; };
    else
      return [](T a, T b) -> T {
        T r = 1;  // square-and-multiply: O(log b), wrapping like PyTorch's int64 pow
        for (auto e = static_cast<uint64_t>(b), p = static_cast<uint64_t>(a); e; e >>= 1, p *= p)
          if (e & 1) r = static_cast<T>(static_cast<uint64_t>(r) * p);
        return r;
      };
  } else if constexpr (op == Op::Eq)
    return [](T a, T b) -> bool { return a == b; };
  else if constexpr (op == Op::Ne)
    return [](T a, T b) -> bool { return a != b; };
  else if constexpr (op == Op::Lt)
    return [](T a, T b) -> bool { return a < b; };
  else if constexpr (op == Op::Le)
    return [](T a, T b) -> bool { return a <= b; };
  else if constexpr (op == Op::Gt)
    return [](T a, T b) -> bool { return a > b; };
  else if constexpr (op == Op::Ge)
    return [](T a, T b) -> bool { return a >= b; };
  else if constexpr (op == Op::LogicalAnd)
    return [](T a, T b) -> bool { return a && b; };
  else
    return [](T a, T b) -> bool { return a || b; };
}

template <Op op, class T>
void run_binary(const Tensor& out, const Tensor& a, const Tensor& b, int64_t grain) {
  constexpr bool to_bool = op == Op::Eq || op == Op::Ne || op == Op::Lt || op == Op::Le ||
                           op == Op::Gt || op == Op::Ge || op == Op::LogicalAnd ||
                           op == Op::LogicalOr;
  using O = std::conditional_t<to_bool, bool, T>;
  loops::for_each<O, T, T>(out, {&a, &b}, binary_fn<op, T>(), grain);
}

template <Op op>
TensorList binary_kernel(std::span<const Tensor> in, const Attrs&) {
  constexpr bool compare =
      op == Op::Eq || op == Op::Ne || op == Op::Lt || op == Op::Le || op == Op::Gt || op == Op::Ge;
  constexpr bool logic = op == Op::LogicalAnd || op == Op::LogicalOr;
  const char* name = op_name(op);
  EMBER_CHECK(in[0].defined() && in[1].defined(), Error, name, ": an input tensor is undefined");
  DType compute = logic ? kBool : result_type(in[0], in[1]);
  if (op == Op::Div && !is_floating(compute)) compute = default_dtype();
  if constexpr (op == Op::Sub)
    EMBER_CHECK(compute != kBool, DTypeError,
                "sub: subtraction with two bool tensors is not supported; use logical_xor");
  if constexpr (op == Op::Pow) {
    if (!is_floating(compute)) {
      for (int64_t e : in[1].to_vector<int64_t>())
        EMBER_CHECK(e >= 0, ValueError, "pow: integers to negative integer powers are not allowed");
    }
  }
  Dims shape = broadcast_shapes(in[0].sizes(), in[1].sizes(), name);
  Tensor a = as_dtype(in[0], compute), b = as_dtype(in[1], compute);
  DType out_dtype = (compare || logic) ? kBool : compute;
  // A third input is the output, written in place (the fast path of add_ and friends, which
  // checks shape, dtype and aliasing before it passes one).
  if (in.size() > 2)
    EMBER_ASSERT(in[2].sizes() == shape && in[2].dtype() == out_dtype && in[2].is_contiguous(),
                 name, ": bad output tensor for an in-place call");
  Tensor out = in.size() > 2 ? in[2] : make_tensor(shape, out_dtype);
  int64_t grain = op == Op::Pow ? 4096 : kGrainSize;
  visit_dtype(compute, [&](auto x) { run_binary<op, decltype(x)>(out, a, b, grain); });
  if (in.size() > 2) out.bump_version();  // written in place, as copy_ and fill_ bump theirs
  return {out};
}

// where over a contiguous condition of the output's shape, each value contiguous of that shape
// or a single element (a derivative's where(x > 0, 1, 0), a mask's where(m, x, 0)): one loop,
// vectorised (the general walk took ~2 ns an element on such calls). False when it does not
// apply.
template <class T, bool ScalarA, bool ScalarB>
void where_rows(T* o, const bool* c, const T* a, const T* b, int64_t n) {
  parallel_for(0, n, kGrainSize, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) o[i] = c[i] ? a[ScalarA ? 0 : i] : b[ScalarB ? 0 : i];
  });
}
bool where_fast(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  auto fits = [&](const Tensor& t) {
    return t.numel() == 1 || (t.sizes() == out.sizes() && t.is_contiguous());
  };
  if (cond.sizes() != out.sizes() || !cond.is_contiguous() || !fits(a) || !fits(b) ||
      (out.dtype() != kFloat32 && out.dtype() != kFloat64))
    return false;
  const int64_t n = out.numel();
  const bool sa = a.numel() == 1 && n != 1, sb = b.numel() == 1 && n != 1;
  visit_dtype(out.dtype(), [&](auto x) {
    using T = decltype(x);
    if constexpr (std::is_floating_point_v<T>) {
      T* o = reinterpret_cast<T*>(out.impl()->data());
      const bool* c = reinterpret_cast<const bool*>(cond.impl()->data());
      const T* pa = reinterpret_cast<const T*>(a.impl()->data());
      const T* pb = reinterpret_cast<const T*>(b.impl()->data());
      if (sa && sb)
        where_rows<T, true, true>(o, c, pa, pb, n);
      else if (sa)
        where_rows<T, true, false>(o, c, pa, pb, n);
      else if (sb)
        where_rows<T, false, true>(o, c, pa, pb, n);
      else
        where_rows<T, false, false>(o, c, pa, pb, n);
    }
  });
  return true;
}

TensorList where_kernel(std::span<const Tensor> in, const Attrs&) {
  EMBER_CHECK(in[0].dtype() == kBool, DTypeError,
              "where: expected condition to be a bool tensor, got ", dtype_name(in[0].dtype()));
  Dims shape = broadcast_shapes(broadcast_shapes(in[0].sizes(), in[1].sizes(), "where"),
                                in[2].sizes(), "where");
  DType d = result_type(in[1], in[2]);
  Tensor a = as_dtype(in[1], d), b = as_dtype(in[2], d);
  Tensor out = make_tensor(shape, d);
  if (where_fast(out, in[0], a, b)) return {out};
  visit_dtype(d, [&](auto x) {
    using T = decltype(x);
    loops::for_each<T, bool, T, T>(out, {&in[0], &a, &b},
                                   [](bool c, T u, T v) -> T { return c ? u : v; });
  });
  return {out};
}

Tensor binary(Op op, const Tensor& a, const Tensor& b) { return dispatch1(op, {a, b}); }

}  // namespace

namespace detail {
void register_binary_kernels() {
  register_kernel(Op::Add, binary_kernel<Op::Add>);
  register_kernel(Op::Sub, binary_kernel<Op::Sub>);
  register_kernel(Op::Mul, binary_kernel<Op::Mul>);
  register_kernel(Op::Div, binary_kernel<Op::Div>);
  register_kernel(Op::Pow, binary_kernel<Op::Pow>);
  register_kernel(Op::Maximum, binary_kernel<Op::Maximum>);
  register_kernel(Op::Minimum, binary_kernel<Op::Minimum>);
  register_kernel(Op::Eq, binary_kernel<Op::Eq>);
  register_kernel(Op::Ne, binary_kernel<Op::Ne>);
  register_kernel(Op::Lt, binary_kernel<Op::Lt>);
  register_kernel(Op::Le, binary_kernel<Op::Le>);
  register_kernel(Op::Gt, binary_kernel<Op::Gt>);
  register_kernel(Op::Ge, binary_kernel<Op::Ge>);
  register_kernel(Op::LogicalAnd, binary_kernel<Op::LogicalAnd>);
  register_kernel(Op::LogicalOr, binary_kernel<Op::LogicalOr>);
  register_kernel(Op::Where, where_kernel);
}
}  // namespace detail

Tensor add(const Tensor& a, const Tensor& b, Scalar alpha) {
  if (alpha.to_double() == 1) return binary(Op::Add, a, b);
  return binary(Op::Add, a, binary(Op::Mul, b, wrapped_scalar(alpha)));
}
Tensor sub(const Tensor& a, const Tensor& b, Scalar alpha) {
  if (alpha.to_double() == 1) return binary(Op::Sub, a, b);
  return binary(Op::Sub, a, binary(Op::Mul, b, wrapped_scalar(alpha)));
}
Tensor mul(const Tensor& a, const Tensor& b) { return binary(Op::Mul, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary(Op::Div, a, b); }
Tensor pow(const Tensor& a, const Tensor& e) { return binary(Op::Pow, a, e); }
Tensor pow(const Tensor& a, Scalar e) {
  // The common exponents as cheaper ops, as PyTorch does (same values, better gradients).
  double v = e.to_double();
  if (v == 1) return a.clone();
  if (v == 2 && is_floating(a.dtype())) return binary(Op::Mul, a, a);
  if (v == 0.5 && is_floating(a.dtype())) return a.sqrt();
  return binary(Op::Pow, a, wrapped_scalar(e));
}
Tensor pow(Scalar a, const Tensor& e) { return binary(Op::Pow, wrapped_scalar(a), e); }
Tensor maximum(const Tensor& a, const Tensor& b) { return binary(Op::Maximum, a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return binary(Op::Minimum, a, b); }
Tensor eq(const Tensor& a, const Tensor& b) { return binary(Op::Eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return binary(Op::Ne, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return binary(Op::Lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return binary(Op::Le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return binary(Op::Gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return binary(Op::Ge, a, b); }
Tensor logical_and(const Tensor& a, const Tensor& b) { return binary(Op::LogicalAnd, a, b); }
Tensor logical_or(const Tensor& a, const Tensor& b) { return binary(Op::LogicalOr, a, b); }
Tensor where(const Tensor& c, const Tensor& a, const Tensor& b) {
  return dispatch1(Op::Where, {c, a, b});
}

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator+(const Tensor& a, Scalar b) { return add(a, wrapped_scalar(b)); }
Tensor operator-(const Tensor& a, Scalar b) { return sub(a, wrapped_scalar(b)); }
Tensor operator*(const Tensor& a, Scalar b) { return mul(a, wrapped_scalar(b)); }
Tensor operator/(const Tensor& a, Scalar b) { return div(a, wrapped_scalar(b)); }
Tensor operator+(Scalar a, const Tensor& b) { return add(wrapped_scalar(a), b); }
Tensor operator-(Scalar a, const Tensor& b) { return sub(wrapped_scalar(a), b); }
Tensor operator*(Scalar a, const Tensor& b) { return mul(wrapped_scalar(a), b); }
Tensor operator/(Scalar a, const Tensor& b) { return div(wrapped_scalar(a), b); }
Tensor operator==(const Tensor& a, const Tensor& b) { return eq(a, b); }
Tensor operator!=(const Tensor& a, const Tensor& b) { return ne(a, b); }
Tensor operator<(const Tensor& a, const Tensor& b) { return lt(a, b); }
Tensor operator<=(const Tensor& a, const Tensor& b) { return le(a, b); }
Tensor operator>(const Tensor& a, const Tensor& b) { return gt(a, b); }
Tensor operator>=(const Tensor& a, const Tensor& b) { return ge(a, b); }
Tensor operator==(const Tensor& a, Scalar b) { return eq(a, wrapped_scalar(b)); }
Tensor operator!=(const Tensor& a, Scalar b) { return ne(a, wrapped_scalar(b)); }
Tensor operator<(const Tensor& a, Scalar b) { return lt(a, wrapped_scalar(b)); }
Tensor operator<=(const Tensor& a, Scalar b) { return le(a, wrapped_scalar(b)); }
Tensor operator>(const Tensor& a, Scalar b) { return gt(a, wrapped_scalar(b)); }
Tensor operator>=(const Tensor& a, Scalar b) { return ge(a, wrapped_scalar(b)); }
Tensor operator&&(const Tensor& a, const Tensor& b) { return logical_and(a, b); }
Tensor operator||(const Tensor& a, const Tensor& b) { return logical_or(a, b); }

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol, bool equal_nan) {
  NoGradGuard g;
  Tensor x = a.to(kFloat64), y = b.to(kFloat64);
  Tensor diff = abs(x - y);
  Tensor tol = abs(y) * rtol + atol;
  Tensor ok = diff <= tol;
  if (equal_nan) ok = ok || ((x != x) && (y != y));
  return ok.numel() == 0 || ok.to(kInt64).amin().item<int64_t>() == 1;
}

bool equal(const Tensor& a, const Tensor& b) {
  if (!(a.sizes() == b.sizes())) return false;
  NoGradGuard g;
  Tensor ok = a == b;
  return ok.numel() == 0 || ok.to(kInt64).amin().item<int64_t>() == 1;
}

// ---- in-place arithmetic: compute, then copy_ into self (one version bump, autograd-safe) ----

namespace {
// The result must keep self's shape and fit its dtype category, as PyTorch requires.
const Tensor& assign(const char* op, const Tensor& self, const Tensor& result) {
  EMBER_CHECK(result.sizes() == self.sizes(), ShapeError, op, ": output with shape ", self.sizes(),
              " doesn't match the broadcast shape ", result.sizes());
  EMBER_CHECK(category(result.dtype()) <= category(self.dtype()), DTypeError, op, ": result type ",
              dtype_name(result.dtype()), " can't be cast to the desired output type ",
              dtype_name(self.dtype()));
  return self.copy_(result);
}

// self op= o computed straight into self, when autograd has nothing to record, the result keeps
// self's shape and dtype, self is contiguous (no element written twice) and o does not overlap
// self except as the very same elements. Otherwise false: compute, then copy_ (above).
bool try_direct(Op op, const Tensor& self, const Tensor& o) {
  if (!self.defined() || !o.defined()) return false;
  if (GradMode::is_enabled() && (self.requires_grad() || o.requires_grad())) return false;
  if (!self.is_contiguous() || self.dtype() == kBool) return false;
  DType r = result_type(self, o);
  if (op == Op::Div && !is_floating(r)) r = default_dtype();
  if (r != self.dtype()) return false;
  if (o.storage() == self.storage() &&
      !(o.storage_offset() == self.storage_offset() && o.sizes() == self.sizes() &&
        o.strides() == self.strides()))
    return false;
  if (!(broadcast_shapes(self.sizes(), o.sizes(), op_name(op)) == self.sizes())) return false;
  dispatch(op, {self, o, self});  // the kernel (or the JIT's tracer) moves self's version
  return true;
}

const Tensor& inplace(Op op, const char* name, const Tensor& self, const Tensor& o) {
  if (try_direct(op, self, o)) return self;
  return assign(name, self, binary(op, self, o));
}
}  // namespace

const Tensor& Tensor::add_(const Tensor& o, Scalar alpha) const {
  if (alpha.to_double() != 1) return add_(binary(Op::Mul, o, wrapped_scalar(alpha)));
  return inplace(Op::Add, "add_", *this, o);
}
const Tensor& Tensor::sub_(const Tensor& o, Scalar alpha) const {
  if (alpha.to_double() != 1) return sub_(binary(Op::Mul, o, wrapped_scalar(alpha)));
  return inplace(Op::Sub, "sub_", *this, o);
}
const Tensor& Tensor::mul_(const Tensor& o) const { return inplace(Op::Mul, "mul_", *this, o); }
const Tensor& Tensor::div_(const Tensor& o) const { return inplace(Op::Div, "div_", *this, o); }
const Tensor& Tensor::add_(Scalar o) const { return add_(wrapped_scalar(o)); }
const Tensor& Tensor::sub_(Scalar o) const { return sub_(wrapped_scalar(o)); }
const Tensor& Tensor::mul_(Scalar o) const { return mul_(wrapped_scalar(o)); }
const Tensor& Tensor::div_(Scalar o) const { return div_(wrapped_scalar(o)); }

}  // namespace ember
