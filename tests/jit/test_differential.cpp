// The JIT's differential tester, as compilers are fuzzed: seeded random programs of ember ops
// (tests/jit/random_program.hpp), pure and in place, run eagerly, then inside a jit::Region: once
// with the graph run by the eager kernels (the interpreter of a signature not hot yet), then four
// times with the hot threshold at 1 and tier-up after 2 runs (test::CompiledPath): the first run
// traces and compiles the quick tier, the second runs it with new runtime scalars, the third
// recompiles with the full tier, the fourth replays it on new input values of the same layout (the
// cached kernel must not have kept the old data). A program of several steps runs each step in
// its own region, its inputs carrying state across. Outputs (after each step), every input after
// the run (written in place or not) and version counters must match eager ones: values within
// float rounding, comparisons and versions exactly, NaN where eager has NaN. A failure, or a
// crash, prints the seed and the program.
//
//   EMBER_JIT_FUZZ_N=100000 EMBER_JIT_FUZZ_SEED=1 ./build/tests/ember_tests "[differential]"
//   EMBER_JIT_FUZZ_PRINT=5 ./build/tests/ember_tests "[differential]"   (show the first programs)
//
// The tolerance of each output comes from the eager run itself: the program also runs in float64,
// and the float32 run's distance from it (its rounding error, amplified by the program) bounds what
// a second float32 implementation may differ by. Programs whose comparisons sit on a near-tie, or
// whose float32 result is mostly rounding noise, are skipped (and counted: they must be rare).
#include <chrono>
#include <cmath>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "jit/differential_support.hpp"
#include "jit/jit_support.hpp"
#include "jit/random_program_gen.hpp"
#include "support/reference.hpp"

using namespace ember;
namespace fz = ember::test::fuzz;
using fz::compare;
using fz::CrashReport;
using fz::Expect;
using fz::reference;
using fz::Reference;
using fz::to_f64;

namespace {

// Runs execution e of the program inside a Region; only the outputs outlive it.
std::vector<Tensor> run_fused(const fz::Program& p, const std::vector<Tensor>& inputs, int e) {
  std::vector<Tensor> outs;
  {
    jit::Region r("fuzz" + std::to_string(p.seed));  // one name per program: no spec. limit
    outs = fz::run(p, inputs, e);
  }
  return outs;
}

struct Outcome {
  std::string skipped;  ///< why the program was not compared, or ""
  std::string failure;
};

// Every run of the program (the last one on new input values), each step in its own region,
// against the eager run: outputs after each step, then the inputs (written in place or not) and
// version counters after the run.
Outcome check_program(const fz::Program& p) {
  Outcome o;
  test::RunWatch watch;
  auto fail = [&](const std::string& where, const std::string& what) {
    o.failure = "seed " + std::to_string(p.seed) + ", " + where + ": " + what + "\n" +
                fz::to_string(p) + "(replay: EMBER_JIT_FUZZ_SEED=" + std::to_string(p.seed) +
                " EMBER_JIT_FUZZ_N=1)\n";
    return o;
  };
  // Pass 0 runs the region's graph with the eager kernels (the graph's interpreter: a run
  // before the signature is hot), with run 0's values; then every run, compiled.
  for (int pass = 0; pass <= p.runs; ++pass) {
    const bool interpreted = pass == 0;
    const int run = interpreted ? 0 : pass - 1;
    std::optional<test::HotThreshold> never_hot;
    if (interpreted) never_hot.emplace(1 << 30);
    const uint64_t salt = !interpreted && run == p.runs - 1 ? 1 : 0;
    std::vector<Tensor> ref_in = fz::make_inputs(p, salt);
    Reference ref;
    try {
      ref = reference(p, ref_in, run);
    } catch (const std::exception& e) {
      return fail("eager run",
                  std::string("threw (the generator made an invalid program): ") + e.what());
    }
    if (!ref.skip.empty()) {
      if (run == 0) o.skipped = ref.skip.substr(0, ref.skip.find(" at v"));
      return o;
    }
    std::vector<Tensor> in = fz::make_inputs(p, salt);
    std::string where;
    for (int step = 0; step < p.steps; ++step) {
      std::vector<Tensor> outs;
      watch.begin();
      where = interpreted ? std::string("run 1 interpreted (before the signature is hot)")
                          : "run " + std::to_string(run + 1) + " of " + std::to_string(p.runs);
      if (salt) where += " (new input values)";
      if (p.steps > 1)
        where += ", step " + std::to_string(step + 1) + " of " + std::to_string(p.steps);
      try {
        outs = run_fused(p, in, run * p.steps + step);
      } catch (const std::exception& e) {
        test::settle_compiles();
        return fail(where + " [" + watch.end() + "]", std::string("threw: ") + e.what());
      }
      test::settle_compiles();
      where += " [" + watch.end() + "]";
      const std::vector<Expect>& want = ref.steps[size_t(step)];
      if (outs.size() != want.size()) return fail(where, "wrong number of outputs");
      for (size_t k = 0; k < outs.size(); ++k) {
        std::string msg = compare(outs[k], want[k]);
        if (!msg.empty()) return fail(where, want[k].name + " differs\n" + msg);
      }
    }
    for (size_t i = 0; i < in.size(); ++i) {
      std::string msg = compare(in[i], ref.inputs[i]);
      if (!msg.empty()) return fail(where, ref.inputs[i].name + " differs\n" + msg);
    }
  }
  return o;
}

}  // namespace

