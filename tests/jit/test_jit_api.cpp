// The semantics of jit.hpp's user API: reading values mid-region, printing lazy tensors, C++
// control flow on read values, graph breaks on ops the JIT does not fuse, re-specialisation on
// new shapes, the off switch, autograd through regions, stats(), nesting, jit::compile, and
// errors thrown inside a region. Every result is checked against the same code run eagerly.
#include <unistd.h>

#include <sstream>
#include <thread>

#include "jit/dump.hpp"
#include "jit/jit_support.hpp"
#include "support/reference.hpp"

using namespace ember;

namespace {

// REQUIREs that `got` (computed in a region) equals `want` (eager) within float rounding.
void require_same(const Tensor& got, const Tensor& want, const std::string& what) {
  INFO(what);
  REQUIRE(got.defined());
  REQUIRE(got.sizes() == want.sizes());
  REQUIRE(got.dtype() == want.dtype());
  std::vector<double> g = test::values(got), w = test::values(want);
  for (size_t i = 0; i < w.size(); ++i) {
    INFO("element " << i << ": got " << g[i] << ", want " << w[i]);
    if (std::isnan(w[i]))
      REQUIRE(std::isnan(g[i]));
    else if (std::isinf(w[i]))
      REQUIRE(g[i] == w[i]);
    else
      REQUIRE(std::abs(g[i] - w[i]) <= 1e-5 * (1 + std::abs(w[i])));
  }
}

Tensor chain(const Tensor& x) { return gelu(x * 0.75 + 0.25) * sigmoid(x); }

jit::Stats delta(const jit::Stats& a, const jit::Stats& b) {
  return {b.graphs - a.graphs,
          b.eager_graphs - a.eager_graphs,
          b.fused_graphs - a.fused_graphs,
          b.kernels_compiled - a.kernels_compiled,
          b.disk_cache_hits - a.disk_cache_hits,
          b.graph_breaks - a.graph_breaks,
          b.fallbacks - a.fallbacks,
          b.compile_ms - a.compile_ms,
          b.tier_ups - a.tier_ups};
}

// body() run twice in a fresh region named `name` (compiled on first sight when the hot
// threshold is 1): CHECKs that it ran fused, returns the second run's results.
template <class F>
auto run_fused_twice(const std::string& name, F&& body) {
  jit::Stats s0 = jit::stats();
  decltype(body()) got;
  for (int it = 0; it < 2; ++it) {
    jit::Region r(name);
    got = body();
  }
  INFO(name);
  CHECK(delta(s0, jit::stats()).fused_graphs >= 1);
  return got;
}

}  // namespace

TEST_CASE("item() inside a region returns the value and the region goes on", "[jit][api]") {
  test::HotThreshold hot(1);
  Tensor x = test::seeded_randn({5, 7}, 1);
  float want = (x * 2 + 1).sum().item<float>();
  for (int it = 0; it < 3; ++it) {
    Tensor z;
    float v;
    {
      jit::Region r("api_item");
      Tensor s = (x * 2 + 1).sum();
      v = s.item<float>();
      std::vector<float> row = (x[0] * 2).to_vector<float>();  // data access: also runs the graph
      REQUIRE(row.size() == 7);
      REQUIRE(row[3] == Approx(x[0][3].item<float>() * 2));
      z = tanh(x) * v + s;  // uses both the read number and the lazy tensor
    }
    REQUIRE(v == Approx(want).epsilon(1e-5));
    require_same(z, tanh(x) * want + (x * 2 + 1).sum(), "ops after item()");
  }
}

TEST_CASE("jit::sync runs the graph recorded so far", "[jit][api]") {
  test::HotThreshold hot(1);
  Tensor x = test::seeded_randn({16}, 2);
  jit::Stats s0 = jit::stats();
  Tensor y;
  {
    jit::Region r("api_sync");
    y = exp(x) * 3;
    jit::sync();
    REQUIRE(delta(s0, jit::stats()).graphs == 1);
    y = y + 1;
  }
  REQUIRE(delta(s0, jit::stats()).graphs == 2);
  require_same(y, exp(x) * 3 + 1, "after sync");
}

