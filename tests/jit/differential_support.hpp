// The comparison machinery of the JIT's differential testers (tests/jit/test_differential.cpp,
// test_differential_grad.cpp): the eager reference run of a program with its float64 twin, the
// tolerance each value gets from it, the comparison, and the crash report naming the program.
#pragma once

#include <signal.h>
#include <unistd.h>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "jit/random_program.hpp"
#include "support/reference.hpp"

namespace ember::test::fuzz {

// What one eager execution must be matched on: a tensor (an output after its step, or an input
// after the run's last step), with its scale (the largest magnitude among it and the values it
// depends on), its float32 rounding error and its version counter.
struct Expect {
  std::string name;
  Tensor value;  ///< a copy taken at the time
  double scale = 0, err = 0;
  uint32_t version = 0;
};

// The eager run of a program (all its steps), with its float64 twin run in lockstep.
struct Reference {
  std::vector<std::vector<Expect>> steps;  ///< per step: the outputs
  std::vector<Expect> inputs;              ///< every input after the last step
  std::string skip;  ///< why the program is not compared (a near-tie, ill-conditioned), or ""
};

inline bool is_float_run(const Tensor& t) { return t.dtype() == kFloat32; }

// The largest magnitude of a and its largest distance from its float64 twin b; `why` gets the
// reason when they cannot be compared (NaN in one only, an overflow).
inline void magnitude(const Tensor& a32, const Tensor& b64, double& mag, double& err,
                      std::string& why) {
  std::vector<double> a = test::values(a32), b = test::values(b64);
  mag = err = 0;
  for (size_t j = 0; j < a.size(); ++j) {
    if (std::isnan(a[j]) != std::isnan(b[j])) why = "NaN where float64 has none";
    if (std::isinf(a[j]) || std::isinf(b[j])) {
      if (a[j] != b[j]) why = "overflow";
    } else if (!std::isnan(a[j])) {
      mag = std::max(mag, std::abs(a[j]));
      err = std::max(err, std::abs(a[j] - b[j]));
    }
  }
}

inline Tensor to_f64(const Tensor& t) { return t.dtype() == kFloat64 ? t.clone() : t.to(kFloat64); }

// Runs the program's run `run` eagerly on `inputs` (written in place), and a float64 twin on
// copies of them, instruction by instruction, checking each value as it is made.
inline Reference reference(const Program& p, const std::vector<Tensor>& inputs, int run) {
  Reference r;
  const std::vector<Tensor> in64 = map_inputs(p, inputs, to_f64);
  const int n = p.value_count(), ni = int(p.inputs.size());
  auto group = [&](int i) { return p.info[size_t(i)].group; };
  std::vector<double> gscale(size_t(n), 0);  // by storage owner: the scale of what it holds
  auto skip = [&](int i, const std::string& why) {
    if (r.skip.empty()) r.skip = why + " at v" + std::to_string(i);
  };
  for (int i = 0; i < ni; ++i) {
    double mag, err;
    std::string why;
    magnitude(inputs[size_t(i)], in64[size_t(i)], mag, err, why);
    gscale[size_t(group(i))] = std::max(gscale[size_t(group(i))], mag);
  }
  std::vector<double> scale(size_t(n), 0);
  auto cur = [&](int o) { return std::max(scale[size_t(o)], gscale[size_t(group(o))]); };
  for (int step = 0; step < p.steps; ++step) {
    const int e = run * p.steps + step;
    std::vector<Tensor> v(inputs), w(in64);
    std::vector<double> err(size_t(n), 0);
    for (int i = ni; i < n; ++i) {
      const Instr& in = p.def(i);
      v.push_back(apply(p, in, v, e));
      w.push_back(apply(p, in, w, e));
      double mag;
      std::string why;
      magnitude(v[size_t(i)], w[size_t(i)], mag, err[size_t(i)], why);
      if (!why.empty()) skip(i, why);
      scale[size_t(i)] = mag;
      for (int o : {in.a, in.b, in.c})
        if (o >= 0) scale[size_t(i)] = std::max(scale[size_t(i)], cur(o));
      double& gs = gscale[size_t(group(i))];
      gs = group(i) == i ? scale[size_t(i)] : std::max(gs, scale[size_t(i)]);
      if (v[size_t(i)].dtype() != kBool && err[size_t(i)] > 1e-3 * std::max(scale[size_t(i)], 1.0))
        skip(i, "float32 result dominated by rounding");
      if (in.kind == Kind::Cmp) {
        // A comparison whose operands nearly tie may flip under any rounding difference.
        const Tensor &a32 = v[size_t(in.a)], &a64 = w[size_t(in.a)];
        Tensor d32 = in.b >= 0 ? a32 - v[size_t(in.b)] : a32 - in.s;
        Tensor d64 = in.b >= 0 ? a64 - w[size_t(in.b)] : a64 - in.s;
        bool single = is_float_run(a32) || (in.b >= 0 && is_float_run(v[size_t(in.b)]));
        double sc = std::max({cur(in.a), in.b >= 0 ? cur(in.b) : 0.0, 1.0});
        double ea = err[size_t(in.a)], eb = in.b >= 0 ? err[size_t(in.b)] : 0.0;
        double thr = (single ? 1e-5 : 1e-12) * sc + 64 * (ea + eb);
        std::vector<double> x = test::values(d32), y = test::values(d64);
        for (size_t j = 0; j < y.size(); ++j) {
          if (std::isnan(y[j]) || std::abs(y[j]) > thr) continue;
          // Equal in both precisions: a tie of exact values (relu(v) vs 0 where v < 0, x vs x)
          if (y[j] == 0 && x[j] == 0) continue;
          skip(i, "near-tie in a comparison");
        }
      }
    }
    std::vector<Expect> outs;
    for (size_t k = 0; k < p.outputs.size(); ++k) {
      const int o = p.outputs[k];
      Expect x{"output " + std::to_string(k) + " (v" + std::to_string(o) + ")",
               v[size_t(o)].clone(), cur(o), 0, v[size_t(o)].version()};
      double mag;
      std::string why;
      magnitude(v[size_t(o)], w[size_t(o)], mag, x.err, why);
      outs.push_back(std::move(x));
    }
    r.steps.push_back(std::move(outs));
  }
  for (int i = 0; i < ni; ++i) {
    Expect x{"input v" + std::to_string(i) + " after the run", inputs[size_t(i)].clone(), 0, 0,
             inputs[size_t(i)].version()};
    double mag;
    std::string why;
    magnitude(inputs[size_t(i)], in64[size_t(i)], mag, x.err, why);
    if (!why.empty()) skip(i, why);
    x.scale = std::max(mag, gscale[size_t(group(i))]);
    r.inputs.push_back(std::move(x));
  }
  return r;
}

// "" when `got` matches `want`; else the first mismatches. `slack` widens the tolerance (for
// gradients: longer chains, summed in another order).
inline std::string compare(const Tensor& got, const Tensor& want, double scale, double err,
                           double slack = 1) {
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
  // A float64 value computed from float32 work (err > 0: the float32 run differs from its float64
  // twin) may differ by a float32 rounding of that work, as two correct cos may.
  if (want.dtype() == kFloat64 && err > 0) tol = 0x1p-22;
  int bad = 0;
  for (size_t j = 0; j < w.size(); ++j) {
    double allowed = slack * (tol * std::abs(w[j]) + tol * scale + 4 * err);
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

// "" when `got` (with its version counter) matches the expectation.
inline std::string compare(const Tensor& got, const Expect& x) {
  std::string msg = compare(got, x.value, x.scale, x.err);
  if (msg.empty() && got.version() != x.version)
    msg = "  version counter " + std::to_string(got.version()) + ", eager " +
          std::to_string(x.version) + "\n";
  return msg;
}

// ---- a crash (a fused kernel gone wrong) still names its program ----

// `tag` names the tester in the report, `replay` the variables that rerun the program.
struct CrashReport {
  static constexpr int kSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
  static inline std::string running_;  // the report for the program being run
  static inline struct sigaction old_[32];
  static void report(int sig) {
    ssize_t n = ::write(2, running_.data(), running_.size());
    (void)n;
    sigaction(sig, &old_[sig], nullptr);  // the previous handler (or the default) takes it again
  }
  CrashReport() {
    struct sigaction sa = {};
    sa.sa_handler = report;
    sigemptyset(&sa.sa_mask);
    for (int s : kSignals) sigaction(s, &sa, &old_[s]);
  }
  ~CrashReport() {
    for (int s : kSignals) sigaction(s, &old_[s], nullptr);
  }
  static void running(const Program& p, const std::string& tag = "differential",
                      const std::string& replay = "EMBER_JIT_FUZZ_N=1") {
    running_ = "\n[" + tag + "] crashed in program seed " + std::to_string(p.seed) +
               " (replay: EMBER_JIT_FUZZ_SEED=" + std::to_string(p.seed) + " " + replay + ")\n" +
               to_string(p);
  }
};

}  // namespace ember::test::fuzz
