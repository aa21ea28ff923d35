// In-place ops and C++ scalars inside regions (issue 12, "never a wrong result"): every case runs
// the same code eagerly and inside a region, run after run past hot detection and tier-up (see
// test::CompiledPath: the capture as an eager graph, the quick tier, the full tier, replay), and
// compares what both saw: the values of the mutated tensors, of every view of them and of later
// reads, read inside the region and after it, and the version counters. A failure names the
// region, the run, what the JIT did on that run, and the differing elements.
#include <cmath>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "jit/jit_support.hpp"
#include "support/reference.hpp"

using namespace ember;

namespace {

// The runs of each case: enough for every path with test::CompiledPath's defaults.
constexpr int kRuns = 6;

// What one run saw, in order: tensors' elements and version counters, by name.
struct Probe {
  struct Entry {
    std::string name;
    std::vector<double> values;
    bool exact = false;  ///< a version counter: compared exactly
  };
  std::vector<Entry> seen;
  void read(const std::string& name, const Tensor& t) { seen.push_back({name, test::values(t)}); }
  void version(const std::string& name, const Tensor& t) {
    seen.push_back({name + ".version()", {double(t.version())}, true});
  }
};

// "" when the region's run saw what the eager run saw. Values within float rounding (fused
// kernels may contract a*b+c into one FMA, or keep a chain in registers): 1e-5 relative plus
// 1e-6 absolute, far below any dropped or doubled update in these cases (>= 0.01).
std::string differences(const Probe& got, const Probe& want) {
  std::ostringstream os;
  os.precision(8);
  if (got.seen.size() != want.seen.size()) {
    os << "  the region's run probed " << got.seen.size() << " things, the eager run "
       << want.seen.size() << '\n';
    return os.str();
  }
  for (size_t i = 0; i < want.seen.size(); ++i) {
    const Probe::Entry &g = got.seen[i], &w = want.seen[i];
    if (g.values.size() != w.values.size()) {
      os << "  " << w.name << ": " << g.values.size() << " elements, eager " << w.values.size()
         << '\n';
      continue;
    }
    int bad = 0;
    for (size_t j = 0; j < w.values.size(); ++j) {
      double a = g.values[j], b = w.values[j];
      bool ok = w.exact         ? a == b
                : std::isnan(b) ? std::isnan(a)
                : std::isinf(b) ? a == b
                                : std::abs(a - b) <= 1e-6 + 1e-5 * std::abs(b);
      if (!ok && bad++ < 4) {
        os << "  " << w.name;
        if (!w.exact) os << '[' << j << ']';
        os << ": region " << a << ", eager " << b << '\n';
      }
    }
    if (bad > 4) os << "  " << w.name << ": " << bad << " of " << w.values.size() << " differ\n";
  }
  return os.str();
}

// Runs a block of code inside a region named `name`, or eagerly.
struct Scope {
  bool jit = false;
  std::string name;
  template <class F>
  void operator()(F&& f) const {
    if (!jit) {
      f();
      return;
    }
    jit::Region r(name);
    f();
  }
};

// What a sequence of region runs did: labels and kernels made, per run.
struct Sequence {
  std::vector<std::string> labels;
  std::vector<int64_t> kernels;  ///< compiled or loaded since the sequence began, after each run
  std::string runs_text() const {
    std::ostringstream os;
    for (size_t i = 0; i < labels.size(); ++i)
      os << "  run " << i + 1 << ": " << labels[i] << ", kernels so far " << kernels[i] << '\n';
    return os.str();
  }
};

// make() returns a body `void(Probe&, const Scope&, int run)` holding its own state. One body
// runs eagerly, another in regions, `runs` times each; run by run, they must probe the same.
// With expect_fused (and the JIT on), the last run must have run fused and the full tier must
// have been reached.
template <class Make>
Sequence check_sequence(const std::string& name, Make make, int runs = kRuns,
                        bool expect_fused = true) {
  test::CompiledPath path;
  jit::clear_cache();  // hot detection starts afresh: the run labels say what ran
  auto eager = make();
  auto fused = make();
  test::RunWatch watch;
  Sequence seq;
  std::string first;
  std::vector<int> failing;
  for (int run = 0; run < runs; ++run) {
    Probe want, got;
    eager(want, Scope{false, name}, run);
    watch.begin();
    std::string threw;
    try {
      fused(got, Scope{true, name}, run);
    } catch (const std::exception& e) {
      threw = e.what();
    }
    test::settle_compiles();
    seq.labels.push_back(watch.end());
    seq.kernels.push_back(watch.kernels());
    std::string d = threw.empty() ? differences(got, want) : "  threw: " + threw + '\n';
    if (d.empty()) continue;
    failing.push_back(run + 1);
    if (first.empty())
      first = "region '" + name + "', run " + std::to_string(run + 1) + " of " +
              std::to_string(runs) + " (" + seq.labels.back() + ") differs from eager:\n" + d;
    if (!threw.empty()) break;
  }
  if (!first.empty()) {
    std::ostringstream os;
    os << first << "  runs that differ:";
    for (int r : failing) os << ' ' << r;
    os << " of " << runs << '\n' << seq.runs_text();
    FAIL_CHECK(os.str());
  } else {
    SUCCEED("region '" << name << "' matches eager on all " << runs << " runs");
  }
  if (first.empty() && expect_fused && jit::enabled()) {  // EMBER_JIT=0: the values alone
    INFO("region '" << name << "' must reach the compiled path:\n" << seq.runs_text());
    CHECK(watch.last_fused());
    CHECK(watch.reached_full_tier());
  }
  return seq;
}

// CHECKs that no kernel was compiled (or loaded) after run `warm` of the sequence.
void check_no_compile_after(const Sequence& seq, int warm, const std::string& what) {
  INFO(what << ": no kernel may be compiled after run " << warm << "\n" << seq.runs_text());
  REQUIRE(int(seq.kernels.size()) > warm);
  CHECK(seq.kernels.back() == seq.kernels[size_t(warm) - 1]);
}

// A body without state across runs (it makes fresh tensors each run).
template <class Body>
Sequence check_runs(const std::string& name, Body body, bool expect_fused = true) {
  return check_sequence(name, [&] { return body; }, kRuns, expect_fused);
}

using InPlace = std::function<void(const Tensor& x, const Tensor& o)>;
struct InPlaceCase {
  const char* name;
  InPlace op;
};

// x is f32 [3,4]; o is f32 [3,4] in [0.5, 3] (a safe divisor).
const std::vector<InPlaceCase>& inplace_cases() {
  static const std::vector<InPlaceCase> cases = {
      {"x += o", [](const Tensor& x, const Tensor& o) { x += o; }},
      {"x -= o", [](const Tensor& x, const Tensor& o) { x -= o; }},
      {"x *= o", [](const Tensor& x, const Tensor& o) { x *= o; }},
      {"x /= o", [](const Tensor& x, const Tensor& o) { x /= o; }},
      {"x += 2.5", [](const Tensor& x, const Tensor&) { x += 2.5; }},
      {"x -= 0.75", [](const Tensor& x, const Tensor&) { x -= 0.75; }},
      {"x *= -3", [](const Tensor& x, const Tensor&) { x *= -3.0; }},
      {"x /= 4", [](const Tensor& x, const Tensor&) { x /= 4.0; }},
      {"x.add_(o, 0.5)", [](const Tensor& x, const Tensor& o) { x.add_(o, 0.5); }},
      {"x.sub_(o, 2)", [](const Tensor& x, const Tensor& o) { x.sub_(o, 2.0); }},
      {"x.add_(o[0], -0.25)  (broadcast row)",
       [](const Tensor& x, const Tensor& o) { x.add_(o[0], -0.25); }},
      {"x.sub_(exp(o) * 0.1)  (lazy operand)",
       [](const Tensor& x, const Tensor& o) { x.sub_(exp(o) * 0.1); }},
      {"x.mul_(o.narrow(1, 0, 1))  (broadcast column)",
       [](const Tensor& x, const Tensor& o) { x.mul_(o.narrow(1, 0, 1)); }},
      {"x.div_(o[1])  (broadcast row)", [](const Tensor& x, const Tensor& o) { x.div_(o[1]); }},
      {"x.mul_(0.9).add_(o, 0.1)",
       [](const Tensor& x, const Tensor& o) { x.mul_(0.9).add_(o, 0.1); }},
      {"x.copy_(o)", [](const Tensor& x, const Tensor& o) { x.copy_(o); }},
      {"x.copy_(o[2])  (broadcast row)", [](const Tensor& x, const Tensor& o) { x.copy_(o[2]); }},
      {"x.copy_(o.to(float64) * 1.5)  (float64 to float32)",
       [](const Tensor& x, const Tensor& o) { x.copy_(o.to(kFloat64) * 1.5); }},
      {"x.copy_(sigmoid(o))  (lazy source)",
       [](const Tensor& x, const Tensor& o) { x.copy_(sigmoid(o)); }},
      {"x.fill_(2.5)", [](const Tensor& x, const Tensor&) { x.fill_(2.5); }},
      {"x.zero_()", [](const Tensor& x, const Tensor&) { x.zero_(); }},
      {"x.clamp_(-0.5, 0.5)", [](const Tensor& x, const Tensor&) { x.clamp_(-0.5, 0.5); }},
      {"x.clamp_(0)  (min only)", [](const Tensor& x, const Tensor&) { x.clamp_(0.0); }},
      {"x.clamp_(none, 0.25)  (max only)",
       [](const Tensor& x, const Tensor&) { x.clamp_(std::nullopt, 0.25); }},
  };
  return cases;
}

Tensor fresh_x() { return test::seeded_randn({3, 4}, 11); }
Tensor fresh_o() { return test::seeded_randn({3, 4}, 12).abs().clamp(0.0, 2.5) + 0.5; }

}  // namespace