TEST_CASE("fused random programs agree with eager execution", "[jit][differential]") {
  const long long n = test::env_int("EMBER_JIT_FUZZ_N", 1000);
  const long long seed0 = test::env_int("EMBER_JIT_FUZZ_SEED", 1);
  const long long print = test::env_int("EMBER_JIT_FUZZ_PRINT", 0);
  test::CompiledPath path(1, 2);
  CrashReport crash_report;
  jit::Stats before = jit::stats();
  auto t0 = std::chrono::steady_clock::now();
  long long skipped = 0, failures = 0, i = 0;
  std::map<std::string, int> skip_reasons;
  for (; i < n && failures < 10; ++i) {
    fz::Program p = fz::generate(uint64_t(seed0 + i));
    if (i < print) std::cout << fz::to_string(p);
    CrashReport::running(p);
    Outcome o = check_program(p);
    if (!o.skipped.empty()) {
      ++skipped;
      ++skip_reasons[o.skipped];
    }
    if (!o.failure.empty()) {
      ++failures;
      FAIL_CHECK(o.failure);
    }
    if ((i + 1) % 256 == 0) jit::clear_cache();  // bounds the memory of long runs
    if (n >= 20000 && (i + 1) % (n / 20) == 0)
      std::cerr << "[differential] " << i + 1 << " / " << n << " programs\n";
  }
  jit::Stats after = jit::stats();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (std::getenv("EMBER_JIT_FUZZ_N") || print) {
    std::cout << "[differential] seeds " << seed0 << ".." << seed0 + i - 1 << ": " << i
              << " programs, " << skipped << " skipped (";
    for (const auto& [why, count] : skip_reasons) std::cout << why << ": " << count << "; ";
    std::cout << "), " << failures << " failed, in " << secs << " s; fused graphs "
              << after.fused_graphs - before.fused_graphs << ", eager graphs "
              << after.eager_graphs - before.eager_graphs << ", kernels compiled "
              << after.kernels_compiled - before.kernels_compiled << " ("
              << after.compile_ms - before.compile_ms << " ms), fallbacks "
              << after.fallbacks - before.fallbacks << "\n";
  }
  REQUIRE(failures == 0);
  // A generator that mostly makes untestable programs would pass while testing little.
  CHECK(skipped <= n / 20 + 1);
}

