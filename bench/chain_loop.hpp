// The hand-written baseline of the dsl and JIT benchmarks: y = gelu(x*a+b) * sigmoid(x) in one
// pass, vectorised by g++ with libmvec's erf and exp (runtime/ops/vecmath.hpp), split over
// ember's thread pool. Compiled with -march=native (bench/chain_loop.cpp) whatever the build's
// flags: the bound a portable build is measured against.
#pragma once

#include <cstdint>

namespace ember::bench {

void chain_plain(const float* x, float* y, int64_t n, float a, float b);

/// Its backward in one pass: gx = g * d/dx [gelu(t) sigmoid(x)], t = a x + b.
void chain_backward_plain(const float* x, const float* g, float* gx, int64_t n, float a, float b);

}  // namespace ember::bench
