// gradcheck: analytical gradients (backward) against central finite differences, in float64;
// gradgradcheck: the same for second derivatives (backward of a backward taken with create_graph).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "runtime/tensor.hpp"

namespace ember::autograd {

struct GradcheckOptions {
  double eps = 1e-6;  ///< finite-difference step
  double atol = 1e-5;
  double rtol = 1e-3;
  bool raise = false;  ///< throw an Error with the report instead of returning it
};

struct GradcheckResult {
  bool ok = true;
  /// On failure: which input, which element, the analytical and numerical values.
  std::string report;
  double max_abs_error = 0;
  explicit operator bool() const { return ok; }
};

/// Checks d fn(inputs) / d inputs for every input that requires grad. Inputs should be
/// float64; fn may return any shape (each output element is checked through a vector-Jacobian
/// product with a one-hot gradient).
GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                          const std::vector<Tensor>& inputs, const GradcheckOptions& o = {});

/// Checks second derivatives, as torch.autograd.gradgradcheck: the gradient of fn's output
/// against a gradient v (of fn's output shape; seeded random values when undefined), taken with
/// create_graph, goes through gradcheck with respect to the inputs and v. Inputs should be
/// float64.
GradcheckResult gradgradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                              const std::vector<Tensor>& inputs, const Tensor& grad_output = {},
                              const GradcheckOptions& o = {});

}  // namespace ember::autograd

namespace ember {
using autograd::gradcheck;
using autograd::gradgradcheck;
}  // namespace ember
