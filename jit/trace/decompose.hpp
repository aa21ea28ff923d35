// Decompositions (as PyTorch's decomposition tables, tinygrad's rewrites of composite ops): an op
// the op table marks Decompose is recorded as the traced ops it is made of, so the JIT fuses it
// with its neighbours instead of breaking the graph — layer_norm becomes a row mean, a row mean
// of squares and pointwise work that the fuser puts in the kernels around it. The op's autograd
// history stays the op's own (its row of the derivative table), and the eager kernel stays what
// runs outside regions.
#pragma once

#include <span>

#include "runtime/dispatch.hpp"

namespace ember::jit {

/// Records `op` on `in` as the ops it is made of into this thread's trace (the pieces are
/// dispatched, so the trace hook records them) and sets its outputs. False, with nothing
/// recorded, for a case the decomposition does not cover (the op then runs eagerly, which also
/// reports bad input in its own words).
bool decompose(Op op, std::span<const Tensor> in, const Attrs& attrs, TensorList& out);

}  // namespace ember::jit
