// The gradient mode's generator: random programs of pure differentiable ops over inputs of which a
// random subset requires grad (the primals), and a loss over some of their values, for
// tests/jit/test_differential_grad.cpp. It builds on the generator of random_program_gen.hpp (its
// inputs, guards and pointwise, reduction, softmax and view emitters) and adds the nn ops
// training code uses: matmul and linear against weight inputs (parameters; one may serve several
// ops, as a matmul's and a linear's weight, or as a layer_norm's weight and bias), batched
// matmul of a value with a transposed value, layer_norm, gelu, mse_loss and cross_entropy, and
// over 4-d values conv2d (against a weight of their channels), batch_norm in training and the
// pools.
// No in-place op: eager autograd refuses writes into values that require grad or their views.
#pragma once

#include "random_program_gen.hpp"

namespace ember::test::fuzz {

namespace detail {

class GradGenerator : public Generator {
 public:
  using Generator::Generator;

  Program generate() {
    p_.steps = 1;
    make_inputs();
    for (InputSpec& in : p_.inputs)
      in.requires_grad =
          in.same_as >= 0 ? p_.inputs[size_t(in.same_as)].requires_grad : chance(0.6);
    make_parameters();
    if (std::none_of(p_.inputs.begin(), p_.inputs.end(),
                     [](const InputSpec& in) { return in.requires_grad; }))
      p_.inputs[0].requires_grad = true;
    for (InputSpec& in : p_.inputs)  // an input passed twice keeps its twin's flag
      if (in.same_as >= 0) in.requires_grad = p_.inputs[size_t(in.same_as)].requires_grad;
    int target = uniform(3, 14);
    int attempts = 0;
    while (int(p_.ops.size()) < target && attempts++ < 200) emit_random_grad();
    if (p_.ops.empty()) emit_unary(Kind::Tanh);
    const int last = p_.value_count() - 1;
    p_.outputs.push_back(last);
    if (chance(0.4)) p_.outputs.push_back(uniform(0, last - 1));
    make_loss();
    return std::move(p_);
  }

 private:
  // Whether value v requires grad: a primal, or computed from one by a differentiable op.
  bool grad(int v) const {
    if (p_.is_input(v)) return p_.inputs[size_t(v)].requires_grad;
    const Instr& in = p_.def(v);
    if (in.kind == Kind::Cmp || in.kind == Kind::ZerosLike) return false;
    for (int o : {in.a, in.b, in.c})
      if (o >= 0 && info(o).dtype != kBool && grad(o)) return true;
    return false;
  }

  // Weights over the widths K (the inputs' last dim) and M (a new one): [K, M] and [M, K]
  // matrices (matmul K -> M and linear M -> K, or the reverse), and vectors of either width
  // (biases, layer_norm's weight and bias). Mostly primals, as parameters are.
  void make_parameters() {
    int64_t k = 0;
    for (const InputSpec& in : p_.inputs)
      if (!in.shape.empty()) k = std::max(k, in.shape.back());
    if (k == 0) return;
    const int64_t m = uniform(1, 9);
    const std::vector<std::vector<int64_t>> shapes = {{k, m}, {m, k}, {k}, {m}, {k}};
    for (const std::vector<int64_t>& shape : shapes) {
      if (!chance(0.5)) continue;
      InputSpec s{.shape = shape, .requires_grad = chance(0.85)};
      if (shape.size() == 2 && chance(0.3)) {  // w.t() of a stored [out, in] weight
        s.layout = Layout::Transposed;
        s.d0 = 0;
        s.d1 = 1;
      }
      add_parameter(s);
    }
    // Over a 4-d input [N, C, H, W]: a conv2d weight [O, C, kh, kw] and its bias [O], and
    // per-channel vectors [C] (a batch norm's weight and bias).
    for (size_t i = 0, n = p_.inputs.size(); i < n; ++i) {
      const InputSpec in = p_.inputs[i];
      if (in.shape.size() != 4 || !chance(0.7)) continue;
      const int64_t o = uniform(1, 6), c = in.shape[1];
      add_parameter(InputSpec{.shape = {o, c, uniform(1, 3), uniform(1, 3)},
                              .dtype = in.dtype,
                              .requires_grad = chance(0.85)});
      if (chance(0.5))
        add_parameter(InputSpec{.shape = {o}, .dtype = in.dtype, .requires_grad = chance(0.85)});
      if (chance(0.5))
        add_parameter(InputSpec{.shape = {c}, .dtype = in.dtype, .requires_grad = chance(0.85)});
      break;
    }
  }

