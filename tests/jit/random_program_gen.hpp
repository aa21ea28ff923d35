// The seeded generator of random programs (see random_program.hpp for what a program is).
// Each op picks operands among earlier values, biased towards the latest one so chains grow long
// enough to fuse; shapes stay broadcast-compatible, and guards keep the math well conditioned.
#pragma once

#include <limits>
#include <set>

#include "random_program.hpp"

namespace ember::test::fuzz {

namespace detail {

class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed) { p_.seed = seed; }

  Program generate() {
    p_.steps = chance(0.2) ? uniform(2, 3) : 1;
    make_inputs();
    int target = uniform(2, 12);
    int attempts = 0;
    while (int(p_.ops.size()) < target && attempts++ < 200) emit_random();
    const int last = p_.value_count() - 1;
    p_.outputs.push_back(last);
    if (chance(0.4)) {
      // A second output: preferably a value nothing else uses (a side result of the graph).
      std::vector<bool> used(last + 1, false);
      for (const Instr& in : p_.ops)
        for (int o : {in.a, in.b, in.c})
          if (o >= 0) used[o] = true;
      std::vector<int> dead;
      for (int v = int(p_.inputs.size()); v < last; ++v)
        if (!used[v]) dead.push_back(v);
      p_.outputs.push_back(!dead.empty() && chance(0.7) ? dead[uniform(0, int(dead.size()) - 1)]
                                                        : uniform(0, last - 1));
    }
    if (p_.steps > 1) {
      // State carried into the next region stays in the inputs' range (the bounds above assume
      // |input| <= 5): a guard, written like the rest.
      for (int g : written_)
        if (p_.is_input(g))
          write(Instr{.kind = Kind::ClampInplace,
                      .a = g,
                      .s = -5,
                      .s2 = 5,
                      .has_min = true,
                      .has_max = true},
                5, -5);
    }
    return std::move(p_);
  }

 protected:  // the gradient mode's generator (random_grad_program_gen.hpp) builds on these
  static constexpr double kMaxBound = 1e5;
  std::mt19937_64 rng_;
  Program p_;
  std::set<int> written_;  // groups (storage owners) written by the program

  int uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  struct Weighted {
    Kind k;
    int w;
  };
  /// A kind drawn with probability proportional to its weight.
  template <size_t N>
  Kind draw(const Weighted (&table)[N]) {
    int total = 0;
    for (const Weighted& w : table) total += w.w;
    int x = uniform(0, total - 1);
    for (const Weighted& w : table) {
      if (x < w.w) return w.k;
      x -= w.w;
    }
    return table[0].k;
  }
  bool chance(double pr) { return std::uniform_real_distribution<double>(0, 1)(rng_) < pr; }
  template <class T, size_t N>
  T one_of(const T (&xs)[N]) {
    return xs[uniform(0, int(N) - 1)];
  }
  const ValueInfo& info(int v) const { return p_.info[v]; }
  int rank(int v) const { return int(info(v).shape.size()); }

  void make_inputs() {
    int r = uniform(0, 4);
    std::vector<int64_t> base(r);
    for (auto& d : base) d = uniform(1, 9);
    while (numel(base) > 512) {
      auto& d = base[uniform(0, r - 1)];
      d = std::max<int64_t>(1, d / 2);
    }
    int n = uniform(1, 3);
    for (int i = 0; i < n; ++i) {
      InputSpec s;
      int drop = chance(0.3) ? uniform(0, r) : 0;  // missing leading dims broadcast
      s.shape.assign(base.begin() + drop, base.end());
      for (auto& d : s.shape)
        if (chance(0.2)) d = 1;  // size-1 dims broadcast
      s.dtype = chance(0.15) ? kFloat64 : kFloat32;
      int sr = int(s.shape.size());
      std::vector<Layout> layouts{Layout::Contiguous};
      if (sr >= 2) layouts.push_back(Layout::Transposed);
      if (sr >= 1) {
        layouts.push_back(Layout::Sliced);
        layouts.push_back(Layout::Strided);
      }
      std::vector<int> wide;  // dims an expanded input can broadcast along
      for (int d = 0; d < sr; ++d)
        if (s.shape[d] > 1) wide.push_back(d);
      if (!wide.empty()) layouts.push_back(Layout::Expanded);
      s.layout = chance(0.45) ? Layout::Contiguous : layouts[uniform(0, int(layouts.size()) - 1)];
      std::vector<int64_t> buf = s.shape;
      if (s.layout == Layout::Transposed) {
        s.d0 = uniform(0, sr - 1);
        s.d1 = (s.d0 + uniform(1, sr - 1)) % sr;
      } else if (s.layout == Layout::Sliced) {
        s.d0 = uniform(0, sr - 1);
        buf[s.d0] = 2 * buf[s.d0] + 1;
      } else if (s.layout == Layout::Expanded) {
        s.d0 = wide[uniform(0, int(wide.size()) - 1)];
        buf[s.d0] = 1;
      }
      if (chance(0.06)) s.nan_at = uniform(0, int(numel(buf)) - 1);
      p_.inputs.push_back(s);
      p_.info.push_back(ValueInfo{s.shape, s.dtype, 5, -5, true, i, s.layout != Layout::Expanded,
                                  s.layout == Layout::Contiguous});
    }
    if (chance(0.12)) {  // the same tensor passed twice, as two inputs
      int k = uniform(0, n - 1);
      InputSpec s = p_.inputs[size_t(k)];
      s.same_as = k;
      p_.inputs.push_back(s);
      p_.info.push_back(p_.info[size_t(k)]);
    }
  }