TEST_CASE("random programs are valid, varied and reproducible", "[jit][differential]") {
  std::map<fz::Kind, int> kinds;
  std::set<int64_t> ranks, lengths;
  std::set<fz::Layout> layouts;
  int f64 = 0, multi = 0, nan = 0, mixed_shapes = 0, keepdim = 0, all_dims = 0, eq = 0;
  int steps = 0, twice = 0, into_inputs = 0, through_views = 0, into_lazy = 0, same_storage = 0;
  int alphas = 0, runtime = 0, zeros = 0, ones = 0, collisions = 0, changing = 0;
  for (uint64_t seed = 1; seed <= 2000; ++seed) {
    fz::Program p = fz::generate(seed);
    REQUIRE(fz::to_string(p) == fz::to_string(fz::generate(seed)));
    REQUIRE(p.ops.size() >= 2);
    lengths.insert(int64_t(p.ops.size()));
    for (const fz::InputSpec& in : p.inputs) {
      ranks.insert(int64_t(in.shape.size()));
      layouts.insert(in.layout);
      f64 += in.dtype == kFloat64;
      nan += in.nan_at >= 0;
      mixed_shapes += in.shape != p.inputs[0].shape;
    }
    for (const fz::Instr& op : p.ops) {
      ++kinds[op.kind];
      keepdim += op.keepdim;
      all_dims += op.kind == fz::Kind::Sum && op.dims.empty();
      eq += op.kind == fz::Kind::Cmp && op.cmp >= 4;
      if (fz::is_inplace(op.kind)) {
        const fz::ValueInfo& t = p.info[size_t(op.a)];
        into_inputs += p.is_input(t.group);
        into_lazy += !p.is_input(t.group);
        through_views += !p.is_input(op.a) && fz::is_view(p.def(op.a).kind);
        same_storage += op.b >= 0 && p.info[size_t(op.b)].group == t.group;
        alphas += op.alpha >= 0;
      }
      runtime += op.slot >= 0;
    }
    multi += p.outputs.size() > 1;
    steps += p.steps > 1;
    for (const fz::InputSpec& in : p.inputs) twice += in.same_as >= 0;
    for (size_t k = 0; k < p.scalars.size(); ++k) {
      const std::vector<double>& x = p.scalars[k];
      changing += *std::min_element(x.begin(), x.end()) != *std::max_element(x.begin(), x.end());
      for (size_t e = 0; e < x.size(); ++e) {
        zeros += x[e] == 0;
        ones += x[e] == 1;
        for (size_t j = 0; j < k; ++j) collisions += p.scalars[j][e] == x[e];
      }
    }
    if (seed <= 300) {
      // The generator's own idea of each value's shape and dtype is ember's.
      std::vector<Tensor> v = fz::evaluate(p, fz::make_inputs(p));
      for (int i = 0; i < p.value_count(); ++i) {
        INFO(fz::to_string(p) << "value v" << i);
        REQUIRE(v[i].sizes() == Dims(p.info[i].shape));
        REQUIRE(v[i].dtype() == p.info[i].dtype);
      }
    }
  }
  for (int k = 0; k < int(fz::Kind::kCount); ++k) {
    if (fz::is_nn(fz::Kind(k))) continue;  // the gradient mode's (test_differential_grad.cpp)
    INFO("op kind " << fz::kind_name(fz::Kind(k)));
    CHECK(kinds[fz::Kind(k)] >= 20);
  }
  CHECK(ranks == std::set<int64_t>{0, 1, 2, 3, 4});
  CHECK(layouts.size() == 5);
  CHECK(*lengths.begin() == 2);
  CHECK(*lengths.rbegin() >= 12);
  CHECK(f64 >= 100);
  CHECK(multi >= 400);
  CHECK(nan >= 50);
  CHECK(mixed_shapes >= 300);
  CHECK(keepdim >= 100);
  CHECK(all_dims >= 20);
  CHECK(eq >= 10);
  // What training code does: writes into inputs, into values made in the program and through
  // views, the same storage as target and operand, state across consecutive regions, inputs
  // passed twice, runtime scalars that change between executions (0, 1, equal to another).
  CHECK(steps >= 200);
  CHECK(twice >= 100);
  CHECK(into_inputs >= 1000);
  CHECK(into_lazy >= 500);
  CHECK(through_views >= 300);
  CHECK(same_storage >= 150);
  CHECK(alphas >= 500);
  CHECK(runtime >= 1000);
  CHECK(changing >= 1000);
  CHECK(zeros >= 500);
  CHECK(ones >= 500);
  CHECK(collisions >= 500);
}

