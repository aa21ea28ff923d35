// The JIT's differential tester with gradients: seeded random programs of pure differentiable ops
// (tests/jit/random_grad_program_gen.hpp: pointwise with broadcasting, reductions, softmax,
// views, runtime scalars, matmul, linear, layer_norm, gelu, mse_loss, cross_entropy) over inputs
// of which a random subset requires grad (the primals: shared by several ops, passed twice, or
// views), with a loss summing sum(value * random weight) over some values (intermediates used
// later included). Each program runs in one of five placements, from its seed:
//   inside  the forward, the loss and loss.backward() in the region (the backward is traced);
//   after   the forward and the loss in the region, loss.backward() after it (a backward reading
//           the values the region computed);
//   grad    autograd::grad(loss, primals) in the region (.grad untouched);
//   outside the forward in the region, the loss and its backward after it: the region's
//           outputs get incoming gradients, an intermediate used later in the region summing
//           its incoming gradient with the internal one;
//   step    as inside, then an SGD update of the primals under no_grad in the region (the
//           whole training step): the primals' values after the run are compared too.
// The inputs persist across the program's four runs (hot threshold 1, tier-up after 2, as
// test_differential.cpp: capture and quick tier, quick, full tier, replay), the last one on new
// values written into them as an optimizer would; between runs .grad is, from the seed, left to
// accumulate, zeroed in place, or reset to undefined. After each run the outputs (values,
// versions, requires_grad), the loss and every primal's gradient must match the same program run
// eagerly on the same inputs with the same .grad history; non-primal inputs get no .grad.
//
//   EMBER_JIT_GRAD_FUZZ_N=5000 EMBER_JIT_FUZZ_SEED=1 ./build/tests/ember_tests "[grad]"
//   EMBER_JIT_GRAD_FUZZ_PLACEMENT=inside|after|grad|outside|step   (all programs in one placement)
//   EMBER_JIT_FUZZ_PRINT=5   (show the first programs)
//
// Tolerances as the forward tester's (differential_support.hpp): each gradient's float32
// rounding error is its distance from a float64 twin run in lockstep, widened by kGradSlack for
// the longer chains of a backward summed in another order. A program is skipped (and counted)
// when its gradient is mostly rounding noise or a value sits near a kink (relu/abs at 0, clamp at
// a bound, maximum/minimum/amax near a tie), where a rounding difference moves the gradient.
#include <chrono>
#include <iostream>
#include <map>
#include <optional>

#include "jit/differential_support.hpp"
#include "jit/jit_support.hpp"
#include "jit/random_grad_program_gen.hpp"

using namespace ember;
namespace fz = ember::test::fuzz;