  int emit(const Instr& in, ValueInfo vi) {
    vi.bound = std::min(vi.bound, 1e300);
    if (!is_view(in.kind) && !is_inplace(in.kind)) {  // a fresh tensor
      vi.group = p_.value_count();
      vi.writable = true;
      vi.contiguous = true;
    }
    p_.ops.push_back(in);
    p_.info.push_back(std::move(vi));
    return p_.value_count() - 1;
  }

  // A float operand: usually the latest float value (chains to fuse), else any float value.
  int pick() {
    std::vector<int> fl;
    for (int v = 0; v < p_.value_count(); ++v)
      if (info(v).dtype != kBool) fl.push_back(v);
    if (chance(0.6)) return fl.back();
    return fl[uniform(0, int(fl.size()) - 1)];
  }

  // A value (bool or float, as asked) whose shape broadcasts with `shape`, or -1.
  int pick_compatible(const std::vector<int64_t>& shape, bool want_bool) {
    std::vector<int> ok;
    for (int v = 0; v < p_.value_count(); ++v)
      if ((info(v).dtype == kBool) == want_bool && broadcastable(info(v).shape, shape))
        ok.push_back(v);
    if (ok.empty()) return -1;
    if (chance(0.4)) return ok.back();
    return ok[uniform(0, int(ok.size()) - 1)];
  }

  // v itself when it is known to be >= 0.25, else abs(v) + eps: a safe log/sqrt/divisor input.
  int positive(int v) {
    if (info(v).lo >= 0.25) return v;
    ValueInfo vi = info(v);
    vi.lo = 0;
    vi.bound = info(v).bound;
    int a = emit(Instr{.kind = Kind::Abs, .a = v}, vi);
    double eps = chance(0.5) ? 0.5 : 1.0;
    vi.lo = eps;
    vi.bound += eps;
    vi.exact = false;
    return emit(Instr{.kind = Kind::Add, .a = a, .s = eps}, vi);
  }

  // v itself when |v| <= bound already, else clamp(v, -bound, bound).
  int bounded(int v, double bound) {
    if (info(v).bound <= bound) return v;
    ValueInfo vi = info(v);
    vi.bound = bound;
    vi.lo = std::max(vi.lo, -bound);
    return emit(Instr{.kind = Kind::Clamp,
                      .a = v,
                      .s = -bound,
                      .s2 = bound,
                      .has_min = true,
                      .has_max = true},
                vi);
  }

