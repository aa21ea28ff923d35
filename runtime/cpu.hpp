// The instruction-set level loops run at, chosen once from the CPU. ember's pointwise loops
// (its own eager kernels and every dsl kernel, which is compiled in the user's translation unit
// with the user's flags) are compiled once per x86-64 level below the translation unit's own
// (runtime/ops/loops.hpp), and each row runs the variant this names: a package built on one
// machine runs on any x86-64 CPU, and a kernel built with plain -O3 gets AVX2 or AVX-512
// vectors where the CPU has them.
#pragma once

#include <cstdint>

namespace ember::cpu {

/// x86-64 microarchitecture levels: Baseline (SSE2), V3 (AVX2, FMA, BMI2), V4 (AVX-512 F, BW, CD,
/// DQ, VL). Other CPUs are Baseline.
enum class Isa : uint8_t { Baseline, V3, V4 };

/// The level of the CPU this process runs on.
Isa host_isa();
/// The level loops run at: host_isa(), lowered by EMBER_ISA=baseline|v3|v4 or set_isa.
Isa isa();
/// Runs loops at `level`, or at host_isa() when the CPU has less (tests and benchmarks use it
/// to run every variant on one machine). Returns the level now in force.
Isa set_isa(Isa level);
/// "baseline", "v3", "v4".
const char* isa_name(Isa level);

}  // namespace ember::cpu
