// Random: seeding, independence from the thread count, and the distributions' moments.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "support/reference.hpp"

using namespace ember;

namespace {

struct Moments {
  double mean = 0, std = 0, min = 0, max = 0;
};

Moments moments(const std::vector<double>& v) {
  Moments m;
  m.min = *std::min_element(v.begin(), v.end());
  m.max = *std::max_element(v.begin(), v.end());
  for (double x : v) m.mean += x;
  m.mean /= static_cast<double>(v.size());
  for (double x : v) m.std += (x - m.mean) * (x - m.mean);
  m.std = std::sqrt(m.std / static_cast<double>(v.size() - 1));
  return m;
}

// Restores the thread count a test changed.
struct ThreadsGuard {
  int saved = get_num_threads();
  ~ThreadsGuard() { set_num_threads(saved); }
};

}  // namespace

TEST_CASE("manual_seed makes every random op reproducible", "[runtime][random]") {
  auto draw = [] {
    std::vector<std::vector<double>> out;
    out.push_back(test::values(rand({5, 7})));
    out.push_back(test::values(randn({33}, kFloat64)));
    out.push_back(test::values(randint(-5, 5, {20})));
    out.push_back(test::values(randperm(17)));
    out.push_back(test::values(bernoulli(full({40}, 0.5))));
    return out;
  };
  manual_seed(2024);
  auto first = draw();
  manual_seed(2024);
  auto second = draw();
  CHECK(first == second);
  manual_seed(2025);
  auto other = draw();
  for (size_t k = 0; k < first.size(); ++k) {
    INFO("op " << k);
    CHECK(first[k] != other[k]);
  }
  // Consecutive calls draw fresh numbers.
  manual_seed(1);
  CHECK(test::values(randn({50})) != test::values(randn({50})));
}

TEST_CASE("random values do not depend on the thread count", "[runtime][random]") {
  ThreadsGuard guard;
  auto draw = [](int threads) {
    set_num_threads(threads);
    REQUIRE(get_num_threads() == threads);
    manual_seed(77);
    Tensor a = randn({1000000});
    Tensor b = rand({1000000}, kFloat64);
    Tensor c = randint(0, 1000, {1000000});
    return std::tuple{a.to_vector<float>(), b.to_vector<double>(), c.to_vector<int64_t>()};
  };
  auto one = draw(1);
  auto two = draw(2);
  CHECK(std::get<0>(one) == std::get<0>(two));
  CHECK(std::get<1>(one) == std::get<1>(two));
  CHECK(std::get<2>(one) == std::get<2>(two));
}

TEST_CASE("rand is uniform on [0, 1)", "[runtime][random]") {
  manual_seed(3);
  for (DType d : {kFloat32, kFloat64}) {
    INFO("dtype " << d);
    Tensor u = rand({1000, 1000}, d);
    CHECK(u.dtype() == d);
    CHECK(u.sizes() == Dims{1000, 1000});
    Moments m = moments(test::values(u));
    CHECK(m.min >= 0);
    CHECK(m.max < 1);
    CHECK(m.min < 1e-4);
    CHECK(m.max > 1 - 1e-4);
    CHECK(std::abs(m.mean - 0.5) < 2e-3);                 // std error 2.9e-4
    CHECK(std::abs(m.std - std::sqrt(1.0 / 12)) < 2e-3);  // 0.2887
  }
  CHECK(rand({}).dim() == 0);
  CHECK(rand({0, 4}).numel() == 0);
  CHECK_THROWS_WITH(rand({2}, kInt64), Catch::Contains("rand: expected a floating dtype"));
}

TEST_CASE("randn has mean 0, std 1 and a normal shape", "[runtime][random]") {
  manual_seed(4);
  for (DType d : {kFloat32, kFloat64}) {
    INFO("dtype " << d);
    std::vector<double> v = test::values(randn({1000000}, d));
    Moments m = moments(v);
    CHECK(std::abs(m.mean) < 5e-3);     // std error 1e-3
    CHECK(std::abs(m.std - 1) < 5e-3);  // std error 7e-4
    auto within = [&](double k) {
      return static_cast<double>(
                 std::count_if(v.begin(), v.end(), [k](double x) { return std::abs(x) < k; })) /
             static_cast<double>(v.size());
    };
    CHECK(std::abs(within(1) - 0.682689) < 3e-3);
    CHECK(std::abs(within(2) - 0.954500) < 2e-3);
    CHECK(std::abs(within(3) - 0.997300) < 6e-4);
    CHECK(std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); }));
  }
  CHECK(randn({2, 3}).dtype() == kFloat32);
  CHECK(randn({2}, TensorOptions().requires_grad(true)).requires_grad());
  CHECK_THROWS_WITH(randn({2}, kBool), Catch::Contains("randn: expected a floating dtype"));
}