  bool emit_binary(Kind k) {
    int a = pick();
    const ValueInfo A = info(a);  // a copy: guards below append to p_.info
    bool scalar =
        (k == Kind::Add || k == Kind::Sub || k == Kind::Mul || k == Kind::Div) && chance(0.4);
    ValueInfo vi = A;
    vi.exact = false;
    if (scalar) {
      Instr in{.kind = k, .a = a, .scalar_first = chance(0.3)};
      const bool nonzero = k == Kind::Div && !in.scalar_first;
      std::vector<double> vals = scalar_operand(in, nonzero ? Pool::NonZero : Pool::Any);
      ValueInfo P = A;
      if (k == Kind::Div && in.scalar_first) {
        in.a = positive(a);
        P = info(in.a);
      }
      vi.bound = 0;
      vi.lo = std::numeric_limits<double>::infinity();
      for (double s : vals) {  // the union over the scalar's values
        double as = std::abs(s), b, lo;
        if (k == Kind::Div && in.scalar_first) {
          b = as / P.lo;
          lo = s >= 0 ? s / P.bound : -b;
        } else if (k == Kind::Add) {
          b = A.bound + as;
          lo = A.lo + s;
        } else if (k == Kind::Sub) {
          b = A.bound + as;
          lo = in.scalar_first ? s - A.bound : A.lo - s;
        } else if (k == Kind::Mul) {
          b = A.bound * as;
          lo = s >= 0 && A.lo >= 0 ? A.lo * s : -b;
        } else {  // a / s
          b = A.bound / as;
          lo = s > 0 && A.lo >= 0 ? A.lo / s : -b;
        }
        vi.bound = std::max(vi.bound, b);
        vi.lo = std::min(vi.lo, lo);
      }
      if (vi.bound > kMaxBound) return false;
      emit(in, vi);
      return true;
    }
    int b = pick_compatible(A.shape, false);
    if (k == Kind::Div) b = positive(b);
    const ValueInfo B = info(b);
    vi.shape = broadcast(A.shape, B.shape);
    vi.dtype = promoted(A.shape, A.dtype, B.shape, B.dtype);
    switch (k) {
      case Kind::Add:
        vi.bound = A.bound + B.bound;
        vi.lo = A.lo + B.lo;
        break;
      case Kind::Sub:
        vi.bound = A.bound + B.bound;
        vi.lo = A.lo - B.bound;
        break;
      case Kind::Mul:
        vi.bound = A.bound * B.bound;
        vi.lo = A.lo >= 0 && B.lo >= 0 ? A.lo * B.lo : -vi.bound;
        break;
      case Kind::Div:
        vi.bound = A.bound / B.lo;
        vi.lo = A.lo >= 0 ? A.lo / B.bound : -vi.bound;
        break;
      case Kind::Maximum:
      case Kind::Minimum:
        vi.bound = std::max(A.bound, B.bound);
        vi.lo = k == Kind::Maximum ? std::max(A.lo, B.lo) : std::min(A.lo, B.lo);
        vi.exact = A.exact && B.exact;
        break;
      default:
        break;
    }
    if (vi.bound > kMaxBound) return false;
    emit(Instr{.kind = k, .a = a, .b = b}, vi);
    return true;
  }

  bool emit_unary(Kind k) {
    int a = pick();
    switch (k) {
      case Kind::Exp:
      case Kind::Expm1:
        a = bounded(a, 4);
        break;
      case Kind::Sin:
      case Kind::Cos:
        a = bounded(a, 8);
        break;
      case Kind::Log:
      case Kind::Sqrt:
      case Kind::Rsqrt:
        a = positive(a);
        break;
      case Kind::Log1p:
        if (info(a).lo < 0) {
          ValueInfo vi = info(a);
          vi.lo = 0;
          a = emit(Instr{.kind = Kind::Abs, .a = a}, vi);
        }
        break;
      default:
        break;
    }
    const ValueInfo& A = info(a);
    ValueInfo vi = A;
    vi.exact = false;
    double b = A.bound;
    switch (k) {
      case Kind::Neg:
        vi.lo = -b;
        vi.exact = A.exact;
        break;
      case Kind::Abs:
      case Kind::Relu:
        vi.lo = 0;
        vi.exact = A.exact;
        break;
      case Kind::Exp:
        vi.bound = std::exp(b);
        vi.lo = std::exp(-b);
        break;
      case Kind::Expm1:
        vi.bound = std::exp(b);
        vi.lo = -1;
        break;
      case Kind::Log:
        vi.bound = std::max(std::abs(std::log(A.lo)), std::log(b)) + 1;
        vi.lo = std::log(A.lo);
        break;
      case Kind::Sqrt:
        vi.bound = std::sqrt(b);
        vi.lo = std::sqrt(A.lo);
        break;
      case Kind::Rsqrt:
        vi.bound = 1 / std::sqrt(A.lo);
        vi.lo = 1 / std::sqrt(b);
        break;
      case Kind::Log1p:
        vi.bound = std::log1p(b);
        vi.lo = 0;
        break;
      case Kind::Sigmoid:
        vi.bound = 1;
        vi.lo = 1 / (1 + std::exp(b));
        break;
      case Kind::Gelu:
        vi.lo = -0.2;
        break;
      case Kind::Silu:
        vi.lo = -0.3;
        break;
      default:
        vi.bound = 1;
        vi.lo = -1;
        break;  // tanh erf sin cos
    }
    if (vi.bound > kMaxBound) return false;
    emit(Instr{.kind = k, .a = a}, vi);
    return true;
  }