namespace {

constexpr double kGradSlack = 4;

enum class Placement { Inside, After, Grad, Outside, Step };
constexpr int kPlacements = 5;
const char* placement_name(Placement pl) {
  static const char* names[] = {
      "inside (backward in the region)", "after (backward after the region)",
      "grad (autograd::grad in the region)", "outside (loss and backward after the region)",
      "step (backward and an SGD update in the region)"};
  return names[int(pl)];
}

Placement placement_of(const fz::Program& p) {
  const char* env = std::getenv("EMBER_JIT_GRAD_FUZZ_PLACEMENT");
  const std::string s = env ? env : "";
  if (s == "inside") return Placement::Inside;
  if (s == "after") return Placement::After;
  if (s == "grad") return Placement::Grad;
  if (s == "outside") return Placement::Outside;
  if (s == "step") return Placement::Step;
  return Placement(p.seed % kPlacements);
}

// What happens to .grad between runs.
enum class Between { Accumulate, Zero, Reset };
const char* between_name(Between b) {
  static const char* names[] = {"accumulates", "is zeroed in place", "is reset to undefined"};
  return names[int(b)];
}
Between between_of(const fz::Program& p) { return Between(p.seed / kPlacements % 3); }

// The inputs of one execution path (eager, its float64 twin, or fused), persistent across runs
// with their .grad, and the loss weights.
struct World {
  std::vector<Tensor> inputs, weights;
  std::vector<size_t> primals;  ///< distinct inputs that require grad
  std::vector<Tensor> primal_tensors() const {
    std::vector<Tensor> r;
    for (size_t i : primals) r.push_back(inputs[i]);
    return r;
  }
};

World make_world(const fz::Program& p, bool f64) {
  World w;
  w.inputs = fz::make_inputs(p);
  if (f64)
    w.inputs = fz::map_inputs(p, w.inputs, [](const Tensor& t) {
      Tensor d = fz::to_f64(t).detach();
      if (t.requires_grad()) d.requires_grad_();
      return d;
    });
  for (size_t i = 0; i < p.inputs.size(); ++i)
    if (p.inputs[i].requires_grad && p.inputs[i].same_as < 0) w.primals.push_back(i);
  for (size_t k = 0; k < p.loss.size(); ++k) {
    const fz::ValueInfo& v = p.info[size_t(p.loss[k])];
    Tensor t = fz::make_input(fz::InputSpec{.shape = v.shape, .dtype = v.dtype}, p.seed * 7777 + k);
    w.weights.push_back(f64 ? fz::to_f64(t) : t);
  }
  return w;
}

// Writes new values into the inputs, as an optimizer's step does: those of `salt`, scaled by
// 1 + shift and shifted by shift.
void write_new_values(const fz::Program& p, World& w, uint64_t salt = 1, double shift = 0) {
  NoGradGuard no_grad;
  for (size_t i = 0; i < p.inputs.size(); ++i) {
    const fz::InputSpec& spec = p.inputs[i];
    if (spec.same_as >= 0) continue;
    Tensor src = fz::make_input(spec, fz::input_seed(p, i, salt)), dst = w.inputs[i];
    if (shift != 0) src = src * (1 + shift) + shift;
    if (spec.layout == fz::Layout::Expanded && dst.stride(spec.d0) == 0) {
      src = src.narrow(spec.d0, 0, 1);  // each element once
      dst = dst.narrow(spec.d0, 0, 1);
    }
    dst.copy_(src);
  }
}

void between_runs(Between b, World& w) {
  NoGradGuard no_grad;
  for (size_t i : w.primals) {
    const Tensor& t = w.inputs[i];
    if (b == Between::Zero && t.grad().defined()) t.grad().zero_();
    if (b == Between::Reset) t.set_grad(Tensor());
  }
}

struct RunResult {
  std::vector<Tensor> outs;
  Tensor loss;
  std::vector<Tensor> grads;  ///< per primal: .grad, or autograd::grad's result
};

// p -= 0.01 * p.grad for each primal (not an expanded one: one element is many), kept in the
// inputs' range (the generator's bounds assume |input| <= 5), as an optimizer's step.
void sgd_step(const fz::Program& p, World& w) {
  NoGradGuard no_grad;
  for (size_t i : w.primals) {
    const Tensor& t = w.inputs[i];
    if (p.inputs[i].layout == fz::Layout::Expanded || !t.grad().defined()) continue;
    t.add_(t.grad(), -0.01);
    t.clamp_(-5.0, 5.0);
  }
}

Tensor loss_of(const std::vector<Tensor>& terms, const std::vector<Tensor>& weights) {
  Tensor loss;
  for (size_t k = 0; k < terms.size(); ++k) {
    Tensor term = (terms[k] * weights[k]).sum();
    loss = loss.defined() ? loss + term : term;
  }
  return loss;
}

// Execution e of the program with its loss and backward in placement pl, in a region or not.
RunResult run_once(const fz::Program& p, World& w, Placement pl, int e, bool fused) {
  RunResult r;
  std::vector<Tensor> terms;  // the loss's values, region outputs in placement outside
  auto body = [&] {
    {
      std::vector<Tensor> all = fz::evaluate(p, w.inputs, e);
      for (int o : p.outputs) r.outs.push_back(all[size_t(o)]);
      for (int v : p.loss) terms.push_back(all[size_t(v)]);
      if (pl != Placement::Outside) r.loss = loss_of(terms, w.weights);
    }  // only the outputs and the loss outlive the program: the JIT may fuse the rest away
    if (pl != Placement::Outside) terms.clear();
    if (pl == Placement::Inside || pl == Placement::Step) r.loss.backward();
    if (pl == Placement::Step) sgd_step(p, w);
    if (pl == Placement::Grad)
      r.grads = autograd::grad({r.loss}, w.primal_tensors(), {}, std::nullopt, false, true);
  };
  if (fused) {
    jit::Region region("gradfuzz" + std::to_string(p.seed));  // one name per program
    body();
  } else {
    body();
  }
  if (pl == Placement::Outside) r.loss = loss_of(terms, w.weights);
  if (pl == Placement::After || pl == Placement::Outside) r.loss.backward();
  if (pl != Placement::Grad)
    for (size_t i : w.primals) r.grads.push_back(w.inputs[i].grad());
  return r;
}

// An expectation from the eager float32 result and its float64 twin; `skip` gets the reason
// when they cannot be compared.
fz::Expect expect(const std::string& name, const Tensor& t32, const Tensor& t64,
                  std::string& skip) {
  fz::Expect x{name, t32.defined() ? t32.detach().clone() : Tensor(), 0, 0, 0};
  if (!t32.defined()) return x;
  std::string why;
  fz::magnitude(t32, t64, x.scale, x.err, why);
  if (!why.empty() && skip.empty()) skip = why + " in " + name;
  if (x.err > 1e-3 * std::max(x.scale, 1.0) && skip.empty())
    skip = "float32 loss or gradient dominated by rounding";
  return x;
}

// A gradient element is a sum of terms that may cancel (log_softmax's gradient along its dim sums
// to zero), to a rounding error of the terms, not of the sum: each gradient's scale is the
// largest of all the primals' gradients, and at least `flow` (Flow::grad).
void widen_scales(std::vector<fz::Expect>& grads, double flow) {
  double scale = flow;
  for (const fz::Expect& g : grads) scale = std::max(scale, g.scale);
  for (fz::Expect& g : grads) g.scale = scale;
}

// How large the terms are that execution e's gradients and loss sum, from the float64 eager run:
//   grad  the largest |d loss / d v| over every value v. A gradient element sums terms of about
//         that size, which may cancel exactly: the gradient of a softmax's sum is 0 in eager
//         float32 as well, while fused code, summing in another order, leaves a rounding of
//         those terms (1e-9 against terms near 0.1), which a scale from the primals' zero
//         gradients alone refused.
//   loss  the largest |d loss / d v| |v| over the values: a rounding of v moves the loss by about
//         that much times the rounding (the sum of a layer_norm is 0, to a rounding of its
//         terms).
// Programs hold no in-place op (random_grad_program_gen.hpp): evaluating again changes nothing.
struct Flow {
  double grad = 0, loss = 0;
};
Flow flow_scale(const fz::Program& p, const World& w64, int e) {
  std::vector<Tensor> all = fz::evaluate(p, w64.inputs, e), terms, wrt;
  for (int v : p.loss) terms.push_back(all[size_t(v)]);
  for (const Tensor& t : all)
    if (t.requires_grad()) wrt.push_back(t);
  Flow f;
  if (wrt.empty()) return f;
  std::vector<Tensor> g =
      autograd::grad({loss_of(terms, w64.weights)}, wrt, {}, std::nullopt, false, true);
  for (size_t k = 0; k < g.size(); ++k) {
    if (!g[k].defined()) continue;
    double gmax = 0, vmax = 0;
    for (double x : test::values(g[k])) gmax = std::max(gmax, std::abs(x));
    for (double x : test::values(wrt[k])) vmax = std::max(vmax, std::abs(x));
    f.grad = std::max(f.grad, gmax);
    f.loss = std::max(f.loss, gmax * vmax);
  }
  return f;
}

// Why the program's gradient is not comparable in execution e (a value near a kink of relu,
// abs, clamp, maximum, minimum or amax, by the float32 run's distance from float64), or "".
std::string near_kink(const fz::Program& p, const World& w32, const World& w64, int e) {
  NoGradGuard no_grad;
  const std::vector<Tensor> v = fz::evaluate(p, w32.inputs, e), u = fz::evaluate(p, w64.inputs, e);
  for (int i = int(p.inputs.size()); i < p.value_count(); ++i) {
    const fz::Instr& in = p.def(i);
    const Tensor &a32 = v[size_t(in.a)], &a64 = u[size_t(in.a)];
    std::vector<std::pair<Tensor, Tensor>> d;  // distances from the kink, float32 and float64
    switch (in.kind) {
      case fz::Kind::Relu:
      case fz::Kind::Abs:
        d.emplace_back(a32, a64);
        break;
      case fz::Kind::Clamp:
        if (in.has_min) d.emplace_back(a32 - in.s, a64 - in.s);
        if (in.has_max) d.emplace_back(a32 - in.s2, a64 - in.s2);
        break;
      case fz::Kind::Maximum:
      case fz::Kind::Minimum:
        d.emplace_back(a32 - v[size_t(in.b)], a64 - u[size_t(in.b)]);
        break;
      case fz::Kind::Amax:
        d.emplace_back(a32 - amax(a32, Dims(in.dims), true), a64 - amax(a64, Dims(in.dims), true));
        break;
      default:
        break;
    }
    double mag = 0, err = 0;
    for (int o : {in.a, in.b}) {
      if (o < 0) continue;
      double m, er;
      std::string why;
      fz::magnitude(v[size_t(o)], u[size_t(o)], m, er, why);
      mag = std::max(mag, m);
      err = std::max(err, er);
    }
    const bool single = fz::is_float_run(a32) || (in.b >= 0 && fz::is_float_run(v[size_t(in.b)]));
    const double thr = (single ? 1e-5 : 1e-12) * std::max(mag, 1.0) + 64 * err;
    for (const auto& [d32, d64] : d) {
      std::vector<double> x = test::values(d32), y = test::values(d64);
      for (size_t j = 0; j < y.size(); ++j)
        if (!std::isnan(y[j]) && std::abs(y[j]) <= thr && !(y[j] == 0 && x[j] == 0))
          return "near a kink of " + std::string(fz::kind_name(in.kind)) + " at v" +
                 std::to_string(i);
    }
  }
  return "";
}

struct Outcome {
  std::string skipped;  ///< why the program was not compared, or ""
  std::string failure;
  bool fused_last = false;  ///< the last run ran a fused graph
};

Outcome check_program(const fz::Program& p) {
  Outcome o;
  const Placement pl = placement_of(p);
  const Between between = between_of(p);
  test::RunWatch watch;
  auto fail = [&](const std::string& where, const std::string& what) {
    o.failure = "seed " + std::to_string(p.seed) + ", placement " + placement_name(pl) +
                ", .grad " + between_name(between) + " between runs, " + where + ": " + what +
                "\n" + fz::to_string(p) + "(replay: EMBER_JIT_FUZZ_SEED=" + std::to_string(p.seed) +
                " EMBER_JIT_GRAD_FUZZ_N=1 ember_tests \"[grad]\")\n";
    return o;
  };
  World w32 = make_world(p, false), w64 = make_world(p, true), wf = make_world(p, false);
  for (int run = 0; run < p.runs; ++run) {
    if (run > 0)
      for (World* w : {&w32, &w64, &wf}) between_runs(between, *w);
    if (run == p.runs - 1)
      for (World* w : {&w32, &w64, &wf}) write_new_values(p, *w);
    // The eager reference: forward checks and tolerances, kinks, then the gradients.
    fz::Reference ref;
    RunResult r32, r64;
    Flow flow;
    try {
      ref = fz::reference(p, w32.inputs, run);
      if (ref.skip.empty()) ref.skip = near_kink(p, w32, w64, run);
      r32 = run_once(p, w32, pl, run, false);
      flow = flow_scale(p, w64, run);  // before the run: a step placement updates the inputs
      r64 = run_once(p, w64, pl, run, false);
    } catch (const std::exception& e) {
      return fail("eager run",
                  std::string("threw (the generator made an invalid program): ") + e.what());
    }
    fz::Expect loss = expect("the loss", r32.loss, r64.loss, ref.skip);
    loss.scale = std::max(loss.scale, flow.loss);
    std::vector<fz::Expect> grads;
    for (size_t k = 0; k < w32.primals.size(); ++k)
      grads.push_back(expect("the gradient of v" + std::to_string(w32.primals[k]), r32.grads[k],
                             r64.grads[k], ref.skip));
    widen_scales(grads, flow.grad);
    // Placement step: the inputs after the update, and the outputs (views of inputs see it).
    std::vector<fz::Expect> stepped, stepped_outs;
    if (pl == Placement::Step) {
      for (size_t i = 0; i < p.inputs.size(); ++i)
        stepped.push_back(expect("input v" + std::to_string(i) + " after the step", w32.inputs[i],
                                 w64.inputs[i], ref.skip));
      for (size_t k = 0; k < r32.outs.size(); ++k) {
        fz::Expect x = expect(ref.steps[0][k].name, r32.outs[k], r64.outs[k], ref.skip);
        x.scale = std::max(x.scale, ref.steps[0][k].scale);
        x.err = std::max(x.err, ref.steps[0][k].err);
        x.version = r32.outs[k].version();
        stepped_outs.push_back(std::move(x));
      }
    }
    if (!ref.skip.empty()) {
      o.skipped = ref.skip.substr(0, ref.skip.find(" at v"));
      return o;
    }
    std::string where = "run " + std::to_string(run + 1) + " of " + std::to_string(p.runs);
    if (run == p.runs - 1) where += " (new input values)";
    RunResult rf;
    watch.begin();
    try {
      rf = run_once(p, wf, pl, run, true);
    } catch (const std::exception& e) {
      test::settle_compiles();
      return fail(where + " [" + watch.end() + "]", std::string("threw: ") + e.what());
    }
    test::settle_compiles();
    where += " [" + watch.end() + "]";
    o.fused_last = watch.last_fused();
    const std::vector<fz::Expect>& outs = pl == Placement::Step ? stepped_outs : ref.steps[0];
    for (size_t k = 0; k < outs.size(); ++k) {
      std::string msg = fz::compare(rf.outs[k], outs[k]);
      if (msg.empty() && rf.outs[k].requires_grad() != r32.outs[k].requires_grad())
        msg = "  requires_grad " + std::to_string(rf.outs[k].requires_grad()) + ", eager " +
              std::to_string(r32.outs[k].requires_grad()) + "\n";
      if (!msg.empty()) return fail(where, outs[k].name + " differs\n" + msg);
    }
    std::string msg = fz::compare(rf.loss, loss.value, loss.scale, loss.err, kGradSlack);
    if (!msg.empty()) return fail(where, "the loss differs\n" + msg);
    for (size_t k = 0; k < grads.size(); ++k) {
      const fz::Expect& g = grads[k];
      if (rf.grads[k].defined() != g.value.defined())
        return fail(where, g.name + (g.value.defined() ? " is undefined" : " is defined") +
                               ", eager's is not");
      if (!g.value.defined()) continue;
      msg = fz::compare(rf.grads[k], g.value, g.scale, g.err, kGradSlack);
      if (!msg.empty()) return fail(where, g.name + " differs\n" + msg);
    }
    for (size_t i = 0; i < stepped.size(); ++i) {
      const fz::Expect& x = stepped[i];
      msg = fz::compare(wf.inputs[i], x.value, x.scale, x.err, kGradSlack);
      if (!msg.empty()) return fail(where, x.name + " differs\n" + msg);
    }
    for (size_t i = 0; i < wf.inputs.size(); ++i) {
      if (p.inputs[i].same_as >= 0) continue;  // its twin is checked
      const bool primal = std::find(wf.primals.begin(), wf.primals.end(), i) != wf.primals.end();
      if ((!primal || pl == Placement::Grad) && wf.inputs[i].grad().defined())
        return fail(where, "input v" + std::to_string(i) + " got a .grad");
    }
  }
  return o;
}

}  // namespace