  void add_parameter(const InputSpec& s) {
    const int id = p_.value_count();
    p_.inputs.push_back(s);
    p_.info.push_back(
        ValueInfo{s.shape, s.dtype, 5, -5, true, id, false, s.layout == Layout::Contiguous});
  }

  // conv2d of a 4-d value against a weight of its channels: stride 1 or 2, padding 0 or 1.
  bool emit_conv2d() {
    auto weight_for = [&](int v) {
      std::vector<int> ws;
      for (int w = 0; w < int(p_.inputs.size()); ++w)
        if (rank(w) == 4 && info(w).dtype == info(v).dtype && info(w).shape[1] == info(v).shape[1])
          ws.push_back(w);
      return ws.empty() ? -1 : ws[size_t(uniform(0, int(ws.size()) - 1))];
    };
    const int x = pick_where([&](int v) { return rank(v) == 4 && weight_for(v) >= 0; });
    if (x < 0) return false;
    const ValueInfo X = info(x);
    const int w = weight_for(x);
    const std::vector<int64_t>& ws = info(w).shape;
    const int64_t stride = uniform(1, 2), pad = uniform(0, 1);
    if (X.shape[2] + 2 * pad < ws[2] || X.shape[3] + 2 * pad < ws[3]) return false;
    Instr in{.kind = Kind::Conv2d, .a = x, .b = w, .dims = {stride, pad}};
    if (chance(0.6)) in.c = parameter({ws[0]}, X.dtype);
    ValueInfo vi = X;
    vi.shape = {X.shape[0], ws[0], (X.shape[2] + 2 * pad - ws[2]) / stride + 1,
                (X.shape[3] + 2 * pad - ws[3]) / stride + 1};
    vi.bound = double(ws[1] * ws[2] * ws[3]) * X.bound * info(w).bound +
               (in.c >= 0 ? info(in.c).bound : 0);
    vi.lo = -vi.bound;
    vi.exact = false;
    vi.contiguous = true;
    if (vi.bound > kMaxBound) return false;
    emit(in, vi);
    return true;
  }

  // batch_norm in training (batch statistics, no running ones) of a value of 2 to 4 dims with
  // at least 2 values per channel.
  bool emit_batch_norm() {
    const int x = pick_where([&](int v) {
      return rank(v) >= 2 && rank(v) <= 4 && numel(info(v).shape) / info(v).shape[1] >= 2;
    });
    if (x < 0) return false;
    const ValueInfo X = info(x);
    const int64_t c = X.shape[1];
    Instr in{.kind = Kind::BatchNorm, .a = x};
    if (chance(0.7)) in.b = parameter({c}, X.dtype);
    if (chance(0.6)) in.c = parameter({c}, X.dtype);
    ValueInfo vi = X;
    vi.bound = std::sqrt(double(numel(X.shape) / c)) * (in.b >= 0 ? info(in.b).bound : 1) +
               (in.c >= 0 ? info(in.c).bound : 0);
    vi.lo = -vi.bound;
    vi.exact = false;
    vi.contiguous = true;
    emit(in, vi);
    return true;
  }

