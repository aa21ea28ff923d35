// A user's dsl::pointwise kernel inside a jit::Region (issue 16): it is recorded as the ops of its
// formula and fused with the ops around it, forward and backward, instead of running the graph
// so far and breaking it. Each case runs past hot detection and the tier-up
// (test::CompiledPath, 6 runs) against the same code run eagerly, where the kernel runs its own
// fused loop.
#include "ember.hpp"
#include "jit/jit_support.hpp"
#include "support/reference.hpp"

using namespace ember;

namespace {

constexpr int kRuns = 6;  // capture, quick tier (compiled), quick, tier-up, full, replay

// The chain of issue 16, as a user writes it.
constexpr auto gelu_sig = dsl::pointwise(
    [](auto x, auto y) {
      auto u = y * 2 + 1;
      return 0.5 * u * (1 + dsl::erf(u * 0.7071067811865476)) * dsl::sigmoid(x);
    },
    "gelu_sig");

void require_same(const Tensor& got, const Tensor& want, const std::string& what) {
  INFO(what);
  REQUIRE(got.defined() == want.defined());
  if (!want.defined()) return;
  test::require_close(got, want.sizes(), test::values(want), what, 1e-5, 1e-6);
}

}  // namespace

TEST_CASE("a user's dsl kernel in a region fuses with its neighbours, forward and backward",
          "[jit][dsl_region]") {
  test::CompiledPath path;
  jit::clear_cache();
  auto inputs = [](DType d) {
    return std::pair{test::seeded_randn({16, 33}, 31, d).requires_grad_(),
                     test::seeded_randn({33}, 32, d).requires_grad_()};  // broadcast
  };
  auto step = [](const Tensor& x, const Tensor& y, double scale) {
    Tensor z = gelu_sig(x * 3 - 1, y) * scale;  // ops before and after the kernel
    Tensor loss = (z * z).sum();
    loss.backward();
    return std::pair{loss, z};
  };
  for (DType d : {kFloat32, kFloat64}) {
    const jit::Stats s0 = jit::stats();
    for (int run = 0; run < kRuns; ++run) {
      const double scale = 0.5 + run;  // a C++ number that changes: a runtime scalar
      auto [wx, wy] = inputs(d);
      auto [want_loss, want_z] = step(wx, wy, scale);
      auto [x, y] = inputs(d);
      Tensor loss, z;
      {
        jit::Region r("dsl_region");
        std::tie(loss, z) = step(x, y, scale);
      }
      test::settle_compiles();
      const std::string what = std::string(dtype_name(d)) + ", run " + std::to_string(run + 1);
      require_same(z, want_z, what + ", z");
      require_same(loss, want_loss, what + ", loss");
      require_same(x.grad(), wx.grad(), what + ", x.grad");
      require_same(y.grad(), wy.grad(), what + ", y.grad");
    }
    const jit::Stats s1 = jit::stats();
    // One graph per run (the kernel neither broke nor flushed it), fused once hot.
    CHECK(s1.graph_breaks == s0.graph_breaks);
    CHECK(s1.graphs - s0.graphs == kRuns);
    CHECK(s1.fused_graphs - s0.fused_graphs >= kRuns - 1);
    CHECK(s1.fallbacks == s0.fallbacks);
  }
}

TEST_CASE("a user's dsl kernel in a region: integer inputs and numbers", "[jit][dsl_region]") {
  test::CompiledPath path;
  constexpr auto halve = dsl::pointwise([](auto x, auto y) { return (x + y) * 0.5; }, "halve");
  constexpr auto cmp = dsl::pointwise([](auto x) { return dsl::where(x > 2, x, -x); }, "cmp");
  for (int run = 0; run < kRuns; ++run) {
    Tensor i = arange(0, 6).reshape({2, 3});  // int64: the kernel runs in float32
    Tensor want_h = halve(i, 3), want_c = cmp(i);
    Tensor h, c;
    {
      jit::Region r("dsl_region_int");
      h = halve(i, 3);
      c = cmp(i);
    }
    test::settle_compiles();
    const std::string what = "run " + std::to_string(run + 1);
    REQUIRE(h.dtype() == want_h.dtype());
    REQUIRE(c.dtype() == want_c.dtype());
    require_same(h, want_h, what + ", (i + 3) / 2");
    require_same(c, want_c, what + ", where(i > 2, i, -i)");
  }
}
