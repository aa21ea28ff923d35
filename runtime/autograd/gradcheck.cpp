#include "runtime/autograd/gradcheck.hpp"

#include <cmath>
#include <sstream>

#include "runtime/autograd/engine.hpp"
#include "runtime/ops.hpp"

namespace ember::autograd {

GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                          const std::vector<Tensor>& inputs, const GradcheckOptions& o) {
  GradcheckResult res;
  std::vector<size_t> diff;
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].defined() && inputs[i].requires_grad()) diff.push_back(i);
  EMBER_CHECK(!diff.empty(), ValueError, "gradcheck: no input requires grad");
  for (size_t i : diff)
    EMBER_CHECK(inputs[i].dtype() == kFloat64, DTypeError, "gradcheck: input ", i, " is ",
                dtype_name(inputs[i].dtype()),
                "; gradcheck needs float64 inputs for meaningful finite differences");

  Tensor out = fn(inputs);
  EMBER_CHECK(out.defined() && is_floating(out.dtype()), Error,
              "gradcheck: fn must return a floating tensor");
  int64_t n_out = out.numel();

  // Analytical Jacobian, one row per output element: J[k][i] = d out_k / d input_i.
  std::vector<std::vector<std::vector<double>>> analytic(
      static_cast<size_t>(n_out), std::vector<std::vector<double>>(diff.size()));
  if (out.requires_grad()) {
    std::vector<Tensor> wrt;
    for (size_t i : diff) wrt.push_back(inputs[i]);
    for (int64_t k = 0; k < n_out; ++k) {
      Tensor onehot = zeros(out.sizes(), out.dtype());
      {
        NoGradGuard g;
        onehot.view({-1}).select(0, k).fill_(1);
      }
      auto grads = grad({out}, wrt, {onehot}, true, false, true);
      for (size_t j = 0; j < diff.size(); ++j) {
        analytic[k][j] = grads[j].defined()
                             ? grads[j].to_vector<double>()
                             : std::vector<double>(static_cast<size_t>(wrt[j].numel()), 0.0);
      }
    }
  } else {
    for (auto& r : analytic)
      for (size_t j = 0; j < diff.size(); ++j)
        r[j].assign(static_cast<size_t>(inputs[diff[j]].numel()), 0.0);
  }

  // Numerical Jacobian by central differences, perturbing one input element at a time.
  std::ostringstream report;
  double worst = -1;
  for (size_t j = 0; j < diff.size(); ++j) {
    const Tensor& x = inputs[diff[j]];
    Tensor flat_view = x.detach();
    for (int64_t e = 0; e < x.numel(); ++e) {
      std::vector<int64_t> idx(static_cast<size_t>(x.dim()));
      int64_t rem = e;
      for (int64_t d = x.dim() - 1; d >= 0; --d) {
        idx[static_cast<size_t>(d)] = rem % x.sizes()[d];
        rem /= x.sizes()[d];
      }
      int64_t off = 0;
      for (int64_t d = 0; d < x.dim(); ++d) off += idx[static_cast<size_t>(d)] * x.strides()[d];
      double* p = flat_view.data_ptr<double>() + off;
      double orig = *p;
      std::vector<double> plus, minus;
      // Grad mode stays as it is: fn may itself take gradients (checking a second derivative).
      *p = orig + o.eps;
      plus = fn(inputs).to_vector<double>();
      *p = orig - o.eps;
      minus = fn(inputs).to_vector<double>();
      *p = orig;
      for (int64_t k = 0; k < n_out; ++k) {
        double num = (plus[k] - minus[k]) / (2 * o.eps);
        double ana = analytic[k][j][static_cast<size_t>(e)];
        double err = std::abs(num - ana);
        res.max_abs_error = std::max(res.max_abs_error, err);
        bool bad = !(err <= o.atol + o.rtol * std::abs(num));
        if (bad && err > worst) {
          worst = err;
          std::ostringstream r;
          r << "gradcheck: Jacobian mismatch for output element " << k << " with respect to input "
            << diff[j] << " (shape " << x.sizes() << "), element " << e << ": analytical " << ana
            << ", numerical " << num << " (|diff| " << err << ", atol " << o.atol << ", rtol "
            << o.rtol << ")";
          res.report = r.str();
          res.ok = false;
        }
      }
    }
  }
  EMBER_CHECK(res.ok || !o.raise, Error, res.report);
  return res;
}

}  // namespace ember::autograd
