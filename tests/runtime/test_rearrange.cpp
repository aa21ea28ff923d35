// flip, roll, repeat, tile, tril, triu, masked_fill, masked_select, nonzero, one_hot and the
// public index_add / scatter_add, against PyTorch 1.13's values.
#include "support/reference.hpp"

using namespace ember;

namespace {
std::vector<int64_t> ints(const Tensor& t) { return t.to_vector<int64_t>(); }
Tensor i64(std::vector<int64_t> v, const Dims& s) { return tensor(v, s); }
}  // namespace

TEST_CASE("flip, roll, repeat, tile", "[rearrange]") {
  Tensor a = i64({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(ints(a.flip({1})) == std::vector<int64_t>{3, 2, 1, 6, 5, 4});
  CHECK(ints(a.flip({0, -1})) == std::vector<int64_t>{6, 5, 4, 3, 2, 1});
  CHECK_THROWS_WITH(a.flip({1, -1}), Catch::Contains("flip: dim 1 appears multiple times"));
  CHECK(ints(a.roll({1})) == std::vector<int64_t>{6, 1, 2, 3, 4, 5});
  CHECK(ints(a.roll({1, -1}, {0, 1})) == std::vector<int64_t>{5, 6, 4, 2, 3, 1});
  CHECK(ints(a.roll({7}, {1})) == std::vector<int64_t>{3, 1, 2, 6, 4, 5});
  CHECK_THROWS_WITH(a.roll({1, 2}, {0}), Catch::Contains("shifts and dimensions must align"));
  Tensor b = i64({1, 2, 3, 4}, {2, 2});
  Tensor r = b.repeat({2, 1, 3});
  CHECK(r.sizes() == Dims{2, 2, 6});
  CHECK(ints(r) == std::vector<int64_t>{1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4,
                                        1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4});
  CHECK_THROWS_WITH(b.repeat({2}), Catch::Contains("can not be smaller than number of dimensions"));
  Tensor t = i64({1, 2}, {2}).tile({2, 2});
  CHECK(t.sizes() == Dims{2, 4});
  CHECK(ints(t) == std::vector<int64_t>{1, 2, 1, 2, 1, 2, 1, 2});
  CHECK(b.tile({3}).sizes() == Dims{2, 6});
}

TEST_CASE("tril and triu, with a diagonal and batches", "[rearrange]") {
  Tensor a = arange(12).view({3, 4});
  CHECK(ints(a.tril(-1)) == std::vector<int64_t>{0, 0, 0, 0, 4, 0, 0, 0, 8, 9, 0, 0});
  CHECK(ints(a.triu(1)) == std::vector<int64_t>{0, 1, 2, 3, 0, 0, 6, 7, 0, 0, 0, 11});
  Tensor causal = ones({2, 3, 3}).tril();  // a causal mask per batch
  CHECK(causal.sum().item<double>() == 12);
  CHECK(causal.dtype() == kFloat32);
  CHECK_THROWS_WITH(ones({3}).tril(), Catch::Contains("tril: input tensor must have at least 2"));
}

TEST_CASE("masked_fill, masked_select, nonzero", "[masked]") {
  Tensor x = tensor({{1, 2, 3}, {4, 5, 6}});
  Tensor m = tensor({true, false, true}, kBool);
  test::require_close(x.masked_fill(m, -1), {2, 3}, {-1, 2, -1, -1, 5, -1}, "masked_fill");
  // an attention-style -inf fill of the upper triangle
  Tensor s = zeros({3, 3}).masked_fill(ones({3, 3}, kBool).triu(1), -INFINITY);
  CHECK(std::isinf(s[0][1].item<float>()));
  CHECK(s[1][0].item<float>() == 0);
  // int tensors take the value in their dtype
  CHECK(ints(i64({1, 2}, {2}).masked_fill(tensor({true, false}, kBool), 1.5)) ==
        std::vector<int64_t>{1, 2});
  Tensor y = x.clone();
  y.masked_fill_(m, 0);
  test::require_close(y, {2, 3}, {0, 2, 0, 0, 5, 0}, "masked_fill_");
  CHECK_THROWS_WITH(x.masked_fill(x, 1),
                    "masked_fill only supports boolean masks, but got mask "
                    "with dtype float32");
  CHECK_THROWS_AS(tensor({1, 2, 3}).masked_fill_(ones({2, 3}, kBool), 0), ShapeError);
  // masked_fill with a 0-d value tensor: its gradient is the sum over the filled places
  Tensor v = scalar_tensor(2.0, kFloat64).requires_grad_();
  masked_fill(x.to(kFloat64), m, v).sum().backward();
  CHECK(v.grad().item<double>() == 4);

  test::require_close(masked_select(x, m), {4}, {1, 3, 4, 6}, "masked_select");
  test::require_close(masked_select(x, x > 4), {2}, {5, 6}, "masked_select");
  CHECK(ints(nonzero(tensor({{0, 1.5}, {2, 0}}))) == std::vector<int64_t>{0, 1, 1, 0});
  CHECK(nonzero(zeros({2, 2})).sizes() == Dims{0, 2});
  CHECK(nonzero(scalar_tensor(3.0)).sizes() == Dims{1, 0});
}

TEST_CASE("one_hot", "[masked]") {
  Tensor h = one_hot(i64({0, 2, 1, 0}, {2, 2}));
  CHECK(h.sizes() == Dims{2, 2, 3});
  CHECK(ints(h) == std::vector<int64_t>{1, 0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 0});
  CHECK(one_hot(i64({1}, {1}), 4).sizes() == Dims{1, 4});
  CHECK_THROWS_WITH(one_hot(tensor({1.0})), Catch::Contains("one_hot is only applicable to index"));
  CHECK_THROWS_WITH(one_hot(i64({-1}, {1}), 3), Catch::Contains("must be non-negative"));
  CHECK_THROWS_WITH(one_hot(i64({3}, {1}), 3), Catch::Contains("must be smaller than num_classes"));
}

TEST_CASE("index_add and scatter_add, out of place and in place", "[masked]") {
  Tensor x = zeros({3, 2});
  Tensor src = tensor({{1, 2}, {3, 4}, {5, 6}});
  Tensor idx = i64({2, 0, 2}, {3});
  test::require_close(index_add(x, 0, idx, src, 2), {3, 2}, {6, 8, 0, 0, 12, 16}, "index_add");
  x.index_add_(0, idx, src);
  test::require_close(x, {3, 2}, {3, 4, 0, 0, 6, 8}, "index_add_");
  Tensor z = zeros({2, 3});
  Tensor sidx = i64({0, 1, 2, 2, 0, 0}, {2, 3});
  test::require_close(scatter_add(z, 1, sidx, tensor({{1, 2, 3}, {4, 5, 6}})), {2, 3},
                      {1, 2, 3, 11, 0, 4}, "scatter_add");
  z.scatter_add_(0, i64({1, 0, 1}, {1, 3}), tensor({{1, 2, 3}}));
  test::require_close(z, {2, 3}, {0, 2, 0, 1, 0, 3}, "scatter_add_");
}

TEST_CASE("scatter and index_put_", "[masked]") {
  Tensor x = zeros({3, 4});
  test::require_close(
      scatter(x, 1, i64({0, 3, 1, 1, 2, 0}, {3, 2}), tensor({{1, 2}, {3, 4}, {5, 6}})), {3, 4},
      {1, 0, 0, 2, 0, 4, 0, 0, 6, 0, 5, 0}, "scatter (the last of repeats wins)");
  test::require_close(scatter(x, 0, i64({2, 0, 1, 0}, {1, 4}), 7), {3, 4},
                      {0, 7, 0, 7, 0, 0, 7, 0, 7, 0, 0, 0}, "scatter value");
  Tensor y = zeros({3, 4});
  y.index_put_({i64({0, 2, 0}, {3}), i64({1, 3, 1}, {3})}, tensor({1, 2, 3}), true);
  test::require_close(y, {3, 4}, {0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}, "index_put_ accumulate");
  Tensor z = zeros({3, 4});
  z.index_put_({i64({2, 0}, {2})}, tensor({1, 2, 3, 4}));
  test::require_close(z, {3, 4}, {1, 2, 3, 4, 0, 0, 0, 0, 1, 2, 3, 4}, "index_put_ rows");
  Tensor w = zeros({3, 4});
  w.index_put_({i64({0, 2}, {2, 1}), i64({1, -1}, {2})}, scalar_tensor(5.0));
  test::require_close(w, {3, 4}, {0, 5, 0, 5, 0, 0, 0, 0, 0, 5, 0, 5}, "index_put_ broadcast");
  CHECK_THROWS_WITH(w.index_put_({i64({3}, {1})}, scalar_tensor(1.0)),
                    "index_put: index 3 is out of bounds for dimension 0 with size 3");
  CHECK_THROWS_AS(w.index_put_({w > 0}, scalar_tensor(1.0)), DTypeError);
  // gradients: the values get the gradient at their places, self where nothing was written
  Tensor s = ones({3, 2}, kFloat64).requires_grad_();
  Tensor v = tensor({10.0, 20.0}, kFloat64).requires_grad_();
  (index_put(s, {i64({1, 1}, {2}), i64({0, 1}, {2})}, v) * tensor({1.0, 2.0}, kFloat64))
      .sum()
      .backward();
  test::require_close(s.grad(), {3, 2}, {1, 2, 0, 0, 1, 2}, "d index_put / d self");
  test::require_close(v.grad(), {2}, {1, 2}, "d index_put / d values");
}
