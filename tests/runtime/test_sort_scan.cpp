// sort, argsort, topk, cumsum, cumprod against PyTorch 1.13's values.
#include "support/reference.hpp"

using namespace ember;

namespace {
Tensor sample() { return tensor({{3, 1, 2, 1}, {0, -1, 5, 2}, {4, 4, -2, 7}}); }
std::vector<int64_t> ints(const Tensor& t) { return t.to_vector<int64_t>(); }
}  // namespace

TEST_CASE("sort: values and indices, stable ties, descending, any dim", "[sort]") {
  auto [v, i] = sample().sort(1);
  test::require_close(v, {3, 4}, {1, 1, 2, 3, -1, 0, 2, 5, -2, 4, 4, 7}, "sort dim 1");
  CHECK(ints(i) == std::vector<int64_t>{1, 3, 2, 0, 1, 0, 3, 2, 2, 0, 1, 3});
  auto [vd, id] = sort(sample(), 0, true);
  test::require_close(vd, {3, 4}, {4, 4, 5, 7, 3, 1, 2, 2, 0, -1, -2, 1}, "sort dim 0 desc");
  CHECK(ints(id) == std::vector<int64_t>{2, 2, 1, 2, 0, 0, 0, 1, 1, 1, 2, 0});
  CHECK(ints(argsort(sample(), -1)) == ints(i));
  // a non-contiguous input gives the same
  CHECK(ints(test::noncontiguous(sample()).argsort(1)) == ints(i));
  // NaN sorts above every number
  const double nan = std::nan("");
  auto [nv, ni] = tensor({3.0, nan, 1.0, 2.0}).sort(0, true);
  CHECK(std::isnan(nv.to_vector<float>()[0]));
  CHECK(ints(ni) == std::vector<int64_t>{1, 0, 3, 2});
  CHECK(ints(tensor({3.0, nan, 1.0}).argsort()) == std::vector<int64_t>{2, 0, 1});
  // integers and bools; a 0-d tensor
  Tensor b = tensor({true, false, true}, kBool);
  CHECK(ints(b.argsort()) == std::vector<int64_t>{1, 0, 2});
  auto [sv, si] = tensor(std::vector<int64_t>{3, 1, 2}).sort();
  CHECK(sv.dtype() == kInt64);
  CHECK(ints(sv) == std::vector<int64_t>{1, 2, 3});
  auto [zv, zi] = scalar_tensor(5.0).sort();
  CHECK(zv.dim() == 0);
  CHECK(zi.item<int64_t>() == 0);
  CHECK_THROWS_WITH(sample().sort(2), Catch::Contains("sort") && Catch::Contains("2"));
}

TEST_CASE("topk: largest and smallest, sorted, errors", "[sort]") {
  Tensor x = tensor({{3, 1, 2, 0}, {0, -1, 5, 2}, {4, 6, -2, 7}});
  auto [v, i] = x.topk(2);
  test::require_close(v, {3, 2}, {3, 2, 5, 2, 7, 6}, "topk");
  CHECK(ints(i) == std::vector<int64_t>{0, 2, 2, 3, 3, 1});
  auto [sv, si] = topk(x, 2, 0, false);
  test::require_close(sv, {2, 4}, {0, -1, -2, 0, 3, 1, 2, 2}, "topk smallest dim 0");
  CHECK(ints(si) == std::vector<int64_t>{1, 1, 2, 0, 0, 0, 0, 1});
  const double nan = std::nan("");
  CHECK(ints(tensor({3.0, nan, 1.0, 2.0}).topk(2).indices) == std::vector<int64_t>{1, 0});
  CHECK(ints(tensor({3.0, nan, 1.0, 2.0}).topk(2, 0, false).indices) == std::vector<int64_t>{2, 3});
  CHECK(x.topk(0).values.sizes() == Dims{3, 0});
  CHECK_THROWS_WITH(x.topk(5), Catch::Contains("selected index k out of range"));
  CHECK_THROWS_AS(x.topk(-1), IndexError);
}

TEST_CASE("cumsum and cumprod: values, dtypes, gradients with zeros", "[scan]") {
  test::require_close(sample().cumsum(1), {3, 4}, {3, 4, 6, 7, 0, -1, 4, 6, 4, 8, 6, 13}, "cumsum");
  test::require_close(cumprod(sample(), 0), {3, 4}, {3, 1, 2, 1, 0, -1, 10, 2, 0, -4, -20, 14},
                      "cumprod");
  test::require_close(test::noncontiguous(sample()).cumsum(-1), {3, 4},
                      {3, 4, 6, 7, 0, -1, 4, 6, 4, 8, 6, 13}, "cumsum strided");
  Tensor i = tensor(std::vector<int64_t>{1, 2, 3});
  CHECK(i.cumsum(0).dtype() == kInt64);
  CHECK(ints(tensor({true, false, true}, kBool).cumsum(0)) == std::vector<int64_t>{1, 1, 2});
  CHECK(ints(i.cumprod(0)) == std::vector<int64_t>{1, 2, 6});
  // float32 accumulates in double: 1 + 1e-8 * 1e6 stays exact to float rounding
  Tensor small = full({1000001}, 1e-8f);
  small.narrow(0, 0, 1).fill_(1.0f);
  CHECK(small.cumsum(0)[1000000].item<float>() == Approx(1.01f).epsilon(1e-6));
  // cumprod's gradient through zeros (PyTorch: [[1, 22, 0, 0, 0], [1, 1, 24, 0, 0]])
  Tensor x = tensor({{2, 0, 3, 0, 5}, {1, 2, 0, 4, 2}}, kFloat64).requires_grad_();
  Tensor g = tensor({{1, 2, 3, 4, 5}, {-1, 1, 2, 0.5, 1}}, kFloat64);
  x.cumprod(1).backward(g);
  test::require_close(x.grad(), {2, 5}, {1, 22, 0, 0, 0, 1, 1, 24, 0, 0}, "d cumprod");
  CHECK_THROWS_WITH(sample().cumsum(3), Catch::Contains("cumsum") && Catch::Contains("3"));
}
