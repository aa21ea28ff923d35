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

GradcheckResult gradgradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                              const std::vector<Tensor>& inputs, const Tensor& grad_output,
                              const GradcheckOptions& o) {
  std::vector<size_t> diff;
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].defined() && inputs[i].requires_grad()) diff.push_back(i);
  EMBER_CHECK(!diff.empty(), ValueError, "gradgradcheck: no input requires grad");
  Tensor v = grad_output;
  if (!v.defined()) {
    Tensor out = fn(inputs);
    EMBER_CHECK(out.defined() && is_floating(out.dtype()), Error,
                "gradgradcheck: fn must return a floating tensor");
    // Values in [-1, 1) from a fixed linear congruential sequence: reproducible, and the
    // global generator the caller may have seeded is left alone.
    std::vector<double> vals(static_cast<size_t>(out.numel()));
    uint64_t state = 0x9E3779B97F4A7C15ull;
    for (double& x : vals) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      x = static_cast<double>(state >> 11) / static_cast<double>(1ull << 53) * 2 - 1;
    }
    v = tensor(vals).reshape(out.sizes());
  }
  EMBER_CHECK(v.dtype() == kFloat64, DTypeError, "gradgradcheck: grad_output is ",
              dtype_name(v.dtype()), "; it must be float64");
  v = v.detach().requires_grad_();
  // (inputs..., v) -> the gradients of <fn(inputs), v> with respect to the inputs that require
  // grad, flattened into one tensor (zeros where an input is unused).
  auto first = [&](const std::vector<Tensor>& in) {
    std::vector<Tensor> xs(in.begin(), in.end() - 1), wrt;
    for (size_t i : diff) wrt.push_back(xs[i]);
    Tensor y = fn(xs);
    EMBER_CHECK(y.sizes() == in.back().sizes(), ShapeError, "gradgradcheck: grad_output has shape ",
                in.back().sizes(), " but fn returned ", y.sizes());
    std::vector<Tensor> g = grad({y}, wrt, {in.back()}, true, true, true);
    std::vector<Tensor> parts;
    for (size_t j = 0; j < g.size(); ++j)
      parts.push_back(g[j].defined() ? g[j].reshape({-1}) : zeros({wrt[j].numel()}, kFloat64));
    return cat(parts, 0);
  };
  std::vector<Tensor> all = inputs;
  all.push_back(v);
  GradcheckResult r = gradcheck(first, all, {o.eps, o.atol, o.rtol, false});
  if (!r.ok)
    r.report = "gradgradcheck (second derivatives; the last input is grad_output): " + r.report;
  EMBER_CHECK(r.ok || !o.raise, Error, r.report);
  return r;
}

}  // namespace ember::autograd
