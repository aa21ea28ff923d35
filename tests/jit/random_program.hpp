// Random programs of ember ops for the JIT's differential tester (tests/jit/test_differential.cpp).
// A program is data: its input specs (shape, dtype, memory layout) and a list of op records over
// numbered values (v0.. are the inputs). It is generated from a seed, printed readably
// (`v4 = sum(v3, dims=[1], keepdim=0)  # f32[3,5]`) and run by one interpreter over ember's
// ordinary API, eagerly or inside a jit::Region (where the JIT traces the same calls).
//
// The generator keeps programs valid (broadcast-compatible operands, legal dims) and numerically
// tame, so that two correct implementations agree within float rounding: exp/expm1/sin/cos get
// bounded arguments, log/sqrt/rsqrt/division/negative or fractional powers get abs(x) + eps, and
// values stay below ~1e5. Guards are ordinary ops in the program, printed like the rest.
//
// Programs also write, as training code does: in-place ops (add_ sub_ mul_ div_ copy_ fill_
// clamp_) on inputs, on values computed in the program and through views (select, narrow,
// transpose, flatten) of both, with the same tensor as target and operand, and optimizer-like
// updates (buf.mul_(m).add_(g); p.add_(buf, alpha=-lr)). A write's value is its target (as
// `x.add_(y)` returns x). Scalar operands may be runtime scalars, `$k`: drawn per execution
// (0, 1 and values equal to other scalars of the program included), so one compiled kernel must
// serve them all. A program may run as several consecutive regions per run ("steps"), the
// inputs carrying their state from one to the next. Inputs of these programs never require grad,
// so no write is one that eager code would refuse; nothing writes into an expanded input (eager
// code would write one element many times).
//
// The gradient mode (random_grad_program_gen.hpp, tests/jit/test_differential_grad.cpp) makes
// programs of pure differentiable ops, nn ops among them, over inputs of which some require grad,
// with a loss over some of their values.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "ember.hpp"
#include "support/reference.hpp"

