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

inline void row(Table& t, Op op, BackwardFn fn, bool in, bool out) {
  t[static_cast<size_t>(op)] = Derivative{fn, in, out, true};
}
inline void nondiff(Table& t, Op op) {
  t[static_cast<size_t>(op)] = Derivative{nullptr, false, false, false};
}

void fill_pointwise(Table& t);
void fill_nn(Table& t);

}  // namespace ember::autograd::rows