TEST_CASE("printing a lazy tensor prints its values", "[jit][api]") {
  test::HotThreshold hot(1);
  Tensor x = test::seeded_randn({2, 3}, 3);
  std::string want = to_string(sigmoid(x) - 0.5);
  for (int it = 0; it < 3; ++it) {
    std::ostringstream os;
    jit::Region r("api_print");
    Tensor y = sigmoid(x) - 0.5;
    os << y;
    REQUIRE(os.str() == want);
    REQUIRE(to_string(y) == want);
  }
}

TEST_CASE("C++ control flow on a value read mid-region", "[jit][api]") {
  test::HotThreshold hot(1);
  for (int it = 0; it < 6; ++it) {
    Tensor x = test::seeded_randn({4, 6}, 10 + it) + (it % 2 ? 3.0 : -3.0);
    Tensor y;
    int steps = 0;
    {
      jit::Region r("api_control");
      Tensor m = x.mean();
      if (m.item<float>() > 0)
        y = relu(x) * 2;
      else
        y = -x + 1;
      while ((y.abs().amax()).item<float>() > 1) {  // a data-dependent loop
        y = y * 0.5;
        ++steps;
      }
    }
    Tensor want = x.mean().item<float>() > 0 ? relu(x) * 2 : -x + 1;
    for (int s = 0; s < steps; ++s) want = want * 0.5;
    REQUIRE(want.abs().amax().item<float>() <= 1);
    require_same(y, want, "branch " + std::to_string(it % 2));
  }
}

TEST_CASE("ops the JIT does not fuse still give the eager result", "[jit][api]") {
  test::HotThreshold hot(1);
  Tensor a = test::seeded_randn({6, 5}, 20), b = test::seeded_randn({5, 4}, 21);
  Tensor idx = tensor(std::vector<int64_t>{3, 0, 5, 3});
  Tensor img = test::seeded_randn({2, 3, 6, 6}, 22), w = test::seeded_randn({4, 3, 3, 3}, 23);
  Tensor want1 = index_select(relu(matmul(a * 2, b) + 1), 0, idx) * 3;
  Tensor want2 = sigmoid(nn::functional::conv2d(img + 1, w, {}, {.padding = 1})) - 0.5;
  for (int it = 0; it < 3; ++it) {
    Tensor got1, got2;
    {
      jit::Region r("api_breaks");
      got1 = index_select(relu(matmul(a * 2, b) + 1), 0, idx) * 3;
      got2 = sigmoid(nn::functional::conv2d(img + 1, w, {}, {.padding = 1})) - 0.5;
    }
    require_same(got1, want1, "matmul + index_select");
    require_same(got2, want2, "conv2d");
  }
}

TEST_CASE("views of lazy values are read in place by fused code", "[jit][api]") {
  test::HotThreshold hot(1);
  Tensor x = test::seeded_randn({6, 8}, 30), y = test::seeded_randn({8, 6}, 31);
  auto body = [&] {
    Tensor e = exp(x * 0.5);
    return std::vector<Tensor>{
        e.t() + y,                           // a transpose of a lazy value
        e.narrow(1, 2, 4) * 2,               // a slice with an offset
        softmax(e.view({8, 6}) - 1, -1),     // a reshape feeding a row op
        e.select(0, 3).sum() + e.amax({1}),  // a row of it, reduced
        matmul(e.t(), y.t()),                // a library call on a view
    };
  };
  std::vector<Tensor> want = body();
  for (int it = 0; it < 3; ++it) {
    jit::Stats s0 = jit::stats();
    std::vector<Tensor> got;
    {
      jit::Region r("api_views");
      got = body();
    }
    jit::Stats d = delta(s0, jit::stats());
    CHECK(d.graphs == 1);  // one graph: views need no early run
    CHECK(d.fused_graphs == 1);
    for (size_t i = 0; i < want.size(); ++i)
      require_same(got[i], want[i], "view case " + std::to_string(i));
  }
}

