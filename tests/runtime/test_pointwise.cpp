// Unary and binary pointwise ops against double-precision references written here: seeded
// random shapes, broadcasting both ways, strided and transposed inputs, 0-d and zero-size
// tensors; NaN handling, in-place ops, error messages, and libmvec accuracy in float32.
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <sstream>

#include "support/reference.hpp"

using namespace ember;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Values uniform in [lo, hi] from a fixed seed, rounded to multiples of `step` when step > 0
// (so comparisons see ties and logical ops see zeros).
Tensor uniform_input(const Dims& sizes, DType d, uint64_t seed, double lo, double hi,
                     double step = 0) {
  manual_seed(seed);
  std::vector<double> v = test::values(rand(sizes, kFloat64));
  for (double& x : v) {
    x = lo + (hi - lo) * x;
    if (step > 0) x = std::round(x / step) * step;
  }
  return tensor(v).reshape(sizes).to(d);
}

struct Layout {
  std::string label;
  Tensor t;
};

// t itself, a strided copy, and (2-d and up) a transposed-storage copy: same logical values.
std::vector<Layout> layouts(const Tensor& t) {
  std::vector<Layout> out{{"contiguous", t}};
  if (t.dim() >= 1 && t.numel() > 0) out.push_back({"strided", test::noncontiguous(t)});
  if (t.dim() >= 2) out.push_back({"transposed", t.transpose(0, 1).contiguous().transpose(0, 1)});
  return out;
}

Dims random_shape(std::mt19937& g) {
  int nd = std::uniform_int_distribution<int>(1, 4)(g);
  Dims s;
  for (int i = 0; i < nd; ++i) s.push_back(std::uniform_int_distribution<int64_t>(1, 5)(g));
  return s;
}

// The broadcast shape, computed independently of ember's broadcast_shapes.
Dims broadcast_ref(const Dims& a, const Dims& b) {
  size_t n = std::max(a.size(), b.size());
  Dims out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i + a.size() < n ? 1 : a[i + a.size() - n];
    int64_t db = i + b.size() < n ? 1 : b[i + b.size() - n];
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// Element of t seen through broadcasting to an output multi-index.
double at_broadcast(const Tensor& t, const std::vector<int64_t>& out_idx) {
  size_t off = out_idx.size() - static_cast<size_t>(t.dim());
  std::vector<int64_t> idx(static_cast<size_t>(t.dim()));
  for (size_t d = 0; d < idx.size(); ++d) idx[d] = t.size(d) == 1 ? 0 : out_idx[d + off];
  return test::at(t, idx);
}

template <class F>
std::vector<double> reference(const std::vector<Tensor>& ins, const Dims& out, F f) {
  std::vector<double> r(static_cast<size_t>(product(out)));
  for (size_t i = 0; i < r.size(); ++i) {
    auto idx = test::unravel(static_cast<int64_t>(i), out);
    std::vector<double> x;
    for (const Tensor& t : ins) x.push_back(at_broadcast(t, idx));
    r[i] = f(x);
  }
  return r;
}

// Shape pairs: equal, 0-d either side, zero-size, and seeded random pairs broadcasting a -> b,
// b -> a and both ways at once.
std::vector<std::pair<Dims, Dims>> shape_pairs(uint64_t seed) {
  std::vector<std::pair<Dims, Dims>> p = {{{}, {}},      {{}, {3, 2}},       {{3, 2}, {}},
                                          {{0, 3}, {3}}, {{4, 0}, {4, 1}},   {{2, 1, 3}, {4, 1}},
                                          {{5}, {5}},    {{300, 257}, {257}}};
  std::mt19937 g(static_cast<uint32_t>(seed));
  for (int r = 0; r < 3; ++r) {
    Dims s = random_shape(g), t;
    size_t drop = std::uniform_int_distribution<size_t>(0, s.size() - 1)(g);
    for (size_t d = drop; d < s.size(); ++d)
      t.push_back(std::uniform_int_distribution<int>(0, 1)(g) ? 1 : s[d]);
    p.emplace_back(s, t);
    p.emplace_back(t, s);
  }
  return p;
}

std::string describe(const char* op, DType d, const Dims& a, const Dims& b, const char* la,
                     const char* lb, uint64_t seed) {
  std::ostringstream os;
  os << op << " " << d << " a" << a << " (" << la << ") b" << b << " (" << lb << ") seed " << seed;
  return os.str();
}

double sigmoid_ref(double x) { return 1 / (1 + std::exp(-x)); }

struct UnaryCase {
  const char* name;
  std::function<Tensor(const Tensor&)> op;
  std::function<double(double)> ref;
  double lo = -4, hi = 4;
  bool to_bool = false;
};

std::vector<UnaryCase> unary_cases() {
  const double k = std::sqrt(2 / M_PI);
  return {
      {"neg", [](auto& x) { return neg(x); }, [](double x) { return -x; }},
      {"operator-", [](auto& x) { return -x; }, [](double x) { return -x; }},
      {"abs", [](auto& x) { return abs(x); }, [](double x) { return std::abs(x); }},
      {"exp", [](auto& x) { return exp(x); }, [](double x) { return std::exp(x); }},
      {"log", [](auto& x) { return log(x); }, [](double x) { return std::log(x); }, 0.01, 10},
      {"log1p", [](auto& x) { return log1p(x); }, [](double x) { return std::log1p(x); }, -0.9, 10},
      {"expm1", [](auto& x) { return expm1(x); }, [](double x) { return std::expm1(x); }},
      {"sqrt", [](auto& x) { return sqrt(x); }, [](double x) { return std::sqrt(x); }, 0, 10},
      {"rsqrt", [](auto& x) { return rsqrt(x); }, [](double x) { return 1 / std::sqrt(x); }, 0.01,
       10},
      {"sin", [](auto& x) { return sin(x); }, [](double x) { return std::sin(x); }},
      {"cos", [](auto& x) { return cos(x); }, [](double x) { return std::cos(x); }},
      {"tanh", [](auto& x) { return tanh(x); }, [](double x) { return std::tanh(x); }},
      {"sigmoid", [](auto& x) { return sigmoid(x); }, sigmoid_ref, -20, 20},
      {"relu", [](auto& x) { return relu(x); }, [](double x) { return x > 0 ? x : 0; }},
      {"gelu", [](auto& x) { return gelu(x); },
       [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }},
      {"gelu_tanh", [](auto& x) { return gelu(x, "tanh"); },
       [k](double x) { return 0.5 * x * (1 + std::tanh(k * (x + 0.044715 * x * x * x))); }},
      {"silu", [](auto& x) { return silu(x); }, [](double x) { return x * sigmoid_ref(x); }, -20,
       20},
      {"erf", [](auto& x) { return erf(x); }, [](double x) { return std::erf(x); }},
      {"sign", [](auto& x) { return sign(x); }, [](double x) { return double((0 < x) - (x < 0)); },
       -2, 2, false},
      {"logical_not", [](auto& x) { return logical_not(x); }, [](double x) { return x == 0; }, -1,
       1, true},
      {"operator!", [](auto& x) { return !x; }, [](double x) { return x == 0; }, -1, 1, true},
      {"clamp", [](auto& x) { return clamp(x, -0.5, 0.7); },
       [](double x) { return std::min(std::max(x, -0.5), 0.7); }},
      {"clamp_min", [](auto& x) { return clamp(x, 0.25); },
       [](double x) { return std::max(x, 0.25); }},
      {"clamp_max", [](auto& x) { return clamp(x, std::nullopt, -1.0); },
       [](double x) { return std::min(x, -1.0); }},
      {"square", [](auto& x) { return square(x); }, [](double x) { return x * x; }},
      {"Tensor::sigmoid", [](auto& x) { return x.sigmoid(); }, sigmoid_ref},
  };
}

}  // namespace

