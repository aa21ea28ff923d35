// nn::utils::clip_grad_norm_ and clip_grad_value_ against PyTorch 1.13 (Debian's python3-torch,
// float64; the printed numbers are pasted here).
#include <cmath>
#include <limits>

#include "support/reference.hpp"

using namespace ember;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Two parameters whose gradients are PyTorch's g1 [2, 3] and g2 [2].
struct Params {
  Tensor a, b;
  explicit Params(DType d = kFloat64) {
    a = zeros({2, 3}, d).requires_grad_();
    b = zeros({2}, d).requires_grad_();
    a.set_grad(tensor({{0.5, -1.0, 2.0}, {0.1, 0.0, -0.3}}, kFloat64).to(d));
    b.set_grad(tensor({3.0, -4.0}, kFloat64).to(d));
  }
  std::vector<double> grads() const {
    std::vector<double> v = test::values(a.grad()), w = test::values(b.grad());
    v.insert(v.end(), w.begin(), w.end());
    return v;
  }
};

}  // namespace

TEST_CASE("clip_grad_norm_ matches PyTorch for norm types 1, 2, 3 and inf", "[nn][clip]") {
  struct Case {
    double norm_type, total;
    std::vector<double> clipped;  // with max_norm 1
  };
  const std::vector<Case> cases = {
      {2.0,
       5.509083408335728,
       {0.09075918300388647, -0.18151836600777294, 0.36303673201554587, 0.018151836600777294, 0.0,
        -0.05445550980233188, 0.5445550980233188, -0.7260734640310917}},
      {1.0,
       10.9,
       {0.045871555424627945, -0.09174311084925589, 0.18348622169851178, 0.00917431108492559, 0.0,
        -0.027522933254776765, 0.27522933254776766, -0.36697244339702356}},
      {3.0,
       4.643954837665805,
       {0.10766682920294852, -0.21533365840589705, 0.4306673168117941, 0.021533365840589708, 0.0,
        -0.06460009752176911, 0.6460009752176912, -0.8613346336235882}},
      {kInf,
       4.0,
       {0.12499996875000781, -0.24999993750001562, 0.49999987500003124, 0.024999993750001562, 0.0,
        -0.07499998125000468, 0.7499998125000469, -0.9999997500000625}},
  };
  const std::vector<double> unclipped = {0.5, -1.0, 2.0, 0.1, 0.0, -0.3, 3.0, -4.0};
  for (const Case& c : cases) {
    for (DType d : {kFloat64, kFloat32}) {
      const std::string what = "norm_type " + std::to_string(c.norm_type) + " " + dtype_name(d);
      const double t = d == kFloat64 ? 1e-12 : 1e-6;
      Params p(d);
      Tensor total = nn::utils::clip_grad_norm_({p.a, p.b}, 1.0, c.norm_type);
      CHECK(total.dim() == 0);
      CHECK(total.dtype() == d);
      test::require_close(total, {}, {c.total}, what + " total", t, t);
      INFO(what);
      test::require_close(tensor(p.grads()), {8}, c.clipped, what + " clipped", t, t);
      // A max_norm above the total leaves the gradients as they were.
      Params q(d);
      test::require_close(nn::utils::clip_grad_norm_({q.a, q.b}, 100.0, c.norm_type), {}, {c.total},
                          what + " total (no clip)", t, t);
      test::require_close(tensor(q.grads()), {8}, unclipped, what + " unclipped", t, t);
    }
  }
}

