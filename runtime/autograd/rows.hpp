// Shared pieces of the derivative table's source files (internal).
#pragma once

#include <array>

#include "runtime/autograd/derivatives.hpp"
#include "runtime/ops.hpp"

namespace ember::autograd::rows {

using Ctx = BackwardContext;
using Table = std::array<Derivative, static_cast<size_t>(Op::NumOps)>;

// The gradient for input i: broadcasting undone and cast back to the input's dtype.
inline Tensor like_input(const Ctx& c, size_t i, const Tensor& g) {
  if (!c.needs_grad(i) || !g.defined()) return {};
  Tensor r = sum_to(g, c.input_sizes(i));
  return r.dtype() == c.input_dtype(i) ? r : r.to(c.input_dtype(i));
}

inline Tensor mask_of(const Tensor& cond, const Tensor& like) { return cond.to(like.dtype()); }

/// What a row's backward reads of its forward call, so that the autograd node saves it.
struct Saves {
  bool save_inputs = false;   ///< the formula reads c.input(i)
  bool save_outputs = false;  ///< the formula reads c.output(i)
  /// With save_inputs: which inputs to save given which need a gradient (Derivative::inputs_for).
  unsigned (*inputs_for)(unsigned needs) = nullptr;
};

/// The row of a differentiable op: `row(t, Op::Exp, {.save_outputs = true}, formula)`.
inline void row(Table& t, Op op, Saves s, BackwardFn fn) {
  t[static_cast<size_t>(op)] = Derivative{fn, s.save_inputs, s.save_outputs, true, s.inputs_for};
}
inline void nondiff(Table& t, Op op) {
  t[static_cast<size_t>(op)] = Derivative{nullptr, false, false, false};
}

void fill_pointwise(Table& t);
void fill_nn(Table& t);
void fill_nn_backward(Table& t);  ///< second derivatives: rows of the backward kernels
void fill_sort_scan(Table& t);

}  // namespace ember::autograd::rows
