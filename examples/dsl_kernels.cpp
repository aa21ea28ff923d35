// Your own pointwise kernels with dsl::pointwise: a formula written once, run as one fused loop,
// differentiated at compile time (one autograd node, one fused backward pass), and timed
// against the same formula written as separate eager ops.
// Usage: dsl_kernels [--smoke]   (--smoke: small sizes, as run by the test suite; else 16M)
#include <algorithm>
#include <chrono>
#include <cstring>
#include <ember.hpp>
#include <iomanip>
#include <iostream>
#include <vector>

#include "common/timing.hpp"
#include "dsl/pointwise.hpp"

using namespace ember;

namespace {

// swish(x) = x sigmoid(x): one input.
constexpr auto swish = dsl::pointwise([](auto x) { return x * dsl::sigmoid(x); }, "swish");

// The Huber loss of a prediction p against a target t, elementwise: two inputs and a where.
// 1/2 d^2 where |d| < 1, |d| - 1/2 elsewhere (d = p - t).
constexpr auto huber = dsl::pointwise(
    [](auto p, auto t) {
      auto d = p - t;
      return dsl::where(dsl::abs(d) < 1, dsl::c<1, 2> * d * d, dsl::abs(d) - dsl::c<1, 2>);
    },
    "huber");

Tensor swish_eager(const Tensor& x) { return x * sigmoid(x); }
Tensor huber_eager(const Tensor& p, const Tensor& t) {
  Tensor d = p - t;
  return where(abs(d) < 1, 0.5 * d * d, abs(d) - 0.5);
}

using ::examples::median_ms;

double max_diff(const Tensor& a, const Tensor& b) { return amax(abs(a - b)).item<double>(); }

void row(const char* what, double dsl_ms, double eager_ms) {
  std::cout << "  " << std::left << std::setw(24) << what << std::right << std::fixed
            << std::setprecision(2) << std::setw(9) << dsl_ms << " ms dsl " << std::setw(9)
            << eager_ms << " ms eager   eager/dsl = " << eager_ms / dsl_ms << "x\n";
}

}  // namespace

int main(int argc, char** argv) {
  bool smoke = argc > 1 && std::strcmp(argv[1], "--smoke") == 0;
  int64_t n = smoke ? (int64_t{1} << 16) : (int64_t{1} << 24);
  int reps = smoke ? 3 : 7;
  manual_seed(0);

  std::cout << "== the formulas, as the JIT sees them ==\n";
  std::cout << "swish: " << swish.describe().to_string() << "\n";
  std::cout << "huber: " << huber.describe().to_string() << "\n";

  std::cout << "\n== called eagerly: same values as the eager formula ==\n";
  Tensor x = randn({n});
  Tensor p = randn({n}), t = randn({n});
  std::cout << "swish: max |dsl - eager| = " << max_diff(swish(x), swish_eager(x)) << "\n";
  std::cout << "huber: max |dsl - eager| = " << max_diff(huber(p, t), huber_eager(p, t)) << "\n";
  // Broadcasting and plain numbers work as for eager ops: a target row, a scalar target.
  Tensor rows = randn({4, 3});
  Tensor target = tensor({0.f, 1.f, 2.f});
  std::cout << "huber([4, 3], [3]).sizes() = " << huber(rows, target).sizes()
            << ", huber(x, 0.5).sizes() = " << huber(x, 0.5).sizes() << "\n";

  std::cout << "\n== differentiated: one autograd node, one fused backward pass ==\n";
  Tensor xg = x.detach().requires_grad_();
  Tensor y = swish(xg);
  std::cout << "swish(x).grad_fn() = " << y.grad_fn()->name() << "\n";
  Tensor g_dsl = autograd::grad({y.sum()}, {xg})[0];
  Tensor g_eager = autograd::grad({swish_eager(xg).sum()}, {xg})[0];
  std::cout << "swish: max |dsl grad - eager grad| = " << max_diff(g_dsl, g_eager) << "\n";
  Tensor pg = p.detach().requires_grad_(), tg = t.detach().requires_grad_();
  auto hd = autograd::grad({huber(pg, tg).sum()}, {pg, tg});
  auto he = autograd::grad({huber_eager(pg, tg).sum()}, {pg, tg});
  std::cout << "huber: max |dsl grad - eager grad| = " << max_diff(hd[0], he[0]) << " (p), "
            << max_diff(hd[1], he[1]) << " (t)\n";

  std::cout << "\n== timed: " << n << " floats, " << get_num_threads() << " threads, median of "
            << reps << " ==\n";
  Tensor out;
  row("swish forward", median_ms(reps, [&] { out = swish(x); }),
      median_ms(reps, [&] { out = swish_eager(x); }));
  row("huber forward", median_ms(reps, [&] { out = huber(p, t); }),
      median_ms(reps, [&] { out = huber_eager(p, t); }));
  // Forward and backward: dy/dx for an upstream gradient of ones.
  Tensor ones_n = ones({n});
  row("swish forward+backward",
      median_ms(reps, [&] { out = autograd::grad({swish(xg)}, {xg}, {ones_n})[0]; }),
      median_ms(reps, [&] { out = autograd::grad({swish_eager(xg)}, {xg}, {ones_n})[0]; }));
  row("huber forward+backward",
      median_ms(reps, [&] { out = autograd::grad({huber(pg, tg)}, {pg, tg}, {ones_n})[0]; }),
      median_ms(reps, [&] { out = autograd::grad({huber_eager(pg, tg)}, {pg, tg}, {ones_n})[0]; }));
  return 0;
}