TEST_CASE("reductions over outer dims: blocks of columns, any thread split", "[jit][api]") {
  // Reducing outer dims walks blocks of up to 512 neighbouring outputs: these shapes span
  // several blocks, a partial last block, and output rows the thread split cuts in the middle.
  test::HotThreshold hot(1);
  Tensor a = test::seeded_randn({40, 2000}, 50), b = test::seeded_randn({3, 4, 700}, 51);
  Tensor c = test::seeded_randn({5, 2, 3, 600}, 52), d = test::seeded_randn({2000}, 53);
  auto body = [&] {
    return std::vector<Tensor>{
        (a * 2 - d).sum({0}), exp(a * 0.1).mean({0}, /*keepdim=*/true),
        b.amax({0, 1}),       (b + 1).sum({1}),  // kept dims on both sides of the reduced one
        amin(c, {0, 2}),                         // reduced dims that are not neighbours
        (a.t() * 3).sum({1}),  // a transposed operand: the inner dim is reduced instead
    };
  };
  const int old_threads = get_num_threads();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    std::vector<Tensor> want = body(), got;
    for (int it = 0; it < 2; ++it) {
      jit::Region r("api_outer_reduce");
      got = body();
    }
    for (size_t i = 0; i < want.size(); ++i)
      require_same(got[i], want[i],
                   "case " + std::to_string(i) + ", threads " + std::to_string(threads));
  }
  set_num_threads(old_threads);
}

TEST_CASE("NaN and infinities pass through fused max/min reductions and softmax", "[jit][api]") {
  // Fused max/min are vectorised reductions that track NaN on the side: a NaN anywhere in a
  // row still makes its max, min, softmax and log_softmax NaN, as eagerly.
  test::HotThreshold hot(1);
  Tensor m = test::seeded_randn({6, 300}, 60);
  float* p = m.data_ptr<float>();
  p[1 * 300 + 17] = NAN;       // row 1: one NaN in the middle
  p[2 * 300 + 299] = NAN;      // row 2: NaN in the last (scalar tail) element
  p[3 * 300 + 5] = INFINITY;   // row 3: +inf
  p[4 * 300 + 0] = -INFINITY;  // row 4: -inf
  for (int k = 0; k < 300; ++k) p[5 * 300 + k] = -INFINITY;  // row 5: all -inf
  auto body = [&] {
    return std::vector<Tensor>{m.amax({1}), amin(m, {1}), softmax(m, -1), log_softmax(m, -1),
                               (m * 2).amax({0})};
  };
  std::vector<Tensor> want = body(), got;
  for (int it = 0; it < 2; ++it) {
    jit::Region r("api_nan_reduce");
    got = body();
  }
  for (size_t i = 0; i < want.size(); ++i)
    require_same(got[i], want[i], "case " + std::to_string(i));
}

TEST_CASE("row-wise formulas written as ops fuse into one kernel per row", "[jit][api]") {
  // softmax, log_softmax, layer norm and RMS norm written out: reductions over the last dim
  // and the pointwise work reading them run as one Rows kernel, row by row.
  test::HotThreshold hot(1);
  Tensor a = test::seeded_randn({7, 300}, 70), b = test::seeded_randn({2, 3, 129}, 71);
  Tensor w = test::seeded_randn({129}, 72), bias = test::seeded_randn({129}, 73);
  Tensor c = test::seeded_randn({300, 256}, 74);  // enough rows to split over two threads
  auto softmax_ops = [](const Tensor& x) {
    Tensor e = exp(x - x.amax({-1}, true));
    return e / e.sum({-1}, true);
  };
  auto log_softmax_ops = [](const Tensor& x) {
    Tensor d = x - x.amax({-1}, true);
    return d - log(exp(d).sum({-1}, true));
  };
  auto layer_norm_ops = [&](const Tensor& x) {
    Tensor d = x - x.mean({-1}, true);
    return d / sqrt((d * d).mean({-1}, true) + 1e-5) * w + bias;
  };
  auto rms_norm_ops = [&](const Tensor& x) {
    return x * rsqrt((x * x).mean({-1}, true) + 1e-6) * w;
  };
  auto body = [&] {
    return std::vector<Tensor>{
        softmax_ops(a),  log_softmax_ops(a),
        softmax_ops(b),  layer_norm_ops(b),
        rms_norm_ops(b), layer_norm_ops(b.transpose(0, 1)),  // non-contiguous input
        softmax_ops(c)};
  };
  const int old_threads = get_num_threads();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    std::vector<Tensor> want = body(), got;
    jit::Stats s0 = jit::stats();
    for (int it = 0; it < 2; ++it) {
      jit::Region r("api_rows");
      got = body();
    }
    CHECK(delta(s0, jit::stats()).fused_graphs >= 1);
    for (size_t i = 0; i < want.size(); ++i)
      require_same(got[i], want[i],
                   "case " + std::to_string(i) + ", threads " + std::to_string(threads));
  }
  set_num_threads(old_threads);
}

