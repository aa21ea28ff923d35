// The dsl chain of bench_dsl, y = gelu(x a + b) sigmoid(x) (a, b runtime scalars), as a user
// writes it: bench_dsl.cpp compiles it with a consumer's flags (no -march), dsl_chain_native.cpp
// with -march=native, so that one run compares the two builds of the same kernel.
#pragma once

#include "dsl/builtins.hpp"
#include "dsl/pointwise.hpp"

namespace ember::bench {

inline constexpr double kChainA = 0.75, kChainB = 0.25;

inline constexpr auto dsl_chain = dsl::pointwise(
    [](auto x) { return dsl::gelu(x * kChainA + kChainB) * dsl::sigmoid(x); }, "chain");

/// dsl_chain compiled with -march=native.
Tensor dsl_chain_native(const Tensor& x);

}  // namespace ember::bench