TEST_CASE("unary ops match double references", "[runtime][pointwise]") {
  std::mt19937 g(1234);
  std::vector<Dims> shapes = {{}, {0}, {3, 0, 2}, {7}, {300, 257}};
  for (int i = 0; i < 3; ++i) shapes.push_back(random_shape(g));
  uint64_t seed = 100;
  for (const UnaryCase& c : unary_cases()) {
    for (DType d : {kFloat32, kFloat64}) {
      double rtol = d == kFloat32 ? 1e-5 : 1e-12, atol = d == kFloat32 ? 1e-6 : 1e-13;
      for (const Dims& s : shapes) {
        // logical_not and sign also need exact zeros among their inputs.
        double step = (c.to_bool || std::string(c.name) == "sign") ? 0.5 : 0;
        Tensor x = uniform_input(s, d, ++seed, c.lo, c.hi, step);
        std::vector<double> expected;
        for (double v : test::values(x)) expected.push_back(c.ref(v));
        for (const Layout& l : layouts(x)) {
          Tensor out = c.op(l.t);
          test::require_close(out, s, expected,
                              describe(c.name, d, s, {}, l.label.c_str(), "", seed), rtol, atol);
          CHECK(out.dtype() == (c.to_bool ? kBool : d));
        }
      }
    }
  }
}