  // avg_pool2d or max_pool2d (kernel 1 or 2, stride 1 or 2) or adaptive_avg_pool2d of a 3-d or
  // 4-d value; max_pool2d only of exact values (a window's maximum found among values that the
  // fused and the eager run rounded differently could be another element, and so its gradient).
  bool emit_pool(Kind k) {
    const int x = pick_where([&](int v) {
      return (rank(v) == 3 || rank(v) == 4) && (k != Kind::MaxPool2d || info(v).exact);
    });
    if (x < 0) return false;
    const ValueInfo X = info(x);
    const size_t r = X.shape.size();
    const int64_t h = X.shape[r - 2], w = X.shape[r - 1];
    Instr in{.kind = k, .a = x};
    ValueInfo vi = X;
    if (k == Kind::AvgPool2d || k == Kind::MaxPool2d) {
      const int64_t kernel = std::min<int64_t>(uniform(1, 2), std::min(h, w)),
                    stride = uniform(1, 2);
      in.dims = {kernel, stride};
      vi.shape[r - 2] = (h - kernel) / stride + 1;
      vi.shape[r - 1] = (w - kernel) / stride + 1;
    } else {
      in.dims = {uniform(1, 3), uniform(1, 3)};
      vi.shape[r - 2] = in.dims[0];
      vi.shape[r - 1] = in.dims[1];
    }
    vi.exact = false;
    vi.contiguous = true;
    emit(in, vi);
    return true;
  }

  // A float value satisfying ok, biased towards the latest, or -1.
  template <class F>
  int pick_where(F ok) {
    std::vector<int> vs;
    for (int v = 0; v < p_.value_count(); ++v)
      if (info(v).dtype != kBool && ok(v)) vs.push_back(v);
    if (vs.empty()) return -1;
    if (chance(0.5)) return vs.back();
    return vs[size_t(uniform(0, int(vs.size()) - 1))];
  }

  // An input of exactly this shape and dtype (a weight), or -1.
  int parameter(const std::vector<int64_t>& shape, DType dtype) {
    std::vector<int> ps;
    for (int v = 0; v < int(p_.inputs.size()); ++v)
      if (info(v).shape == shape && info(v).dtype == dtype) ps.push_back(v);
    return ps.empty() ? -1 : ps[size_t(uniform(0, int(ps.size()) - 1))];
  }

  // x[..., k] @ w[k, m] against a weight, or a[..., n, k] @ b[..., n, k].transpose(-2, -1)
  // (attention scores) with b a value of a's shape, a itself included.
  bool emit_matmul() {
    int a = -1, b = -1;
    if (chance(0.7)) {
      a = pick_where([&](int v) {
        return rank(v) >= 1 && parameter2(info(v).shape.back(), info(v).dtype, true) >= 0;
      });
      if (a >= 0) b = parameter2(info(a).shape.back(), info(a).dtype, true);
    }
    if (a < 0) {
      a = pick_where([&](int v) { return rank(v) >= 2; });
      if (a < 0) return false;
      int y = pick_where(
          [&](int v) { return info(v).shape == info(a).shape && info(v).dtype == info(a).dtype; });
      const int r = rank(y);
      ValueInfo t = info(y);
      std::swap(t.shape[size_t(r - 2)], t.shape[size_t(r - 1)]);
      t.contiguous = false;
      b = emit(Instr{.kind = Kind::Transpose, .a = y, .dims = {r - 2, r - 1}}, t);
    }
    const ValueInfo &A = info(a), &B = info(b);
    ValueInfo vi = A;  // [..., n, k] @ [k, m] or [..., k, n]: [..., n, m]
    vi.shape.back() = B.shape.back();
    vi.bound = double(A.shape.back()) * A.bound * B.bound;
    vi.lo = -vi.bound;
    vi.exact = false;
    if (vi.bound > kMaxBound) return false;
    emit(Instr{.kind = Kind::Matmul, .a = a, .b = b}, vi);
    return true;
  }

  // A 2-d weight input whose first (matmul) or second (linear) dim is k, or -1.
  int parameter2(int64_t k, DType dtype, bool first) {
    std::vector<int> ps;
    for (int v = 0; v < int(p_.inputs.size()); ++v)
      if (rank(v) == 2 && info(v).dtype == dtype && info(v).shape[first ? 0 : 1] == k)
        ps.push_back(v);
    return ps.empty() ? -1 : ps[size_t(uniform(0, int(ps.size()) - 1))];
  }