namespace ember::test::fuzz {

enum class Kind {
  // tensor-tensor with broadcasting; Add..Div also tensor-scalar when b < 0
  Add,
  Sub,
  Mul,
  Div,
  Maximum,
  Minimum,
  // unary
  Neg,
  Abs,
  Exp,
  Log,
  Sqrt,
  Rsqrt,
  Log1p,
  Expm1,
  Tanh,
  Sigmoid,
  Relu,
  Gelu,
  Silu,
  Erf,
  Sin,
  Cos,
  PowScalar,
  Clamp,
  // comparisons (tensor-tensor or tensor-scalar) and where
  Cmp,
  Where,
  UserKernel,  ///< a user's dsl::pointwise kernel of a and b with a runtime scalar (user_kernel)
  // reductions and normalisations
  Sum,
  Mean,
  Amax,
  Softmax,
  LogSoftmax,
  // views: share their operand's storage
  Select,     ///< dims = {dim, index}
  Narrow,     ///< dims = {dim, start, length}
  Transpose,  ///< dims = {dim0, dim1}
  Flatten,    ///< view({-1}) of a contiguous value
  // in place: the value is the target a after the write; b the operand, or -1 for the scalar
  AddInplace,
  SubInplace,
  MulInplace,
  DivInplace,
  CopyInplace,
  FillInplace,
  ClampInplace,
  // creation: zeros_like(a), a fresh tensor (optimizer state made in the region)
  ZerosLike,
  // nn ops, made by the gradient mode's generator only (random_grad_program_gen.hpp)
  Matmul,        ///< matmul(a, b)
  Linear,        ///< linear(a, weight b, bias c or -1)
  LayerNorm,     ///< layer_norm(a, normalized_shape dims, weight b or -1, bias c or -1)
  MseLoss,       ///< mse_loss(a, b, reduction)
  CrossEntropy,  ///< cross_entropy(a, target dims (class indices), reduction)
  Conv2d,        ///< conv2d(a [N, C, H, W], weight b, bias c or -1), dims {stride, padding}
  BatchNorm,     ///< batch_norm(a, weight b or -1, bias c or -1), training, no running stats
  AvgPool2d,     ///< avg_pool2d(a, kernel dims[0], stride dims[1])
  AdaptivePool,  ///< adaptive_avg_pool2d(a, output size dims)
  MaxPool2d,     ///< max_pool2d(a, kernel dims[0], stride dims[1])
  kCount
};

inline bool is_view(Kind k) { return k >= Kind::Select && k <= Kind::Flatten; }
inline bool is_inplace(Kind k) { return k >= Kind::AddInplace && k <= Kind::ClampInplace; }
/// The kinds only gradient-mode programs use.
inline bool is_nn(Kind k) { return k >= Kind::Matmul && k < Kind::kCount; }

inline const char* kind_name(Kind k) {
  static const char* names[] = {"add",
                                "sub",
                                "mul",
                                "div",
                                "maximum",
                                "minimum",
                                "neg",
                                "abs",
                                "exp",
                                "log",
                                "sqrt",
                                "rsqrt",
                                "log1p",
                                "expm1",
                                "tanh",
                                "sigmoid",
                                "relu",
                                "gelu",
                                "silu",
                                "erf",
                                "sin",
                                "cos",
                                "pow",
                                "clamp",
                                "cmp",
                                "where",
                                "user_kernel",
                                "sum",
                                "mean",
                                "amax",
                                "softmax",
                                "log_softmax",
                                "select",
                                "narrow",
                                "transpose",
                                "flatten",
                                "add_",
                                "sub_",
                                "mul_",
                                "div_",
                                "copy_",
                                "fill_",
                                "clamp_",
                                "zeros_like",
                                "matmul",
                                "linear",
                                "layer_norm",
                                "mse_loss",
                                "cross_entropy",
                                "conv2d",
                                "batch_norm",
                                "avg_pool2d",
                                "adaptive_avg_pool2d",
                                "max_pool2d"};
  static_assert(sizeof(names) / sizeof(names[0]) == size_t(Kind::kCount));
  return names[int(k)];
}

inline const char* cmp_name(int c) {
  static const char* names[] = {"lt", "le", "gt", "ge", "eq", "ne"};
  return names[c];
}

struct Instr {
  Kind kind;
  int a = -1, b = -1, c = -1;  ///< operand values; b < 0 with a binary kind: the scalar s
  double s = 0;                ///< scalar operand, pow exponent, clamp min
  double s2 = 0;               ///< clamp max
  bool scalar_first = false;   ///< `s - a` instead of `a - s`
  bool has_min = false, has_max = false;  ///< clamp bounds present
  int cmp = 0;                            ///< lt le gt ge eq ne
  std::vector<int64_t> dims{};            ///< reduction dims (empty = all); softmax: {dim}
  bool keepdim = false;
  int slot = -1;   ///< >= 0: the scalar operand is the runtime scalar $slot, not s
  int alpha = -1;  ///< add_/sub_ with a tensor: the runtime scalar alpha, or -1 (no alpha)
  Reduction reduction = Reduction::Mean;  ///< mse_loss, cross_entropy
};

enum class Layout { Contiguous, Transposed, Sliced, Strided, Expanded };

inline const char* layout_name(Layout l) {
  static const char* names[] = {"contiguous", "transposed", "sliced", "strided", "expanded"};
  return names[int(l)];
}

struct InputSpec {
  std::vector<int64_t> shape;
  DType dtype = kFloat32;
  Layout layout = Layout::Contiguous;
  int d0 = 0, d1 = 0;          ///< transposed dims; sliced/expanded dim
  int64_t nan_at = -1;         ///< index into the backing buffer set to NaN, or -1
  int same_as = -1;            ///< >= 0: the very tensor of that earlier input (passed twice)
  bool requires_grad = false;  ///< a primal of the gradient mode
};

/// Shape and dtype of a value, as the generator tracks them.
struct ValueInfo {
  std::vector<int64_t> shape;
  DType dtype = kFloat32;
  double bound = 5;   ///< |value| stays below this (heuristic: inputs are randn)
  double lo = -5;     ///< value stays above this
  bool exact = true;  ///< computed without rounding from the inputs (ties are real ties)
  int group = -1;     ///< the value owning the storage this one reads (itself unless a view/write)
  bool writable = true;    ///< in-place writes allowed (not an expanded input or a view of one)
  bool contiguous = true;  ///< row-major dense (flatten may view it)
};

struct Program {
  uint64_t seed = 0;
  int runs = 4;   ///< runs of the program the tester compares (each on fresh inputs)
  int steps = 1;  ///< consecutive regions per run, inputs carried across
  /// The runtime scalars: scalars[k][e] is $k in execution e = run * steps + step.
  std::vector<std::vector<double>> scalars;
  std::vector<InputSpec> inputs;
  std::vector<Instr> ops;  ///< ops[i] defines value inputs.size() + i
  std::vector<int> outputs;
  std::vector<ValueInfo> info;  ///< per value
  /// Gradient mode: the loss is the sum over these of sum(value * weight), each weight a fixed
  /// random tensor of the value's shape (so every element gets its own incoming gradient).
  std::vector<int> loss;
  int value_count() const { return int(inputs.size() + ops.size()); }
  const Instr& def(int v) const { return ops[v - inputs.size()]; }
  bool is_input(int v) const { return v < int(inputs.size()); }
  int executions() const { return runs * steps; }
  /// The scalar operand of `in` in execution `e`.
  double scalar(const Instr& in, int e) const {
    return in.slot >= 0 ? scalars[size_t(in.slot)][size_t(e % executions())] : in.s;
  }
  double alpha(const Instr& in, int e) const {
    return scalars[size_t(in.alpha)][size_t(e % executions())];
  }
};

// ---- shapes ----

inline int64_t numel(const std::vector<int64_t>& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

inline bool broadcastable(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    int64_t x = a[a.size() - 1 - i], y = b[b.size() - 1 - i];
    if (x != y && x != 1 && y != 1) return false;
  }
  return true;
}

inline std::vector<int64_t> broadcast(const std::vector<int64_t>& a,
                                      const std::vector<int64_t>& b) {
  std::vector<int64_t> r(std::max(a.size(), b.size()));
  for (size_t i = 0; i < r.size(); ++i) {
    int64_t x = i < a.size() ? a[a.size() - 1 - i] : 1, y = i < b.size() ? b[b.size() - 1 - i] : 1;
    r[r.size() - 1 - i] = x == 1 ? y : x;
  }
  return r;
}

inline DType promoted(DType a, DType b) { return a == kFloat64 || b == kFloat64 ? kFloat64 : a; }
/// The result dtype of a binary op, as ember's (and PyTorch's) promotion: a 0-d operand does
/// not promote one with dims.
inline DType promoted(const std::vector<int64_t>& as, DType a, const std::vector<int64_t>& bs,
                      DType b) {
  if (as.empty() != bs.empty()) return as.empty() ? b : a;
  return promoted(a, b);
}

inline std::string shape_str(const std::vector<int64_t>& s) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < s.size(); ++i) os << (i ? "," : "") << s[i];
  os << ']';
  return os.str();
}