TEST_CASE("unary ops on integer and bool tensors", "[runtime][pointwise]") {
  Tensor i = uniform_input({4, 5}, kInt64, 7, -5, 5, 1);
  std::vector<double> v = test::values(i);
  auto map = [&](auto f) {
    std::vector<double> r;
    for (double x : v) r.push_back(f(x));
    return r;
  };
  // Ops PyTorch keeps integral stay int64, exactly.
  CHECK(neg(i).dtype() == kInt64);
  test::require_close(neg(i), {4, 5}, map([](double x) { return -x; }), "neg int", 0, 0);
  test::require_close(abs(i), {4, 5}, map([](double x) { return std::abs(x); }), "abs int", 0, 0);
  test::require_close(sign(i), {4, 5}, map([](double x) { return double((0 < x) - (x < 0)); }),
                      "sign int", 0, 0);
  test::require_close(relu(i), {4, 5}, map([](double x) { return std::max(x, 0.0); }), "relu int",
                      0, 0);
  Tensor c = clamp(i, -2, 3);
  CHECK(c.dtype() == kInt64);
  test::require_close(c, {4, 5}, map([](double x) { return std::clamp(x, -2.0, 3.0); }),
                      "clamp int", 0, 0);
  test::require_close(square(i), {4, 5}, map([](double x) { return x * x; }), "square int", 0, 0);
  // A fractional bound makes the clamp floating, as in PyTorch.
  Tensor cf = clamp(i, 1.5, 3);
  CHECK(cf.dtype() == kFloat32);
  test::require_close(cf, {4, 5}, map([](double x) { return std::clamp(x, 1.5, 3.0); }),
                      "clamp int fractional");
  // Floating-only ops compute in the default dtype.
  for (Tensor out : {exp(i), tanh(i), sigmoid(i), sqrt(abs(i))}) CHECK(out.dtype() == kFloat32);
  test::require_close(exp(i), {4, 5}, map([](double x) { return std::exp(x); }), "exp int");
  test::require_close(sqrt(abs(i)), {4, 5}, map([](double x) { return std::sqrt(std::abs(x)); }),
                      "sqrt int");
  Tensor n = logical_not(i);
  CHECK(n.dtype() == kBool);
  test::require_close(n, {4, 5}, map([](double x) { return double(x == 0); }), "logical_not int");
  Tensor b = tensor({1, 0, 1}, kBool);
  test::require_close(logical_not(b), {3}, {0, 1, 0}, "logical_not bool");
  CHECK(logical_not(b).dtype() == kBool);
}

namespace {

struct BinaryCase {
  const char* name;
  std::function<Tensor(const Tensor&, const Tensor&)> op;
  std::function<double(double, double)> ref;
  double a_lo = -3, a_hi = 3, b_lo = -3, b_hi = 3, step = 0;
  bool to_bool = false;
};

std::vector<BinaryCase> binary_cases() {
  auto nan_max = [](double a, double b) {
    return std::isnan(a) || std::isnan(b) ? kNaN : std::max(a, b);
  };
  auto nan_min = [](double a, double b) {
    return std::isnan(a) || std::isnan(b) ? kNaN : std::min(a, b);
  };
  return {
      {"add", [](auto& a, auto& b) { return add(a, b); }, [](double a, double b) { return a + b; }},
      {"add_alpha", [](auto& a, auto& b) { return add(a, b, 2.5); },
       [](double a, double b) { return a + 2.5 * b; }},
      {"operator+", [](auto& a, auto& b) { return a + b; },
       [](double a, double b) { return a + b; }},
      {"sub", [](auto& a, auto& b) { return sub(a, b); }, [](double a, double b) { return a - b; }},
      {"sub_alpha", [](auto& a, auto& b) { return sub(a, b, -0.5); },
       [](double a, double b) { return a + 0.5 * b; }},
      {"mul", [](auto& a, auto& b) { return a * b; }, [](double a, double b) { return a * b; }},
      {"div", [](auto& a, auto& b) { return div(a, b); }, [](double a, double b) { return a / b; },
       -3, 3, 0.5, 3},
      {"operator/", [](auto& a, auto& b) { return a / b; },
       [](double a, double b) { return a / b; }, -3, 3, -3, -0.5},
      {"pow", [](auto& a, auto& b) { return pow(a, b); },
       [](double a, double b) { return std::pow(a, b); }, 0.1, 3, -2, 2},
      {"maximum", [](auto& a, auto& b) { return maximum(a, b); }, nan_max},
      {"minimum", [](auto& a, auto& b) { return minimum(a, b); }, nan_min},
      {"eq", [](auto& a, auto& b) { return eq(a, b); }, [](double a, double b) { return a == b; },
       -1, 1, -1, 1, 0.5, true},
      {"ne", [](auto& a, auto& b) { return a != b; }, [](double a, double b) { return a != b; }, -1,
       1, -1, 1, 0.5, true},
      {"lt", [](auto& a, auto& b) { return lt(a, b); }, [](double a, double b) { return a < b; },
       -1, 1, -1, 1, 0.5, true},
      {"le", [](auto& a, auto& b) { return a <= b; }, [](double a, double b) { return a <= b; }, -1,
       1, -1, 1, 0.5, true},
      {"gt", [](auto& a, auto& b) { return a > b; }, [](double a, double b) { return a > b; }, -1,
       1, -1, 1, 0.5, true},
      {"ge", [](auto& a, auto& b) { return ge(a, b); }, [](double a, double b) { return a >= b; },
       -1, 1, -1, 1, 0.5, true},
      {"logical_and", [](auto& a, auto& b) { return a && b; },
       [](double a, double b) { return a != 0 && b != 0; }, -1.4, 1.4, -1.4, 1.4, 1, true},
      {"logical_or", [](auto& a, auto& b) { return logical_or(a, b); },
       [](double a, double b) { return a != 0 || b != 0; }, -1.4, 1.4, -1.4, 1.4, 1, true},
  };
}

}  // namespace