TEST_CASE("heavy pointwise kernels: prefetched blocks across row ends", "[jit][api]") {
  // The chain holds two costly functions, so its rows run in blocks of 128 that prefetch their
  // contiguous inputs 4096 elements ahead: lengths around both, rows of a 2-d shape, a
  // broadcast second input and a transposed (strided, never prefetched) one, f32 and f64.
  test::HotThreshold hot(1);
  auto two = [](const Tensor& x, const Tensor& y) { return chain(x) * exp(y); };
  const int old_threads = get_num_threads();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (DType dt : {kFloat32, kFloat64}) {
      std::vector<std::pair<Tensor, Tensor>> cases;
      for (int64_t n : {1, 127, 129, 4096 + 129, 100003})
        cases.emplace_back(test::seeded_randn({n}, 80, dt), test::seeded_randn({n}, 81, dt));
      cases.emplace_back(test::seeded_randn({3, 5000}, 82, dt), test::seeded_randn({5000}, 83, dt));
      cases.emplace_back(test::seeded_randn({300, 70}, 84, dt),
                         test::seeded_randn({70, 300}, 85, dt).t());
      for (size_t c = 0; c < cases.size(); ++c) {
        auto [x, y] = cases[c];
        std::string what = "case " + std::to_string(c) + ", threads " + std::to_string(threads) +
                           ", " + dtype_name(dt);
        Tensor got = run_fused_twice("api_heavy " + what, [&] { return two(x, y); });
        require_same(got, two(x, y), what);
      }
    }
  }
  set_num_threads(old_threads);
}

TEST_CASE("softmax kernels: blocked exp pass prefetching the next row", "[jit][api]") {
  // The exp pass runs in blocks of 128 and prefetches the next row: rows shorter and longer
  // than a block, the last row of each thread's range, a non-last dim, f32 and f64.
  test::HotThreshold hot(1);
  auto body = [](const Tensor& x) {
    return std::vector<Tensor>{softmax(x, -1), log_softmax(x, -1), softmax(x, 0)};
  };
  const int old_threads = get_num_threads();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (DType dt : {kFloat32, kFloat64}) {
      for (Dims shape : {Dims{5, 100}, Dims{7, 129}, Dims{33, 1000}}) {
        Tensor x = test::seeded_randn(shape, 90, dt) * 4;
        std::ostringstream what;
        what << shape << ", threads " << threads << ", " << dtype_name(dt);
        std::vector<Tensor> want = body(x);
        auto got = run_fused_twice("api_softmax " + what.str(), [&] { return body(x); });
        for (size_t i = 0; i < want.size(); ++i)
          require_same(got[i], want[i], what.str() + ", case " + std::to_string(i));
      }
    }
  }
  set_num_threads(old_threads);
}