inline std::string type_str(const ValueInfo& v) {
  const char* d = v.dtype == kFloat64 ? "f64" : v.dtype == kBool ? "bool" : "f32";
  return d + shape_str(v.shape);
}

// ---- printing ----

inline std::string scalar_str(double s) {
  std::ostringstream os;
  os << s;
  return os.str();
}

/// A runtime scalar's name: $k.
inline std::string slot_str(int k) {
  std::string s = std::to_string(k);
  s.insert(s.begin(), '$');
  return s;
}

inline std::string instr_str(const Instr& in) {
  std::ostringstream os;
  auto v = [](int i) {
    std::string s = std::to_string(i);
    s.insert(s.begin(), 'v');  // not "v" + ...: g++ 12 warns falsely (-Wrestrict) on that
    return s;
  };
  auto sc = [&] { return in.slot >= 0 ? slot_str(in.slot) : scalar_str(in.s); };
  switch (in.kind) {
    case Kind::Add:
    case Kind::Sub:
    case Kind::Mul:
    case Kind::Div:
    case Kind::Maximum:
    case Kind::Minimum:
      if (in.b >= 0)
        os << kind_name(in.kind) << '(' << v(in.a) << ", " << v(in.b) << ')';
      else if (in.scalar_first)
        os << kind_name(in.kind) << '(' << sc() << ", " << v(in.a) << ')';
      else
        os << kind_name(in.kind) << '(' << v(in.a) << ", " << sc() << ')';
      break;
    case Kind::PowScalar:
      os << "pow(" << v(in.a) << ", " << in.s << ')';
      break;
    case Kind::Clamp:
      os << "clamp(" << v(in.a) << ", min=" << (in.has_min ? scalar_str(in.s) : "none")
         << ", max=" << (in.has_max ? scalar_str(in.s2) : "none") << ')';
      break;
    case Kind::Cmp:
      os << cmp_name(in.cmp) << '(' << v(in.a) << ", " << (in.b >= 0 ? v(in.b) : scalar_str(in.s))
         << ')';
      break;
    case Kind::Where:
      os << "where(" << v(in.c) << ", " << v(in.a) << ", " << v(in.b) << ')';
      break;
    case Kind::UserKernel:
      os << "user_kernel(" << v(in.a) << ", " << v(in.b) << ", " << sc()
         << ")  # dsl: a * sigmoid(b * s) + tanh(b)";
      break;
    case Kind::Sum:
    case Kind::Mean:
    case Kind::Amax:
      os << kind_name(in.kind) << '(' << v(in.a) << ", dims=" << shape_str(in.dims)
         << ", keepdim=" << in.keepdim << ')';
      break;
    case Kind::Softmax:
    case Kind::LogSoftmax:
      os << kind_name(in.kind) << '(' << v(in.a) << ", dim=" << in.dims[0] << ')';
      break;
    case Kind::Select:
      os << "select(" << v(in.a) << ", dim=" << in.dims[0] << ", index=" << in.dims[1] << ')';
      break;
    case Kind::Narrow:
      os << "narrow(" << v(in.a) << ", dim=" << in.dims[0] << ", start=" << in.dims[1]
         << ", length=" << in.dims[2] << ')';
      break;
    case Kind::Transpose:
      os << "transpose(" << v(in.a) << ", " << in.dims[0] << ", " << in.dims[1] << ')';
      break;
    case Kind::AddInplace:
    case Kind::SubInplace:
    case Kind::MulInplace:
    case Kind::DivInplace:
    case Kind::CopyInplace:
      os << v(in.a) << '.' << kind_name(in.kind) << '(' << (in.b >= 0 ? v(in.b) : sc());
      if (in.alpha >= 0) os << ", alpha=" << slot_str(in.alpha);
      os << ')';
      break;
    case Kind::FillInplace:
      os << v(in.a) << ".fill_(" << sc() << ')';
      break;
    case Kind::ClampInplace:
      os << v(in.a) << ".clamp_(min=" << (in.has_min ? scalar_str(in.s) : "none")
         << ", max=" << (in.has_max ? scalar_str(in.s2) : "none") << ')';
      break;
    case Kind::Matmul:
      os << "matmul(" << v(in.a) << ", " << v(in.b) << ')';
      break;
    case Kind::Linear:
      os << "linear(" << v(in.a) << ", " << v(in.b) << ", bias=" << (in.c >= 0 ? v(in.c) : "none")
         << ')';
      break;
    case Kind::LayerNorm:
      os << "layer_norm(" << v(in.a) << ", " << shape_str(in.dims)
         << ", weight=" << (in.b >= 0 ? v(in.b) : "none")
         << ", bias=" << (in.c >= 0 ? v(in.c) : "none") << ')';
      break;
    case Kind::Conv2d:
      os << "conv2d(" << v(in.a) << ", " << v(in.b) << ", bias=" << (in.c >= 0 ? v(in.c) : "none")
         << ", stride=" << in.dims[0] << ", padding=" << in.dims[1] << ')';
      break;
    case Kind::BatchNorm:
      os << "batch_norm(" << v(in.a) << ", weight=" << (in.b >= 0 ? v(in.b) : "none")
         << ", bias=" << (in.c >= 0 ? v(in.c) : "none") << ", training=1)";
      break;
    case Kind::AvgPool2d:
    case Kind::MaxPool2d:
      os << kind_name(in.kind) << '(' << v(in.a) << ", kernel=" << in.dims[0]
         << ", stride=" << in.dims[1] << ')';
      break;
    case Kind::AdaptivePool:
      os << "adaptive_avg_pool2d(" << v(in.a) << ", " << shape_str(in.dims) << ')';
      break;
    case Kind::MseLoss:
    case Kind::CrossEntropy: {
      static const char* reductions[] = {"none", "mean", "sum"};
      os << kind_name(in.kind) << '(' << v(in.a) << ", "
         << (in.kind == Kind::MseLoss ? v(in.b) : "target=" + shape_str(in.dims))
         << ", reduction=" << reductions[int(in.reduction)] << ')';
      break;
    }
    default:
      os << kind_name(in.kind) << '(' << v(in.a) << ')';
  }
  return os.str();
}

