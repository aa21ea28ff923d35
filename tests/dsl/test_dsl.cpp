// dsl: compile-time simplification, evaluation, pointwise kernels on Tensors, their gradients.
#include "dsl/builtins.hpp"
#include "dsl/pointwise.hpp"
#include "support/reference.hpp"

using namespace ember;
namespace d = ember::dsl;

namespace {
constexpr d::Var<0> x{};
constexpr d::Var<1> y{};
}  // namespace

// ---- compile-time checks: derivative types simplify ----
static_assert(
    std::is_same_v<decltype(d::diff<0>(x * x)), d::Call<d::Fn::Add, d::Var<0>, d::Var<0>>>,
    "d/dx x*x simplifies to x + x");
static_assert(std::is_same_v<decltype(d::diff<0>(d::c<3>)), d::Const<0>>, "d/dx 3 = 0");
static_assert(std::is_same_v<decltype(d::diff<1>(x * d::exp(x))), d::Const<0>>,
              "d/dy of a formula in x alone is zero");
static_assert(std::is_same_v<decltype(d::diff<0>(x * d::c<3>)), d::Const<3>>, "d/dx 3x = 3");
static_assert(std::is_same_v<decltype(x + d::c<0>), d::Var<0>>, "x + 0 = x");
static_assert(std::is_same_v<decltype(x * d::c<1>), d::Var<0>>, "x * 1 = x");
static_assert(std::is_same_v<decltype(x * d::c<0>), d::Const<0>>, "x * 0 = 0");
static_assert(std::is_same_v<decltype(-(-x)), d::Var<0>>, "--x = x");
static_assert(std::is_same_v<decltype(d::c<2> * d::c<3, 4>), d::Const<3, 2>>, "constant folding");
static_assert(d::arity<decltype(d::where(x > y, x, y))>::value == 2, "arity counts placeholders");

TEST_CASE("dsl formulas evaluate and differentiate", "[dsl]") {
  auto e = x * d::sigmoid(x);
  double s = 1 / (1 + std::exp(-2.0));
  CHECK(d::eval<double>(e, 2.0) == Approx(2 * s));
  CHECK(d::eval<double>(d::diff<0>(e), 2.0) == Approx(s * (1 + 2 * (1 - s))));
  auto w = d::where(x > y, x * y, y);
  CHECK(d::eval<double>(d::diff<0>(w), 3.0, 2.0) == 2.0);
  CHECK(d::eval<double>(d::diff<1>(w), 3.0, 2.0) == 3.0);
  CHECK(d::eval<double>(d::diff<1>(w), 1.0, 2.0) == 1.0);
  CHECK(d::describe(w).to_string() == "where(gt(x0, x1), mul(x0, x1), x1)");
  CHECK(d::describe(x * 2.5 + d::c<1, 2>).to_string() == "add(mul(x0, 2.5), 0.5)");
}

namespace {
constexpr auto swish = d::pointwise([](auto v) { return v * d::sigmoid(v); }, "swish");
constexpr auto pick =
    d::pointwise([](auto a, auto b) { return d::where(a > b, a * b, d::exp(b) - a); }, "pick");
}  // namespace

TEST_CASE("a dsl kernel equals the same formula of eager ops", "[dsl]") {
  Tensor a = test::seeded_randn({4, 5}, 1), b = test::seeded_randn({5}, 2);
  Tensor ref_swish = a * sigmoid(a);
  test::require_close(swish(a), {4, 5}, test::values(ref_swish), "swish", 1e-6, 1e-6);
  Tensor ref_pick = where(a > b, a * b, exp(b) - a);
  test::require_close(pick(a, b), {4, 5}, test::values(ref_pick), "pick broadcast", 1e-6, 1e-6);
  test::require_close(pick(test::noncontiguous(a), b), {4, 5}, test::values(ref_pick),
                      "pick non-contiguous", 1e-6, 1e-6);
  test::require_close(pick(a, 0.25), {4, 5},
                      test::values(where(a > 0.25, a * 0.25, exp(tensor({0.25})) - a)),
                      "pick with a scalar", 1e-6, 1e-6);
  CHECK(swish(a.to(kFloat64)).dtype() == kFloat64);
  CHECK(swish(arange(3)).dtype() == kFloat32);
}