TEST_CASE("issue 12's reproducers: in-place ops in a region are kept", "[jit][mutation]") {
  check_runs("mut_repro_a", [](Probe& pr, const Scope& s, int) {
    Tensor q = ones({4});
    s([&] { q.add_(q * 2); });  // q must be 3s
    pr.read("q", q);
    pr.version("q", q);
  });
  check_runs("mut_repro_b", [](Probe& pr, const Scope& s, int) {
    Tensor p = ones({4}), e;
    s([&] {
      e = zeros_like(p);
      e.add_(p);  // e must be 1s
    });
    pr.read("e", e);
    pr.version("e", e);
    pr.read("p", p);
  });
  // And their absolute values, so that eager itself is pinned.
  Tensor q = ones({4});
  q.add_(q * 2);
  REQUIRE(test::values(q) == std::vector<double>{3, 3, 3, 3});
}

TEST_CASE("in-place arithmetic and copy_ fill_ zero_ clamp_ on region inputs", "[jit][mutation]") {
  for (const InPlaceCase& c : inplace_cases()) {
    // The write alone: nothing in the region reads its result.
    check_runs(std::string("mut_input: ") + c.name, [&](Probe& pr, const Scope& s, int) {
      Tensor x = fresh_x(), o = fresh_o();
      s([&] { c.op(x, o); });
      pr.read("x", x);
      pr.version("x", x);
      pr.read("o (not written)", o);
      pr.version("o", o);
    });
    // Later reads in the same region see the new value.
    check_runs(std::string("mut_input_then_read: ") + c.name, [&](Probe& pr, const Scope& s, int) {
      Tensor x = fresh_x(), o = fresh_o(), later;
      s([&] {
        Tensor before = x * 3;
        c.op(x, o);
        later = x * 10 + before;
      });
      pr.read("x", x);
      pr.read("x * 10 + (x * 3 before the write)", later);
      pr.version("x", x);
    });
  }
}

