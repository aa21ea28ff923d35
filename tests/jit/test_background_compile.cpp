// Background compilation (jit::set_async_compile, EMBER_JIT_ASYNC): a hot signature compiles on
// a worker thread while its region keeps running eagerly; the first run after the kernels are
// ready uses them, and so does the tier-up. Values are eager's on every run either way.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "jit/executor.hpp"
#include "jit/jit_support.hpp"
#include "jit/profiler.hpp"
#include "support/reference.hpp"

using namespace ember;

namespace {

Tensor body(const Tensor& x, const Tensor& m, double lr) {
  jit::Region r("background");
  Tensor y = gelu(x * 1.5 + 0.25) * sigmoid(x);
  m.mul_(0.9).add_(y, lr);
  return softmax(y, -1);
}

}  // namespace

TEST_CASE("regions run eagerly while their kernels compile in the background", "[jit][async]") {
  test::CompiledPath path(1, 2);
  test::AsyncCompile on(true);
  Tensor x = test::seeded_randn({96, 40}, 1);
  Tensor m = zeros({96, 40}), m_eager = zeros({96, 40});
  const jit::Stats s0 = jit::stats();
  int fused = 0;
  for (int i = 0; i < 12; ++i) {
    const int64_t f0 = jit::stats().fused_graphs;
    Tensor y = body(x, m, 0.01 * i);
    fused += jit::stats().fused_graphs > f0;
    Tensor want = softmax(gelu(x * 1.5 + 0.25) * sigmoid(x), -1);
    m_eager.mul_(0.9).add_(gelu(x * 1.5 + 0.25) * sigmoid(x), 0.01 * i);
    REQUIRE(allclose(y, want, 1e-5, 1e-6));
    REQUIRE(allclose(m, m_eager, 1e-5, 1e-6));
    if (i == 5) jit::wait_for_compiles();  // from here on the kernels are ready
  }
  jit::wait_for_compiles();
  const jit::Stats s1 = jit::stats();
  CHECK(fused >= 6);  // runs 6.. at least
  CHECK(s1.kernels_compiled + s1.disk_cache_hits > s0.kernels_compiled + s0.disk_cache_hits);
  CHECK(s1.tier_ups > s0.tier_ups);  // the tier-up compiled in the background too
  CHECK(s1.fallbacks == s0.fallbacks);
}

TEST_CASE("a region runs untraced while its first compile is in the background", "[jit][async]") {
  // Held compiles: the queued compile certainly has not ended when the next runs start. Those
  // runs trace nothing (no graph), give eager's values and mutations, and count as untraced; the
  // first run after the compile is traced again and fused.
  test::CompiledPath path(2, 0);
  test::AsyncCompile on(true);
  jit::clear_cache();
  Tensor x = test::seeded_randn({33, 17}, 5), m = zeros({33, 17}), m_eager = zeros({33, 17});
  auto eager_step = [&](double lr) {
    Tensor y = gelu(x * 1.5 + 0.25) * sigmoid(x);
    m_eager.mul_(0.9).add_(y, lr);
    return softmax(y, -1);
  };
  jit::hold_background_compiles(true);
  struct Unhold {
    ~Unhold() { jit::hold_background_compiles(false); }
  } unhold;
  const jit::Stats s0 = jit::stats();
  for (int i = 0; i < 5; ++i) {
    Tensor y = body(x, m, 0.125 * i);
    REQUIRE(allclose(y, eager_step(0.125 * i), 1e-5, 1e-6));
    REQUIRE(allclose(m, m_eager, 1e-5, 1e-6));
  }
  const jit::Stats s1 = jit::stats();
  CHECK(s1.graphs == s0.graphs + 2);  // the capture and the run that found it hot
  CHECK(s1.untraced_runs == s0.untraced_runs + 3);
  CHECK(s1.fused_graphs == s0.fused_graphs);
  jit::hold_background_compiles(false);
  jit::wait_for_compiles();
  Tensor y = body(x, m, 0.5);
  const jit::Stats s2 = jit::stats();
  CHECK(s2.fused_graphs == s1.fused_graphs + 1);
  CHECK(s2.untraced_runs == s1.untraced_runs);
  REQUIRE(allclose(y, eager_step(0.5), 1e-5, 1e-6));
  REQUIRE(allclose(m, m_eager, 1e-5, 1e-6));
}

TEST_CASE("the first run after wait_for_compiles is fused", "[jit][async]") {
  test::CompiledPath path(1, 0);
  test::AsyncCompile on(true);
  Tensor x = test::seeded_randn({50, 9}, 3), m = zeros({50, 9});
  const int64_t e0 = jit::stats().eager_graphs;
  body(x, m, 0.5);  // hot: queued, this run eager
  CHECK(jit::stats().eager_graphs == e0 + 1);
  jit::wait_for_compiles();
  const int64_t f0 = jit::stats().fused_graphs;
  body(x, m, 0.25);
  CHECK(jit::stats().fused_graphs == f0 + 1);
}

TEST_CASE("the profiler shows background compiles on their own thread", "[jit][async]") {
  test::CompiledPath path(1, 2);
  test::AsyncCompile on(true);
  jit::clear_cache();
  Tensor x = test::seeded_randn({20, 30}, 4), m = zeros({20, 30});
  jit::Profiler prof;
  for (int i = 0; i < 6; ++i) {
    body(x, m, 0.1);
    jit::wait_for_compiles();
  }
  prof.stop();
  auto path_json = std::filesystem::temp_directory_path() / "ember-test-async-trace.json";
  prof.write_chrome_trace(path_json.string());
  nlohmann::json trace = nlohmann::json::parse(std::ifstream(path_json));
  std::filesystem::remove(path_json);
  std::set<int> run_threads, compile_threads;
  for (const auto& e : trace["traceEvents"]) {
    if (e.value("name", "") != "background") continue;
    std::string cat = e.value("cat", "");
    (cat == "compile" || cat == "tier-up" ? compile_threads : run_threads)
        .insert(e["tid"].get<int>());
  }
  REQUIRE(!compile_threads.empty());
  REQUIRE(!run_threads.empty());
  for (int t : compile_threads) CHECK(run_threads.count(t) == 0);
}

TEST_CASE("background compiles go to the full tier at once unless tiers are asked for",
          "[jit][async]") {
  test::HotThreshold hot(1);
  test::TierUpRuns runs(4);  // restored (and "asked for" again) at scope end
  test::AsyncCompile on(true);
  Tensor x = test::seeded_randn({40, 12}, 5), m = zeros({40, 12});
  auto run_many = [&](const char* what) {
    jit::clear_cache();
    const jit::Stats s0 = jit::stats();
    for (int i = 0; i < 12; ++i) {
      body(x, m, 0.1);
      jit::wait_for_compiles();
    }
    const jit::Stats s1 = jit::stats();
    INFO(what);
    CHECK(s1.fused_graphs - s0.fused_graphs >= 10);
    return s1.tier_ups - s0.tier_ups;
  };
  CHECK(run_many("tiers asked for: quick, then the tier-up") == 1);
  jit::forget_tier_up_choice();
  CHECK(run_many("the default: the full tier at once, no tier-up") == 0);
}