TEST_CASE("fused gradients of random programs agree with eager autograd",
          "[jit][differential][grad]") {
  const long long n =
      test::env_int("EMBER_JIT_GRAD_FUZZ_N", test::env_int("EMBER_JIT_FUZZ_N", 160));
  const long long seed0 = test::env_int("EMBER_JIT_FUZZ_SEED", 1);
  const long long print = test::env_int("EMBER_JIT_FUZZ_PRINT", 0);
  test::CompiledPath path(1, 2);
  fz::CrashReport crash_report;
  jit::Stats before = jit::stats();
  auto t0 = std::chrono::steady_clock::now();
  long long skipped = 0, failures = 0, fused_last = 0, i = 0;
  std::map<std::string, int> skip_reasons;
  struct PerPlacement {
    long long programs = 0, graphs = 0, breaks = 0;
  } per[kPlacements];
  for (; i < n && failures < 10; ++i) {
    fz::Program p = fz::generate_grad(uint64_t(seed0 + i));
    if (i < print) std::cout << fz::to_string(p);
    fz::CrashReport::running(p, "differential grad", "EMBER_JIT_GRAD_FUZZ_N=1");
    const jit::Stats s0 = jit::stats();
    Outcome o = check_program(p);
    const jit::Stats s1 = jit::stats();
    PerPlacement& pp = per[int(placement_of(p))];
    pp.programs += o.skipped.empty();
    pp.graphs += o.skipped.empty() ? s1.graphs - s0.graphs : 0;
    pp.breaks += s1.graph_breaks - s0.graph_breaks;
    if (!o.skipped.empty()) {
      ++skipped;
      ++skip_reasons[o.skipped];
    }
    fused_last += o.fused_last;
    if (!o.failure.empty()) {
      ++failures;
      FAIL_CHECK(o.failure);
    }
    if ((i + 1) % 256 == 0) jit::clear_cache();  // bounds the memory of long runs
    if (n >= 2000 && (i + 1) % (n / 20) == 0)
      std::cerr << "[differential grad] " << i + 1 << " / " << n << " programs\n";
  }
  jit::Stats after = jit::stats();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (std::getenv("EMBER_JIT_GRAD_FUZZ_N") || std::getenv("EMBER_JIT_FUZZ_N") || print) {
    std::cout << "[differential grad] seeds " << seed0 << ".." << seed0 + i - 1 << ": " << i
              << " programs, " << skipped << " skipped (";
    for (const auto& [why, count] : skip_reasons) std::cout << why << ": " << count << "; ";
    std::cout << "), " << failures << " failed, in " << secs << " s; last run fused in "
              << fused_last << "; fused graphs " << after.fused_graphs - before.fused_graphs
              << ", eager graphs " << after.eager_graphs - before.eager_graphs
              << ", kernels compiled " << after.kernels_compiled - before.kernels_compiled << " ("
              << after.compile_ms - before.compile_ms << " ms), fallbacks "
              << after.fallbacks - before.fallbacks << ", graph breaks "
              << after.graph_breaks - before.graph_breaks << "\n";
    for (int k = 0; k < kPlacements; ++k)
      if (per[k].programs)
        std::cout << "  " << placement_name(Placement(k)) << ": " << per[k].programs
                  << " programs compared, "
                  << double(per[k].graphs) / double(fz::Program().runs * per[k].programs)
                  << " graphs per region run, " << per[k].breaks << " graph breaks\n";
  }
  REQUIRE(failures == 0);
  CHECK(skipped <= n / 10 + 1);
}