TEST_CASE("in-place ops on lazy values (computed in the region)", "[jit][mutation]") {
  for (const InPlaceCase& c : inplace_cases()) {
    check_runs(std::string("mut_lazy: ") + c.name, [&](Probe& pr, const Scope& s, int) {
      Tensor x = fresh_x(), o = fresh_o(), y, later;
      s([&] {
        y = tanh(x) + 0.5;  // lazy in the region
        c.op(y, o);
        later = y * 10;
      });
      pr.read("y", y);
      pr.read("y * 10", later);
      pr.read("x (not written)", x);
      pr.version("x", x);
    });
  }
}

TEST_CASE("reading a value after its in-place update in the same region", "[jit][mutation]") {
  // Issue 12: 30 on the first (eager) run, 20 once compiled.
  check_runs("mut_read_after", [](Probe& pr, const Scope& s, int) {
    Tensor x = ones({4}), y;
    s([&] {
      y = x * 2;
      y.add_(1);
      y = y * 10;
    });
    pr.read("y", y);
  });
  Tensor x = ones({4}), y = x * 2;
  y.add_(1);
  REQUIRE(test::values(y * 10) == std::vector<double>{30, 30, 30, 30});
  // Interleaved writes and reads of one input: each read sees the writes before it.
  check_runs("mut_read_between", [](Probe& pr, const Scope& s, int) {
    Tensor x = fresh_x(), a, b, c;
    s([&] {
      a = x * 2;
      x.add_(1);
      b = x * 2;
      x.mul_(3);
      c = x + a + b;
    });
    pr.read("a", a);
    pr.read("b", b);
    pr.read("c", c);
    pr.read("x", x);
    pr.version("x", x);
  });
}