namespace {
// Two costly functions (erf, sigmoid): its contiguous rows run as heavy loops.
constexpr auto chain = d::pointwise(
    [](auto v, auto w) { return d::builtin::gelu_fn{}(v * w + 0.25) * d::sigmoid(v); }, "chain");
}  // namespace
static_assert(d::detail::work_of<decltype(chain.expr())> == loops::Work::Heavy,
              "a formula with two costly functions runs heavy loops");
static_assert(d::detail::work_of<decltype(swish.expr())> == loops::Work::Light,
              "swish has one costly function");

TEST_CASE("heavy dsl kernels agree with eager ops across blocks and row ends", "[dsl]") {
  // Lengths around the heavy loops' blocks (128) and prefetch distance (4096), threads splitting
  // the range, f32 and f64, forward and both gradients.
  for (DType dt : {kFloat32, kFloat64}) {
    for (int64_t n : {1, 127, 129, 4096 + 129, 100003}) {
      Tensor a = test::seeded_randn({n}, 70, dt).requires_grad_();
      Tensor b = test::seeded_randn({n}, 71, dt).requires_grad_();
      INFO("n " << n << " " << dt);
      Tensor out = chain(a, b);
      Tensor ref = gelu(a * b + 0.25) * sigmoid(a);
      test::require_close(out, {n}, test::values(ref), "chain forward", 1e-5, 1e-5);
      Tensor g = test::seeded_randn({n}, 72, dt);
      auto got = autograd::grad({out}, {a, b}, {g});
      auto want = autograd::grad({ref}, {a, b}, {g});
      test::require_close(got[0], {n}, test::values(want[0]), "chain d/da", 1e-5, 1e-5);
      test::require_close(got[1], {n}, test::values(want[1]), "chain d/db", 1e-5, 1e-5);
    }
  }
}

TEST_CASE("dsl kernels pass gradcheck with broadcasting", "[dsl][gradcheck]") {
  Tensor a = test::seeded_randn({3, 4}, 3, kFloat64).requires_grad_();
  Tensor b = test::seeded_randn({4}, 4, kFloat64).requires_grad_();
  auto r = gradcheck([](const std::vector<Tensor>& in) { return pick(in[0], in[1]); }, {a, b});
  INFO(r.report);
  CHECK(r.ok);
  auto r1 = gradcheck([](const std::vector<Tensor>& in) { return swish(in[0]); },
                      {test::noncontiguous(a.detach()).requires_grad_()});
  INFO(r1.report);
  CHECK(r1.ok);
  // Second order: the backward of a dsl kernel is itself recorded under create_graph.
  auto r2 = gradcheck(
      [](const std::vector<Tensor>& in) {
        Tensor y = swish(in[0]).sum();
        return autograd::grad({y}, {in[0]}, {}, std::nullopt, true)[0];
      },
      {a});
  INFO(r2.report);
  CHECK(r2.ok);
}

TEST_CASE("dsl kernel calls record one autograd node", "[dsl]") {
  Tensor a = randn({3}).requires_grad_();
  Tensor y = pick(a, a * 2);
  CHECK(y.grad_fn()->name() == "pickBackward");
  CHECK(y.grad_fn()->next_edges.size() == 2);
}

TEST_CASE("dsl kernels check their arguments", "[dsl][error]") {
  CHECK_THROWS_WITH(pick(zeros({2, 3}), zeros({4})),
                    Catch::Contains("pick: The size of tensor a (3) must match"));
}

// ---- user kernels against double-precision references ----

