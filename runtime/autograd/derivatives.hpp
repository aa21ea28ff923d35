// The derivative table: one row per differentiable op, written once against the Tensor API.
#pragma once

#include <vector>

#include "runtime/autograd/node.hpp"

namespace ember::autograd {

/// What a backward formula sees of its forward call.
class BackwardContext {
 public:
  virtual ~BackwardContext() = default;
  virtual const Attrs& attrs() const = 0;
  /// Saved input i (rows that read inputs must set save_inputs).
  virtual Tensor input(size_t i) const = 0;
  /// Saved output i (rows that read outputs must set save_outputs).
  virtual Tensor output(size_t i) const = 0;
  virtual const Dims& input_sizes(size_t i) const = 0;
  virtual DType input_dtype(size_t i) const = 0;
  virtual size_t num_inputs() const = 0;
  /// Whether input i needs a gradient (formulas skip the others).
  virtual bool needs_grad(size_t i) const = 0;
};

/// Gradients for each input (undefined where none is needed) from the output gradients
/// (undefined for outputs that received none).
using BackwardFn = TensorList (*)(const BackwardContext& ctx, const TensorList& grads);

struct Derivative {
  BackwardFn backward = nullptr;
  bool save_inputs = false;
  bool save_outputs = false;
  bool differentiable = true;  ///< false: outputs never require grad (comparisons, argmax)
  /// With save_inputs: which inputs to save (bit i) given which need a gradient (bit i); all
  /// when null. Saving less keeps in-place updates like x.mul_(2) legal, as in PyTorch.
  unsigned (*inputs_for)(unsigned needs) = nullptr;
};

/// The row for op (rows with backward == nullptr are differentiable ops whose backward is not
/// written: backward through them is a loud error, never a fake gradient).
const Derivative& derivative(Op op);

/// Sums g over the dims that broadcasting expanded so that it has `sizes` (undoes broadcast).
Tensor sum_to(const Tensor& g, const Dims& sizes);

}  // namespace ember::autograd