TEST_CASE("binary ops match double references with broadcasting", "[runtime][pointwise]") {
  uint64_t seed = 5000;
  for (const BinaryCase& c : binary_cases()) {
    for (DType d : {kFloat32, kFloat64}) {
      double rtol = d == kFloat32 ? 1e-5 : 1e-12, atol = d == kFloat32 ? 1e-6 : 1e-13;
      for (const auto& [sa, sb] : shape_pairs(seed)) {
        Tensor a = uniform_input(sa, d, ++seed, c.a_lo, c.a_hi, c.step);
        Tensor b = uniform_input(sb, d, ++seed, c.b_lo, c.b_hi, c.step);
        Dims out = broadcast_ref(sa, sb);
        std::vector<double> expected =
            reference({a, b}, out, [&](const std::vector<double>& x) { return c.ref(x[0], x[1]); });
        auto la = layouts(a), lb = layouts(b);
        std::pair<size_t, size_t> combos[] = {
            {0, 0}, {la.size() - 1, 0}, {0, lb.size() - 1}, {la.size() - 1, lb.size() - 1}};
        for (auto [i, j] : combos) {
          Tensor r = c.op(la[i].t, lb[j].t);
          std::string what =
              describe(c.name, d, sa, sb, la[i].label.c_str(), lb[j].label.c_str(), seed);
          test::require_close(r, out, expected, what, rtol, atol);
          CHECK(r.dtype() == (c.to_bool ? kBool : d));
        }
      }
    }
  }
}

TEST_CASE("binary ops on mixed and integer dtypes", "[runtime][pointwise]") {
  Tensor f = uniform_input({3, 4}, kFloat32, 11, -3, 3);
  Tensor g = uniform_input({4}, kFloat64, 12, 0.5, 3);
  Dims s = {3, 4};
  auto ref = [&](const Tensor& a, const Tensor& b, auto fn) {
    return reference({a, b}, broadcast_ref(a.sizes(), b.sizes()),
                     [&](const std::vector<double>& x) { return fn(x[0], x[1]); });
  };
  Tensor fg = f / g;
  CHECK(fg.dtype() == kFloat64);
  test::require_close(fg, s, ref(f, g, [](double a, double b) { return a / b; }), "f32 / f64",
                      1e-12, 0);
  Tensor i = uniform_input({3, 4}, kInt64, 13, -20, 20, 1);
  Tensor j = uniform_input({4}, kInt64, 14, 1, 6, 1);
  for (auto [name, out, fn] :
       {std::tuple<const char*, Tensor, std::function<double(double, double)>>{
            "int + int", i + j, [](double a, double b) { return a + b; }},
        {"int - int", i - j, [](double a, double b) { return a - b; }},
        {"int * int", i * j, [](double a, double b) { return a * b; }},
        {"pow int int", pow(i, j), [](double a, double b) { return std::pow(a, b); }},
        {"maximum int", maximum(i, j), [](double a, double b) { return std::max(a, b); }}}) {
    CHECK(out.dtype() == kInt64);
    test::require_close(out, s, ref(i, j, fn), name, 0, 0);
  }
  Tensor q = i / j;  // true division
  CHECK(q.dtype() == kFloat32);
  test::require_close(q, s, ref(i, j, [](double a, double b) { return a / b; }), "int / int");
  Tensor fi = f * i;
  CHECK(fi.dtype() == kFloat32);
  test::require_close(fi, s, ref(f, i, [](double a, double b) { return a * b; }), "f32 * int");
  Tensor big = tensor(std::vector<int64_t>{int64_t{1} << 60, 3});
  test::require_close(big + tensor(std::vector<int64_t>{1, 1}), {2},
                      {static_cast<double>((int64_t{1} << 60) + 1), 4}, "int64 stays exact", 0, 0);
  CHECK((big + 1).to_vector<int64_t>()[0] == (int64_t{1} << 60) + 1);
  // Integer pow wraps modulo 2^64 like PyTorch's: 2^63 and 3^100.
  CHECK(pow(tensor(std::vector<int64_t>{2, 3}), tensor(std::vector<int64_t>{63, 100}))
            .to_vector<int64_t>() ==
        std::vector<int64_t>{std::numeric_limits<int64_t>::min(), -2984622845537545263});
  test::require_close(clamp(arange(5), 3, 1), {5}, {1, 1, 1, 1, 1}, "int clamp, min > max", 0, 0);
}