TEST_CASE("random gradient programs are valid, varied and reproducible",
          "[jit][differential][grad]") {
  std::map<fz::Kind, int> kinds;
  int mixed_masks = 0, shared = 0, escaping = 0, broadcast_primal = 0, twice = 0, runtime = 0;
  int weight_views = 0, multi_loss = 0;
  for (uint64_t seed = 1; seed <= 1500; ++seed) {
    fz::Program p = fz::generate_grad(seed);
    REQUIRE(fz::to_string(p) == fz::to_string(fz::generate_grad(seed)));
    REQUIRE(!p.loss.empty());
    int primals = 0, others = 0;
    for (const fz::InputSpec& in : p.inputs) {
      primals += in.requires_grad;
      others += !in.requires_grad;
      twice += in.same_as >= 0 && in.requires_grad;
      weight_views += in.requires_grad && in.layout != fz::Layout::Contiguous;
    }
    REQUIRE(primals >= 1);
    mixed_masks += others > 0;
    multi_loss += p.loss.size() > 1;
    std::vector<int> uses(size_t(p.value_count()), 0);
    for (size_t j = 0; j < p.ops.size(); ++j) {
      const fz::Instr& op = p.ops[j];
      REQUIRE_FALSE(fz::is_inplace(op.kind));  // eager refuses writes into values needing grad
      ++kinds[op.kind];
      runtime += op.slot >= 0;
      for (int o : {op.a, op.b, op.c})
        if (o >= 0) ++uses[size_t(o)];
      // A primal broadcast against a larger operand (its gradient is a sum over the broadcast).
      const bool binary = op.kind == fz::Kind::Add || op.kind == fz::Kind::Sub ||
                          op.kind == fz::Kind::Mul || op.kind == fz::Kind::Div;
      for (int o : {op.a, op.b})
        if (binary && o >= 0 && p.is_input(o) && p.inputs[size_t(o)].requires_grad &&
            p.info[size_t(o)].shape != p.info[p.inputs.size() + j].shape)
          ++broadcast_primal;
    }
    for (size_t i = 0; i < p.inputs.size(); ++i)
      shared += p.inputs[i].requires_grad && uses[i] >= 2;
    for (int v : p.loss) escaping += !p.is_input(v) && uses[size_t(v)] > 0;
    if (seed <= 200) {
      // The generator's idea of each value's shape and dtype is ember's, and every loss term
      // but those of primals that feed nothing requires grad.
      std::vector<Tensor> v = fz::evaluate(p, fz::make_inputs(p));
      for (int i = 0; i < p.value_count(); ++i) {
        INFO(fz::to_string(p) << "value v" << i);
        REQUIRE(v[size_t(i)].sizes() == Dims(p.info[size_t(i)].shape));
        REQUIRE(v[size_t(i)].dtype() == p.info[size_t(i)].dtype);
      }
      for (int l : p.loss) {
        INFO(fz::to_string(p) << "loss term v" << l);
        REQUIRE(v[size_t(l)].requires_grad());
      }
    }
  }
  for (fz::Kind k :
       {fz::Kind::Add,        fz::Kind::Mul,         fz::Kind::Div,    fz::Kind::Maximum,
        fz::Kind::Exp,        fz::Kind::Log,         fz::Kind::Gelu,   fz::Kind::Where,
        fz::Kind::Sum,        fz::Kind::Mean,        fz::Kind::Amax,   fz::Kind::Softmax,
        fz::Kind::LogSoftmax, fz::Kind::Select,      fz::Kind::Narrow, fz::Kind::Transpose,
        fz::Kind::Flatten,    fz::Kind::Matmul,      fz::Kind::Linear, fz::Kind::LayerNorm,
        fz::Kind::MseLoss,    fz::Kind::CrossEntropy}) {
    INFO("op kind " << fz::kind_name(k));
    CHECK(kinds[k] >= 50);
  }
  CHECK(mixed_masks >= 500);
  CHECK(shared >= 300);
  CHECK(escaping >= 300);
  CHECK(broadcast_primal >= 100);
  CHECK(twice >= 50);
  CHECK(runtime >= 500);
  CHECK(weight_views >= 300);
  CHECK(multi_loss >= 300);
}

