// bench/chain_loop.hpp's loops (built with -march=native: bench/CMakeLists.txt).
#include "bench/chain_loop.hpp"

#include <cmath>

#include "runtime/ops/vecmath.hpp"
#include "runtime/parallel.hpp"

namespace ember::bench {

void chain_plain(const float* x, float* y, int64_t n, float a, float b) {
  ember::parallel_for(0, n, 4096, [=](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      float v = x[i], t = v * a + b;
      y[i] = 0.5f * t * (1.f + std::erf(t * 0.70710678f)) * (1.f / (1.f + std::exp(-v)));
    }
  });
}

// gelu'(t) a sigmoid(x) + gelu(t) sigmoid(x) (1 - sigmoid(x)), gelu'(t) = Phi(t) + t phi(t) with
// Phi(t) = (1 + erf(t / sqrt 2)) / 2, phi(t) = exp(-t^2/2) / sqrt(2 pi).
void chain_backward_plain(const float* x, const float* g, float* gx, int64_t n, float a, float b) {
  ember::parallel_for(0, n, 4096, [=](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      float v = x[i], t = v * a + b;
      float cdf = 0.5f * (1.f + std::erf(t * 0.70710678f));
      float pdf = 0.39894228f * std::exp(-0.5f * t * t);
      float s = 1.f / (1.f + std::exp(-v));
      float gelu = t * cdf;
      gx[i] = g[i] * ((cdf + t * pdf) * a * s + gelu * s * (1.f - s));
    }
  });
}

}  // namespace ember::bench
