#include "dsl/pointwise.hpp"

#include "runtime/autograd/derivatives.hpp"
#include "runtime/shape.hpp"

namespace ember::dsl::detail {

Prepared prepare(std::vector<Tensor> inputs, const char* name) {
  Prepared p;
  for (const Tensor& t : inputs) {
    EMBER_CHECK(t.defined(), Error, name, ": an input tensor is undefined");
    p.shape = broadcast_shapes(p.shape, t.sizes(), name);
  }
  p.dtype = result_type(std::span<const Tensor>(inputs));
  if (!is_floating(p.dtype)) p.dtype = default_dtype();
  for (Tensor& t : inputs) t = cast(t, p.dtype);
  p.inputs = std::move(inputs);
  return p;
}

Tensor run_traced(const ExprTree& t, const Prepared& p) {
  Tensor r = eval_tree(t, p.inputs);  // every input is a variable of the formula: p.shape
  return r.dtype() == p.dtype ? r : r.to(p.dtype);
}

Tensor reduce_to(const Tensor& g, const Dims& sizes, DType d) {
  Tensor r = autograd::sum_to(g, sizes);
  return r.dtype() == d ? r : r.to(d);
}

}  // namespace ember::dsl::detail