/// The whole program, one line per value, with each value's dtype and shape.
inline std::string to_string(const Program& p) {
  std::ostringstream os;
  os << "program seed " << p.seed;
  if (p.steps > 1) os << ", " << p.steps << " consecutive regions per run, inputs carried across";
  os << ":\n";
  for (size_t i = 0; i < p.inputs.size(); ++i) {
    const InputSpec& in = p.inputs[i];
    if (in.same_as >= 0) {
      os << "  v" << i << " = input v" << in.same_as << " (the same tensor again)\n";
      continue;
    }
    os << "  v" << i << " = input " << type_str(p.info[i]) << ' ' << layout_name(in.layout);
    if (in.layout == Layout::Transposed) os << '(' << in.d0 << ',' << in.d1 << ')';
    if (in.layout == Layout::Sliced || in.layout == Layout::Expanded) os << "(dim " << in.d0 << ')';
    if (in.nan_at >= 0) os << ", NaN at buffer[" << in.nan_at << ']';
    if (in.requires_grad) os << ", requires grad";
    os << '\n';
  }
  for (size_t i = 0; i < p.ops.size(); ++i) {
    int id = int(p.inputs.size() + i);
    os << "  v" << id << " = " << instr_str(p.ops[i]) << "  # " << type_str(p.info[id]);
    if (is_view(p.ops[i].kind) || is_inplace(p.ops[i].kind))
      os << ", storage of v" << p.info[id].group;
    os << '\n';
  }
  os << "  outputs:";
  for (int o : p.outputs) os << " v" << o;
  os << '\n';
  if (!p.loss.empty()) {
    os << "  loss = sum of sum(v * random weight) over:";
    for (int o : p.loss) os << " v" << o;
    os << '\n';
  }
  for (size_t k = 0; k < p.scalars.size(); ++k) {
    os << "  " << slot_str(int(k)) << " by execution (run * steps + step):";
    for (double x : p.scalars[k]) os << ' ' << x;
    os << '\n';
  }
  return os.str();
}