TEST_CASE("large softmax outputs are streamed: each row written during the next one's exp pass",
          "[jit][api]") {
  // Outputs of at least 4 MiB with rows of at most 16 KiB keep two rows on the stack and write
  // each row's result during the next row's exp pass with non-temporal stores, and the last row
  // of each thread's range at its end (301 rows: an odd split over two threads).
  test::HotThreshold hot(1);
  auto body = [](const Tensor& x) {
    return std::vector<Tensor>{softmax(x, -1), log_softmax(x, -1)};
  };
  const int old_threads = get_num_threads();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (auto [dt, len] :
         {std::pair{kFloat32, int64_t{4096}}, std::pair{kFloat64, int64_t{2048}}}) {
      Tensor x = test::seeded_randn({301, len}, 91, dt) * 4;
      std::ostringstream what;
      what << "threads " << threads << ", " << dtype_name(dt);
      std::vector<Tensor> want = body(x);
      auto got = run_fused_twice("api_softmax_stream " + what.str(), [&] { return body(x); });
      for (size_t i = 0; i < want.size(); ++i) {
        INFO("case " << i);
        // |got - want| <= 1e-5 (1 + |want|) everywhere, checked as one reduction
        Tensor excess = abs(got[i] - want[i]) - (abs(want[i]) + 1) * 1e-5;
        CHECK(excess.amax().item<double>() <= 0);
      }
    }
  }
  set_num_threads(old_threads);
}

TEST_CASE("a new shape or layout gets a new specialisation with right results", "[jit][api]") {
  test::HotThreshold hot(1);
  auto body = [](const Tensor& x, const Tensor& b) { return tanh(x * 1.5 - b) + x; };
  std::vector<std::pair<Tensor, Tensor>> cases = {
      {test::seeded_randn({4, 5}, 30), test::seeded_randn({5}, 31)},
      {test::seeded_randn({3, 7}, 32), test::seeded_randn({7}, 33)},
      {test::seeded_randn({4, 5}, 34), test::seeded_randn({4, 1}, 35)},
      {test::seeded_randn({5, 4}, 36).t(), test::seeded_randn({1}, 37)},
      {test::seeded_randn({2, 4, 5}, 38), test::seeded_randn({5}, 39).to(kFloat64)},
      {test::seeded_randn({4, 5}, 40), test::seeded_randn({5}, 41)},  // the first signature again
  };
  for (int rep = 0; rep < 2; ++rep) {
    for (size_t i = 0; i < cases.size(); ++i) {
      const auto& [x, b] = cases[i];
      Tensor y;
      {
        jit::Region r("api_shapes");
        y = body(x, b);
      }
      require_same(y, body(x, b), "case " + std::to_string(i));
    }
  }
}

TEST_CASE("set_enabled(false) runs regions eagerly", "[jit][api]") {
  test::HotThreshold hot(1);
  test::JitEnabled off(false);
  REQUIRE_FALSE(jit::enabled());
  Tensor x = test::seeded_randn({8, 8}, 50);
  jit::Stats s0 = jit::stats();
  for (int it = 0; it < 3; ++it) {
    Tensor y;
    {
      jit::Region r("api_off");
      y = chain(x);
    }
    require_same(y, chain(x), "JIT off");
  }
  jit::Stats d = delta(s0, jit::stats());
  REQUIRE(d.graphs == 0);
  REQUIRE(d.fused_graphs == 0);
  REQUIRE(d.kernels_compiled == 0);
}

TEST_CASE("tensors requiring grad in a region get eager gradients", "[jit][api]") {
  test::HotThreshold hot(1);
  Tensor x = test::seeded_randn({6, 4}, 60);
  Tensor w0 = test::seeded_randn({4}, 61);
  auto loss_of = [&](const Tensor& w) { return (sigmoid(x * w + 0.5) * tanh(w)).sum(); };
  Tensor we = w0.clone().requires_grad_();
  loss_of(we).backward();
  Tensor want = we.grad();
  for (int it = 0; it < 3; ++it) {
    Tensor w = w0.clone().requires_grad_();
    Tensor loss;
    {
      jit::Region r("api_grad_forward");
      loss = loss_of(w);
    }
    loss.backward();  // after the region
    require_same(w.grad(), want, "backward after the region");
    Tensor w2 = w0.clone().requires_grad_();
    {
      jit::Region r("api_grad_step");
      loss_of(w2).backward();  // inside the region
    }
    require_same(w2.grad(), want, "backward inside the region");
  }
}