TEST_CASE("a write of a value computed before later reads of the old memory", "[jit][mutation]") {
  // The eager graph stores a write as soon as its value is computed only when no later node
  // reads the memory's old content: here y is computed before z and w read x, so x.copy_(y)
  // must wait until after them.
  check_runs("mut_write_waits", [](Probe& pr, const Scope& s, int) {
    Tensor x = fresh_x(), y, z, w;
    s([&] {
      y = x * 2 + 1;
      z = x * 3;
      w = x.t() * 1;
      x.copy_(y);
    });
    pr.read("x", x);
    pr.read("z (old x * 3)", z);
    pr.read("w (old x.t())", w);
    pr.version("x", x);
  });
  // Written from itself: element for element (stored by the kernel), and transposed (the
  // kernel reads elements it has not written yet: computed first, then stored).
  check_runs("mut_write_from_itself", [](Probe& pr, const Scope& s, int) {
    Tensor x = test::seeded_randn({4, 4}, 12), m = test::seeded_randn({4, 4}, 13), y;
    s([&] {
      x.add_(x);
      m.add_(m.t());
      y = x + m;
    });
    pr.read("x", x);
    pr.read("m", m);
    pr.read("y", y);
    pr.version("x", x);
    pr.version("m", m);
  });
}

namespace {

struct ViewCase {
  const char* name;
  std::function<Tensor(const Tensor&)> view;
  std::function<void(const Tensor&)> write;
};

const std::vector<ViewCase>& view_cases() {
  static const std::vector<ViewCase> cases = {
      {"x[0].add_(1)", [](const Tensor& x) { return x[0]; }, [](const Tensor& v) { v.add_(1.0); }},
      {"x.t().mul_(2)", [](const Tensor& x) { return x.t(); },
       [](const Tensor& v) { v.mul_(2.0); }},
      {"x.narrow(1, 1, 2).fill_(0)", [](const Tensor& x) { return x.narrow(1, 1, 2); },
       [](const Tensor& v) { v.fill_(0.0); }},
      {"x.view({-1}).add_(1)", [](const Tensor& x) { return x.view({-1}); },
       [](const Tensor& v) { v.add_(1.0); }},
      {"x.select(1, 2).sub_(itself * 0.5 + 0.25)", [](const Tensor& x) { return x.select(1, 2); },
       [](const Tensor& v) { v.sub_(v * 0.5 + 0.25); }},
      {"x.slice(1, 0, 4, 2).copy_(column)  (strided)",
       [](const Tensor& x) { return x.slice(1, 0, 4, 2); },
       [](const Tensor& v) { v.copy_(test::seeded_randn({3, 1}, 21)); }},
      {"x.narrow(0, 1, 2).clamp_(-0.2, 0.3)", [](const Tensor& x) { return x.narrow(0, 1, 2); },
       [](const Tensor& v) { v.clamp_(-0.2, 0.3); }},
  };
  return cases;
}

// The base and two other views of it, made before the write: all must see it.
void probe_views(Probe& pr, const std::string& when, const Tensor& base, const Tensor& written,
                 const Tensor& other_t, const Tensor& other_col) {
  pr.read("written view" + when, written);
  pr.read("base" + when, base);
  pr.read("other view base.t()" + when, other_t);
  pr.read("other view base[:, 1]" + when, other_col);
}

}  // namespace