TEST_CASE("the gradient comparison accepts other roundings and catches wrong gradients",
          "[jit][differential][grad]") {
  // As the forward tester's: float64 gradients (a better rounding) must pass the float32
  // comparison; gradients off by 1e-3 (of inputs and loss weights off by that much) must be
  // caught in most programs (the rest have gradients that are zero, saturated, or invariant
  // under the shift, as layer_norm's is).
  int compared = 0, caught = 0;
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    fz::Program p = fz::generate_grad(seed);
    const Placement pl = Placement(seed % kPlacements);
    World w32 = make_world(p, false), w64 = make_world(p, true), bad = make_world(p, false);
    std::string skip = fz::reference(p, w32.inputs, 0).skip;
    if (skip.empty()) skip = near_kink(p, w32, w64, 0);
    write_new_values(p, bad, 0, 1e-3);
    for (Tensor& t : bad.weights) t = t * (1 + 1e-3) + 1e-3;  // a wrong incoming gradient too
    const Flow flow = flow_scale(p, w64, 0);
    RunResult r32 = run_once(p, w32, pl, 0, false), r64 = run_once(p, w64, pl, 0, false);
    RunResult rb = run_once(p, bad, pl, 0, false);
    std::vector<fz::Expect> grads;
    for (size_t k = 0; k < w32.primals.size(); ++k)
      grads.push_back(expect("gradient", r32.grads[k], r64.grads[k], skip));
    widen_scales(grads, flow.grad);
    if (!skip.empty()) continue;
    ++compared;
    bool differs = false;
    for (size_t k = 0; k < grads.size(); ++k) {
      const fz::Expect& g = grads[k];
      if (!g.value.defined()) continue;
      INFO(fz::to_string(p) << "primal v" << w32.primals[k]);
      REQUIRE(fz::compare(r64.grads[k].to(g.value.dtype()), g.value, g.scale, g.err, kGradSlack) ==
              "");
      differs = differs || !fz::compare(rb.grads[k], g.value, g.scale, g.err, kGradSlack).empty();
    }
    caught += differs;
  }
  CHECK(compared >= 180);
  INFO(caught << " of " << compared << " programs with shifted inputs caught");
  CHECK(caught >= compared * 8 / 10);
}

