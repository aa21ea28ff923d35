// How much machine-code optimisation a kernel's compile gets (no LLVM headers: the executor and
// codegen's interface include it).
#pragma once

#include <cstdint>

namespace ember::jit {

/// Both tiers run the same IR pipeline, so loops are vectorised either way. Quick selects
/// instructions and allocates registers the fast way (LLVM's O0 back end: about half the
/// compile time); Full is LLVM's default back end, whose kernels run 10-20% faster on
/// compute-heavy loops. A region's kernels are compiled Quick when it turns hot and again Full
/// once it has run often (executor.cpp).
enum class Tier : uint8_t { Quick, Full };

}  // namespace ember::jit