TEST_CASE("writes through views update the base and every other view", "[jit][mutation]") {
  for (const ViewCase& c : view_cases()) {
    // A view of a region input; read inside the region right after the write, and after.
    check_runs(std::string("mut_view_read_inside: ") + c.name, [&](Probe& pr, const Scope& s, int) {
      Tensor x = fresh_x(), t = x.t(), col = x.select(1, 1), v;
      s([&] {
        v = c.view(x);
        c.write(v);
        probe_views(pr, " (in the region)", x, v, t, col);
      });
      probe_views(pr, "", x, v, t, col);
      pr.version("base", x);
      pr.version("written view", v);
    });
    // The same, with lazy reads after the write instead of data reads inside the region.
    check_runs(std::string("mut_view_lazy_reads: ") + c.name, [&](Probe& pr, const Scope& s, int) {
      Tensor x = fresh_x(), t = x.t(), col = x.select(1, 1), v, r1, r2, r3;
      s([&] {
        v = c.view(x);
        c.write(v);
        r1 = x * 10;
        r2 = t + 1;
        r3 = col * v.sum();
      });
      probe_views(pr, "", x, v, t, col);
      pr.read("base * 10 (lazy, after the write)", r1);
      pr.read("base.t() + 1 (lazy, after the write)", r2);
      pr.read("base[:, 1] * view.sum() (lazy, after the write)", r3);
      pr.version("base", x);
    });
    // A view of a lazy value: its base is computed in the region.
    check_runs(std::string("mut_view_of_lazy: ") + c.name, [&](Probe& pr, const Scope& s, int) {
      Tensor x = fresh_x(), y, t, col, v, later;
      s([&] {
        y = x * 2 + 0.5;
        t = y.t();
        col = y.select(1, 1);
        v = c.view(y);
        c.write(v);
        later = y * 10 + t.t();
      });
      probe_views(pr, "", y, v, t, col);
      pr.read("y * 10 + y.t().t() (lazy, after the write)", later);
      pr.read("x (not written)", x);
      pr.version("x", x);
    });
  }
}