TEST_CASE("scalar operators and pow with scalars", "[runtime][pointwise]") {
  Tensor x = uniform_input({3, 5}, kFloat32, 21, 0.25, 4);
  Tensor q = uniform_input({3, 5}, kFloat32, 22, -2, 2, 0.5);
  std::vector<double> v = test::values(x), w = test::values(q);
  auto map = [](const std::vector<double>& in, auto f) {
    std::vector<double> r;
    for (double e : in) r.push_back(f(e));
    return r;
  };
  Dims s = {3, 5};
  test::require_close(x + 2, s, map(v, [](double e) { return e + 2; }), "x + 2");
  test::require_close(2 + x, s, map(v, [](double e) { return 2 + e; }), "2 + x");
  test::require_close(x - 0.5, s, map(v, [](double e) { return e - 0.5; }), "x - 0.5");
  test::require_close(3 - x, s, map(v, [](double e) { return 3 - e; }), "3 - x");
  test::require_close(x * 1.5, s, map(v, [](double e) { return e * 1.5; }), "x * 1.5");
  test::require_close(-1.5 * x, s, map(v, [](double e) { return -1.5 * e; }), "-1.5 * x");
  test::require_close(x / 4, s, map(v, [](double e) { return e / 4; }), "x / 4");
  test::require_close(2 / x, s, map(v, [](double e) { return 2 / e; }), "2 / x");
  test::require_close(q == 0.5, s, map(w, [](double e) { return e == 0.5; }), "q == 0.5");
  test::require_close(q != 0, s, map(w, [](double e) { return e != 0; }), "q != 0");
  test::require_close(q < 0.5, s, map(w, [](double e) { return e < 0.5; }), "q < 0.5");
  test::require_close(q <= -1, s, map(w, [](double e) { return e <= -1; }), "q <= -1");
  test::require_close(q > 1, s, map(w, [](double e) { return e > 1; }), "q > 1");
  test::require_close(q >= 0, s, map(w, [](double e) { return e >= 0; }), "q >= 0");
  for (double e : {0.5, 1.0, 2.0, 3.0, -1.5}) {
    Tensor p = pow(x, e);
    CHECK(p.dtype() == kFloat32);
    test::require_close(p, s, map(v, [e](double b) { return std::pow(b, e); }),
                        "pow(x, " + std::to_string(e) + ")");
  }
  test::require_close(x.pow(2), s, map(v, [](double b) { return b * b; }), "x.pow(2)");
  test::require_close(pow(2, x), s, map(v, [](double b) { return std::pow(2, b); }), "pow(2, x)");
  test::require_close(pow(2.5, q), s, map(w, [](double b) { return std::pow(2.5, b); }),
                      "pow(2.5, q)");
  // A Scalar does not promote a float32 tensor; a double keeps its precision until the cast.
  Tensor d = tensor({1, 2}, kFloat64);
  test::require_close(d + 0.1, {2}, {1.1, 2.1}, "f64 + 0.1", 1e-15, 0);
  // Integer tensors: int scalars stay int, float scalars promote.
  Tensor i = arange(-3, 4);
  std::vector<double> iv = test::values(i);
  CHECK((i * 2).dtype() == kInt64);
  test::require_close(i * 2, {7}, map(iv, [](double e) { return 2 * e; }), "i * 2", 0, 0);
  test::require_close(7 - i, {7}, map(iv, [](double e) { return 7 - e; }), "7 - i", 0, 0);
  test::require_close(i / 2, {7}, map(iv, [](double e) { return e / 2; }), "i / 2");
  test::require_close(pow(i, 3), {7}, map(iv, [](double e) { return e * e * e; }), "pow(i, 3)", 0,
                      0);
  test::require_close(pow(2, arange(5)), {5}, {1, 2, 4, 8, 16}, "pow(2, arange)", 0, 0);
  test::require_close(pow(i, 0.5), {7}, map(iv, [](double e) { return std::sqrt(e); }),
                      "pow(i, 0.5)");
}

TEST_CASE("where broadcasts condition and both branches", "[runtime][pointwise]") {
  std::vector<std::tuple<Dims, Dims, Dims>> shapes = {{{3, 4}, {3, 4}, {3, 4}},
                                                      {{3, 1}, {1, 4}, {4}},
                                                      {{}, {2, 3}, {}},
                                                      {{4}, {}, {2, 1, 4}},
                                                      {{0, 2}, {2}, {1}}};
  uint64_t seed = 900;
  for (const auto& [sc, sa, sb] : shapes) {
    Tensor c = uniform_input(sc, kFloat64, ++seed, 0, 1, 1).to(kBool);
    Tensor a = uniform_input(sa, kFloat32, ++seed, -3, 3);
    Tensor b = uniform_input(sb, kInt64, ++seed, -9, 9, 1);
    Dims out = broadcast_ref(broadcast_ref(sc, sa), sb);
    auto expected =
        reference({c, a, b}, out, [](const std::vector<double>& x) { return x[0] ? x[1] : x[2]; });
    for (const Layout& l : layouts(a)) {
      Tensor r = where(test::noncontiguous(c), l.t, b);
      CHECK(r.dtype() == kFloat32);
      test::require_close(r, out, expected,
                          describe("where", kFloat32, sa, sb, l.label.c_str(), "", seed));
    }
  }
}

