// Linked with ember::native: this file is compiled with -march=native; its kernel runs as the
// portable build's does, with the build machine's instructions.
#include <cstdio>
#include <dsl/pointwise.hpp>

int main() {
  using namespace ember;
  constexpr auto k = dsl::pointwise([](auto x) { return dsl::silu(x) + dsl::relu(x); });
  Tensor x = linspace(-3, 3, 101);
  double err = amax(abs(k(x) - (silu(x) + relu(x)))).item<double>();
  std::printf("%s ember::native kernel (max |diff| %g)\n", err < 1e-6 ? "ok  " : "FAIL", err);
  return err < 1e-6 ? 0 : 1;
}