  bool emit_pow() {
    static const double es[] = {2, 3, 0.5, -1, 1.5, -0.5, 0, 1, 2.5};
    double e = one_of(es);
    int a = pick();
    bool integral = e == 0 || e == 1 || e == 2 || e == 3;
    if (integral)
      a = bounded(a, 10);
    else
      a = positive(a);
    const ValueInfo& A = info(a);
    ValueInfo vi = A;
    vi.exact = e == 1 && A.exact;
    vi.bound = e >= 0 ? std::pow(A.bound, e) + 1 : std::pow(A.lo, e);
    vi.lo = integral ? (e == 2 || e == 0 ? 0 : -vi.bound) : std::pow(e > 0 ? A.lo : A.bound, e);
    emit(Instr{.kind = Kind::PowScalar, .a = a, .s = e}, vi);
    return true;
  }

  bool emit_clamp() {
    static const double mins[] = {-2, -1, -0.5, 0, 0.25};
    static const double widths[] = {0.5, 1, 2, 3};
    int a = pick();
    const ValueInfo& A = info(a);
    Instr in{.kind = Kind::Clamp, .a = a, .s = one_of(mins)};
    in.s2 = in.s + one_of(widths);
    int which = uniform(0, 2);  // both, min only, max only
    in.has_min = which != 2;
    in.has_max = which != 1;
    ValueInfo vi = A;
    if (in.has_min) vi.lo = std::max(A.lo, in.s);
    if (in.has_max) vi.bound = std::max(std::abs(vi.lo), std::min(A.bound, std::abs(in.s2)));
    if (in.has_max && in.has_min) vi.bound = std::max(std::abs(in.s), std::abs(in.s2));
    emit(in, vi);
    return true;
  }

  int emit_cmp() {
    int a = pick();
    const ValueInfo& A = info(a);
    Instr in{.kind = Kind::Cmp, .a = a, .cmp = uniform(0, 3)};
    bool exact = A.exact;
    ValueInfo vi{A.shape, kBool, 1, 0, true};
    if (chance(0.4)) {
      static const double ss[] = {-1, -0.5, 0, 0.25, 0.5, 1};
      in.s = one_of(ss);
    } else {
      in.b = pick_compatible(A.shape, false);
      exact = exact && info(in.b).exact;
      vi.shape = broadcast(A.shape, info(in.b).shape);
    }
    if (exact && chance(0.3)) in.cmp = uniform(4, 5);  // eq/ne only where ties are real
    return emit(in, vi);
  }

  bool emit_where() {
    std::vector<int> conds;
    for (int v = 0; v < p_.value_count(); ++v)
      if (info(v).dtype == kBool) conds.push_back(v);
    int c = conds.empty() || chance(0.3) ? emit_cmp() : conds[uniform(0, int(conds.size()) - 1)];
    int a = pick_compatible(info(c).shape, false);
    if (a < 0) return false;
    std::vector<int64_t> ca = broadcast(info(c).shape, info(a).shape);
    int b = pick_compatible(ca, false);
    const ValueInfo &A = info(a), &B = info(b);
    ValueInfo vi{broadcast(ca, B.shape), promoted(A.shape, A.dtype, B.shape, B.dtype),
                 std::max(A.bound, B.bound), std::min(A.lo, B.lo), A.exact && B.exact};
    emit(Instr{.kind = Kind::Where, .a = a, .b = b, .c = c}, vi);
    return true;
  }

  bool emit_user_kernel() {
    int a = pick();
    int b = pick_compatible(info(a).shape, false);
    const ValueInfo A = info(a), B = info(b);
    Instr in{.kind = Kind::UserKernel, .a = a, .b = b};
    scalar_operand(in, Pool::Any);
    ValueInfo vi{broadcast(A.shape, B.shape), promoted(A.shape, A.dtype, B.shape, B.dtype),
                 A.bound + 1, -(A.bound + 1), false};
    if (vi.bound > kMaxBound) return false;
    emit(in, vi);
    return true;
  }