// ---- failures the tester found and not fixed yet ([!mayfail]: reported, not failing CI) ----

// Seed 2900141 (found 2026-12-04, session 8; the pattern seed 1603293 showed in session 7,
// before the generator drew conv2d, batch_norm and the pools and so made other programs): the
// loss is gelu(c - sum of 3 float values that cancel c). Eager's float sum accumulates in float
// and gives exactly 0; the fused reduction accumulates in double and gives about -1.8e-7, the
// loss -8.9e-8 against an allowed 8.1e-12. Likely the tolerance, not the kernel: the
// comparison's scale does not yet count the rounding of a sum's terms when they cancel.
TEST_CASE("seed 2900141: a cancelling float sum in a region against eager's float sum",
          "[jit][grad][!mayfail]") {
  test::CompiledPath path(1, 2);
  Outcome o = check_program(fz::generate_grad(2900141));
  INFO(o.failure);
  CHECK(o.failure.empty());
}

// Seed 1901013 (found 2026-12-04, session 8): the loss is s * s with s the sum over a channel of
// batch_norm's output, 0 up to the rounding of its terms (about 1). Eager gives s = 0 exactly,
// the fused run s of about 8e-9, so the loss 7e-17 against an allowed 1.4e-19: the loss's
// scale comes from its first derivative, which is 0 at s = 0, and misses a squared rounding.
// The same cancellation as above, not a wrong kernel.
TEST_CASE("seed 1901013: the square of a cancelling batch_norm sum", "[jit][grad][!mayfail]") {
  test::CompiledPath path(1, 2);
  Outcome o = check_program(fz::generate_grad(1901013));
  INFO(o.failure);
  CHECK(o.failure.empty());
}