TEST_CASE("random programs run fused, without fallbacks", "[jit][api]") {
  test::HotThreshold hot(1);
  std::vector<std::string> not_fused;
  for (uint64_t seed = 5001; seed <= 5040; ++seed) {
    fz::Program p = fz::generate(seed);
    jit::Stats before = jit::stats();
    (void)run_fused(p, fz::make_inputs(p), 0);
    jit::Stats after = jit::stats();
    if (after.fused_graphs == before.fused_graphs || after.fallbacks != before.fallbacks)
      not_fused.push_back(fz::to_string(p));
  }
  INFO(
      not_fused.size() << " of 40 programs did not run fused on their first (hot) run; the first:\n"
                       << (not_fused.empty() ? "" : not_fused[0]));
  REQUIRE(not_fused.empty());
}

TEST_CASE("the comparison accepts other roundings and catches wrong values",
          "[jit][differential]") {
  // The harness itself must be able to fail: the same programs computed in float64 (a different,
  // better rounding) must pass the float32 comparison, and inputs off by 1e-3 must be caught in
  // most programs (the rest only compare, clamp or saturate).
  // Inputs after the run are compared too: float64 must pass there, and shifted inputs are
  // caught there (counted apart, so that the outputs' count stays meaningful).
  auto run_steps = [](const fz::Program& p, const std::vector<Tensor>& in) {
    std::vector<std::vector<Tensor>> outs;
    for (int step = 0; step < p.steps; ++step) {
      outs.push_back(fz::run(p, in, step));
      for (Tensor& t : outs.back()) t = t.clone();  // later steps may write it
    }
    return outs;
  };
  auto as = [](const Tensor& t, const Expect& x) { return t.to(x.value.dtype()); };
  int compared = 0, caught = 0, inputs_caught = 0;
  for (uint64_t seed = 1; seed <= 400; ++seed) {
    fz::Program p = fz::generate(seed);
    Reference ref = reference(p, fz::make_inputs(p), 0);
    if (!ref.skip.empty()) continue;
    ++compared;
    std::vector<Tensor> in64 = fz::map_inputs(p, fz::make_inputs(p), to_f64);
    std::vector<std::vector<Tensor>> alt = run_steps(p, in64);
    for (size_t s = 0; s < alt.size(); ++s)
      for (size_t k = 0; k < alt[s].size(); ++k) {
        const Expect& x = ref.steps[s][k];
        INFO(fz::to_string(p) << "step " << s << ", " << x.name);
        REQUIRE(compare(as(alt[s][k], x), x.value, x.scale, x.err) == "");
      }
    for (size_t i = 0; i < in64.size(); ++i) {
      const Expect& x = ref.inputs[i];
      INFO(fz::to_string(p) << x.name);
      REQUIRE(compare(as(in64[i], x), x.value, x.scale, x.err) == "");
    }
    std::vector<Tensor> shifted = fz::map_inputs(
        p, fz::make_inputs(p), [](const Tensor& t) { return t * (1 + 1e-3) + 1e-3; });
    std::vector<std::vector<Tensor>> bad = run_steps(p, shifted);
    bool differs = false, inputs_differ = false;
    for (size_t s = 0; s < bad.size(); ++s)
      for (size_t k = 0; k < bad[s].size(); ++k) {
        const Expect& x = ref.steps[s][k];
        differs = differs || !compare(bad[s][k], x.value, x.scale, x.err).empty();
      }
    for (size_t i = 0; i < shifted.size(); ++i) {
      const Expect& x = ref.inputs[i];
      inputs_differ = inputs_differ || !compare(shifted[i], x.value, x.scale, x.err).empty();
    }
    caught += differs;
    inputs_caught += inputs_differ;
  }
  CHECK(inputs_caught >= compared * 9 / 10);  // the rest overwrite the inputs (fill_, copy_)
  CHECK(compared >= 390);
  INFO(caught << " of " << compared << " mutated programs caught");
  CHECK(caught >= compared * 7 / 10);
}