  bool emit_reduce(Kind k) {
    int a = pick();
    const ValueInfo& A = info(a);
    int r = rank(a);
    Instr in{.kind = k, .a = a, .keepdim = chance(0.5)};
    std::vector<bool> reduced(r, r == 0 || chance(0.15));  // empty dims = all
    // Often a row reduction (the last dim, kept), read back by its rows below: the shape of
    // softmax and the norms, fused as one Rows kernel.
    const bool row = r >= 1 && A.shape.back() > 1 && chance(0.3);
    if (row) {
      reduced.assign(r, false);
      reduced.back() = true;
      in.dims = {chance(0.5) ? -1 : r - 1};
      in.keepdim = true;
    } else if (!reduced.empty() && !reduced[0]) {
      while (std::find(reduced.begin(), reduced.end(), true) == reduced.end())
        for (int d = 0; d < r; ++d) reduced[d] = chance(0.4);
      for (int d = 0; d < r; ++d)
        if (reduced[d]) in.dims.push_back(chance(0.3) ? d - r : d);
      std::shuffle(in.dims.begin(), in.dims.end(), rng_);
    }
    ValueInfo vi = A;
    vi.shape.clear();
    int64_t n = 1;
    for (int d = 0; d < r; ++d) {
      if (!reduced[d] && !(in.dims.empty())) {
        vi.shape.push_back(A.shape[d]);
      } else {
        n *= A.shape[d];
        if (in.keepdim) vi.shape.push_back(1);
      }
    }
    if (k == Kind::Sum) {
      vi.bound = A.bound * double(n);
      vi.lo = A.lo >= 0 ? A.lo * double(n) : -vi.bound;
      vi.exact = false;
    } else if (k == Kind::Mean) {
      vi.exact = false;
    }
    if (vi.bound > kMaxBound) return false;
    const ValueInfo operand = A;  // a copy: emit appends to p_.info
    int red = emit(in, vi);
    if (row && chance(0.7)) {
      static const Kind kinds[] = {Kind::Sub, Kind::Add, Kind::Mul};
      Kind bk = one_of(kinds);
      ValueInfo w = operand;
      w.exact = false;
      switch (bk) {
        case Kind::Sub:
          w.bound = operand.bound + vi.bound;
          w.lo = operand.lo - vi.bound;
          break;
        case Kind::Add:
          w.bound = operand.bound + vi.bound;
          w.lo = operand.lo + vi.lo;
          break;
        default:
          w.bound = operand.bound * vi.bound;
          w.lo = operand.lo >= 0 && vi.lo >= 0 ? operand.lo * vi.lo : -w.bound;
      }
      if (w.bound <= kMaxBound) emit(Instr{.kind = bk, .a = a, .b = red}, w);
    }
    return true;
  }

  bool emit_softmax(Kind k) {
    int a = pick();
    int r = rank(a);
    int dim = r == 0 ? uniform(-1, 0) : uniform(-r, r - 1);
    int64_t n = r == 0 ? 1 : info(a).shape[dim < 0 ? dim + r : dim];
    ValueInfo vi = info(a);
    vi.exact = false;
    if (k == Kind::Softmax) {
      vi.bound = 1;
      vi.lo = 0;
    } else {
      vi.bound = 2 * vi.bound + std::log(double(n)) + 1;
      vi.lo = -vi.bound;
    }
    emit(Instr{.kind = k, .a = a, .dims = {dim}}, vi);
    return true;
  }

  // ---- runtime scalars ----

  enum class Pool { Any, NonZero, Momentum, NegLr };

  static std::vector<double> pool_values(Pool pool) {
    switch (pool) {
      case Pool::Any:
        return {0, 1, -1, 0.5, 2, -1.5, 0.25, 3, 0.1, -0.75, 1.25};
      case Pool::NonZero:
        return {1, -1, 0.5, 2, -1.5, 0.25, 3, 0.1, -0.75, 1.25};
      case Pool::Momentum:
        return {0, 0.5, 0.9, 0.99, 1};
      case Pool::NegLr:
        return {0, -1, -0.1, -0.01, -0.5, -0.05};
    }
    return {};
  }

  // A new runtime scalar: a value per execution from the pool, often one that another scalar of
  // the program has in the same execution (equal values must not share a kernel argument), and
  // sometimes one value for all executions.
  int new_slot(Pool pool) {
    const std::vector<double> vals = pool_values(pool);
    auto allowed = [&](double x) { return std::find(vals.begin(), vals.end(), x) != vals.end(); };
    std::vector<double> s(size_t(p_.executions()));
    const bool constant = chance(0.15);
    for (size_t e = 0; e < s.size(); ++e) {
      if (constant && e > 0) {
        s[e] = s[0];
        continue;
      }
      s[e] = vals[size_t(uniform(0, int(vals.size()) - 1))];
      if (!p_.scalars.empty() && chance(0.3)) {
        double other = p_.scalars[size_t(uniform(0, int(p_.scalars.size()) - 1))][e];
        if (allowed(other)) s[e] = other;
      }
    }
    p_.scalars.push_back(std::move(s));
    return int(p_.scalars.size()) - 1;
  }