// ---- failures the tester found (fixed; kept as regression tests) ----

// Seeds 542, 100268, 100718, 100932, 101480 (float64 programs dividing by a C++ number): in a
// region a derivative's sub-expression over C++ numbers only is typed float32 in the trace
// (EMBER_JIT_DUMP=graph shows `div %6, %7 : f32[]` for x / 3.0's 1/3, `sub %6, %7 : f32[]` for
// pow(x, 0.1)'s 0.1 - 1), where the eager row computes it in the gradient's dtype: the gradient
// of x / 3.0 was 0.333333343, of pow(x, 0.1) off by 4e-9 relative. Fixed in
// runtime/ops/dsl_loops.cpp (such sub-expressions are float64 0-d tensors).
TEST_CASE("float64 gradients through ops with a C++ number keep float64 precision", "[jit][grad]") {
  test::CompiledPath path(1, 2);
  for (int run = 0; run < 4; ++run) {
    Tensor x = (test::seeded_randn({4}, 3, kFloat64).abs() + 0.5).detach().requires_grad_();
    Tensor y = x.detach().clone().requires_grad_();
    {
      jit::Region r("grad_scalar_f64");
      (x / 3.0).sum().backward();
      pow(y, 0.1).sum().backward();
    }
    test::settle_compiles();
    INFO("run " << run + 1);
    for (double g : test::values(x.grad())) CHECK(std::abs(g - 1.0 / 3) <= 1e-15);
    const std::vector<double> yv = test::values(y), gy = test::values(y.grad());
    for (size_t j = 0; j < yv.size(); ++j) {
      const double want = 0.1 * std::pow(yv[j], -0.9);
      CHECK(std::abs(gy[j] - want) <= 1e-14 * want);
    }
  }
}

