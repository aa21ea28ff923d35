// dsl: compile-time simplification, evaluation, pointwise kernels on Tensors, their gradients.
#include "support/reference.hpp"

#include "dsl/pointwise.hpp"

using namespace ember;
namespace d = ember::dsl;

namespace {
constexpr d::Var<0> x{};
constexpr d::Var<1> y{};
}  // namespace

// ---- compile-time checks: derivative types simplify ----
static_assert(std::is_same_v<decltype(d::diff<0>(x * x)), d::Node<d::Fn::Add, d::Var<0>, d::Var<0>>>,
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
constexpr auto pick = d::pointwise(
    [](auto a, auto b) { return d::where(a > b, a * b, d::exp(b) - a); }, "pick");
}  // namespace

TEST_CASE("a dsl kernel equals the same formula of eager ops", "[dsl]") {
  Tensor a = test::seeded_randn({4, 5}, 1), b = test::seeded_randn({5}, 2);
  Tensor ref_swish = a * sigmoid(a);
  test::require_close(swish(a), {4, 5}, test::values(ref_swish), "swish", 1e-6, 1e-6);
  Tensor ref_pick = where(a > b, a * b, exp(b) - a);
  test::require_close(pick(a, b), {4, 5}, test::values(ref_pick), "pick broadcast", 1e-6, 1e-6);
  test::require_close(pick(test::noncontiguous(a), b), {4, 5}, test::values(ref_pick),
                      "pick non-contiguous", 1e-6, 1e-6);
  test::require_close(pick(a, 0.25), {4, 5}, test::values(where(a > 0.25, a * 0.25, exp(tensor({0.25})) - a)),
                      "pick with a scalar", 1e-6, 1e-6);
  CHECK(swish(a.to(kFloat64)).dtype() == kFloat64);
  CHECK(swish(arange(3)).dtype() == kFloat32);
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
