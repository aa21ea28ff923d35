// Opting hot code into the JIT: a jit::Region around ordinary eager code, and jit::compile
// around a function. Each is timed against the same code run eagerly, checked against it, and
// jit::stats() shows what was fused and compiled.
// Usage: jit_fusion [--smoke]   (--smoke: small sizes, as run by the test suite; else 16M)
#include <algorithm>
#include <chrono>
#include <cstring>
#include <ember.hpp>
#include <iomanip>
#include <iostream>
#include <vector>

#include "common/timing.hpp"

using namespace ember;

namespace {

using ::examples::median_ms;

void row(const char* what, double fused_ms, double eager_ms, double diff) {
  std::cout << "  " << std::left << std::setw(30) << what << std::right << std::fixed
            << std::setprecision(2) << std::setw(9) << fused_ms << " ms fused " << std::setw(9)
            << eager_ms << " ms eager   eager/fused = " << eager_ms / fused_ms
            << "x   max |diff| = " << std::scientific << std::setprecision(1) << diff << '\n'
            << std::defaultfloat;
}

double max_diff(const Tensor& a, const Tensor& b) { return amax(abs(a - b)).item<double>(); }

// Ordinary eager code: a feature transform, scores through a matmul, their softmax, and a
// summary. Nothing in it knows about the JIT.
struct Out {
  Tensor probs, score;
};
Out features(const Tensor& x, const Tensor& w) {
  Tensor h = gelu(x * 0.75 + 0.25) * sigmoid(x);
  Tensor probs = softmax(h.matmul(w), -1);
  return {probs, probs.amax({-1}).mean()};
}

}  // namespace

int main(int argc, char** argv) {
  const bool smoke = argc > 1 && std::strcmp(argv[1], "--smoke") == 0;
  const int64_t n = smoke ? 1 << 12 : 1 << 24;
  const int64_t rows = smoke ? 64 : 4096, cols = smoke ? 32 : 256;
  const int reps = smoke ? 3 : 9;
  manual_seed(0);

  // 1. jit::compile: a function whose body runs in a Region on every call.
  auto chain = [](const Tensor& x) { return gelu(x * 0.75 + 0.25) * sigmoid(x); };
  auto fused_chain = jit::compile(chain, "chain");
  Tensor x = randn({n});
  Tensor want = chain(x), got;
  for (int i = 1; i < jit::hot_threshold(); ++i) got = fused_chain(x);  // eager until hot
  jit::Stats s0 = jit::stats();
  got = fused_chain(x);      // hot now: compiled (in the background) into one loop, no temporaries
  jit::wait_for_compiles();  // a benchmark waits; a training loop just goes on running eagerly
  jit::Stats s1 = jit::stats();
  std::cout << "jit::compile(gelu(x*0.75+0.25)*sigmoid(x)) on " << n << " floats: "
            << s1.kernels_compiled + s1.disk_cache_hits - s0.kernels_compiled - s0.disk_cache_hits
            << " kernel(s) compiled or loaded in " << std::fixed << std::setprecision(1)
            << s1.compile_ms - s0.compile_ms << " ms\n"
            << std::defaultfloat;
  row("chain", median_ms(reps, [&] { got = fused_chain(x); }),
      median_ms(reps, [&] { want = chain(x); }), max_diff(got, want));

  // 2. jit::Region around a block of eager code with a library call (matmul) in the middle.
  Tensor xs = randn({rows, cols}), w = randn({cols, cols}) * 0.1;
  Out eager = features(xs, w), fused;
  auto region = [&] {
    jit::Region r("features");
    fused = features(xs, w);
  };
  for (int i = 0; i <= jit::hot_threshold(); ++i) region();
  jit::wait_for_compiles();
  row("gelu/sigmoid -> matmul -> softmax", median_ms(reps, region),
      median_ms(reps, [&] { eager = features(xs, w); }),
      std::max(max_diff(fused.probs, eager.probs), max_diff(fused.score, eager.score)));

  // 3. Reading a value inside a region runs the graph so far; C++ control flow just works.
  {
    jit::Region r("control_flow");
    Tensor y = softmax(xs * 2, -1);
    if (y.amax().item<float>() > 0.5f) y = y * 2;  // item(): the graph runs here
    std::cout << "  after the branch: y.sum() = " << y.sum().item<float>() << '\n';
  }

  jit::Stats st = jit::stats();
  std::cout << "jit::stats(): " << st.graphs << " graphs (" << st.fused_graphs << " fused, "
            << st.eager_graphs << " eager), " << st.kernels_compiled << " kernels compiled, "
            << st.disk_cache_hits << " from the disk cache, " << st.graph_breaks
            << " graph breaks, " << st.fallbacks << " fallbacks\n"
            << "(EMBER_JIT_DUMP=graph prints each compiled graph and its fused steps)\n";
  return !jit::enabled() || (st.fused_graphs > 0 && st.fallbacks == 0) ? 0 : 1;
}