// ---- inputs ----

/// The tensor for an input spec, filled with seeded standard normal values (NaN where asked),
/// laid out as the spec says.
inline Tensor make_input(const InputSpec& in, uint64_t seed) {
  std::vector<int64_t> buf_shape = in.shape;
  if (in.layout == Layout::Transposed) std::swap(buf_shape[in.d0], buf_shape[in.d1]);
  if (in.layout == Layout::Sliced) buf_shape[in.d0] = 2 * in.shape[in.d0] + 1;
  if (in.layout == Layout::Expanded) buf_shape[in.d0] = 1;
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  std::vector<double> vals(numel(buf_shape));
  for (double& x : vals) x = normal(rng);
  if (in.nan_at >= 0 && in.nan_at < int64_t(vals.size())) vals[in.nan_at] = NAN;
  Tensor t = tensor(vals, Dims(buf_shape));
  if (buf_shape.empty()) t = t.reshape(Dims{});  // tensor(vals, {}) is 1-d
  if (in.dtype == kFloat32) t = t.to(kFloat32);
  switch (in.layout) {
    case Layout::Contiguous:
      return t;
    case Layout::Transposed:
      return t.transpose(in.d0, in.d1);
    case Layout::Sliced:
      return t.slice(in.d0, 1, buf_shape[in.d0], 2);
    case Layout::Strided:
      return test::noncontiguous(t);
    case Layout::Expanded:
      return t.expand(Dims(in.shape));
  }
  return t;
}

// ---- the interpreter ----

/// A user's dsl kernel (issue 16): its own fused loop eagerly; inside a region the ops of its
/// formula, fused with the program's other ops. `s` is a C++ number of the formula (a runtime
/// scalar inside a region).
inline Tensor user_kernel(const Tensor& a, const Tensor& b, double s) {
  const auto k = dsl::pointwise(
      [s](auto x, auto y) { return x * dsl::sigmoid(y * s) + dsl::tanh(y); }, "user_kernel");
  return k(a, b);
}

