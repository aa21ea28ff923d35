// Autograd misuse: long graphs, hooks, custom Functions returning bad gradients, double
// backward, in-place edits of saved tensors.
#include "corpus.hpp"
#include "ember.hpp"

using namespace ember;
using namespace robust;

namespace {

struct WrongShape : autograd::Function<WrongShape> {
  static constexpr const char* name = "WrongShape";
  static Tensor forward(autograd::Context&, const Tensor& x) { return x * 2; }
  static TensorList backward(autograd::Context&, const TensorList& g) {
    return {g[0].sum({0})};  // [2, 3] -> [3]
  }
};

struct WrongDType : autograd::Function<WrongDType> {
  static constexpr const char* name = "WrongDType";
  static Tensor forward(autograd::Context&, const Tensor& x) { return x * 2; }
  static TensorList backward(autograd::Context&, const TensorList& g) {
    return {g[0].to(kFloat64) * 2};
  }
};

struct TooFewGrads : autograd::Function<TooFewGrads> {
  static constexpr const char* name = "TooFewGrads";
  static Tensor forward(autograd::Context&, const Tensor& a, const Tensor& b) { return a * b; }
  static TensorList backward(autograd::Context&, const TensorList& g) { return {g[0]}; }
};

}  // namespace

ROBUSTNESS_CASE({.group = "autograd",
                 .name = "drop_long_graph",
                 .body =
                     [] {
                       Tensor w = ones({1}).requires_grad_();
                       Tensor total = zeros({1});
                       for (int i = 0; i < 200000; ++i) total = total + w * 1.0;
                       total = Tensor();  // 400,000 nodes: freed in a loop, not by recursion
                     },
                 .error = ""});
ROBUSTNESS_CASE({.group = "autograd",
                 .name = "drop_long_graph_saving_inputs",
                 .body =
                     [] {
                       Tensor w = full({1}, 1.0).requires_grad_();
                       Tensor total = ones({1});
                       for (int i = 0; i < 100000; ++i) total = total * w;  // saves total
                       total = Tensor();
                     },
                 .error = ""});
ROBUSTNESS_CASE({.group = "autograd",
                 .name = "leaf_hook_before_first_use",
                 .body =
                     [] {
                       Tensor x = ones({3}).requires_grad_();
                       x.register_hook([](const Tensor& g) { return g * 10; });
                       (x * 2).sum().backward();
                       require(x.grad().to_vector<float>() == std::vector<float>{20, 20, 20},
                               "the hook did not scale the gradient");
                     },
                 .error = ""});
ROBUSTNESS_CASE({.group = "autograd",
                 .name = "function_wrong_grad_shape",
                 .body =
                     [] {
                       Tensor x = ones({2, 3}).requires_grad_();
                       WrongShape::apply(x).sum().backward();
                     },
                 .error = "ShapeError",
                 .contains = {"Function WrongShapeBackward returned an invalid gradient at index 0",
                              "got [3]", "[2, 3]"}});
ROBUSTNESS_CASE({.group = "autograd",
                 .name = "function_wrong_grad_dtype",
                 .body =
                     [] {
                       Tensor x = ones({2}).requires_grad_();
                       WrongDType::apply(x).sum().backward();
                     },
                 .error = "DTypeError",
                 .contains = {"Function WrongDTypeBackward returned an invalid gradient at index 0",
                              "expected dtype float32 but got float64"}});
ROBUSTNESS_CASE({.group = "autograd",
                 .name = "function_too_few_grads",
                 .body =
                     [] {
                       Tensor a = ones({2}).requires_grad_(), b = ones({2}).requires_grad_();
                       TooFewGrads::apply(a, b).sum().backward();
                     },
                 .error = "Error",
                 .contains = {"TooFewGrads::backward returned 1 gradients", "2 tensor inputs"}});
ROBUSTNESS_CASE({.group = "autograd",
                 .name = "backward_twice",
                 .body =
                     [] {
                       Tensor x = ones({2}).requires_grad_();
                       Tensor y = (x * x).sum();
                       y.backward();
                       y.backward();
                     },
                 .error = "Error",
                 .contains = {"Trying to backward through the graph a second time"}});
ROBUSTNESS_CASE({.group = "autograd",
                 .name = "backward_non_scalar",
                 .body = [] { (ones({2}).requires_grad_() * 2).backward(); },
                 .error = "Error",
                 .contains = {"grad can be implicitly created only for scalar outputs"}});
ROBUSTNESS_CASE({.group = "autograd",
                 .name = "backward_no_grad",
                 .body = [] { ones({1}).sum().backward(); },
                 .error = "Error",
                 .contains = {"does not require grad"}});
ROBUSTNESS_CASE({.group = "autograd",
                 .name = "backward_grad_shape_mismatch",
                 .body = [] { (ones({2}).requires_grad_() * 2).backward(ones({3})); },
                 .error = "ShapeError",
                 .contains = {"mismatch in shape", "[3]", "[2]"}});
ROBUSTNESS_CASE({.group = "autograd",
                 .name = "saved_tensor_modified",
                 .body =
                     [] {
                       Tensor x = ones({2}).requires_grad_();
                       Tensor y = x * 2;
                       Tensor z = y * y;
                       y.mul_(3);
                       z.sum().backward();
                     },
                 .error = "Error",
                 .contains = {"modified by an inplace operation",
                              "is at version 1; expected version 0"}});
ROBUSTNESS_CASE({.group = "autograd",
                 .name = "inplace_on_leaf",
                 .body = [] { ones({2}).requires_grad_().add_(ones({2})); },
                 .error = "Error",
                 .contains = {"leaf"}});
ROBUSTNESS_CASE({.group = "autograd",
                 .name = "grad_of_unused_input",
                 .body =
                     [] {
                       Tensor x = ones({2}).requires_grad_(), u = ones({2}).requires_grad_();
                       autograd::grad({(x * 2).sum()}, {u});
                     },
                 .error = "Error",
                 .contains = {"input 0 was not used in the graph"}});
ROBUSTNESS_CASE({.group = "autograd",
                 .name = "hook_returning_wrong_shape",
                 .body =
                     [] {
                       Tensor x = ones({3}).requires_grad_();
                       x.register_hook([](const Tensor&) { return ones({4}); });
                       (x * 2).sum().backward();
                     },
                 .error = "ShapeError",
                 .contains = {"hook", "[4]", "[3]"}});