namespace {

using V = const std::vector<double>&;

/// f applied elementwise in double over the broadcast shape `out` of ins (strides honoured).
std::vector<double> reference(const std::vector<Tensor>& ins, const Dims& out,
                              const std::function<double(V)>& f) {
  std::vector<double> r(static_cast<size_t>(product(out)));
  std::vector<double> v(ins.size());
  for (int64_t i = 0; i < product(out); ++i) {
    auto idx = test::unravel(i, out);
    for (size_t k = 0; k < ins.size(); ++k) {
      const Tensor& t = ins[k];
      std::vector<int64_t> j(static_cast<size_t>(t.dim()));
      size_t off = out.size() - j.size();
      for (size_t d = 0; d < j.size(); ++d) j[d] = t.size(int64_t(d)) == 1 ? 0 : idx[off + d];
      v[k] = test::at(t, j);
    }
    r[static_cast<size_t>(i)] = f(v);
  }
  return r;
}

void check_gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                     const std::vector<Tensor>& in, const std::string& what) {
  for (int variant = 0; variant < 2; ++variant) {
    std::vector<Tensor> args;
    for (const Tensor& t : in)
      args.push_back((variant ? test::noncontiguous(t.detach()) : t.detach()).requires_grad_());
    auto r = gradcheck(fn, args);
    INFO(what << (variant ? " (non-contiguous)" : "") << "\n" << r.report);
    CHECK(r.ok);
  }
}

constexpr auto three = d::pointwise(
    [](auto a, auto b, auto c) {
      return d::where(a > b, a * d::tanh(c), d::exp(b - c) / (d::c<1> + a * a));
    },
    "three");
double three_ref(V v) {
  return v[0] > v[1] ? v[0] * std::tanh(v[2]) : std::exp(v[1] - v[2]) / (1 + v[0] * v[0]);
}

}  // namespace

TEST_CASE("dsl kernels of three inputs broadcast, in f32 and f64", "[dsl]") {
  for (DType dt : {kFloat32, kFloat64}) {
    Tensor a = test::seeded_randn({2, 3, 4}, 10, dt), b = test::seeded_randn({3, 1}, 11, dt);
    Tensor c = test::seeded_randn({4}, 12, dt);
    Tensor y = three(a, b, c);
    CHECK(y.dtype() == dt);
    double tol = dt == kFloat64 ? 1e-12 : 1e-5;
    test::require_close(y, {2, 3, 4}, reference({a, b, c}, {2, 3, 4}, three_ref), "three", tol,
                        tol);
    // Any operand may be the one that broadcasts, or a plain number.
    test::require_close(three(c, a, b), {2, 3, 4}, reference({c, a, b}, {2, 3, 4}, three_ref),
                        "three permuted", tol, tol);
    test::require_close(three(a, 0.5, c), {2, 3, 4},
                        reference({a, full({1}, 0.5, dt), c}, {2, 3, 4}, three_ref),
                        "three with a scalar", tol, tol);
  }
  check_gradcheck([](const std::vector<Tensor>& in) { return three(in[0], in[1], in[2]); },
                  {test::seeded_randn({2, 3, 4}, 13, kFloat64),
                   test::seeded_randn({3, 1}, 14, kFloat64), test::seeded_randn({4}, 15, kFloat64)},
                  "three");
}

TEST_CASE("dsl kernels capture runtime scalars", "[dsl]") {
  Tensor x = test::seeded_randn({5, 3}, 20, kFloat64), y = test::seeded_randn({3}, 21, kFloat64);
  for (double a : {1.5, -0.75}) {
    double b = 0.25 - a, s = 3.0;
    auto k = d::pointwise(
        [a, b, s](auto u, auto v) { return u * a + d::sigmoid(v * b) * s - a * b; }, "scalars");
    test::require_close(
        k(x, y), {5, 3},
        reference({x, y}, {5, 3},
                  [&](V v) { return v[0] * a + s / (1 + std::exp(-v[1] * b)) - a * b; }),
        "scalars a = " + std::to_string(a), 1e-12, 1e-12);
    check_gradcheck([&](const std::vector<Tensor>& in) { return k(in[0], in[1]); }, {x, y},
                    "scalars");
    // A scalar used several times, in the formula and in its derivative, keeps its value.
    auto w = d::pointwise([a, b](auto u) { return d::sin(u * a) * d::exp(u * b); }, "wave");
    Tensor xg = x.detach().requires_grad_();
    Tensor g = autograd::grad({w(xg).sum()}, {xg})[0];
    test::require_close(g, {5, 3},
                        reference({x}, {5, 3},
                                  [&](V v) {
                                    double u = v[0];
                                    return (a * std::cos(a * u) + b * std::sin(a * u)) *
                                           std::exp(b * u);
                                  }),
                        "wave gradient", 1e-12, 1e-12);
  }
}

