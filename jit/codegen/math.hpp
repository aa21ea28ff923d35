// Lowering of the dsl's pointwise functions (dsl::Fn) to LLVM IR (internal: includes LLVM).
// float exp and erf are inline polynomials (dsl::math::poly); other transcendentals become
// calls that LLVM's loop vectoriser maps to glibc's libmvec (the engine registers the
// mappings), so a kernel's inner loop stays vectorised; results are within a few ulp of libm.
#pragma once

#include <llvm/IR/IRBuilder.h>

#include <span>

#include "dsl/expr.hpp"

namespace ember::jit {

/// Emits fn(args...) for float or double scalars of type `ty` (args have type ty; comparisons
/// return 1.0/0.0 of type ty, as the dsl does; Where takes (cond, a, b) with cond != 0 meaning
/// true). Follows the dsl's eager semantics exactly (NaN handling of min/max, sign(0) = 0, ...).
llvm::Value* emit_fn(llvm::IRBuilder<>& b, dsl::Fn fn, std::span<llvm::Value* const> args);

}  // namespace ember::jit