/// The value instruction `in` defines, given the values before it, in execution `e` (which
/// picks the runtime scalars). In-place kinds write their target and return it.
inline Tensor apply(const Program& p, const Instr& in, const std::vector<Tensor>& v, int e) {
  const Tensor& a = v[in.a];
  const double s = p.scalar(in, e);
  Tensor r;
  switch (in.kind) {
    case Kind::Add:
      r = in.b >= 0 ? a + v[in.b] : in.scalar_first ? s + a : a + s;
      break;
    case Kind::Sub:
      r = in.b >= 0 ? a - v[in.b] : in.scalar_first ? s - a : a - s;
      break;
    case Kind::Mul:
      r = in.b >= 0 ? a * v[in.b] : in.scalar_first ? s * a : a * s;
      break;
    case Kind::Div:
      r = in.b >= 0 ? a / v[in.b] : in.scalar_first ? s / a : a / s;
      break;
    case Kind::Maximum:
      r = maximum(a, v[in.b]);
      break;
    case Kind::Minimum:
      r = minimum(a, v[in.b]);
      break;
    case Kind::Neg:
      r = -a;
      break;
    case Kind::Abs:
      r = abs(a);
      break;
    case Kind::Exp:
      r = exp(a);
      break;
    case Kind::Log:
      r = log(a);
      break;
    case Kind::Sqrt:
      r = sqrt(a);
      break;
    case Kind::Rsqrt:
      r = rsqrt(a);
      break;
    case Kind::Log1p:
      r = log1p(a);
      break;
    case Kind::Expm1:
      r = expm1(a);
      break;
    case Kind::Tanh:
      r = tanh(a);
      break;
    case Kind::Sigmoid:
      r = sigmoid(a);
      break;
    case Kind::Relu:
      r = relu(a);
      break;
    case Kind::Gelu:
      r = gelu(a);
      break;
    case Kind::Silu:
      r = silu(a);
      break;
    case Kind::Erf:
      r = erf(a);
      break;
    case Kind::Sin:
      r = sin(a);
      break;
    case Kind::Cos:
      r = cos(a);
      break;
    case Kind::PowScalar:
      r = pow(a, in.s);
      break;
    case Kind::Clamp:
      r = clamp(a, in.has_min ? std::optional<double>(in.s) : std::nullopt,
                in.has_max ? std::optional<double>(in.s2) : std::nullopt);
      break;
    case Kind::Cmp: {
      if (in.b >= 0) {
        const Tensor& b = v[in.b];
        Tensor (*f[])(const Tensor&, const Tensor&) = {lt, le, gt, ge, eq, ne};
        r = f[in.cmp](a, b);
      } else {
        switch (in.cmp) {
          case 0:
            r = a < in.s;
            break;
          case 1:
            r = a <= in.s;
            break;
          case 2:
            r = a > in.s;
            break;
          case 3:
            r = a >= in.s;
            break;
          case 4:
            r = a == in.s;
            break;
          default:
            r = a != in.s;
            break;
        }
      }
      break;
    }
    case Kind::Where:
      r = where(v[in.c], a, v[in.b]);
      break;
    case Kind::UserKernel:
      r = user_kernel(a, v[in.b], s);
      break;
    case Kind::Sum:
      r = sum(a, Dims(in.dims), in.keepdim);
      break;
    case Kind::Mean:
      r = mean(a, Dims(in.dims), in.keepdim);
      break;
    case Kind::Amax:
      r = amax(a, Dims(in.dims), in.keepdim);
      break;
    case Kind::Softmax:
      r = softmax(a, in.dims[0]);
      break;
    case Kind::LogSoftmax:
      r = log_softmax(a, in.dims[0]);
      break;
    case Kind::Select:
      r = a.select(in.dims[0], in.dims[1]);
      break;
    case Kind::Narrow:
      r = a.narrow(in.dims[0], in.dims[1], in.dims[2]);
      break;
    case Kind::Transpose:
      r = a.transpose(in.dims[0], in.dims[1]);
      break;
    case Kind::Flatten:
      r = a.view({-1});
      break;
    case Kind::AddInplace:
      if (in.b < 0)
        r = a.add_(s);
      else
        r = in.alpha >= 0 ? a.add_(v[in.b], p.alpha(in, e)) : a.add_(v[in.b]);
      break;
    case Kind::SubInplace:
      if (in.b < 0)
        r = a.sub_(s);
      else
        r = in.alpha >= 0 ? a.sub_(v[in.b], p.alpha(in, e)) : a.sub_(v[in.b]);
      break;
    case Kind::MulInplace:
      r = in.b >= 0 ? a.mul_(v[in.b]) : a.mul_(s);
      break;
    case Kind::DivInplace:
      r = in.b >= 0 ? a.div_(v[in.b]) : a.div_(s);
      break;
    case Kind::CopyInplace:
      r = a.copy_(v[in.b]);
      break;
    case Kind::FillInplace:
      r = a.fill_(s);
      break;
    case Kind::ClampInplace:
      r = a.clamp_(in.has_min ? std::optional<double>(in.s) : std::nullopt,
                   in.has_max ? std::optional<double>(in.s2) : std::nullopt);
      break;
    case Kind::ZerosLike:
      r = zeros_like(a);
      break;
    case Kind::Matmul:
      r = matmul(a, v[in.b]);
      break;
    case Kind::Linear:
      r = nn::functional::linear(a, v[in.b], in.c >= 0 ? v[in.c] : Tensor());
      break;
    case Kind::LayerNorm:
      r = nn::functional::layer_norm(a, Dims(in.dims), in.b >= 0 ? v[in.b] : Tensor(),
                                     in.c >= 0 ? v[in.c] : Tensor());
      break;
    case Kind::MseLoss:
      r = nn::functional::mse_loss(a, v[in.b], {.reduction = in.reduction});
      break;
    case Kind::CrossEntropy: {
      Tensor target = tensor(in.dims, Dims{int64_t(in.dims.size())});
      if (a.dim() == 1) target = target.reshape(Dims{});
      r = nn::functional::cross_entropy(a, target, {.reduction = in.reduction});
      break;
    }
    case Kind::Conv2d:
      r = nn::functional::conv2d(a, v[in.b], in.c >= 0 ? v[in.c] : Tensor(),
                                 {.stride = in.dims[0], .padding = in.dims[1]});
      break;
    case Kind::BatchNorm:
      r = nn::functional::batch_norm(a, Tensor(), Tensor(), in.b >= 0 ? v[in.b] : Tensor(),
                                     in.c >= 0 ? v[in.c] : Tensor(), {.training = true});
      break;
    case Kind::AvgPool2d:
      r = nn::functional::avg_pool2d(a, in.dims[0], {.stride = nn::functional::Pair(in.dims[1])});
      break;
    case Kind::AdaptivePool:
      r = nn::functional::adaptive_avg_pool2d(a, {in.dims[0], in.dims[1]});
      break;
    case Kind::MaxPool2d:
      r = nn::functional::max_pool2d(a, in.dims[0], {.stride = nn::functional::Pair(in.dims[1])});
      break;
    case Kind::kCount:
      break;
  }
  return r;
}

