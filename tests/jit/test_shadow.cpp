// Shadow mode (jit::set_shadow, EMBER_JIT_SHADOW=1): each fused run is checked against an eager
// run of the same graph; a wrong kernel (injected through the executor's test-only hook) is
// caught, reported once per signature, counted, and its values are not kept.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "jit/executor.hpp"
#include "jit/jit_support.hpp"
#include "jit/profiler.hpp"
#include "support/reference.hpp"

using namespace ember;

namespace {

// A wrong kernel: the first element of every value the fused run computed into a root doubled
// (inputs and written memory alike, as a miscompiled store would).
void corrupt(const jit::Graph& g, std::vector<Tensor>& values) {
  for (size_t i = 0; i < values.size(); ++i) {
    const jit::IrNode& n = g[static_cast<int32_t>(i)];
    if (n.kind != jit::Kind::Apply || !values[i].defined() || values[i].dtype() != kFloat32)
      continue;
    float* p = static_cast<float*>(values[i].raw_data());
    p[0] = p[0] * 2 + 1;
  }
}
struct Corrupt {
  Corrupt() { jit::set_fused_run_hook(&corrupt); }
  ~Corrupt() { jit::set_fused_run_hook(nullptr); }
};

// The step of an SGD-like update in a region: a new tensor and a write.
Tensor step(const Tensor& p, const Tensor& g, double lr) {
  jit::Region r("shadow_step");
  Tensor y = tanh(p) * g;
  p.sub_(y, lr);
  return y;
}

}  // namespace

TEST_CASE("shadow mode passes correct fused runs and keeps their values", "[jit][shadow]") {
  test::CompiledPath path(1, 2);
  test::ShadowMode on(true);
  Tensor g = test::seeded_randn({64, 33}, 2);
  Tensor p = test::seeded_randn({64, 33}, 1), q = p.clone();
  const jit::Stats before = jit::stats();
  for (int i = 0; i < 5; ++i) {
    Tensor y = step(p, g, 0.1 * (i + 1));
    test::settle_compiles();
    Tensor want = tanh(q) * g;
    q.sub_(want, 0.1 * (i + 1));
    REQUIRE(allclose(y, want, 1e-5, 1e-6));
    REQUIRE(allclose(p, q, 1e-5, 1e-6));  // written once per run, not twice
  }
  const jit::Stats after = jit::stats();
  CHECK(after.fused_graphs > before.fused_graphs);
  CHECK(after.shadow_mismatches == before.shadow_mismatches);
}

TEST_CASE("shadow mode catches a wrong kernel, warns once and keeps eager values",
          "[jit][shadow]") {
  test::CompiledPath path(1, 2);
  test::ShadowMode on(true);
  Corrupt wrong;
  Tensor g = test::seeded_randn({8, 5}, 4);
  Tensor p = test::seeded_randn({8, 5}, 3), q = p.clone();
  const int64_t before = jit::stats().shadow_mismatches;
  std::ostringstream err;
  auto* old = std::cerr.rdbuf(err.rdbuf());
  int fused = 0;
  for (int i = 0; i < 4; ++i) {
    const int64_t f0 = jit::stats().fused_graphs;
    Tensor y = step(p, g, 0.5);
    test::settle_compiles();
    fused += jit::stats().fused_graphs > f0;
    Tensor want = tanh(q) * g;
    q.sub_(want, 0.5);
    CHECK(allclose(y, want, 1e-5, 1e-6));
    CHECK(allclose(p, q, 1e-5, 1e-6));
  }
  std::cerr.rdbuf(old);
  REQUIRE(fused >= 2);
  CHECK(jit::stats().shadow_mismatches - before == fused);  // every wrong run counted
  const std::string text = err.str();
  INFO(text);
  size_t first = text.find("shadow mode: region 'shadow_step'");
  REQUIRE(first != std::string::npos);
  CHECK(text.find("shadow mode", first + 1) == std::string::npos);  // once per signature
  CHECK(text.find("fused") != std::string::npos);
  CHECK(text.find("eager") != std::string::npos);
  CHECK(text.find("element ") != std::string::npos);
  // The graph goes to a file too.
  size_t at = text.find("also written to ");
  REQUIRE(at != std::string::npos);
  std::string path_text = text.substr(at + 16);
  path_text = path_text.substr(0, path_text.find(')'));
  std::ifstream f(path_text);
  REQUIRE(f.good());
  std::stringstream file;
  file << f.rdbuf();
  CHECK(file.str().find("graph:") != std::string::npos);
  std::filesystem::remove(path_text);
}

TEST_CASE("without shadow mode the injected wrong kernel really is wrong", "[jit][shadow]") {
  // The check of the test above: the hook does change fused results.
  test::CompiledPath path(1, 2);
  test::ShadowMode off(false);
  Corrupt wrong;
  Tensor g = test::seeded_randn({8, 5}, 4);
  Tensor p = test::seeded_randn({8, 5}, 3);
  bool differed = false;
  for (int i = 0; i < 3; ++i) {
    Tensor q = p.clone();
    Tensor y = step(p, g, 0.5);
    test::settle_compiles();
    differed = differed || !allclose(y, tanh(q) * g, 1e-5, 1e-6);
  }
  CHECK(differed);
}

TEST_CASE("in shadow mode the profiler times both ways of the same runs", "[jit][shadow]") {
  test::CompiledPath path(1, 0);  // compiled at once, full tier
  test::ShadowMode on(true);
  Tensor g = test::seeded_randn({300, 70}, 2);
  Tensor p = test::seeded_randn({300, 70}, 1);
  step(p, g, 0.1);  // compiles
  test::settle_compiles();
  jit::Profiler prof;
  for (int i = 0; i < 4; ++i) step(p, g, 0.1);
  prof.stop();
  auto rs = prof.regions();
  REQUIRE(rs.size() == 1);
  CHECK(rs[0].fused_runs == 4);
  CHECK(rs[0].eager_runs == 4);
  CHECK(rs[0].fused_ms > 0);
  CHECK(rs[0].eager_ms > 0);
}
