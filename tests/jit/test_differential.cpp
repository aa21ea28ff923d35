// The JIT's differential tester, as compilers are fuzzed: seeded random programs of ember ops
// (tests/jit/random_program.hpp) run eagerly, then inside a jit::Region with the hot threshold
// at 1 (the first region run compiles), again (the in-memory cache), and with new input values of
// the same layout (the cached kernel must not have kept the old data). Fused results must match
// eager ones within float rounding; comparisons exactly; NaN where eager has NaN. A failure prints
// the seed and the program.
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
#include <set>
#include <sstream>

#include "jit/jit_support.hpp"
#include "jit/random_program_gen.hpp"
#include "support/reference.hpp"

using namespace ember;
namespace fz = ember::test::fuzz;

namespace {

// The eager run of a program, with what the comparison needs per output: the scale (the largest
// magnitude among the output and the values it depends on) and the float32 rounding error.
struct Reference {
  std::vector<Tensor> outputs;
  std::vector<double> scale, err;
  std::string skip;  ///< why the program is not compared (a near-tie, ill-conditioned), or ""
};

bool is_float_run(const Tensor& t) { return t.dtype() == kFloat32; }

Reference reference(const fz::Program& p, const std::vector<Tensor>& inputs) {
  Reference r;
  std::vector<Tensor> v = fz::evaluate(p, inputs);
  std::vector<Tensor> in64;
  for (const Tensor& t : inputs) in64.push_back(t.to(kFloat64));
  std::vector<Tensor> w = fz::evaluate(p, in64);
  int n = p.value_count();
  std::vector<double> mag(n, 0), err(n, 0), scale(n, 0);
  auto skip = [&](int i, const std::string& why) {
    if (r.skip.empty()) r.skip = why + " at v" + std::to_string(i);
  };
  for (int i = 0; i < n; ++i) {
    std::vector<double> a = test::values(v[i]), b = test::values(w[i]);
    for (size_t j = 0; j < a.size(); ++j) {
      if (std::isnan(a[j]) != std::isnan(b[j])) skip(i, "NaN where float64 has none");
      if (std::isinf(a[j]) || std::isinf(b[j])) {
        if (a[j] != b[j]) skip(i, "overflow");
      } else if (!std::isnan(a[j])) {
        mag[i] = std::max(mag[i], std::abs(a[j]));
        err[i] = std::max(err[i], std::abs(a[j] - b[j]));
      }
    }
    scale[i] = mag[i];
    if (!p.is_input(i)) {
      const fz::Instr& in = p.def(i);
      for (int o : {in.a, in.b, in.c})
        if (o >= 0) scale[i] = std::max(scale[i], scale[o]);
      if (v[i].dtype() != kBool && err[i] > 1e-3 * std::max(scale[i], 1.0))
        skip(i, "float32 result dominated by rounding");
      if (in.kind == fz::Kind::Cmp) {
        // A comparison whose operands nearly tie may flip under any rounding difference.
        Tensor d32 = in.b >= 0 ? v[in.a] - v[in.b] : v[in.a] - in.s;
        Tensor d64 = in.b >= 0 ? w[in.a] - w[in.b] : w[in.a] - in.s;
        bool single = is_float_run(v[in.a]) || (in.b >= 0 && is_float_run(v[in.b]));
        double sc = std::max({scale[in.a], in.b >= 0 ? scale[in.b] : 0.0, 1.0});
        double thr = (single ? 1e-5 : 1e-12) * sc + 64 * (err[in.a] + (in.b >= 0 ? err[in.b] : 0));
        std::vector<double> x = test::values(d32), y = test::values(d64);
        for (size_t j = 0; j < y.size(); ++j) {
          if (std::isnan(y[j]) || std::abs(y[j]) > thr) continue;
          // Equal in both precisions: a tie of exact values (relu(v) vs 0 where v < 0, x vs x)
          if (y[j] == 0 && x[j] == 0) continue;
          skip(i, "near-tie in a comparison");
        }
      }
    }
  }
  for (int o : p.outputs) {
    r.outputs.push_back(v[o]);
    r.scale.push_back(scale[o]);
    r.err.push_back(err[o]);
  }
  return r;
}

// "" when `got` matches `want`; else the first mismatches.
std::string compare(const Tensor& got, const Tensor& want, double scale, double err) {
  std::ostringstream os;
  os.precision(9);
  if (!got.defined()) return "the result is undefined";
  if (got.sizes() != want.sizes() || got.dtype() != want.dtype()) {
    os << "fused " << dtype_name(got.dtype()) << got.sizes() << ", eager "
       << dtype_name(want.dtype()) << want.sizes();
    return os.str();
  }
  std::vector<double> g = test::values(got), w = test::values(want);
  double tol = want.dtype() == kFloat64 ? 1e-10 : 1e-5;
  int bad = 0;
  for (size_t j = 0; j < w.size(); ++j) {
    double allowed = tol * std::abs(w[j]) + tol * scale + 4 * err;
    bool ok = want.dtype() == kBool ? g[j] == w[j]
              : std::isnan(w[j])    ? std::isnan(g[j])
              : std::isinf(w[j])    ? g[j] == w[j]
                                    : std::abs(g[j] - w[j]) <= allowed;
    if (!ok && bad++ < 6)
      os << "  [" << j << "] fused " << g[j] << ", eager " << w[j] << " (allowed difference "
         << allowed << ")\n";
  }
  if (bad) os << "  " << bad << " of " << w.size() << " elements differ\n";
  return os.str();
}

// Runs the program inside a Region; only the outputs outlive it.
std::vector<Tensor> run_fused(const fz::Program& p, const std::vector<Tensor>& inputs) {
  std::vector<Tensor> outs;
  {
    jit::Region r("fuzz" + std::to_string(p.seed));  // one name per program: no spec. limit
    outs = fz::run(p, inputs);
  }
  return outs;
}

struct Outcome {
  std::string skipped;  ///< why the program was not compared, or ""
  std::string failure;
};

Outcome check_program(const fz::Program& p) {
  Outcome o;
  auto fail = [&](const std::string& run, const std::string& what) {
    o.failure =
        "seed " + std::to_string(p.seed) + ", " + run + ": " + what + "\n" + fz::to_string(p);
    return o;
  };
  static const char* runs[] = {"first region run (compiles)", "second region run (cached)",
                               "region run on new input values"};
  for (int run = 0; run < 3; ++run) {
    std::vector<Tensor> in = fz::make_inputs(p, run == 2 ? 1 : 0);
    Reference ref;
    try {
      ref = reference(p, in);
    } catch (const std::exception& e) {
      return fail("eager run",
                  std::string("threw (the generator made an invalid program): ") + e.what());
    }
    if (!ref.skip.empty()) {
      if (run == 0) o.skipped = ref.skip.substr(0, ref.skip.find(" at v"));
      return o;
    }
    std::vector<Tensor> outs;
    try {
      outs = run_fused(p, in);
    } catch (const std::exception& e) {
      return fail(runs[run], std::string("threw: ") + e.what());
    }
    if (outs.size() != ref.outputs.size()) return fail(runs[run], "wrong number of outputs");
    for (size_t k = 0; k < outs.size(); ++k) {
      std::string msg = compare(outs[k], ref.outputs[k], ref.scale[k], ref.err[k]);
      if (!msg.empty())
        return fail(runs[run], "output " + std::to_string(k) + " (v" +
                                   std::to_string(p.outputs[k]) + ") differs\n" + msg);
    }
  }
  return o;
}

}  // namespace

