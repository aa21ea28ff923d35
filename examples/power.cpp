// The seed's Power module (DESIGN.md): a module with a plain member and no parameters, called
// like a function. Usage: power [--smoke]   (the same tiny run either way)
#include <ember.hpp>
#include <iostream>

using namespace ember;

struct Power : nn::Module<Power> {  // the seed's Power module
  double exponent;
  explicit Power(double e) : exponent(e) {}
  Tensor forward(const Tensor& in) { return pow(in, exponent); }
};

int main() {
  manual_seed(0);
  Power cube(3);
  Tensor out = cube(randn({100}));
  std::cout << "cube(randn({100})): sizes " << out.sizes() << ", first values "
            << out.narrow(0, 0, 4) << "\n";

  Tensor x = tensor({-2.0, -1.0, 0.5, 3.0});
  std::cout << "cube(" << x << ") = " << cube(x) << "\n";
  std::cout << "Power holds " << cube.parameters().size() << " parameters (the exponent is "
            << "plain data): " << cube << "\n";

  // Gradients flow through it: d/dx x^3 = 3x^2.
  Tensor v = tensor({1.0, 2.0, -3.0}).requires_grad_();
  cube(v).sum().backward();
  std::cout << "d/dx sum(x^3) at " << v.detach() << " = " << v.grad() << "\n";
  return 0;
}