  // Makes in's scalar operand a runtime scalar (mostly) or a literal; returns its values.
  std::vector<double> scalar_operand(Instr& in, Pool pool) {
    if (chance(0.7)) {
      in.slot = new_slot(pool);
      return p_.scalars[size_t(in.slot)];
    }
    const std::vector<double> vals = pool_values(pool);
    in.s = vals[size_t(uniform(0, int(vals.size()) - 1))];
    return {in.s};
  }

  static double max_abs(const std::vector<double>& v) {
    double m = 0;
    for (double x : v) m = std::max(m, std::abs(x));
    return m;
  }

  // ---- views and writes ----

  // A view of `base` (select, narrow, transpose or flatten, as its rank and layout allow), or -1.
  int emit_view(int base) {
    const ValueInfo B = info(base);
    const int r = rank(base);
    std::vector<Kind> ks;
    if (r >= 1) {
      ks.push_back(Kind::Select);
      ks.push_back(Kind::Narrow);
    }
    if (r >= 2) ks.push_back(Kind::Transpose);
    if (B.contiguous) ks.push_back(Kind::Flatten);
    if (ks.empty()) return -1;
    Instr in{.kind = ks[size_t(uniform(0, int(ks.size()) - 1))], .a = base};
    ValueInfo vi = B;
    const int d = r >= 1 ? uniform(0, r - 1) : 0;
    switch (in.kind) {
      case Kind::Select:
        in.dims = {d, uniform(0, int(B.shape[size_t(d)]) - 1)};
        vi.shape.erase(vi.shape.begin() + d);
        vi.contiguous = B.contiguous && d == 0;
        break;
      case Kind::Narrow: {
        int64_t n = B.shape[size_t(d)], start = uniform(0, int(n) - 1);
        int64_t len = uniform(1, int(n - start));
        in.dims = {d, start, len};
        vi.shape[size_t(d)] = len;
        vi.contiguous = B.contiguous && (d == 0 || len == n);
        break;
      }
      case Kind::Transpose: {
        int d1 = (d + uniform(1, r - 1)) % r;
        in.dims = {d, d1};
        std::swap(vi.shape[size_t(d)], vi.shape[size_t(d1)]);
        vi.contiguous = false;
        break;
      }
      default:  // Flatten
        vi.shape = {numel(B.shape)};
        break;
    }
    return emit(in, vi);
  }

  // A target for an in-place op: a writable float value (an input, the latest value, or any),
  // often through a new view of it; -1 when there is none.
  int pick_target() {
    std::vector<int> all, inputs;
    for (int v = 0; v < p_.value_count(); ++v) {
      if (info(v).dtype == kBool || !info(v).writable) continue;
      all.push_back(v);
      if (p_.is_input(v)) inputs.push_back(v);
    }
    if (all.empty()) return -1;
    double r = std::uniform_real_distribution<double>(0, 1)(rng_);
    int t = r < 0.35 && !inputs.empty() ? inputs[size_t(uniform(0, int(inputs.size()) - 1))]
            : r < 0.6                   ? all.back()
                                        : all[size_t(uniform(0, int(all.size()) - 1))];
    if (chance(0.3)) {
      int w = emit_view(t);
      if (w >= 0) t = w;
    }
    return t;
  }

  // An operand that broadcasts to t's shape: sometimes t's own storage (itself, another view of
  // it, or a new view), else the latest or any compatible float value; -1 when there is none.
  int pick_operand(int t) {
    auto fits = [&](int v) {
      const ValueInfo& T = info(t);
      return info(v).dtype != kBool && info(v).shape.size() <= T.shape.size() &&
             broadcastable(info(v).shape, T.shape) && broadcast(info(v).shape, T.shape) == T.shape;
    };
    if (chance(0.12)) {
      int w = emit_view(t);
      if (w >= 0 && fits(w)) return w;
    }
    std::vector<int> ok, same;
    for (int v = 0; v < p_.value_count(); ++v) {
      if (!fits(v)) continue;
      ok.push_back(v);
      if (info(v).group == info(t).group) same.push_back(v);
    }
    if (!same.empty() && chance(0.25)) return same[size_t(uniform(0, int(same.size()) - 1))];
    if (ok.empty()) return -1;
    if (chance(0.5)) return ok.back();
    return ok[size_t(uniform(0, int(ok.size()) - 1))];
  }