TEST_CASE("stats() counts eager, fused and compiled graphs", "[jit][api]") {
  Tensor x = test::seeded_randn({13, 3}, 70);
  // Constants no other test uses: a signature the caches cannot already hold.
  auto body = [](const Tensor& t) { return exp(t * 0.123457) - 0.987654; };
  jit::clear_cache();
  SECTION("threshold 2: the first run is eager, a later one fused") {
    test::HotThreshold hot(2);
    jit::Stats s0 = jit::stats();
    Tensor y;
    {
      jit::Region r("api_stats2");
      y = body(x);
    }
    jit::Stats d = delta(s0, jit::stats());
    REQUIRE(d.graphs == 1);
    REQUIRE(d.eager_graphs == 1);
    REQUIRE(d.fused_graphs == 0);
    require_same(y, body(x), "eager run");
    for (int it = 0; it < 2; ++it) {
      jit::Region r("api_stats2");
      y = body(x);
    }
    d = delta(s0, jit::stats());
    REQUIRE(d.graphs == 3);
    REQUIRE(d.fused_graphs >= 1);
    REQUIRE(d.kernels_compiled + d.disk_cache_hits >= 1);
    require_same(y, body(x), "fused run");
  }
  SECTION("threshold 1: the first run compiles, the second hits the in-memory cache") {
    test::HotThreshold hot(1);
    jit::Stats s0 = jit::stats();
    Tensor y;  // (a result that dies inside the region is never computed)
    {
      jit::Region r("api_stats1");
      y = body(x) * 2;
    }
    jit::Stats d1 = delta(s0, jit::stats());
    REQUIRE(d1.fused_graphs == 1);
    REQUIRE(d1.eager_graphs == 0);
    REQUIRE(d1.kernels_compiled + d1.disk_cache_hits >= 1);
    REQUIRE(d1.fallbacks == 0);
    {
      jit::Region r("api_stats1");
      y = body(x) * 2;
    }
    jit::Stats d2 = delta(s0, jit::stats());
    REQUIRE(d2.fused_graphs == 2);
    REQUIRE(d2.kernels_compiled == d1.kernels_compiled);
    REQUIRE(d2.disk_cache_hits == d1.disk_cache_hits);
    jit::reset_stats();
    jit::Stats z = jit::stats();
    REQUIRE(z.graphs == 0);
    REQUIRE(z.fused_graphs == 0);
    REQUIRE(z.compile_ms == 0);
  }
}

TEST_CASE("tiered compilation: quick kernels first, optimised ones after N runs", "[jit][api]") {
  test::HotThreshold hot(1);
  Tensor x = test::seeded_randn({1000}, 91);
  // erf and exp: compute-heavy kernels, whose machine code differs between the back ends.
  auto body = [](const Tensor& t) { return ember::erf(t * 0.5) * ember::exp(-t) + t.sigmoid(); };
  const Tensor want = body(x);
  auto run = [&](int it) {
    Tensor y;
    {
      jit::Region r("api_tier");
      y = body(x);
    }
    require_same(y, want, "run " + std::to_string(it));
  };
  jit::clear_cache();  // no plan of this graph from an earlier section
  SECTION("tier-up after 3 runs") {
    test::TierUpRuns tier(3);
    jit::Stats s0 = jit::stats();
    for (int it = 1; it <= 6; ++it) {
      run(it);
      jit::Stats d = delta(s0, jit::stats());
      REQUIRE(d.fused_graphs == it);
      REQUIRE(d.fallbacks == 0);
      // Run 1 compiles quick kernels; runs 2-4 use them, and the third of those recompiles.
      REQUIRE(d.tier_ups == (it >= 4 ? 1 : 0));
      REQUIRE(d.kernels_compiled + d.disk_cache_hits == (it >= 4 ? 2 : 1));
    }
  }
  SECTION("0 compiles optimised at once") {
    test::TierUpRuns tier(0);
    jit::Stats s0 = jit::stats();
    for (int it = 1; it <= 4; ++it) run(it);
    jit::Stats d = delta(s0, jit::stats());
    REQUIRE(d.tier_ups == 0);
    REQUIRE(d.kernels_compiled + d.disk_cache_hits == 1);
  }
}