TEST_CASE("where with a contiguous condition: values of its shape or single elements",
          "[runtime][pointwise]") {
  // The one-loop path (a derivative's where(x > 0, 1, 0), a mask's where(m, x, 0)), against the
  // reference, and with a value's layout that leaves it for the general walk.
  std::vector<std::pair<Dims, Dims>> values = {{{37, 41}, {37, 41}}, {{37, 41}, {}},
                                               {{}, {37, 41}},       {{}, {}},
                                               {{1, 1}, {37, 41}},   {{37, 41}, {1}}};
  uint64_t seed = 950;
  for (DType d : {kFloat32, kFloat64})
    for (const auto& [sa, sb] : values) {
      Tensor c = uniform_input({37, 41}, kFloat64, ++seed, 0, 1, 1).to(kBool);
      Tensor a = uniform_input(sa, d, ++seed, -3, 3), b = uniform_input(sb, d, ++seed, -3, 3);
      auto expected = reference({c, a, b}, {37, 41},
                                [](const std::vector<double>& x) { return x[0] ? x[1] : x[2]; });
      for (const Layout& l : layouts(a)) {
        Tensor r = where(c, l.t, b);
        CHECK(r.dtype() == d);
        test::require_close(r, {37, 41}, expected,
                            describe("where", d, sa, sb, l.label.c_str(), "", seed));
      }
    }
}

TEST_CASE("NaN propagates through maximum, minimum, relu and clamp", "[runtime][pointwise]") {
  for (DType d : {kFloat32, kFloat64}) {
    INFO("dtype " << d);
    Tensor a = tensor({1, kNaN, kNaN, 3, -0.5}, d), b = tensor({kNaN, 2, kNaN, -1, -2}, d);
    test::require_close(maximum(a, b), {5}, {kNaN, kNaN, kNaN, 3, -0.5}, "maximum");
    test::require_close(minimum(a, b), {5}, {kNaN, kNaN, kNaN, -1, -2}, "minimum");
    test::require_close(relu(a), {5}, {1, kNaN, kNaN, 3, 0}, "relu");
    test::require_close(clamp(b, -1.5, 1.5), {5}, {kNaN, 1.5, kNaN, -1, -1.5}, "clamp");
    // min > max: everything becomes max, NaN stays NaN (torch.clamp).
    test::require_close(clamp(b, 2, 1), {5}, {kNaN, 1, kNaN, 1, 1}, "clamp with min > max");
    // The vectorised contiguous path: NaN every 7th element of a long tensor.
    int64_t n = 70001;
    std::vector<double> v(static_cast<size_t>(n)), ones(v.size(), 1.0);
    for (int64_t k = 0; k < n; ++k) v[k] = k % 7 == 3 ? kNaN : static_cast<double>(k % 5) - 2;
    Tensor big = tensor(v).to(d), one = tensor(ones).to(d);
    auto check = [&](const Tensor& r, auto f, const char* what) {
      std::vector<double> e;
      for (double x : v) e.push_back(f(x));
      test::require_close(r, {n}, e, what);
    };
    auto nan_or = [](double x, double y) { return std::isnan(x) ? x : y; };
    check(maximum(big, one), [&](double x) { return nan_or(x, std::max(x, 1.0)); }, "max big");
    check(minimum(one, big), [&](double x) { return nan_or(x, std::min(x, 1.0)); }, "min big");
    check(relu(big), [&](double x) { return nan_or(x, std::max(x, 0.0)); }, "relu big");
    check(
        clamp(big, -1, 1), [&](double x) { return nan_or(x, std::clamp(x, -1.0, 1.0)); },
        "clamp big");
  }
}