TEST_CASE("dsl compile-time constants fold and differentiate", "[dsl]") {
  auto poly = d::c<3, 4> * x * x + d::c<-2> * x + d::c<1, 3>;
  static_assert(std::is_same_v<decltype(d::diff<0>(d::c<-2> * x + d::c<1, 3>)), d::Const<-2>>);
  static_assert(std::is_same_v<decltype(d::c<1, 2> + d::c<1, 3>), d::Const<5, 6>>);
  static_assert(std::is_same_v<decltype(d::c<4> / d::c<6>), d::Const<2, 3>>);
  static_assert(std::is_same_v<decltype(-d::c<2>), d::Const<-2>>);
  static_assert(std::is_same_v<decltype(d::pow(x, d::c<1>)), d::Var<0>>, "x^1 = x");
  CHECK(d::eval<double>(d::diff<0>(poly), 2.0) == Approx(1.0));  // 3/2 x - 2
  constexpr auto k =
      d::pointwise([](auto u) { return d::c<3, 4> * u * u + d::c<-2> * u + d::c<1, 3>; });
  Tensor u = test::seeded_randn({7}, 30, kFloat64).requires_grad_();
  auto f = [](V v) { return 0.75 * v[0] * v[0] - 2 * v[0] + 1.0 / 3; };
  test::require_close(k(u), {7}, reference({u}, {7}, f), "poly", 1e-14, 1e-14);
  k(u).sum().backward();
  test::require_close(u.grad(), {7}, reference({u}, {7}, [](V v) { return 1.5 * v[0] - 2; }),
                      "poly gradient", 1e-14, 1e-14);
  // A derivative that is a constant needs no kernel: g * 2 and -g, summed over broadcast dims.
  constexpr auto lin = d::pointwise([](auto p, auto q) { return d::c<2> * p - q; }, "lin");
  Tensor p = randn({3, 4}).requires_grad_(), q = randn({4}).requires_grad_();
  lin(p, q).sum().backward();
  test::require_close(p.grad(), {3, 4}, std::vector<double>(12, 2.0), "lin dp");
  test::require_close(q.grad(), {4}, std::vector<double>(4, -3.0), "lin dq");
}

TEST_CASE("dsl pow with a scalar exponent", "[dsl]") {
  double e = 2.5;
  auto k = d::pointwise([e](auto u) { return d::pow(u, e) + d::pow(u, d::c<3>) - d::pow(u, -0.5); },
                        "pows");
  Tensor u = test::seeded_randn({4, 3}, 40, kFloat64).abs() + 0.5;
  auto f = [e](V v) { return std::pow(v[0], e) + std::pow(v[0], 3) - std::pow(v[0], -0.5); };
  test::require_close(k(u), {4, 3}, reference({u}, {4, 3}, f), "pows", 1e-12, 1e-12);
  test::require_close(k(u.to(kFloat32)), {4, 3}, reference({u}, {4, 3}, f), "pows f32", 1e-5, 1e-5);
  check_gradcheck([&](const std::vector<Tensor>& in) { return k(in[0]); }, {u}, "pows");
  // Negative bases: NaN, as eager pow.
  constexpr auto sq = d::pointwise([](auto v) { return d::pow(v, 0.5); });
  Tensor n = tensor({-1.0, 4.0});
  test::require_close(sq(n), {2}, test::values(pow(n, 0.5)), "pow of a negative base");
  // d/du u^2.5 at 0 is 0, as in PyTorch.
  Tensor z = tensor({0.0, 2.0}, kFloat64).requires_grad_();
  d::pointwise([](auto v) { return d::pow(v, 2.5); })(z).sum().backward();
  test::require_close(z.grad(), {2}, {0.0, 2.5 * std::pow(2.0, 1.5)}, "pow gradient at 0");
}