TEST_CASE("nested regions: the outermost one owns the graph", "[jit][api]") {
  test::HotThreshold hot(1);
  Tensor x = test::seeded_randn({3, 5}, 80);
  auto f = jit::compile([](const Tensor& t) { return t * t + 1; }, "api_nested_fn");
  for (int it = 0; it < 3; ++it) {
    jit::Stats s0 = jit::stats();
    Tensor y;
    {
      jit::Region outer("api_nested_outer");
      Tensor a = x * 2;
      {
        jit::Region inner("api_nested_inner");
        a = sigmoid(a) + 1;
      }
      y = f(a) - x;  // a compiled function called inside a region nests too
    }
    REQUIRE(delta(s0, jit::stats()).graphs == 1);
    Tensor a = sigmoid(x * 2) + 1;
    require_same(y, a * a + 1 - x, "nested");
  }
}

TEST_CASE("jit::compile returns computed tensors usable after the call", "[jit][api]") {
  test::HotThreshold hot(1);
  auto soft = jit::compile([](const Tensor& x) { return softmax(x * 2, -1); });
  auto two = jit::compile(
      [](const Tensor& x, const Tensor& y) { return std::make_pair(x + y, (x * y).sum({0})); },
      "api_compile_pair");
  Tensor x = test::seeded_randn({4, 9}, 90), y = test::seeded_randn({9}, 91);
  for (int it = 0; it < 3; ++it) {
    Tensor s = soft(x);
    require_same(s, softmax(x * 2, -1), "softmax");
    require_same(s.sum({-1}), ones({4}), "rows sum to 1, used outside");
    auto [p, q] = two(x, y);
    require_same(p, x + y, "first of a pair");
    require_same(q, (x * y).sum({0}), "second of a pair");
    REQUIRE(q.numel() == 9);
    REQUIRE(q.to_vector<float>().size() == size_t(9));
  }
}

TEST_CASE("an error inside a region propagates as the eager error", "[jit][api]") {
  test::HotThreshold hot(1);
  Tensor a = test::seeded_randn({3, 4}, 100), b = test::seeded_randn({5}, 101);
  std::string eager;
  try {
    (void)(a + b);
  } catch (const ShapeError& e) {
    eager = e.what();
  }
  REQUIRE_THAT(eager, Catch::Contains("must match the size"));
  for (int it = 0; it < 2; ++it) {
    std::string in_region;
    try {
      jit::Region r("api_error");
      Tensor t = exp(a) * 2;  // pending work when the error unwinds the region
      Tensor bad = t + b;
      FAIL("no error for mismatched shapes");
    } catch (const ShapeError& e) {
      in_region = e.what();
    }
    REQUIRE(in_region == eager);
  }
  // The JIT still works afterwards, under the same region name.
  jit::Stats s0 = jit::stats();
  Tensor y;
  {
    jit::Region r("api_error");
    y = exp(a) * 2 + 1;
  }
  require_same(y, exp(a) * 2 + 1, "after the error");
  REQUIRE(delta(s0, jit::stats()).fused_graphs == 1);
}

TEST_CASE("a lazy tensor read from another thread is a clear error", "[jit][api]") {
  test::HotThreshold hot(100);
  Tensor x = test::seeded_randn({16}, 5), y;
  std::string what;
  {
    jit::Region r("api_threads");
    y = exp(x) * 2;  // lazy: this thread's region computes it when it ends
    std::thread other([&] {
      try {
        (void)y.sum().item<float>();
      } catch (const Error& e) {
        what = e.what();
      }
    });
    other.join();
  }
  CHECK_THAT(what, Catch::Contains("inside a jit::Region on another thread was read before"));
  CHECK_THAT(what, Catch::Contains("region 'api_threads' on thread " + std::to_string(::gettid())));
  require_same(y, exp(x) * 2, "the region's own result");  // unharmed
}