  bool emit_linear() {
    int x = pick_where([&](int v) {
      return rank(v) >= 1 && parameter2(info(v).shape.back(), info(v).dtype, false) >= 0;
    });
    if (x < 0) return false;
    const ValueInfo X = info(x);
    const int w = parameter2(X.shape.back(), X.dtype, false);
    const int64_t out = info(w).shape[0];
    const int bias = chance(0.7) ? parameter({out}, X.dtype) : -1;
    ValueInfo vi = X;
    vi.shape.back() = out;
    vi.bound =
        double(X.shape.back()) * X.bound * info(w).bound + (bias >= 0 ? info(bias).bound : 0);
    vi.lo = -vi.bound;
    vi.exact = false;
    if (vi.bound > kMaxBound) return false;
    emit(Instr{.kind = Kind::Linear, .a = x, .b = w, .c = bias}, vi);
    return true;
  }

  bool emit_layer_norm() {
    int x = pick_where([&](int v) { return rank(v) >= 1; });
    if (x < 0) return false;
    const ValueInfo X = info(x);
    const int r = rank(x);
    Instr in{.kind = Kind::LayerNorm, .a = x, .dims = {X.shape.back()}};
    if (r >= 2 && chance(0.25)) {
      in.dims = {X.shape[size_t(r - 2)], X.shape.back()};
    } else {
      if (chance(0.7)) in.b = parameter({X.shape.back()}, X.dtype);
      if (chance(0.6)) in.c = parameter({X.shape.back()}, X.dtype);
    }
    ValueInfo vi = X;
    vi.bound = std::sqrt(double(numel(in.dims))) * (in.b >= 0 ? info(in.b).bound : 1) +
               (in.c >= 0 ? info(in.c).bound : 0);
    vi.lo = -vi.bound;
    vi.exact = false;
    emit(in, vi);
    return true;
  }

  Reduction pick_reduction() {
    static const Reduction rs[] = {Reduction::Mean, Reduction::Mean, Reduction::Sum,
                                   Reduction::None};
    return one_of(rs);
  }

  bool emit_mse_loss() {
    int a = pick();
    int b = pick_where(
        [&](int v) { return info(v).shape == info(a).shape && info(v).dtype == info(a).dtype; });
    const ValueInfo &A = info(a), &B = info(b);
    Instr in{.kind = Kind::MseLoss, .a = a, .b = b, .reduction = pick_reduction()};
    ValueInfo vi = A;
    const double d = A.bound + B.bound;
    vi.bound = d * d * (in.reduction == Reduction::Sum ? double(numel(A.shape)) : 1);
    vi.lo = 0;
    vi.exact = false;
    if (in.reduction != Reduction::None) vi.shape.clear();
    if (vi.bound > kMaxBound) return false;
    emit(in, vi);
    return true;
  }

  // cross_entropy of logits [N, C] (or [C]) against random class indices.
  bool emit_cross_entropy() {
    int a = pick_where([&](int v) { return rank(v) == 1 || rank(v) == 2; });
    if (a < 0) return false;
    const ValueInfo A = info(a);
    const int64_t c = A.shape.back(), n = A.shape.size() == 2 ? A.shape[0] : 1;
    Instr in{.kind = Kind::CrossEntropy, .a = a, .reduction = pick_reduction()};
    for (int64_t i = 0; i < n; ++i) in.dims.push_back(uniform(0, int(c) - 1));
    ValueInfo vi = A;
    vi.bound =
        (2 * A.bound + std::log(double(c)) + 1) * (in.reduction == Reduction::Sum ? double(n) : 1);
    vi.lo = 0;
    vi.exact = false;
    vi.shape = in.reduction == Reduction::None && A.shape.size() == 2 ? std::vector<int64_t>{n}
                                                                      : std::vector<int64_t>{};
    emit(in, vi);
    return true;
  }