TEST_CASE("fused random programs agree with eager execution", "[jit][differential]") {
  const long long n = test::env_int("EMBER_JIT_FUZZ_N", 1000);
  const long long seed0 = test::env_int("EMBER_JIT_FUZZ_SEED", 1);
  const long long print = test::env_int("EMBER_JIT_FUZZ_PRINT", 0);
  test::HotThreshold hot(1);
  jit::Stats before = jit::stats();
  auto t0 = std::chrono::steady_clock::now();
  long long skipped = 0, failures = 0, i = 0;
  std::map<std::string, int> skip_reasons;
  for (; i < n && failures < 10; ++i) {
    fz::Program p = fz::generate(uint64_t(seed0 + i));
    if (i < print) std::cout << fz::to_string(p);
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
    }
    multi += p.outputs.size() > 1;
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
}

TEST_CASE("random programs run fused, without fallbacks", "[jit][api]") {
  test::HotThreshold hot(1);
  std::vector<std::string> not_fused;
  for (uint64_t seed = 5001; seed <= 5040; ++seed) {
    fz::Program p = fz::generate(seed);
    jit::Stats before = jit::stats();
    (void)run_fused(p, fz::make_inputs(p));
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
  int compared = 0, caught = 0;
  for (uint64_t seed = 1; seed <= 400; ++seed) {
    fz::Program p = fz::generate(seed);
    std::vector<Tensor> in = fz::make_inputs(p);
    Reference ref = reference(p, in);
    if (!ref.skip.empty()) continue;
    ++compared;
    std::vector<Tensor> in64;
    for (const Tensor& t : in) in64.push_back(t.to(kFloat64));
    std::vector<Tensor> alt = fz::run(p, in64);
    for (size_t k = 0; k < alt.size(); ++k) {
      std::string msg =
          compare(alt[k].to(ref.outputs[k].dtype()), ref.outputs[k], ref.scale[k], ref.err[k]);
      INFO(fz::to_string(p) << "output " << k);
      REQUIRE(msg == "");
    }
    std::vector<Tensor> mutated;
    for (const Tensor& t : in) mutated.push_back(t * (1 + 1e-3) + 1e-3);
    std::vector<Tensor> bad = fz::run(p, mutated);
    bool differs = false;
    for (size_t k = 0; k < bad.size(); ++k)
      differs = differs || !compare(bad[k], ref.outputs[k], ref.scale[k], ref.err[k]).empty();
    caught += differs;
  }
  CHECK(compared >= 390);
  INFO(caught << " of " << compared << " mutated programs caught");
  CHECK(caught >= compared * 7 / 10);
}