/// Every value of the program (inputs first), computed with ember's ordinary API, in
/// execution `e`.
inline std::vector<Tensor> evaluate(const Program& p, const std::vector<Tensor>& inputs,
                                    int e = 0) {
  std::vector<Tensor> v(inputs);
  for (const Instr& in : p.ops) v.push_back(apply(p, in, v, e));
  return v;
}

/// Only the program's outputs: every intermediate handle is gone when this returns, so inside
/// a Region the JIT is free to fuse them away.
inline std::vector<Tensor> run(const Program& p, const std::vector<Tensor>& inputs, int e = 0) {
  std::vector<Tensor> out;
  {
    std::vector<Tensor> all = evaluate(p, inputs, e);
    for (int o : p.outputs) out.push_back(all[o]);
  }
  return out;
}

/// The seed of input i's values; `salt` varies them.
inline uint64_t input_seed(const Program& p, size_t i, uint64_t salt) {
  return p.seed * 1000003 + i * 7919 + salt * 104729;
}

/// Fresh input tensors for the program; `salt` varies the values, never the layout.
inline std::vector<Tensor> make_inputs(const Program& p, uint64_t salt = 0) {
  std::vector<Tensor> r;
  for (size_t i = 0; i < p.inputs.size(); ++i)
    if (p.inputs[i].same_as >= 0) {
      r.push_back(r[size_t(p.inputs[i].same_as)]);
    } else {
      r.push_back(make_input(p.inputs[i], input_seed(p, i, salt)));
      if (p.inputs[i].requires_grad) r.back().requires_grad_();
    }
  return r;
}

/// f applied to each distinct input tensor, an input passed twice staying one tensor.
template <class F>
std::vector<Tensor> map_inputs(const Program& p, const std::vector<Tensor>& inputs, F f) {
  std::vector<Tensor> r;
  for (size_t i = 0; i < inputs.size(); ++i)
    r.push_back(p.inputs[i].same_as >= 0 ? r[size_t(p.inputs[i].same_as)] : f(inputs[i]));
  return r;
}

}  // namespace ember::test::fuzz