  // Emits the write `in` (target in.a), whose new elements lie in [lo, bound]: every value
  // sharing the target's storage may now hold them.
  int write(const Instr& in, double bound, double lo) {
    ValueInfo vi = info(in.a);
    const int g = vi.group;
    vi.bound = bound;
    vi.lo = lo;
    vi.exact = false;
    for (ValueInfo& u : p_.info)
      if (u.group == g) {
        u.bound = std::max(u.bound, bound);
        u.lo = std::min(u.lo, lo);
        u.exact = false;
      }
    written_.insert(g);
    return emit(in, vi);
  }

  bool emit_inplace(Kind k) {
    int t = pick_target();
    if (t < 0) return false;
    const ValueInfo T = info(t);
    Instr in{.kind = k, .a = t};
    double nb = 0, lo = 0;
    const bool tensor = k == Kind::CopyInplace ||
                        (k != Kind::FillInplace && k != Kind::ClampInplace && chance(0.65));
    ValueInfo O;
    if (tensor) {
      in.b = pick_operand(t);
      if (in.b < 0) return false;
      if (k == Kind::DivInplace) in.b = positive(in.b);
      O = info(in.b);
    }
    switch (k) {
      case Kind::AddInplace:
      case Kind::SubInplace: {
        const bool add = k == Kind::AddInplace;
        if (tensor) {
          double am = 1;
          if (chance(0.6)) {
            in.alpha = new_slot(Pool::Any);
            am = max_abs(p_.scalars[size_t(in.alpha)]);
          }
          nb = T.bound + am * O.bound;
          lo = in.alpha >= 0 ? T.lo - am * O.bound : add ? T.lo + O.lo : T.lo - O.bound;
        } else {
          std::vector<double> s = scalar_operand(in, Pool::Any);
          nb = T.bound + max_abs(s);
          lo = T.lo - max_abs(s);
        }
        break;
      }
      case Kind::MulInplace:
        if (tensor) {
          nb = T.bound * O.bound;
          lo = T.lo >= 0 && O.lo >= 0 ? T.lo * O.lo : -nb;
        } else {
          std::vector<double> s = scalar_operand(in, Pool::Any);
          nb = T.bound * max_abs(s);
          lo = -nb;
        }
        break;
      case Kind::DivInplace:
        if (tensor) {
          nb = T.bound / O.lo;
          lo = T.lo >= 0 ? T.lo / O.bound : -nb;
        } else {
          std::vector<double> s = scalar_operand(in, Pool::NonZero);
          double m = 1e300;
          for (double x : s) m = std::min(m, std::abs(x));
          nb = T.bound / m;
          lo = -nb;
        }
        break;
      case Kind::CopyInplace:
        nb = O.bound;
        lo = O.lo;
        break;
      case Kind::FillInplace: {
        std::vector<double> s = scalar_operand(in, Pool::Any);
        nb = max_abs(s);
        lo = *std::min_element(s.begin(), s.end());
        break;
      }
      default: {  // ClampInplace
        static const double mins[] = {-2, -1, -0.5, 0, 0.25};
        static const double widths[] = {0.5, 1, 2, 3};
        in.s = one_of(mins);
        in.s2 = in.s + one_of(widths);
        int which = uniform(0, 2);  // both, min only, max only
        in.has_min = which != 2;
        in.has_max = which != 1;
        lo = in.has_min ? std::max(T.lo, in.s) : T.lo;
        nb = in.has_max ? std::max(std::abs(lo), std::min(T.bound, std::abs(in.s2))) : T.bound;
        if (in.has_min) nb = std::max(nb, std::abs(in.s));
        if (in.has_min && in.has_max) nb = std::max(std::abs(in.s), std::abs(in.s2));
        break;
      }
    }
    if (nb > kMaxBound) return false;
    write(in, nb, lo);
    return true;
  }