TEST_CASE("in-place ops write through views and bump the version", "[runtime][pointwise]") {
  Tensor x = uniform_input({3, 4}, kFloat32, 31, -2, 2);
  std::vector<double> v = test::values(x);
  Tensor row = uniform_input({4}, kFloat32, 32, -2, 2);
  std::vector<double> r = test::values(row);
  auto expect = [&](const char* what) { test::require_close(x, {3, 4}, v, what); };
  auto bumps = [&](const char* what, auto f) {
    uint32_t before = x.version();
    f();
    INFO(what);
    CHECK(x.version() == before + 1);
  };
  bumps("add_", [&] { x.add_(row, 2); });
  for (size_t k = 0; k < v.size(); ++k) v[k] += 2 * static_cast<float>(r[k % 4]);
  expect("add_ with alpha");
  bumps("sub_", [&] { x.sub_(row); });
  for (size_t k = 0; k < v.size(); ++k) v[k] -= r[k % 4];
  expect("sub_");
  bumps("mul_", [&] { x.mul_(row.unsqueeze(0)); });
  for (size_t k = 0; k < v.size(); ++k) v[k] *= r[k % 4];
  expect("mul_");
  bumps("mul_ scalar", [&] { x *= 0.5; });
  for (double& e : v) e *= 0.5;
  expect("*=");
  bumps("clamp_", [&] { x.clamp_(-0.5, 0.5); });
  for (double& e : v) e = std::clamp(e, -0.5, 0.5);
  expect("clamp_");
  // Writing through a view changes the base and shares its version counter.
  Tensor col = x.select(1, 2);
  bumps("view add_", [&] { col.add_(10); });
  for (size_t k = 2; k < v.size(); k += 4) v[k] += 10;
  expect("add_ through a column view");
  bumps("fill_ view", [&] { x.slice(0, 1, 3).fill_(-7); });
  for (size_t k = 4; k < v.size(); ++k) v[k] = -7;
  expect("fill_ on rows 1-2");
  bumps("zero_", [&] { x.zero_(); });
  for (double& e : v) e = 0;
  expect("zero_");
  bumps("copy_ broadcast", [&] { x.copy_(row); });
  for (size_t k = 0; k < v.size(); ++k) v[k] = r[k % 4];
  expect("copy_ broadcasting a row");
  bumps("copy_ from f64 column",
        [&] { x.copy_(tensor(std::vector<double>{1.25, -2.5, 1e-3}, {3, 1})); });
  for (size_t k = 0; k < v.size(); ++k) v[k] = std::vector<double>{1.25, -2.5, 1e-3}[k / 4];
  expect("copy_ from a float64 column");
}

TEST_CASE("copy_ converts dtypes and handles overlapping views", "[runtime][pointwise]") {
  Tensor i = zeros({4}, kInt64);
  i.copy_(tensor({2.7, -2.7, 0.2, 1e3}));
  test::require_close(i, {4}, {2, -2, 0, 1000}, "float -> int truncates toward zero", 0, 0);
  Tensor b = zeros({3}, kBool);
  b.copy_(tensor({0.0, -0.5, 3.0}));
  test::require_close(b, {3}, {0, 1, 1}, "float -> bool is != 0", 0, 0);
  Tensor f = zeros({2, 2});
  f.copy_(tensor(std::vector<int64_t>{3, -4}));
  test::require_close(f, {2, 2}, {3, -4, 3, -4}, "int -> float, broadcast", 0, 0);
  // Overlapping source and destination behave as if the source were read first.
  Tensor x = arange(10).to(kFloat32);
  x.slice(0, 1, 10).copy_(x.slice(0, 0, 9));
  test::require_close(x, {10}, {0, 0, 1, 2, 3, 4, 5, 6, 7, 8}, "shift right by one", 0, 0);
  x.slice(0, 0, 9).copy_(x.slice(0, 1, 10));
  test::require_close(x, {10}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 8}, "shift left by one", 0, 0);
  Tensor m = arange(9).to(kFloat64).reshape({3, 3});
  m.copy_(m.t());
  test::require_close(m, {3, 3}, {0, 3, 6, 1, 4, 7, 2, 5, 8}, "m.copy_(m.t())", 0, 0);
  // Large overlapping copy: the parallel path must not read already-written elements.
  Tensor big = arange(100000).to(kFloat32);
  big.slice(0, 1, 100000).copy_(big.slice(0, 0, 99999));
  std::vector<float> got = big.to_vector<float>();
  bool ok = got[0] == 0;
  for (size_t k = 1; k < got.size() && ok; ++k) ok = got[k] == static_cast<float>(k - 1);
  CHECK(ok);
}