TEST_CASE("dsl min and max: values, NaN and ties as eager", "[dsl]") {
  constexpr auto mm = d::pointwise([](auto a, auto b) { return d::max(a, b) - d::min(a, b) * 2; });
  double nan = std::nan("");
  Tensor a = tensor({1.0, 2.0, 3.0, nan, 0.0, -1.0}), b = tensor({1.0, 1.0, 4.0, 0.0, nan, -1.0});
  test::require_close(mm(a, b), {6}, test::values(maximum(a, b) - minimum(a, b) * 2),
                      "min/max with NaN and ties");
  // Ties split the gradient in halves, as PyTorch: d max / da = 1/2 where a == b.
  Tensor ag = tensor({1.0, 2.0, 3.0}).requires_grad_();
  Tensor bg = tensor({1.0, 1.0, 4.0}).requires_grad_();
  auto gd = autograd::grad({mm(ag, bg).sum()}, {ag, bg});
  auto ge = autograd::grad({(maximum(ag, bg) - minimum(ag, bg) * 2).sum()}, {ag, bg});
  test::require_close(gd[0], {3}, {-0.5, 1.0, -2.0}, "d/da at ties");
  test::require_close(gd[0], {3}, test::values(ge[0]), "d/da as eager");
  test::require_close(gd[1], {3}, test::values(ge[1]), "d/db as eager");
  check_gradcheck([&](const std::vector<Tensor>& in) { return mm(in[0], in[1]); },
                  {test::seeded_randn({3, 4}, 50, kFloat64), test::seeded_randn({4}, 51, kFloat64)},
                  "min/max");
}

TEST_CASE("dsl comparisons give 0 or 1 and no gradient", "[dsl]") {
  constexpr auto cmp = d::pointwise([](auto a, auto b) {
    return (a < b) + (a <= b) * 2 + (a > b) * 4 + (a >= b) * 8 + (a == b) * 16 + (a != b) * 32;
  });
  double nan = std::nan("");
  Tensor a = tensor({1.0, 2.0, 3.0, nan}), b = tensor({2.0, 2.0, 1.0, 1.0});
  auto f = [](V v) {
    double p = v[0], q = v[1];
    return (p < q) + (p <= q) * 2.0 + (p > q) * 4.0 + (p >= q) * 8.0 + (p == q) * 16.0 +
           (p != q) * 32.0;
  };
  test::require_close(cmp(a, b), {4}, reference({a, b}, {4}, f), "comparisons");
  CHECK(test::values(cmp(a, b)) == std::vector<double>{35, 26, 44, 32});
  Tensor ag = a.to(kFloat64).requires_grad_();
  Tensor g = autograd::grad({cmp(ag, b).sum()}, {ag})[0];
  test::require_close(g, {4}, std::vector<double>(4, 0.0), "comparison gradient");
}

