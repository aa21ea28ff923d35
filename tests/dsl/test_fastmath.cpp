// The dsl's float exp and erf (dsl::math::poly) against double-precision libm: every 613th float
// (all exponents, both signs, every residue of the mantissa's low bits), then the edges.
#include <bit>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "dsl/math.hpp"

namespace {

namespace math = ember::dsl::math;

/// |got - want| in units of the last place of float at want (subnormal spacing below the
/// normals); exact match required for infinities and NaN.
double ulp_error(float got, double want) {
  if (std::isnan(want)) return std::isnan(got) ? 0 : 1e30;
  const float w = static_cast<float>(want);  // inf when want rounds past FLT_MAX
  if (std::isinf(w) || std::isinf(got)) return got == w ? 0 : 1e30;
  const float a = std::fabs(w);
  const double ulp = a < std::numeric_limits<float>::min()
                         ? std::numeric_limits<float>::denorm_min()
                         : std::nextafter(a, std::numeric_limits<float>::infinity()) - a;
  return std::fabs(static_cast<double>(got) - want) / ulp;
}

struct Worst {
  double ulp = 0;
  float at = 0;
  void see(float x, double e) {
    if (e > ulp) ulp = e, at = x;
  }
};

template <class F, class R>
Worst sweep(F f, R ref) {
  Worst w;
  std::vector<float> x, y;
  for (uint64_t bits = 0; bits < (uint64_t(1) << 32); bits += 613)
    x.push_back(std::bit_cast<float>(static_cast<uint32_t>(bits)));
  y.resize(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = f(x[i]);  // the vectorised loop
  for (size_t i = 0; i < x.size(); ++i) w.see(x[i], ulp_error(y[i], ref(double(x[i]))));
  return w;
}

}  // namespace

TEST_CASE("dsl math: float exp is within 1.5 ulp of libm everywhere", "[dsl][fastmath]") {
  const Worst w = sweep([](float x) { return math::exp(x); }, [](double x) { return std::exp(x); });
  INFO("worst " << w.ulp << " ulp at " << w.at);
  CHECK(w.ulp <= 1.5);

  const float inf = std::numeric_limits<float>::infinity();
  CHECK(math::exp(0.0f) == 1.0f);
  CHECK(math::exp(-0.0f) == 1.0f);
  CHECK(math::exp(inf) == inf);
  CHECK(math::exp(-inf) == 0.0f);
  CHECK(std::isnan(math::exp(std::numeric_limits<float>::quiet_NaN())));
  CHECK(math::exp(88.72283f) == std::exp(88.72283f));  // the largest finite result
  CHECK(math::exp(88.72284f) == inf);                  // the first overflow
  CHECK(math::exp(-87.33654f) >= std::numeric_limits<float>::min());
  CHECK(math::exp(-103.0f) > 0.0f);  // subnormal results
  CHECK(ulp_error(math::exp(-100.0f), std::exp(-100.0)) <= 1.5);
  CHECK(math::exp(-104.0f) == 0.0f);
  CHECK(math::exp(-1e30f) == 0.0f);
}

TEST_CASE("dsl math: float erf is within 7 ulp of libm everywhere", "[dsl][fastmath]") {
  const Worst w = sweep([](float x) { return math::erf(x); }, [](double x) { return std::erf(x); });
  INFO("worst " << w.ulp << " ulp at " << w.at);
  CHECK(w.ulp <= 7);

  // Tiny arguments keep their relative accuracy (erf x ~ 2x/sqrt(pi)), signs and zeros.
  for (float x : {1e-30f, 1e-10f, 1e-3f, std::numeric_limits<float>::denorm_min()}) {
    CHECK(ulp_error(math::erf(x), std::erf(double(x))) <= 1.5);
    CHECK(math::erf(-x) == -math::erf(x));
  }
  const float inf = std::numeric_limits<float>::infinity();
  CHECK(std::signbit(math::erf(-0.0f)));
  CHECK(math::erf(0.0f) == 0.0f);
  CHECK(math::erf(inf) == 1.0f);
  CHECK(math::erf(-inf) == -1.0f);
  CHECK(math::erf(4.0f) == 1.0f);
  CHECK(math::erf(1e30f) == 1.0f);
  CHECK(std::isnan(math::erf(std::numeric_limits<float>::quiet_NaN())));
}