TEST_CASE("the same storage passed twice", "[jit][mutation]") {
  struct Case {
    const char* name;
    std::function<void(const Tensor&)> op;
    bool expect_fused;  // an overlapping write may run eagerly (a graph break): values only
  };
  const Case cases[] = {
      {"x.add_(x)", [](const Tensor& x) { x.add_(x); }, true},
      {"x.mul_(x)", [](const Tensor& x) { x.mul_(x); }, true},
      {"x.sub_(x, 0.5)", [](const Tensor& x) { x.sub_(x, 0.5); }, true},
      {"x.copy_(x.t())  (square)", [](const Tensor& x) { x.copy_(x.t()); }, false},
      {"x.t().add_(x)  (square)", [](const Tensor& x) { x.t().add_(x); }, false},
      {"x.add_(x[0])  (a row of itself)", [](const Tensor& x) { x.add_(x[0]); }, false},
      {"x.narrow(0, 1, 3).copy_(x.narrow(0, 0, 3))  (shifted)",
       [](const Tensor& x) { x.narrow(0, 1, 3).copy_(x.narrow(0, 0, 3)); }, false},
      {"x[0].copy_(x[1]); x[1].mul_(x[0])",
       [](const Tensor& x) {
         x[0].copy_(x[1]);
         x[1].mul_(x[0]);
       },
       false},
  };
  for (const Case& c : cases) {
    check_runs(
        std::string("mut_alias_input: ") + c.name,
        [&](Probe& pr, const Scope& s, int) {
          Tensor x = test::seeded_randn({4, 4}, 31), later;
          s([&] {
            c.op(x);
            later = x * 10;
          });
          pr.read("x", x);
          pr.read("x * 10 (after the write)", later);
          pr.version("x", x);
        },
        c.expect_fused);
    check_runs(
        std::string("mut_alias_lazy: ") + c.name,
        [&](Probe& pr, const Scope& s, int) {
          Tensor x = test::seeded_randn({4, 4}, 32), y, later;
          s([&] {
            y = sigmoid(x) - 0.25;
            c.op(y);
            later = y * 10;
          });
          pr.read("y", y);
          pr.read("y * 10 (after the write)", later);
        },
        c.expect_fused);
  }
}

TEST_CASE("a jit::compile'd function that mutates its argument", "[jit][mutation]") {
  auto fn = [](const Tensor& p, const Tensor& g) {
    p.add_(g, -0.1);
    return p * 2;
  };
  auto compiled = jit::compile(fn, "mut_compile");
  check_runs("mut_compile", [&](Probe& pr, const Scope& s, int run) {
    Tensor p = fresh_x(), g = test::seeded_randn({3, 4}, 40 + run);
    Tensor r = s.jit ? compiled(p, g) : fn(p, g);
    pr.read("p", p);
    pr.read("returned p * 2", r);
    pr.version("p", p);
    pr.read("g (not written)", g);
  });
}

TEST_CASE("version counters move as eagerly inside the region and after", "[jit][mutation]") {
  check_runs("mut_versions", [](Probe& pr, const Scope& s, int) {
    Tensor x = fresh_x(), o = fresh_o(), other = x.t(), unrelated = fresh_o();
    pr.version("x before", x);
    s([&] {
      x.add_(1.0);
      pr.version("x after add_", x);
      x.mul_(o);
      x.sub_(o, 0.5);
      pr.version("x after mul_, sub_", x);
      x[0].zero_();
      pr.version("x after x[0].zero_()", x);
      pr.version("x.t() (a view made before)", other);
      x.copy_(x * 0.5);
      x.clamp_(-1.0, 1.0);
      x /= 2.0;
      Tensor y = unrelated * 2;  // no write: no bump
      y.add_(1.0);               // a fresh tensor's writes do not touch o or unrelated
      pr.version("x after copy_, clamp_, /=", x);
    });
    pr.version("x", x);
    pr.version("x.t()", other);
    pr.version("o", o);
    pr.version("unrelated", unrelated);
    pr.read("x", x);
  });
}

TEST_CASE("tensors created in the region and then mutated", "[jit][mutation]") {
  check_runs("mut_created_empty", [](Probe& pr, const Scope& s, int) {
    Tensor p = fresh_o(), t, u;
    s([&] {
      t = empty_like(p);
      t.fill_(3.0);
      t.mul_(p);
      u = ones({3, 4});
      u.add_(p * 2, -0.5);
    });
    pr.read("t", t);
    pr.read("u", u);
    pr.version("t", t);
    pr.version("u", u);
  });
  // Optimizer state made on the first run, updated on the later ones (SGD's momentum buffer
  // starts as the first gradient; Adam's moments start at zero).
  for (bool clone_first : {false, true}) {
    std::string name = clone_first ? "mut_state_clone_first" : "mut_state_zeros_first";
    check_sequence(
        name,
        [clone_first] {
          return [clone_first, p = fresh_x(), buf = Tensor(), sq = Tensor()](
                     Probe& pr, const Scope& s, int run) mutable {
            Tensor g = test::seeded_randn({3, 4}, 50 + run);
            s([&] {
              if (!buf.defined()) {
                buf = clone_first ? g.clone() : zeros_like(p);
                sq = zeros_like(p);
              } else {
                buf.mul_(0.9).add_(g);
              }
              sq.mul_(0.99).add_(g * g, 0.01);
              p.add_(buf / (sqrt(sq) + 0.1), -0.05);
            });
            pr.read("p", p);
            pr.read("buf", buf);
            pr.read("sq", sq);
            pr.version("p", p);
            pr.version("buf", buf);
          };
        },
        // The first run has its own graph: two more runs to reach the full tier.
        kRuns + 2);
  }
}

