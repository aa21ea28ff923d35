// ember demo: tensors, broadcasting, reductions, matmul, and eager speed against a plain loop.
// Usage: demo [--smoke]   (--smoke: small sizes, as run by the test suite)
#include <chrono>
#include <cmath>
#include <cstring>
#include <ember.hpp>
#include <iostream>
#include <vector>

using namespace ember;

namespace {

template <class F>
double best_ms(int reps, F&& f) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    auto t1 = std::chrono::steady_clock::now();
    best = std::min(best, std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  bool smoke = argc > 1 && std::strcmp(argv[1], "--smoke") == 0;
  manual_seed(0);

  std::cout << "== tensors ==\n";
  Tensor x = arange(6, kFloat32).reshape({2, 3});
  std::cout << "x = " << x << "\nx.sizes() = " << x.sizes() << ", dtype " << x.dtype() << "\n";
  std::cout << "x.t() (a view, no copy) = " << x.t() << "\n";

  std::cout << "\n== broadcasting ==\n";
  Tensor row = tensor({10, 20, 30});
  Tensor col = tensor({{1}, {2}});
  std::cout << "x + row = " << x + row << "\n";
  std::cout << "x * col = " << x * col << "\n";
  std::cout << "(x > 2) = " << (x > 2) << "\n";

  std::cout << "\n== reductions ==\n";
  std::cout << "x.sum(1) = " << x.sum({1}) << ", x.mean() = " << x.mean().item<float>()
            << ", x.var({0}) = " << x.var({0}) << "\n";
  std::cout << "softmax(x, 1) = " << softmax(x, 1) << "\n";

  std::cout << "\n== matmul ==\n";
  Tensor w = randn({3, 4});
  std::cout << "matmul([2, 3], [3, 4]).sizes() = " << matmul(x, w).sizes() << "\n";
  Tensor batch = randn({5, 2, 3});
  std::cout << "matmul([5, 2, 3], [3, 4]).sizes() = " << matmul(batch, w).sizes()
            << "  (batch dims broadcast)\n";

  std::cout << "\n== speed: y = gelu(x*a+b)*sigmoid(x), eager ops vs one plain C++ loop ==\n";
  int64_t n = smoke ? (1 << 16) : (1 << 24);
  int reps = smoke ? 2 : 5;
  Tensor big = randn({n});
  Tensor y;
  double eager = best_ms(reps, [&] { y = gelu(big * 1.5 + 0.5) * sigmoid(big); });
  std::vector<float> out(static_cast<size_t>(n));
  const float* in = big.data_ptr<float>();
  double loop = best_ms(reps, [&] {
    for (int64_t i = 0; i < n; ++i) {
      float v = in[i], t = v * 1.5f + 0.5f;
      out[i] = 0.5f * t * (1.f + std::erf(t * 0.70710678f)) / (1.f + std::exp(-v));
    }
  });
  Tensor ref = from_blob(out.data(), {n});
  std::cout << n << " floats, " << get_num_threads() << " threads: eager " << eager
            << " ms, plain loop (1 thread, scalar libm) " << loop << " ms; max |diff| "
            << amax(abs(y - ref)).item<float>() << "\n";
  std::cout << "memory cached for reuse: " << memory::cached_bytes() / (1 << 20) << " MiB\n";
  return 0;
}
