// jit::Profiler: per-region counts and times of eager and fused runs and compiles, the report
// table, and the Chrome trace.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "jit/jit_support.hpp"
#include "jit/profiler.hpp"
#include "support/reference.hpp"

using namespace ember;

namespace {
// A graph no other test traces (the kernel cache is keyed by graph and inputs, not by region
// name): c picks one per use.
Tensor body(const Tensor& x, double c) { return gelu(x * c + 1) * sigmoid(x); }
}  // namespace

TEST_CASE("the profiler counts each region's eager and fused runs and its compiles",
          "[jit][profiler]") {
  test::HotThreshold hot(2);
  test::TierUpRuns tier(0);  // one compile per signature
  Tensor x = test::seeded_randn({1000}, 1), y = test::seeded_randn({7, 9}, 2);
  Tensor before;
  {
    jit::Region r("prof_before");  // runs before the profiler: not counted
    // (another shape: the same graph with another number would share prof_a's signature, the
    // number being a runtime scalar)
    before = body(test::seeded_randn({999}, 3), 0.3125);
  }
  jit::Profiler prof;
  Tensor keep;  // a result that dies inside its region is never computed
  for (int i = 0; i < 5; ++i) {
    jit::Region r("prof_a");
    keep = body(x, 0.4375);
  }
  for (int i = 0; i < 3; ++i) {
    jit::Region r("prof_b");
    keep = softmax(y * 1.8125, -1);
  }
  prof.stop();
  {
    jit::Region r("prof_a");  // after stop(): not counted
    keep = body(x, 0.4375);
  }
  std::vector<jit::Profiler::RegionStats> rs = prof.regions();
  REQUIRE(rs.size() == 2);
  CHECK(rs[0].name == "prof_a");
  CHECK(rs[0].eager_runs == 1);  // compiled when seen the hot threshold's (2nd) time
  CHECK(rs[0].fused_runs == 4);
  CHECK(rs[0].compiles == 1);
  CHECK(rs[0].kernels_compiled + rs[0].disk_cache_hits >= 1);
  CHECK(rs[0].eager_ms > 0);
  CHECK(rs[0].fused_ms > 0);
  CHECK(rs[1].name == "prof_b");
  CHECK(rs[1].eager_runs == 1);
  CHECK(rs[1].fused_runs == 2);

  std::ostringstream os;
  prof.report(os);
  std::string table = os.str();
  INFO(table);
  CHECK_THAT(table, Catch::Contains("region") && Catch::Contains("fused ms/run") &&
                        Catch::Contains("speedup") && Catch::Contains("prof_a") &&
                        Catch::Contains("prof_b"));
  CHECK_THAT(table, !Catch::Contains("prof_before"));
}

TEST_CASE("the profiler writes a Chrome trace of its events", "[jit][profiler]") {
  test::HotThreshold hot(1);
  test::TierUpRuns tier(2);  // a quick compile, then the tier-up on the 2nd fused run
  Tensor x = test::seeded_randn({64}, 3);
  jit::Profiler prof;
  Tensor keep;
  for (int i = 0; i < 3; ++i) {
    jit::Region r("prof \"trace\"");  // a name that needs escaping in JSON
    keep = body(x, 0.5625);
  }
  auto path = std::filesystem::temp_directory_path() /
              ("ember-profiler-" + std::to_string(::getpid()) + ".json");
  prof.write_chrome_trace(path.string());
  std::ifstream f(path);
  nlohmann::json doc = nlohmann::json::parse(f);
  std::filesystem::remove(path);
  const auto& ev = doc.at("traceEvents");
  std::map<std::string, int> cats;
  double last_ts = -1;
  for (const auto& e : ev) {
    if (e.at("cat") == "step")  // a fused run's kernel, named by what it computes
      CHECK(e.at("args").at("region") == "prof \"trace\"");
    else
      CHECK(e.at("name") == "prof \"trace\"");
    CHECK(e.at("ph") == "X");
    CHECK(e.at("dur").get<double>() >= 0);
    CHECK(e.at("ts").get<double>() >= 0);
    last_ts = std::max(last_ts, e.at("ts").get<double>());
    ++cats[e.at("cat").get<std::string>()];
  }
  CHECK(cats["fused"] == 3);
  CHECK(cats["compile"] == 1);
  CHECK(cats["tier-up"] == 1);
  CHECK(cats["eager"] == 0);
  CHECK(cats["step"] >= 3);  // each fused run's steps nest under it
  CHECK(last_ts >= 0);
  CHECK_THROWS_WITH(prof.write_chrome_trace("/nonexistent-dir/trace.json"),
                    Catch::Contains("cannot open '/nonexistent-dir/trace.json'"));
}

TEST_CASE("the profiler times each step of the fused runs", "[jit][profiler]") {
  test::HotThreshold hot(1);
  test::TierUpRuns tier(0);
  Tensor x = test::seeded_randn({32, 48}, 4), w = test::seeded_randn({48, 16}, 5);
  jit::Profiler prof;
  Tensor keep;
  for (int i = 0; i < 4; ++i) {
    jit::Region r("prof_steps");
    keep = tanh(matmul(x * 0.8125, w)).sum(-1);
  }
  prof.stop();
  std::vector<jit::Profiler::RegionStats> rs = prof.regions();
  REQUIRE(rs.size() == 1);
  REQUIRE(rs[0].fused_runs == 4);
  std::vector<jit::Profiler::StepStats> st = prof.steps();
  REQUIRE(st.size() == 3);  // x * c; the matmul; tanh and the row sum
  double total = 0;
  for (const auto& s : st) {
    INFO(s.what);
    CHECK(s.region == "prof_steps");
    CHECK(s.runs == 4);
    CHECK(s.ms >= 0);
    total += s.ms;
  }
  CHECK(total <= rs[0].fused_ms);
  CHECK(st[0].step == 0);
  CHECK_FALSE(st[0].library);
  CHECK_THAT(st[0].what, Catch::StartsWith("fused pointwise mul (1 value) over [32, 48]"));
  CHECK(st[1].library);
  CHECK(st[1].what == "matmul [32, 48] x [48, 16] -> [32, 16]");
  CHECK_FALSE(st[2].library);
  std::ostringstream os;
  prof.report_steps(os);
  INFO(os.str());
  CHECK_THAT(os.str(), Catch::Contains("region 'prof_steps': 4 fused runs") &&
                           Catch::Contains("library calls") && Catch::Contains("matmul [32, 48]"));
}