  // An optimizer's update: buf.mul_($m).add_(g); p.add_(buf, alpha=$lr), with buf a state input
  // of p's shape (carried across regions) or zeros_like(p) (state made in the region).
  bool emit_update() {
    std::vector<int> params;
    for (int v = 0; v < int(p_.inputs.size()); ++v)
      if (info(v).dtype != kBool && info(v).writable) params.push_back(v);
    int pv = params.empty() || chance(0.2) ? pick_target()
                                           : params[size_t(uniform(0, int(params.size()) - 1))];
    if (pv < 0) return false;
    int g = pick_operand(pv);
    if (g < 0) return false;
    const ValueInfo P = info(pv), G = info(g);
    std::vector<int> states;
    for (int v : params)
      if (info(v).group != P.group && info(v).shape == P.shape) states.push_back(v);
    int buf = !states.empty() && chance(0.5) ? states[size_t(uniform(0, int(states.size()) - 1))]
                                             : emit(Instr{.kind = Kind::ZerosLike, .a = pv},
                                                    ValueInfo{P.shape, P.dtype, 0, 0, true});
    const ValueInfo B = info(buf);
    Instr m{.kind = Kind::MulInplace, .a = buf};
    m.slot = new_slot(Pool::Momentum);
    double b1 = B.bound;  // momentum in [0, 1]
    int v1 = write(m, b1, -b1);
    Instr add{.kind = Kind::AddInplace, .a = v1, .b = g};
    double b2 = b1 + G.bound;
    int v2 = write(add, b2, -b2);
    Instr step{.kind = Kind::AddInplace, .a = pv, .b = v2};
    step.alpha = new_slot(Pool::NegLr);
    double nb = P.bound + b2;  // |lr| <= 1
    if (nb > kMaxBound) return false;
    write(step, nb, P.lo - b2);
    return true;
  }

  void emit_random() {
    static const Weighted table[] = {
        {Kind::Add, 4},
        {Kind::Sub, 3},
        {Kind::Mul, 4},
        {Kind::Div, 2},
        {Kind::Maximum, 1},
        {Kind::Minimum, 1},
        {Kind::Neg, 1},
        {Kind::Abs, 1},
        {Kind::Exp, 2},
        {Kind::Log, 1},
        {Kind::Sqrt, 1},
        {Kind::Rsqrt, 1},
        {Kind::Log1p, 1},
        {Kind::Expm1, 1},
        {Kind::Tanh, 1},
        {Kind::Sigmoid, 1},
        {Kind::Relu, 1},
        {Kind::Gelu, 1},
        {Kind::Silu, 1},
        {Kind::Erf, 1},
        {Kind::Sin, 1},
        {Kind::Cos, 1},
        {Kind::PowScalar, 2},
        {Kind::Clamp, 1},
        {Kind::Cmp, 2},
        {Kind::Where, 2},
        {Kind::UserKernel, 1},
        {Kind::Sum, 2},
        {Kind::Mean, 1},
        {Kind::Amax, 1},
        {Kind::Softmax, 1},
        {Kind::LogSoftmax, 1},
        // views, writes, creation; kCount stands for an optimizer's update sequence
        {Kind::Select, 1},
        {Kind::Narrow, 1},
        {Kind::Transpose, 1},
        {Kind::Flatten, 1},
        {Kind::AddInplace, 3},
        {Kind::SubInplace, 2},
        {Kind::MulInplace, 2},
        {Kind::DivInplace, 1},
        {Kind::CopyInplace, 2},
        {Kind::FillInplace, 1},
        {Kind::ClampInplace, 1},
        {Kind::ZerosLike, 1},
        {Kind::kCount, 2}};
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
      case Kind::Cmp:
        emit_cmp();
        break;
      case Kind::Where:
        emit_where();
        break;
      case Kind::UserKernel:
        emit_user_kernel();
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
      case Kind::AddInplace:
      case Kind::SubInplace:
      case Kind::MulInplace:
      case Kind::DivInplace:
      case Kind::CopyInplace:
      case Kind::FillInplace:
      case Kind::ClampInplace:
        emit_inplace(k);
        break;
      case Kind::ZerosLike: {
        int a = pick();
        emit(Instr{.kind = Kind::ZerosLike, .a = a}, ValueInfo{info(a).shape, info(a).dtype, 0, 0});
        break;
      }
      case Kind::kCount:
        emit_update();
        break;
      default:
        emit_unary(k);
        break;
    }
  }
};

}  // namespace detail

/// The random program for a seed (the same seed always gives the same program).
inline Program generate(uint64_t seed) { return detail::Generator(seed).generate(); }

}  // namespace ember::test::fuzz