TEST_CASE("dsl kernels: dtypes, 0-d and zero-size inputs", "[dsl]") {
  // f64 keeps its precision; f32 with f64 promotes; integers run in the default float dtype.
  constexpr auto third = d::pointwise([](auto v) { return v + d::c<1, 3>; });
  Tensor z64 = zeros({2}, kFloat64);
  CHECK(std::abs(test::values(third(z64))[0] - 1.0 / 3) < 1e-16);
  CHECK(pick(zeros({2}), z64).dtype() == kFloat64);
  CHECK(pick(arange(3), arange(3)).dtype() == kFloat32);
  // 0-d: a 0-d result, or broadcast against the others.
  Tensor s = scalar_tensor(0.5), r = tensor({-1.0, 0.25, 2.0});
  CHECK(swish(s).dim() == 0);
  test::require_close(swish(s), {}, {0.5 / (1 + std::exp(-0.5))}, "swish 0-d");
  test::require_close(
      pick(s, r), {3},
      reference({s, r}, {3}, [](V v) { return v[0] > v[1] ? v[0] * v[1] : std::exp(v[1]) - v[0]; }),
      "pick 0-d with [3]");
  Tensor sg = scalar_tensor(0.5, kFloat64).requires_grad_();
  Tensor sgrad = autograd::grad({pick(sg, r).sum()}, {sg})[0];
  CHECK(sgrad.dim() == 0);
  CHECK(sgrad.item<double>() == Approx(-1.0 + 0.25 - 1.0));  // b where a > b, else -1
  // Zero-size: empty results of the broadcast shape; backward gives empty gradients.
  CHECK(swish(zeros({0, 3})).sizes() == Dims{0, 3});
  CHECK(three(zeros({0, 1}), zeros({3}), scalar_tensor(1.0)).sizes() == Dims{0, 3});
  Tensor e = zeros({0, 3}).requires_grad_(), f = randn({3}).requires_grad_();
  auto ge = autograd::grad({pick(e, f).sum()}, {e, f});
  CHECK(ge[0].sizes() == Dims{0, 3});
  test::require_close(ge[1], {3}, {0.0, 0.0, 0.0}, "gradient of the broadcast operand");
}

TEST_CASE("dsl kernels agree with the eager formula on strided and broadcast inputs", "[dsl]") {
  auto pick_eager = [](const Tensor& a, const Tensor& b) {
    return where(a > b, a * b, exp(b) - a);
  };
  auto three_eager = [](const Tensor& a, const Tensor& b, const Tensor& c) {
    return where(a > b, a * tanh(c), exp(b - c) / (1 + a * a));
  };
  Tensor base = test::seeded_randn({4, 3}, 60, kFloat64);
  Tensor col = test::seeded_randn({4, 1}, 61, kFloat64);
  Tensor row = test::seeded_randn({3}, 62, kFloat64);
  // transposed, strided, expanded and narrowed views, and [4, 1] against [3]
  std::vector<std::pair<std::string, std::vector<Tensor>>> cases = {
      {"transposed", {test::seeded_randn({3, 4}, 63, kFloat64).t(), base}},
      {"strided", {test::noncontiguous(base), test::noncontiguous(base * 0.5)}},
      {"expanded", {row.expand({4, 3}), base}},
      {"narrowed", {test::seeded_randn({4, 5}, 64, kFloat64).narrow(1, 1, 3), base.t().t()}},
      {"column by row", {col, row}},
  };
  for (auto& [what, in] : cases) {
    INFO(what);
    Tensor a = in[0].detach().requires_grad_(), b = in[1].detach().requires_grad_();
    Tensor yd = pick(a, b), ye = pick_eager(a, b);
    test::require_close(yd, ye.sizes(), test::values(ye), "pick " + what, 1e-12, 1e-12);
    auto gd = autograd::grad({yd.sum()}, {a, b}), ge = autograd::grad({ye.sum()}, {a, b});
    for (size_t j = 0; j < 2; ++j)
      test::require_close(gd[j], ge[j].sizes(), test::values(ge[j]),
                          "d pick / d x" + std::to_string(j) + " " + what, 1e-12, 1e-12);
    Tensor c = row.detach().requires_grad_();
    Tensor td = three(a, b, c), te = three_eager(a, b, c);
    test::require_close(td, te.sizes(), test::values(te), "three " + what, 1e-12, 1e-12);
    auto hd = autograd::grad({td.sum()}, {a, b, c}), he = autograd::grad({te.sum()}, {a, b, c});
    for (size_t j = 0; j < 3; ++j)
      test::require_close(hd[j], he[j].sizes(), test::values(he[j]),
                          "d three / d x" + std::to_string(j) + " " + what, 1e-12, 1e-12);
  }
}

TEST_CASE("dsl kernels reject undefined inputs", "[dsl][error]") {
  CHECK_THROWS_WITH(swish(Tensor()), Catch::Contains("swish: an input tensor is undefined"));
  CHECK_THROWS_WITH(three(zeros({2}), zeros({3}), zeros({2})),
                    Catch::Contains("three: The size of tensor"));
}
