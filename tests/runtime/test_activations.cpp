// The activations with options and their derivatives against PyTorch 1.13's values (float64),
// at the points where their branches meet.
#include "support/reference.hpp"

using namespace ember;
namespace F = ember::nn::functional;

namespace {

const std::vector<double> kX = {-4, -3, -1.5, -0.5, 0, 0.25, 1, 3, 5};

// y = f(x) and dy/dx at kX, against the expected lists.
void check(const std::function<Tensor(const Tensor&)>& f, const std::vector<double>& y,
           const std::vector<double>& dy, const std::string& what) {
  Tensor x = tensor(kX, {9}).requires_grad_();
  Tensor out = f(x);
  test::require_close(out, {9}, y, what + " values", 1e-9, 1e-12);
  out.sum().backward();
  test::require_close(x.grad(), {9}, dy, what + " gradient", 1e-9, 1e-12);
}

}  // namespace

TEST_CASE("activations match PyTorch, values and gradients", "[pointwise][activation]") {
  check([](const Tensor& x) { return F::leaky_relu(x, 0.1); },
        {-0.4, -0.3, -0.15, -0.05, 0, 0.25, 1, 3, 5}, {0.1, 0.1, 0.1, 0.1, 0.1, 1, 1, 1, 1},
        "leaky_relu");
  check([](const Tensor& x) { return F::elu(x, 0.5); },
        {-0.490842180556, -0.475106465816, -0.388434919926, -0.196734670144, 0, 0.25, 1, 3, 5},
        {0.00915781944436709, 0.024893534183931972, 0.11156508007421491, 0.3032653298563167, 0.5, 1,
         1, 1, 1},
        "elu");
  check([](const Tensor& x) { return F::mish(x); },
        {-0.072591740792, -0.145647461276, -0.298099742167, -0.220743774652, 0, 0.169572409664,
         0.865098388267, 2.986535004968, 4.999552077529},
        {-0.05377320979348033, -0.09339311453232084, -0.06409781589225866, 0.28951067791351226, 0.6,
         0.7541726677205928, 1.0490362200997922, 1.0211069109294435, 1.0008002248320829},
        "mish");
  check([](const Tensor& x) { return F::hardswish(x); },
        {0, 0, -0.375, -0.208333333333, 0, 0.135416666667, 0.666666666667, 3, 5},
        {0, -0.5, 0, 1.0 / 3, 0.5, 0.5833333333333334, 0.8333333333333333, 1, 1}, "hardswish");
  check([](const Tensor& x) { return F::hardtanh(x, -1, 2); }, {-1, -1, -1, -0.5, 0, 0.25, 1, 2, 2},
        {0, 0, 0, 1, 1, 1, 1, 0, 0}, "hardtanh");
}

TEST_CASE("activations: NaN, large inputs, float32, integers", "[pointwise][activation]") {
  const double nan = std::nan("");
  // NaN propagates; its gradient takes PyTorch's branch (the slope for leaky_relu, else 1)
  Tensor x = tensor({nan}, kFloat64).requires_grad_();
  for (auto [f, dy] : std::vector<std::pair<std::function<Tensor(const Tensor&)>, double>>{
           {[](const Tensor& t) { return leaky_relu(t, 0.1); }, 0.1},
           {[](const Tensor& t) { return elu(t); }, 1},
           {[](const Tensor& t) { return hardswish(t); }, 1},
           {[](const Tensor& t) { return hardtanh(t); }, 1}}) {
    x.set_grad({});
    Tensor y = f(x);
    CHECK(std::isnan(y.item<double>()));
    y.backward();
    CHECK(x.grad().item<double>() == dy);
  }
  // mish of large inputs: no overflow in the value or the gradient (float32 e^100 is inf)
  Tensor big = tensor({100.0f, -100.0f}).requires_grad_();
  Tensor m = mish(big);
  test::require_close(m, {2}, {100, -3.7835058537e-42}, "mish(+-100)", 1e-6, 1e-45);
  m.sum().backward();  // mish'(-100) ~ -99 e^-100, a float32 subnormal
  test::require_close(big.grad(), {2}, {1, 0}, "mish'(+-100)", 1e-6, 1e-40);
  // float32 keeps its dtype; hardtanh keeps integers, its bounds truncated (PyTorch's clamp)
  CHECK(leaky_relu(tensor({-1.0f})).dtype() == kFloat32);
  Tensor i = tensor(std::vector<int64_t>{-3, 0, 5});
  CHECK(hardtanh(i, -1, 2).to_vector<int64_t>() == std::vector<int64_t>{-1, 0, 2});
  CHECK(hardtanh(i, -0.5, 2).to_vector<int64_t>() == std::vector<int64_t>{0, 0, 2});
  CHECK_THROWS_WITH(leaky_relu(i), "\"leaky_relu\" not implemented for 'int64'");
  CHECK_THROWS_WITH(elu(i), "\"elu\" not implemented for 'int64'");
  CHECK_THROWS_WITH(mish(i), "\"mish\" not implemented for 'int64'");
  CHECK_THROWS_WITH(hardswish(i), "\"hardswish\" not implemented for 'int64'");
}

TEST_CASE("activation modules", "[nn][activation]") {
  Tensor x = tensor({-2.0, 0.5, 3.0}, kFloat64);
  CHECK(allclose(nn::LeakyReLU(0.2)(x), leaky_relu(x, 0.2)));
  CHECK(allclose(nn::ELU()(x), elu(x)));
  CHECK(allclose(nn::Hardtanh(-1, 2)(x), tensor({-1.0, 0.5, 2.0}, kFloat64)));
  CHECK(allclose(nn::Mish()(x), mish(x)));
  CHECK(allclose(nn::Hardswish()(x), hardswish(x)));
  CHECK(nn::LeakyReLU(0.2).extra_repr() == "negative_slope=0.2");
  CHECK(nn::Hardtanh(-1, 2).extra_repr() == "min_val=-1, max_val=2");
  CHECK_THROWS_WITH(nn::Hardtanh(1, 1), "Hardtanh: max_val (1) must be greater than min_val (1)");
}