TEST_CASE("randint covers [low, high) in the requested dtype", "[runtime][random]") {
  manual_seed(5);
  Tensor r = randint(-3, 5, {20000});
  CHECK(r.dtype() == kInt64);
  std::vector<int64_t> v = r.to_vector<int64_t>();
  std::set<int64_t> seen(v.begin(), v.end());
  CHECK(seen == std::set<int64_t>{-3, -2, -1, 0, 1, 2, 3, 4});
  // Each of the 8 values about 2500 times (std 44).
  for (int64_t k = -3; k < 5; ++k) {
    auto n = std::count(v.begin(), v.end(), k);
    INFO("value " << k << " drawn " << n << " times");
    CHECK(std::abs(n - 2500) < 300);
  }
  Tensor h = randint(10, {3, 4});
  CHECK(h.sizes() == Dims{3, 4});
  for (double x : test::values(h)) CHECK((x >= 0 && x < 10));
  Tensor f = randint(0, 4, {100}, kFloat32);
  CHECK(f.dtype() == kFloat32);
  for (double x : test::values(f)) CHECK((x >= 0 && x < 4 && x == std::floor(x)));
  CHECK_THROWS_WITH(randint(5, 5, {2}), Catch::Contains("randint: expected low < high"));
}

TEST_CASE("randperm is a permutation", "[runtime][random]") {
  manual_seed(6);
  for (int64_t n : {0, 1, 2, 10, 1000}) {
    INFO("n = " << n);
    Tensor p = randperm(n);
    CHECK(p.dtype() == kInt64);
    CHECK(p.sizes() == Dims{n});
    std::vector<int64_t> v = p.to_vector<int64_t>();
    std::sort(v.begin(), v.end());
    std::vector<int64_t> iota(static_cast<size_t>(n));
    std::iota(iota.begin(), iota.end(), 0);
    CHECK(v == iota);
  }
  std::vector<int64_t> big = randperm(1000).to_vector<int64_t>();
  int64_t fixed = 0;  // a uniform permutation fixes about one point
  for (int64_t i = 0; i < 1000; ++i) fixed += big[i] == i;
  CHECK(fixed < 10);
  CHECK(randperm(5, kFloat64).dtype() == kFloat64);
  CHECK_THROWS_WITH(randperm(-1), Catch::Contains("randperm: n must be non-negative"));
}

TEST_CASE("bernoulli draws ones with the given probability", "[runtime][random]") {
  manual_seed(8);
  std::vector<double> probs(100000, 0.3);
  probs.insert(probs.end(), 10, 0.0);
  probs.insert(probs.end(), 10, 1.0);
  Tensor b = bernoulli(tensor(probs).to(kFloat32));
  CHECK(b.dtype() == kFloat32);
  std::vector<double> v = test::values(b);
  double ones_frac = std::accumulate(v.begin(), v.begin() + 100000, 0.0) / 100000;
  CHECK(std::abs(ones_frac - 0.3) < 6e-3);  // std error 1.4e-3
  CHECK(std::all_of(v.begin(), v.end(), [](double x) { return x == 0 || x == 1; }));
  CHECK(std::all_of(v.end() - 20, v.end() - 10, [](double x) { return x == 0; }));
  CHECK(std::all_of(v.end() - 10, v.end(), [](double x) { return x == 1; }));
}

TEST_CASE("bernoulli refuses probabilities outside [0, 1] and NaN", "[runtime][random][error]") {
  // issue 15: these drew 0s and 1s.
  CHECK_THROWS_MATCHES(bernoulli(tensor({0.5, 1.5})), ValueError,
                       Catch::Message("bernoulli: probabilities must be in [0, 1], got 1.5 at "
                                      "element 1 of a tensor of shape [2]"));
  CHECK_THROWS_WITH(bernoulli(tensor({-0.25})), Catch::Contains("got -0.25 at element 0"));
  CHECK_THROWS_WITH(bernoulli(tensor({0.1, 0.2, NAN}, kFloat64)),
                    Catch::Contains("got nan at element 2"));
  CHECK_THROWS_AS(bernoulli(tensor({INFINITY})), ValueError);
}