TEST_CASE("runtime scalars: a changing lr gives eager's values and compiles once",
          "[jit][mutation][scalars]") {
  // lr 0 and 1 on the runs that compile (2: quick tier, 4: full tier) and later: a kernel that
  // folded x*0 or x*1 would be wrong for every other lr.
  static const double lrs[] = {0.1, 0.0, 0.05, 1.0, 0.3, 0.0, 1.0, 0.01, 2.0, 0.5};
  constexpr int n = int(std::size(lrs));
  constexpr int warm = 4;  // runs until the full tier is compiled (test::CompiledPath)
  // In place, state carried across runs, as an optimizer's parameter.
  Sequence seq = check_sequence(
      "mut_lr_inplace",
      [] {
        return [p = fresh_x()](Probe& pr, const Scope& s, int run) {
          Tensor g = test::seeded_randn({3, 4}, 60 + run);
          s([&] { p.add_(g, -lrs[run]); });
          pr.read("p", p);
          pr.version("p", p);
        };
      },
      n);
  check_no_compile_after(seq, warm, "p.add_(g, -lr)");
  // Pure ops: the scalar alone, without any write.
  seq = check_sequence(
      "mut_lr_pure",
      [] {
        return [](Probe& pr, const Scope& s, int run) {
          Tensor p = fresh_x(), g = test::seeded_randn({3, 4}, 60 + run), y;
          s([&] { y = p - g * lrs[run]; });
          pr.read("p - g * lr", y);
        };
      },
      n);
  check_no_compile_after(seq, warm, "p - g * lr");
}

TEST_CASE("runtime scalars: two scalars equal at capture and different later",
          "[jit][mutation][scalars]") {
  // (a, b) equal on the runs that trace and compile, then apart, then 0 and 1 (never b = 1:
  // add_(g, 1) takes another eager path, a different graph by right).
  static const std::pair<double, double> ab[] = {{0.5, 0.5},  {0.5, 0.5}, {0.25, 0.25}, {0.5, 0.5},
                                                 {0.9, -0.1}, {1.0, 0.0}, {0.0, -1.0},  {2.0, 0.3},
                                                 {0.3, 0.3},  {-0.5, 2.0}};
  constexpr int n = int(std::size(ab));
  constexpr int warm = 4;
  Sequence seq = check_sequence(
      "mut_two_scalars_inplace",
      [] {
        return [p = fresh_x()](Probe& pr, const Scope& s, int run) {
          Tensor g = test::seeded_randn({3, 4}, 70 + run);
          s([&] { p.mul_(ab[run].first).add_(g, ab[run].second); });
          pr.read("p", p);
          pr.version("p", p);
        };
      },
      n);
  check_no_compile_after(seq, warm, "p.mul_(a).add_(g, b)");
  seq = check_sequence(
      "mut_two_scalars_pure",
      [] {
        return [](Probe& pr, const Scope& s, int run) {
          Tensor p = fresh_x(), g = test::seeded_randn({3, 4}, 70 + run), y;
          s([&] { y = p * ab[run].first + g * ab[run].second; });
          pr.read("p * a + g * b", y);
        };
      },
      n);
  check_no_compile_after(seq, warm, "p * a + g * b");
}