TEST_CASE("EMBER_JIT_DUMP=breaks names each graph break's op and operands", "[jit][api]") {
  const char* old = std::getenv("EMBER_JIT_DUMP");
  jit::set_dump_words("breaks");
  test::StderrCapture capture;
  Tensor a = ones({2, 3}), y;
  const int64_t breaks = jit::stats().graph_breaks;
  {
    jit::Region r("dump_breaks");
    y = prod(a * 2, {1}) + 1;  // prod runs eagerly: a graph break
  }
  std::string text = capture.finish();
  jit::set_dump_words(old ? old : "");
  CHECK(jit::stats().graph_breaks == breaks + 1);
  CHECK_THAT(text, Catch::Contains("region 'dump_breaks': graph break at prod(float32[2, 3])"));
  CHECK(test::values(y) == std::vector<double>{9, 9});
}

// The specialisation cap counts the signatures of each graph of a region (graph breaks split a
// run into several graphs): a region with more graphs than the cap still compiles them all.
TEST_CASE("a region split by graph breaks has the specialisation cap for each of its graphs",
          "[jit][api]") {
  test::CompiledPath path;
  jit::clear_cache();
  const int old_cap = jit::max_specializations();
  jit::set_max_specializations(2);
  test::StderrCapture capture;
  Tensor x = test::seeded_randn({3, 4}, 5);
  jit::Stats before = jit::stats();
  for (int run = 0; run < 6; ++run) {
    before = jit::stats();
    Tensor y = x;
    {
      jit::Region r("many_graphs");
      for (int i = 0; i < 4; ++i) y = prod(y * 0.5 + 1, {1}, true) * y;  // prod: a break each
      y = y + 1;
    }
    test::settle_compiles();
  }
  const jit::Stats after = jit::stats();
  std::string text = capture.finish();
  jit::set_max_specializations(old_cap);
  CHECK(after.graphs - before.graphs == 5);
  CHECK(after.fused_graphs - before.fused_graphs == 5);
  CHECK_THAT(text, !Catch::Contains("specialisations"));
}

// Clamp bounds are part of a node's key in full: bounds that agree to 6 digits once shared one
// node (and one compiled kernel) in a graph.
TEST_CASE("clamps whose bounds agree to 6 digits stay apart in a region", "[jit][api]") {
  test::CompiledPath path;
  Tensor x = full({8}, 0.5);
  std::vector<double> want = test::values(clamp(x, {}, 0.1234561) - clamp(x, {}, 0.1234562));
  REQUIRE(want[0] != 0);
  for (int run = 0; run < 6; ++run) {
    Tensor y;
    {
      jit::Region r("clamp_bounds");
      y = clamp(x, {}, 0.1234561) - clamp(x, {}, 0.1234562);
    }
    test::settle_compiles();
    CHECK(test::values(y) == want);
  }
}

TEST_CASE("whole reductions of large operands (split in two steps) give eager's values", "[jit]") {
  test::CompiledPath path;
  for (DType d : {kFloat32, kFloat64}) {
    Tensor x = test::seeded_randn({16, 40, 128}, 21, d), y = test::seeded_randn({128}, 22, d);
    x.view({-1}).narrow(0, 777, 1).fill_(std::numeric_limits<double>::quiet_NaN());
    Tensor x_finite = test::seeded_randn({16, 40, 128}, 23, d);
    auto body = [&](const Tensor& a) {
      Tensor t = a * 3 + y;
      return std::vector<Tensor>{(t * t).mean(),   t.sum(),          t.amax(),
                                 t.amin({}, true), t.mean({}, true), (t * 0.5).sum({0, 1, 2})};
    };
    for (const Tensor* in : {&x_finite, &x}) {
      std::vector<Tensor> want = body(*in);
      for (int run = 0; run < 6; ++run) {
        std::vector<Tensor> got;
        {
          jit::Region r("split_reductions");
          got = body(*in);
        }
        test::settle_compiles();
        for (size_t i = 0; i < want.size(); ++i)
          require_same(got[i], want[i],
                       "output " + std::to_string(i) + ", run " + std::to_string(run + 1) + ", " +
                           dtype_name(d) + (in == &x ? ", with a NaN" : ""));
      }
    }
  }
}