  void emit_random_grad() {
    static const Weighted table[] = {
        {Kind::Add, 4},       {Kind::Sub, 3},        {Kind::Mul, 4},          {Kind::Div, 2},
        {Kind::Maximum, 1},   {Kind::Minimum, 1},    {Kind::Neg, 1},          {Kind::Abs, 1},
        {Kind::Exp, 2},       {Kind::Log, 1},        {Kind::Sqrt, 1},         {Kind::Rsqrt, 1},
        {Kind::Log1p, 1},     {Kind::Expm1, 1},      {Kind::Tanh, 2},         {Kind::Sigmoid, 1},
        {Kind::Relu, 1},      {Kind::Gelu, 2},       {Kind::Silu, 1},         {Kind::Erf, 1},
        {Kind::Sin, 1},       {Kind::Cos, 1},        {Kind::PowScalar, 2},    {Kind::Clamp, 1},
        {Kind::Where, 2},     {Kind::Sum, 2},        {Kind::Mean, 2},         {Kind::Amax, 1},
        {Kind::Softmax, 1},   {Kind::LogSoftmax, 1}, {Kind::Select, 1},       {Kind::Narrow, 1},
        {Kind::Transpose, 1}, {Kind::Flatten, 1},    {Kind::Matmul, 3},       {Kind::Linear, 3},
        {Kind::LayerNorm, 2}, {Kind::MseLoss, 1},    {Kind::CrossEntropy, 1}, {Kind::Conv2d, 3},
        {Kind::BatchNorm, 2}, {Kind::AvgPool2d, 2},  {Kind::AdaptivePool, 2}, {Kind::MaxPool2d, 2}};
    const Kind k = draw(table);
    switch (k) {
      case Kind::Add:
      case Kind::Sub:
      case Kind::Mul:
      case Kind::Div:
      case Kind::Maximum:
      case Kind::Minimum:
        emit_binary(k);
        break;
      case Kind::PowScalar:
        emit_pow();
        break;
      case Kind::Clamp:
        emit_clamp();
        break;
      case Kind::Where:
        emit_where();
        break;
      case Kind::Sum:
      case Kind::Mean:
      case Kind::Amax:
        emit_reduce(k);
        break;
      case Kind::Softmax:
      case Kind::LogSoftmax:
        emit_softmax(k);
        break;
      case Kind::Select:
      case Kind::Narrow:
      case Kind::Transpose:
      case Kind::Flatten:
        emit_view(pick());
        break;
      case Kind::Matmul:
        emit_matmul();
        break;
      case Kind::Linear:
        emit_linear();
        break;
      case Kind::LayerNorm:
        emit_layer_norm();
        break;
      case Kind::MseLoss:
        emit_mse_loss();
        break;
      case Kind::CrossEntropy:
        emit_cross_entropy();
        break;
      case Kind::Conv2d:
        emit_conv2d();
        break;
      case Kind::BatchNorm:
        emit_batch_norm();
        break;
      case Kind::AvgPool2d:
      case Kind::AdaptivePool:
      case Kind::MaxPool2d:
        emit_pool(k);
        break;
      default:
        emit_unary(k);
        break;
    }
  }

  // The loss: often the last value, and intermediates (preferably ones used later: escaping
  // values whose gradient sums an incoming and an internal part), or a primal itself.
  void make_loss() {
    std::vector<int> g, used_later;
    std::vector<bool> used(size_t(p_.value_count()), false);
    for (const Instr& in : p_.ops)
      for (int o : {in.a, in.b, in.c})
        if (o >= 0) used[size_t(o)] = true;
    for (int v = 0; v < p_.value_count(); ++v)
      if (info(v).dtype != kBool && grad(v)) {
        g.push_back(v);
        if (used[size_t(v)] && !p_.is_input(v)) used_later.push_back(v);
      }
    const int last = p_.value_count() - 1;
    if (grad(last) && chance(0.85)) p_.loss.push_back(last);
    for (int n = uniform(p_.loss.empty() ? 1 : 0, 2); n > 0; --n) {
      const std::vector<int>& from = !used_later.empty() && chance(0.6) ? used_later : g;
      p_.loss.push_back(from[size_t(uniform(0, int(from.size()) - 1))]);
    }
    std::sort(p_.loss.begin(), p_.loss.end());
    p_.loss.erase(std::unique(p_.loss.begin(), p_.loss.end()), p_.loss.end());
  }
};

}  // namespace detail

/// The random gradient-mode program for a seed (the same seed always gives the same program).
inline Program generate_grad(uint64_t seed) { return detail::GradGenerator(seed).generate(); }

}  // namespace ember::test::fuzz