// Seed 605: layer_norm over rows whose spread (2.4e-4) is far below their mean (0.565) and
// sqrt(eps). Eager's result is within 3e-8 of float64's; the fused decomposition
// (jit/trace/decompose.cpp) is off by 2.5e-4 relative: its mean is a float32 sum, rounded by
// half an ulp of 0.565 (3e-8), an error of 2.5e-4 of x - mean. Fixed: the decomposition
// computes in float64, as the eager kernel does.
TEST_CASE("fused layer_norm of a nearly constant row keeps eager's precision", "[jit][grad]") {
  test::CompiledPath path(1, 2);
  const Tensor x = tensor(std::vector<float>{0.564985156f, 0.564746678f}, Dims{1, 2});
  const Tensor want = nn::functional::layer_norm(x, {2});
  const std::vector<double> truth = test::values(nn::functional::layer_norm(x.to(kFloat64), {2}));
  const std::vector<double> eager = test::values(want);
  for (size_t j = 0; j < truth.size(); ++j) REQUIRE(std::abs(eager[j] - truth[j]) <= 1e-6);
  for (int run = 0; run < 4; ++run) {
    Tensor got;
    {
      jit::Region r("grad_layer_norm_row");
      got = nn::functional::layer_norm(x, {2});
    }
    test::settle_compiles();
    INFO("run " << run + 1);
    const std::vector<double> g = test::values(got);
    for (size_t j = 0; j < g.size(); ++j)
      CHECK(std::abs(g[j] - eager[j]) <= 1e-5 * std::abs(eager[j]));
  }
}

// Seed 2963: the gradient of amax(cos(x)) is zero in a region (eager: -sin(x) at the maximum).
// The backward's mask `cos(x) == amax` is computed in two kernels: the row kernel that reduces
// cos(x) to its max (and counts the ties) and the pointwise kernel that recomputes cos(x) to
// build the gradient (EMBER_JIT_DUMP=graph: steps 0 and 2 both compute `cos %0`). The mask is
// empty, so the recomputed cos(-0.155286267) is not bit-identical to the reduced one: amax of
// tanh(-x) fails the same way, of x * -2 and exp(-x) does not. Every tier and run, with
// backward() or autograd::grad. Fixed: amax/amin's pointwise input is materialised
// (jit/passes/fuse.cpp), so the mask reads the values the reduction read.
TEST_CASE("the gradient of amax of a recomputed value reaches its maximum", "[jit][grad]") {
  test::CompiledPath path(1, 2);
  const std::vector<float> xs{-0.155286267f, 0.574837506f, 1.42315006f, 0.733272016f, 1.70870793f};
  for (int run = 0; run < 4; ++run) {
    Tensor x = tensor(xs, Dims{5}).requires_grad_();
    Tensor want = -sin(x.detach()) * (x.detach() == x.detach().select(0, 0)).to(kFloat32);
    {
      jit::Region r("grad_amax_recomputed");
      amax(cos(x), Dims{-1}, true).sum().backward();
    }
    test::settle_compiles();
    INFO("run " << run + 1 << ": fused " << x.grad() << ", eager " << want);
    const std::vector<double> g = test::values(x.grad()), w = test::values(want);
    for (size_t j = 0; j < g.size(); ++j) CHECK(std::abs(g[j] - w[j]) <= 1e-6);
  }
}

// Seed 300494 (placement step): the backward breaks the graph 10 times per run (fill_ and
// logical_and on clamp's bool masks, index_add for select; EMBER_JIT_DUMP=breaks), and each
// piece between breaks counts as one of the region's 8 specialisations (jit/executor.cpp): the
// first run exhausted the cap ("has more than 8 specialisations" warning), and the pieces past it
// ran eagerly in every later run of this unchanging step. Fixed: the cap counts each graph of a
// region apart.
TEST_CASE("graph breaks in a backward do not exhaust the region's specialisations", "[jit][grad]") {
  test::CompiledPath path(1, 2);
  jit::clear_cache();  // pieces compiled for other regions would not count against this one
  const fz::Program p = fz::generate_grad(300494);
  World w = make_world(p, false);
  for (int run = 0; run < 4; ++run) {
    const jit::Stats before = jit::stats();
    run_once(p, w, Placement::Step, run, true);
    test::settle_compiles();
    INFO(fz::to_string(p) << "run " << run + 1);
    CHECK(jit::stats().eager_graphs == before.eager_graphs);
  }
}