TEST_CASE("pointwise errors name the op and the problem", "[runtime][pointwise][error]") {
  CHECK_THROWS_AS(zeros({2, 3}) + zeros({4}), ShapeError);
  CHECK_THROWS_WITH(zeros({2, 3}) + zeros({4}),
                    Catch::Contains("add: The size of tensor a (3) must match the size of tensor "
                                    "b (4) at non-singleton dimension 1"));
  CHECK_THROWS_WITH(maximum(zeros({5, 1}), zeros({3, 2})),
                    Catch::Contains("maximum: The size of tensor a (5) must match the size of "
                                    "tensor b (3) at non-singleton dimension 0"));
  Tensor mask = tensor({1, 0}, kBool);
  CHECK_THROWS_AS(-mask, DTypeError);
  CHECK_THROWS_WITH(-mask, Catch::Contains("negation, the `-` operator, on a bool tensor is not "
                                           "supported"));
  CHECK_THROWS_WITH(mask - mask,
                    Catch::Contains("subtraction with two bool tensors is not supported"));
  test::require_close(mask + mask, {2}, {1, 0}, "bool + bool is logical or");
  CHECK((mask + mask).dtype() == kBool);
  Tensor x = zeros({2, 3});
  CHECK_THROWS_AS(x.add_(zeros({2, 2, 3})), ShapeError);
  CHECK_THROWS_WITH(x.add_(zeros({2, 2, 3})),
                    Catch::Contains("add_: output with shape [2, 3] doesn't match the broadcast "
                                    "shape [2, 2, 3]"));
  CHECK_THROWS_WITH(x.mul_(zeros({3, 3})), Catch::Contains("The size of tensor a (2) must match"));
  CHECK_THROWS_WITH(x.copy_(zeros({2, 2, 3})),
                    Catch::Contains("copy_: source of shape [2, 2, 3] cannot be broadcast to "
                                    "destination [2, 3]"));
  Tensor i = arange(3);
  CHECK_THROWS_AS(i.add_(1.5), DTypeError);
  CHECK_THROWS_WITH(i.div_(2), Catch::Contains("div_: result type float32 can't be cast to the "
                                               "desired output type int64"));
  test::require_close(i, {3}, {0, 1, 2}, "failed in-place ops leave the tensor unchanged", 0, 0);
  CHECK_THROWS_WITH(pow(i, -1),
                    Catch::Contains("pow: integers to negative integer powers are not allowed"));
  CHECK_THROWS_WITH(where(zeros({2}), zeros({2}), zeros({2})),
                    Catch::Contains("where: expected condition to be a bool tensor, got float32"));
  CHECK_THROWS_WITH(clamp(zeros({2}), std::nullopt, std::nullopt),
                    Catch::Contains("clamp: at least one of min or max must be given"));
  CHECK_THROWS_WITH(gelu(zeros({2}), "fast"),
                    Catch::Contains("gelu: approximate must be \"none\" or \"tanh\""));
}

namespace {

// Max relative error of f32 op on contiguous (libmvec, vectorised) and strided (scalar libm)
// inputs against the double function of the same float inputs.
void check_ulp(const char* name, const std::function<Tensor(const Tensor&)>& op,
               double (*ref)(double), const std::vector<float>& in, double bound) {
  Tensor x = tensor(in);
  for (const Layout& l : layouts(x)) {
    std::vector<float> got = op(l.t).to_vector<float>();
    double worst = 0, worst_x = 0;
    for (size_t k = 0; k < in.size(); ++k) {
      double e = ref(in[k]);
      double err = e == 0 ? std::abs(got[k]) : std::abs((got[k] - e) / e);
      if (err > worst) worst = err, worst_x = in[k];
    }
    INFO(name << " (" << l.label << "): worst relative error " << worst << " at x = " << worst_x);
    CHECK(worst <= bound);
  }
}

std::vector<float> spread(double lo, double hi, int n) {
  std::vector<float> v;
  for (int k = 0; k < n; ++k) v.push_back(static_cast<float>(lo + (hi - lo) * k / (n - 1)));
  return v;
}

}  // namespace

TEST_CASE("float32 exp, tanh, erf, log are within a few ulp", "[runtime][pointwise]") {
  constexpr double kBound = 4e-7;  // about 3.4 ulp at the worst point of a binade
  check_ulp(
      "exp", [](auto& x) { return exp(x); }, [](double x) { return std::exp(x); },
      spread(-87, 88, 100001), kBound);
  check_ulp(
      "tanh", [](auto& x) { return tanh(x); }, [](double x) { return std::tanh(x); },
      spread(-10, 10, 100001), kBound);
  std::vector<float> tiny = spread(-1e-3, 1e-3, 2001);
  check_ulp(
      "tanh near 0", [](auto& x) { return tanh(x); }, [](double x) { return std::tanh(x); }, tiny,
      kBound);
  check_ulp(
      "erf", [](auto& x) { return erf(x); }, [](double x) { return std::erf(x); },
      spread(-5, 5, 100001), kBound);
  check_ulp(
      "erf near 0", [](auto& x) { return erf(x); }, [](double x) { return std::erf(x); }, tiny,
      kBound);
  std::vector<float> pos;
  for (int k = 0; k <= 60000; ++k)
    pos.push_back(static_cast<float>(std::pow(10.0, -30 + k * 1e-3)));
  check_ulp(
      "log", [](auto& x) { return log(x); }, [](double x) { return std::log(x); }, pos, kBound);
  check_ulp(
      "log near 1", [](auto& x) { return log(x); }, [](double x) { return std::log(x); },
      spread(0.5, 2, 100001), kBound);
}
