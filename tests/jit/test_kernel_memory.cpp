// The machine code of compiled regions is freed: the Quick plan a tier-up replaces, the plans
// clear_cache() drops, and the least recently run plans past jit::max_cached_plans(). Counted by
// the engine's live modules (a JITDylib each), not by RSS, which the caching allocator blurs.
#include "jit/jit_support.hpp"
#include "jit/orc/engine.hpp"
#include "support/reference.hpp"

using namespace ember;

namespace {

size_t live() {
  test::settle_compiles();
  return jit::Engine::instance().live_modules();
}

/// A region of a few fused kernels whose graph depends on k (a different signature per k).
Tensor step(const Tensor& x, int k) {
  jit::Region r("kernel_memory");
  Tensor y = exp(x) * 2 + 1;
  for (int i = 0; i < k; ++i) y = tanh(y) * 0.5;
  return y;
}

Tensor eager_step(const Tensor& x, int k) {
  Tensor y = exp(x) * 2 + 1;
  for (int i = 0; i < k; ++i) y = tanh(y) * 0.5;
  return y;
}

void require_same(const Tensor& got, const Tensor& want, const std::string& what) {
  test::require_close(got, want.sizes(), test::values(want), what);
}

struct MaxPlans {
  int old = jit::max_cached_plans();
  explicit MaxPlans(int n) { jit::set_max_cached_plans(n); }
  ~MaxPlans() { jit::set_max_cached_plans(old); }
};

}  // namespace

TEST_CASE("tier-ups and clear_cache free the code they replace", "[jit][memory]") {
  test::CompiledPath path;
  jit::clear_cache();
  const size_t base = live();
  Tensor x = test::seeded_randn({257}, 3);
  for (int round = 0; round < 30; ++round) {
    for (int run = 0; run < 6; ++run) {  // capture, quick tier, tier-up, full tier
      Tensor y = step(x, 1);
      test::settle_compiles();
      require_same(y, eager_step(x, 1), "round " + std::to_string(round));
    }
    REQUIRE(jit::stats().tier_ups > 0);
    // One full-tier plan remains: the quick one it replaced is gone.
    CHECK(live() <= base + 2);
    jit::clear_cache();
    CHECK(live() == base);
  }
}

TEST_CASE("past max_cached_plans the least recently run plan is freed", "[jit][memory]") {
  test::CompiledPath path(2, 0);  // full tier at once: one plan per signature
  jit::clear_cache();
  MaxPlans bound(3);
  const size_t base = live();
  const jit::Stats s0 = jit::stats();
  Tensor x = test::seeded_randn({100}, 4);
  for (int k = 0; k < 12; ++k)
    for (int run = 0; run < 3; ++run) {
      Tensor y = step(x, k);
      test::settle_compiles();
      require_same(y, eager_step(x, k), "k = " + std::to_string(k));
    }
  const jit::Stats s1 = jit::stats();
  CHECK(s1.plans_evicted - s0.plans_evicted >= 12 - 3);
  const size_t held = live() - base;
  CHECK(held >= 1);
  CHECK(held <= 3 * 2);  // three plans of at most two kernels each
  // An evicted signature that turns hot again compiles again and gives the same values.
  for (int run = 0; run < 3; ++run) {
    Tensor y = step(x, 0);
    test::settle_compiles();
    require_same(y, eager_step(x, 0), "k = 0 again");
  }
  CHECK(jit::stats().fused_graphs > s1.fused_graphs);
  jit::clear_cache();
  CHECK(live() == base);
}