TEST_CASE("clip_grad_norm_ skips missing gradients, checks finiteness on request", "[nn][clip]") {
  Params p;
  Tensor none = zeros({3}, kFloat64).requires_grad_();  // no grad: skipped
  test::require_close(nn::utils::clip_grad_norm_({p.a, none, p.b}, 1.0), {}, {5.509083408335728},
                      "with a parameter without grad", 1e-12, 1e-12);
  CHECK_FALSE(none.grad().defined());
  // No gradients at all: a zero norm, nothing touched.
  test::require_close(nn::utils::clip_grad_norm_({none}, 1.0), {}, {0.0}, "no grads");
  // One tensor works too.
  Params single;
  test::require_close(nn::utils::clip_grad_norm_(single.b, 1.0), {}, {5.0}, "single", 1e-12, 1e-12);
  test::require_close(single.b.grad(), {2}, {0.6 * 5 / (5 + 1e-6), -0.8 * 5 / (5 + 1e-6)},
                      "single clipped", 1e-12, 1e-12);

  Params bad;
  bad.b.set_grad(tensor({1.0, std::nan("")}, kFloat64));
  CHECK_THROWS_AS(nn::utils::clip_grad_norm_({bad.a, bad.b}, 1.0, 2.0, true), ValueError);
  CHECK_THROWS_WITH(nn::utils::clip_grad_norm_({bad.a, bad.b}, 1.0, 2.0, true),
                    Catch::Contains("clip_grad_norm_: The total norm of order 2 for gradients "
                                    "from `parameters` is non-finite"));
  Params inf;
  inf.a.set_grad(full({2, 3}, kInf, kFloat64));
  CHECK_THROWS_WITH(nn::utils::clip_grad_norm_({inf.a}, 1.0, kInf, true),
                    Catch::Contains("The total norm of order inf"));
  // Without the check, a NaN norm is returned (and spreads, as PyTorch's).
  Params nan;
  nan.b.set_grad(tensor({1.0, std::nan("")}, kFloat64));
  CHECK(std::isnan(nn::utils::clip_grad_norm_({nan.a, nan.b}, 1.0).item<double>()));

  CHECK_THROWS_WITH(nn::utils::clip_grad_norm_({p.a}, 1.0, 0.0),
                    Catch::Contains("clip_grad_norm_: norm_type must be positive or inf, got 0"));
  CHECK_THROWS_WITH(nn::utils::clip_grad_norm_({Tensor()}, 1.0),
                    Catch::Contains("clip_grad_norm_: a parameter is undefined"));
}

TEST_CASE("clip_grad_norm_ inside a training step bounds the update", "[nn][clip]") {
  manual_seed(3);
  Tensor w = (randn({4, 3}, kFloat64) * 10).requires_grad_();
  Tensor loss = (matmul(randn({5, 4}, kFloat64), w).pow(2)).sum();
  loss.backward();
  const double before = std::sqrt((w.grad() * w.grad()).sum().item<double>());
  REQUIRE(before > 1.0);
  Tensor total = nn::utils::clip_grad_norm_({w}, 1.0);
  CHECK(total.item<double>() == Approx(before).epsilon(1e-12));
  CHECK(std::sqrt((w.grad() * w.grad()).sum().item<double>()) ==
        Approx(1.0 / (1 + 1e-6 / before)).epsilon(1e-12));
}

TEST_CASE("clip_grad_value_ clamps each gradient as PyTorch's", "[nn][clip]") {
  for (DType d : {kFloat64, kFloat32}) {
    Params p(d);
    nn::utils::clip_grad_value_({p.a, p.b}, 0.75);
    test::require_close(tensor(p.grads()), {8}, {0.5, -0.75, 0.75, 0.1, 0.0, -0.3, 0.75, -0.75},
                        std::string("clip_grad_value_ ") + dtype_name(d), 1e-7, 0);
    CHECK(p.a.grad().dtype() == d);
  }
  Params one;
  nn::utils::clip_grad_value_(one.b, 1.0);
  test::require_close(one.b.grad(), {2}, {1.0, -1.0}, "single");
  CHECK_THROWS_WITH(nn::utils::clip_grad_value_({one.a}, std::nan("")),
                    Catch::Contains("clip_grad_value_: clip_value is NaN"));
}

TEST_CASE("clip_grad_norm_ stays lazy in a jit::Region and matches eager", "[nn][clip][jit]") {
  jit::clear_cache();
  for (double norm_type : {2.0, kInf}) {
    Params eager(kFloat32);
    Tensor expected = nn::utils::clip_grad_norm_({eager.a, eager.b}, 1.0, norm_type);
    for (int run = 0; run < 3; ++run) {
      Params p(kFloat32);
      Tensor total;
      {
        jit::Region r("clip");
        total = nn::utils::clip_grad_norm_({p.a, p.b}, 1.0, norm_type);
      }
      INFO("norm_type " << norm_type << " run " << run);
      CHECK(total.item<float>() == Approx(expected.item<float>()).epsilon(1e-6));
      test::require_close(tensor(p.grads()), {8}, eager.grads(), "clipped in a region", 1e-6, 1e-7);
    }
  }
}
