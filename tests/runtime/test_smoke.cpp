#include "support/reference.hpp"

using namespace ember;

TEST_CASE("add broadcasts a row over a matrix", "[binary]") {
  Tensor a = tensor({{1, 2, 3}, {4, 5, 6}});
  Tensor b = tensor({10, 20, 30});
  test::require_close(a + b, {2, 3}, {11, 22, 33, 14, 25, 36}, "a + b");
  test::require_close(a * 2, {2, 3}, {2, 4, 6, 8, 10, 12}, "a * 2");
  CHECK((a + 1).dtype() == kFloat32);
}

TEST_CASE("broadcast error names both sizes and the dim", "[binary][error]") {
  Tensor a = zeros({2, 3}), b = zeros({2, 4});
  CHECK_THROWS_WITH(a + b, Catch::Contains("The size of tensor a (3) must match the size of "
                                           "tensor b (4) at non-singleton dimension 1"));
}
