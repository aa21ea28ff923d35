// View ops (runtime/ops/views.cpp): storage sharing, strides as PyTorch's, values against index
// maps on random shapes and layouts, 0-d and zero-size tensors, error messages.
#include <random>

#include "support/reference.hpp"

using namespace ember;

namespace {

// Distinct values 0, 1, 2, ... laid out in `sizes` (float64, so every value is exact).
Tensor ramp(const Dims& sizes, DType d = kFloat64) {
  return arange(product(sizes), kFloat64).reshape(sizes).to(d);
}

// The same values as t in one of three layouts: contiguous, strided last dim, or transposed
// storage (dims 0 and last swapped in memory).
Tensor layout(const Tensor& t, int which) {
  if (which == 1) return test::noncontiguous(t);
  if (which == 2 && t.dim() >= 2) return t.transpose(0, -1).contiguous().transpose(0, -1);
  return t;
}

Dims random_sizes(std::mt19937& rng, int min_dim, int max_dim, int max_size = 4) {
  int nd = std::uniform_int_distribution<int>(min_dim, max_dim)(rng);
  Dims s;
  for (int i = 0; i < nd; ++i) s.push_back(std::uniform_int_distribution<int>(1, max_size)(rng));
  return s;
}

// Every element of `v` equals base at the index `map(idx)` gives for v's multi-index idx.
template <class Map>
void require_index_map(const Tensor& v, const Tensor& base, Map map, const std::string& what) {
  std::vector<double> expected;
  for (int64_t i = 0; i < v.numel(); ++i)
    expected.push_back(test::at(base, map(test::unravel(i, v.sizes()))));
  test::require_close(v, v.sizes(), expected, what, 0, 0);
}

bool shares(const Tensor& a, const Tensor& b) { return a.storage() == b.storage(); }

}  // namespace

TEST_CASE("every view shares storage with its base and writes through", "[movement][views]") {
  Tensor base = ramp({2, 3, 4});
  struct Case {
    const char* name;
    Tensor v;
  };
  std::vector<Case> cases = {
      {"view", base.view({6, 4})},           {"reshape", base.reshape({4, -1})},
      {"flatten", base.flatten(1)},          {"squeeze", base.unsqueeze(0).squeeze()},
      {"unsqueeze", base.unsqueeze(-1)},     {"permute", base.permute({2, 0, 1})},
      {"transpose", base.transpose(-1, 0)},  {"t", base[0].t()},
      {"expand", base[0][0].expand({5, 4})}, {"slice", base.slice(2, 1, 4, 2)},
      {"narrow", base.narrow(-2, 1, 2)},     {"select", base.select(-1, 3)},
  };
  for (auto& c : cases) {
    INFO(c.name);
    CHECK(shares(c.v, base));
    Tensor before = base.clone();
    c.v.fill_(-7);
    // Every base element either got -7 (reachable through the view) or kept its value; at
    // least one changed.
    std::vector<double> b = test::values(base), old = test::values(before);
    int64_t changed = 0;
    for (size_t i = 0; i < b.size(); ++i) {
      CHECK((b[i] == -7 || b[i] == old[i]));
      changed += b[i] == -7;
    }
    CHECK(changed > 0);
    base.copy_(before);
  }
  // The element count written matches the view (no view aliases an element twice but expand).
  base.select(2, 1).fill_(100);
  std::vector<double> b = test::values(base);
  for (int64_t i = 0; i < base.numel(); ++i)
    CHECK((b[i] == 100) == (test::unravel(i, base.sizes())[2] == 1));
}

TEST_CASE("strides and offsets equal PyTorch's", "[movement][views]") {
  Tensor a = zeros({2, 3, 4});
  CHECK(a.transpose(0, 2).strides() == Dims{1, 4, 12});
  CHECK(a.transpose(-1, -3).sizes() == Dims{4, 3, 2});
  CHECK(a.permute({2, 0, 1}).strides() == Dims{1, 12, 4});
  CHECK(a.permute({-1, 0, -2}).sizes() == Dims{4, 2, 3});
  CHECK(zeros({2, 1}).expand({3, 2, 4}).strides() == Dims{0, 1, 0});
  CHECK(zeros({1}).expand({3, -1}).strides() == Dims{0, 1});
  CHECK(scalar_tensor(1.0).expand({2, 3}).strides() == Dims{0, 0});
  Tensor s = zeros({4, 6}).slice(0, 1, 4, 2).slice(1, 0, 6, 3);  // x[1::2, ::3]
  CHECK(s.sizes() == Dims{2, 2});
  CHECK(s.strides() == Dims{12, 3});
  CHECK(s.storage_offset() == 6);
  Tensor n = zeros({4, 6}).narrow(1, 2, 3);
  CHECK(n.strides() == Dims{6, 1});
  CHECK(n.storage_offset() == 2);
  Tensor sel = a.select(1, 2);
  CHECK(sel.strides() == Dims{12, 1});
  CHECK(sel.storage_offset() == 8);
  CHECK(a.select(-1, -1).storage_offset() == 3);
  CHECK(zeros({2, 1, 3}).transpose(0, 2).squeeze().strides() == Dims{1, 3});
}

TEST_CASE("is_contiguous follows the layout", "[movement][views]") {
  Tensor a = zeros({2, 3});
  CHECK(a.is_contiguous());
  CHECK_FALSE(a.t().is_contiguous());
  CHECK(zeros({2, 1}).t().is_contiguous());  // size-1 dims do not count
  CHECK(zeros({0, 3}).t().is_contiguous());  // nor does anything in an empty tensor
  CHECK(a.narrow(0, 1, 1).is_contiguous());
  CHECK_FALSE(a.narrow(1, 0, 2).is_contiguous());
  CHECK_FALSE(zeros({6}).slice(0, 0, 6, 2).is_contiguous());
  CHECK(a.select(0, 1).is_contiguous());
  CHECK_FALSE(a.select(1, 1).is_contiguous());
  CHECK_FALSE(zeros({3}).expand({2, 3}).is_contiguous());
  CHECK(zeros({3}).expand({1, 3}).is_contiguous());
  CHECK(a.t().t().is_contiguous());
  CHECK(a.permute({0, 1}).is_contiguous());
}

TEST_CASE("view: incompatible strides point to reshape", "[movement][views][error]") {
  Tensor a = zeros({2, 3});
  CHECK_THROWS_AS(a.t().view({6}), ShapeError);
  CHECK_THROWS_WITH(a.t().view({6}),
                    Catch::Contains("view: size [6] is not compatible with input tensor's size "
                                    "[3, 2] and stride [1, 3]") &&
                        Catch::Contains("use reshape instead"));
  CHECK_THROWS_WITH(a.view({5}), Catch::Contains("shape '[5]' is invalid for input of size 6"));
  CHECK_THROWS_WITH(a.view({-1, 4}),
                    Catch::Contains("shape '[-1, 4]' is invalid for input of size 6"));
  CHECK_THROWS_WITH(a.view({3, -1, -1}), Catch::Contains("only one dimension can be inferred"));
  CHECK_THROWS_WITH(a.view({-2, 3}), Catch::Contains("invalid shape dimension -2"));
  // A transposed tensor still views where the split keeps dims apart.
  Tensor b = ramp({2, 3, 4}).transpose(0, 1);  // [3, 2, 4], strides [4, 12, 1]
  Tensor v = b.view({3, 2, 2, 2});
  CHECK(shares(v, b));
  require_index_map(
      v, b,
      [](std::vector<int64_t> i) { return std::vector<int64_t>{i[0], i[1], i[2] * 2 + i[3]}; },
      "view splitting the contiguous last dim");
  CHECK_THROWS_WITH(b.view({6, 4}), Catch::Contains("use reshape instead"));
}

TEST_CASE("reshape copies only when a view is impossible", "[movement][views]") {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 12; ++trial) {
    Dims sizes = random_sizes(rng, 1, 4);
    Tensor base = ramp(sizes, trial % 2 ? kFloat32 : kFloat64);
    for (int which = 0; which < 3; ++which) {
      Tensor x = layout(base, which);
      INFO("trial " << trial << " sizes " << sizes << " layout " << which);
      Tensor r = x.reshape({-1});
      // The strided layout is one uniform stride (2) and still views as 1-d; the transposed
      // one only when it happens to be contiguous (size-1 dims).
      CHECK(shares(r, x) == (which == 1 || x.is_contiguous()));
      test::require_close(r, {x.numel()}, test::values(base), "reshape(-1)", 0, 0);
      Tensor back = r.reshape(sizes);
      CHECK(shares(back, r));
      test::require_close(back, sizes, test::values(base), "reshape back", 0, 0);
    }
  }
  // A non-contiguous tensor that can still be viewed is not copied.
  Tensor a = ramp({4, 6}).slice(0, 0, 4, 2);  // rows 0 and 2
  Tensor r = a.reshape({2, 2, 3});
  CHECK(shares(r, a));
  require_index_map(
      r, a, [](std::vector<int64_t> i) { return std::vector<int64_t>{i[0], i[1] * 3 + i[2]}; },
      "reshape of row slice");
  CHECK_THROWS_WITH(a.reshape({7}), Catch::Contains("shape '[7]' is invalid for input of size 12"));
}

TEST_CASE("flatten with negative and partial dims", "[movement][views]") {
  Tensor a = ramp({2, 3, 4, 5});
  CHECK(a.flatten().sizes() == Dims{120});
  CHECK(a.flatten(1).sizes() == Dims{2, 60});
  CHECK(a.flatten(1, -2).sizes() == Dims{2, 12, 5});
  CHECK(a.flatten(-2, -1).sizes() == Dims{2, 3, 20});
  CHECK(a.flatten(2, 2).sizes() == Dims{2, 3, 4, 5});
  Tensor tt = a.transpose(1, 2);
  Tensor f = tt.flatten(1, 2);  // needs a copy
  CHECK_FALSE(shares(f, tt));
  require_index_map(
      f, tt,
      [](std::vector<int64_t> i) { return std::vector<int64_t>{i[0], i[1] / 3, i[1] % 3, i[2]}; },
      "flatten of transposed");
  CHECK(scalar_tensor(3.0).flatten().sizes() == Dims{1});
  CHECK(zeros({0, 3}).flatten().sizes() == Dims{0});
  CHECK_THROWS_WITH(a.flatten(2, 1),
                    Catch::Contains("start_dim (2) cannot come after end_dim (1)"));
  CHECK_THROWS_WITH(a.flatten(0, 4), Catch::Contains("dimension out of range"));
}

TEST_CASE("squeeze and unsqueeze edge cases", "[movement][views]") {
  Tensor a = ramp({1, 3, 1, 2});
  CHECK(a.squeeze().sizes() == Dims{3, 2});
  CHECK(a.squeeze(0).sizes() == Dims{3, 1, 2});
  CHECK(a.squeeze(-2).sizes() == Dims{1, 3, 2});
  CHECK(a.squeeze(1).sizes() == Dims{1, 3, 1, 2});  // not size 1: unchanged
  CHECK(shares(a.squeeze(1), a));
  CHECK(ones({1, 1}).squeeze().sizes() == Dims{});
  CHECK(zeros({0, 1}).squeeze().sizes() == Dims{0});
  CHECK_THROWS_WITH(a.squeeze(4), Catch::Contains("dimension out of range (expected to be in "
                                                  "range of [-4, 3], but got 4)"));
  CHECK(a.unsqueeze(0).sizes() == Dims{1, 1, 3, 1, 2});
  CHECK(a.unsqueeze(4).sizes() == Dims{1, 3, 1, 2, 1});
  CHECK(a.unsqueeze(-1).sizes() == Dims{1, 3, 1, 2, 1});
  CHECK(a.unsqueeze(-5).sizes() == Dims{1, 1, 3, 1, 2});
  CHECK_THROWS_AS(a.unsqueeze(5), IndexError);
  CHECK_THROWS_WITH(a.unsqueeze(-6), Catch::Contains("but got -6"));
  // unsqueeze of a non-contiguous tensor keeps its layout.
  Tensor tt = ramp({2, 3}).t();
  Tensor u = tt.unsqueeze(1);
  CHECK(u.sizes() == Dims{3, 1, 2});
  CHECK(u.stride(0) == 1);
  CHECK(u.stride(2) == 3);
  require_index_map(
      u, tt, [](std::vector<int64_t> i) { return std::vector<int64_t>{i[0], i[2]}; },
      "unsqueeze of transposed");
  // 0-d
  Tensor s = scalar_tensor(2.5);
  CHECK(s.squeeze().sizes() == Dims{});
  CHECK(s.squeeze(0).sizes() == Dims{});
  CHECK(s.squeeze(-1).sizes() == Dims{});
  CHECK_THROWS_AS(s.squeeze(1), IndexError);
  CHECK(s.unsqueeze(0).sizes() == Dims{1});
  CHECK(s.unsqueeze(-1).sizes() == Dims{1});
  CHECK_THROWS_AS(s.unsqueeze(1), IndexError);
  CHECK(s.unsqueeze(0).item<double>() == 2.5);
}

TEST_CASE("permute, transpose and t against index maps", "[movement][views]") {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 10; ++trial) {
    Dims sizes = random_sizes(rng, 1, 5);
    int64_t nd = static_cast<int64_t>(sizes.size());
    Tensor base = layout(ramp(sizes), trial % 3);
    std::vector<int64_t> perm(static_cast<size_t>(nd));
    for (int64_t i = 0; i < nd; ++i) perm[i] = i;
    std::shuffle(perm.begin(), perm.end(), rng);
    Dims p;
    for (int64_t d : perm) p.push_back(trial % 2 ? d - nd : d);  // negative dims half the time
    INFO("trial " << trial << " sizes " << sizes << " perm " << p);
    Tensor v = base.permute(p);
    CHECK(shares(v, base));
    require_index_map(
        v, base,
        [&](std::vector<int64_t> i) {
          std::vector<int64_t> j(i.size());
          for (size_t k = 0; k < i.size(); ++k) j[perm[k]] = i[k];
          return j;
        },
        "permute");
    int64_t d0 = std::uniform_int_distribution<int64_t>(-nd, nd - 1)(rng);
    int64_t d1 = std::uniform_int_distribution<int64_t>(-nd, nd - 1)(rng);
    int64_t w0 = d0 < 0 ? d0 + nd : d0, w1 = d1 < 0 ? d1 + nd : d1;
    require_index_map(
        base.transpose(d0, d1), base,
        [&](std::vector<int64_t> i) {
          std::swap(i[w0], i[w1]);
          return i;
        },
        "transpose");
  }
  Tensor m = ramp({2, 3});
  require_index_map(
      m.t(), m, [](std::vector<int64_t> i) { return std::vector<int64_t>{i[1], i[0]}; }, "t");
  CHECK(ramp({4}).t().sizes() == Dims{4});
  CHECK(scalar_tensor(1.0).t().sizes() == Dims{});
  CHECK(scalar_tensor(1.0).transpose(0, -1).sizes() == Dims{});
  CHECK(scalar_tensor(1.0).permute({}).sizes() == Dims{});
}

TEST_CASE("permute, transpose and t errors", "[movement][views][error]") {
  Tensor a = zeros({2, 3, 4});
  CHECK_THROWS_WITH(a.permute({2, 0, 0}), Catch::Contains("permute: repeated dim 0"));
  CHECK_THROWS_WITH(a.permute({2, 0, -3}), Catch::Contains("repeated dim -3"));
  CHECK_THROWS_WITH(a.permute({2, 0}),
                    Catch::Contains("number of dims in the permutation (2) doesn't match the "
                                    "number of dims of the tensor (3)"));
  CHECK_THROWS_WITH(a.permute({0, 1, 3}), Catch::Contains("but got 3"));
  CHECK_THROWS_WITH(a.transpose(0, 3), Catch::Contains("expected to be in range of [-3, 2]"));
  CHECK_THROWS_AS(scalar_tensor(1.0).transpose(5, 3), IndexError);
  CHECK_THROWS_WITH(a.t(), Catch::Contains("t: expects a tensor with <= 2 dimensions, but self "
                                           "is 3D"));
}

TEST_CASE("expand against index maps and its errors", "[movement][views]") {
  Tensor a = layout(ramp({3, 1, 4}), 2);
  Tensor e = a.expand({2, 3, 5, -1});
  CHECK(e.sizes() == Dims{2, 3, 5, 4});
  CHECK(shares(e, a));
  require_index_map(
      e, a, [](std::vector<int64_t> i) { return std::vector<int64_t>{i[1], 0, i[3]}; }, "expand");
  CHECK(a.expand_as(zeros({3, 2, 4})).sizes() == Dims{3, 2, 4});
  CHECK(zeros({1, 3}).expand({0, 3}).sizes() == Dims{0, 3});
  CHECK(zeros({0, 1}).expand({0, 4}).sizes() == Dims{0, 4});
  Tensor s = scalar_tensor(4.0).expand({2, 2});
  test::require_close(s, {2, 2}, {4, 4, 4, 4}, "expand 0-d");
  CHECK(scalar_tensor(4.0).expand({}).sizes() == Dims{});

  Tensor b = zeros({2, 3});
  CHECK_THROWS_WITH(b.expand({4}),
                    Catch::Contains("the number of sizes provided (1) must be greater or equal to "
                                    "the number of dimensions in the tensor (2)"));
  CHECK_THROWS_WITH(b.expand({2, 4}),
                    Catch::Contains("the expanded size of the tensor (4) must match the existing "
                                    "size (3) at non-singleton dimension 1.  Target sizes: "
                                    "[2, 4].  Tensor sizes: [2, 3]"));
  CHECK_THROWS_WITH(b.expand({-1, 2, 3}),
                    Catch::Contains("the expanded size of the tensor (-1) isn't allowed in a "
                                    "leading, non-existing dimension 0"));
  CHECK_THROWS_WITH(zeros({1}).expand({-2}), Catch::Contains("expand: invalid size -2"));
}

TEST_CASE("slice, narrow and select against index maps", "[movement][views]") {
  std::mt19937 rng(23);
  for (int trial = 0; trial < 12; ++trial) {
    Dims sizes = random_sizes(rng, 1, 4, 6);
    int64_t nd = static_cast<int64_t>(sizes.size());
    Tensor base = layout(ramp(sizes, trial % 2 ? kFloat32 : kInt64), trial % 3);
    int64_t d = std::uniform_int_distribution<int64_t>(-nd, nd - 1)(rng);
    int64_t w = d < 0 ? d + nd : d, n = sizes[w];
    int64_t start = std::uniform_int_distribution<int64_t>(-n, n)(rng);
    int64_t end = std::uniform_int_distribution<int64_t>(-n - 1, n + 2)(rng);
    int64_t step = std::uniform_int_distribution<int64_t>(1, 3)(rng);
    INFO("trial " << trial << " sizes " << sizes << " dim " << d << " start " << start << " end "
                  << end << " step " << step);
    // Python slice semantics for the reference.
    int64_t s0 = std::clamp<int64_t>(start < 0 ? start + n : start, 0, n);
    int64_t e0 = std::clamp<int64_t>(end < 0 ? end + n : end, 0, n);
    int64_t len = e0 > s0 ? (e0 - s0 + step - 1) / step : 0;
    Tensor v = base.slice(d, start, end, step);
    CHECK(v.size(w) == len);
    CHECK(shares(v, base));
    require_index_map(
        v, base,
        [&](std::vector<int64_t> i) {
          i[w] = s0 + i[w] * step;
          return i;
        },
        "slice");

    int64_t nstart = std::uniform_int_distribution<int64_t>(0, n)(rng);
    int64_t nlen = std::uniform_int_distribution<int64_t>(0, n - nstart)(rng);
    require_index_map(
        base.narrow(d, nstart, nlen), base,
        [&](std::vector<int64_t> i) {
          i[w] += nstart;
          return i;
        },
        "narrow");
    int64_t idx = std::uniform_int_distribution<int64_t>(-n, n - 1)(rng);
    Tensor sel = base.select(d, idx);
    CHECK(sel.dim() == nd - 1);
    require_index_map(
        sel, base,
        [&](std::vector<int64_t> i) {
          i.insert(i.begin() + w, idx < 0 ? idx + n : idx);
          return i;
        },
        "select");
  }
  Tensor a = ramp({2, 3});
  CHECK(a.slice(1, 5, 9).sizes() == Dims{2, 0});
  CHECK(a.narrow(1, -1, 1).sizes() == Dims{2, 1});
  CHECK(a.narrow(1, 3, 0).sizes() == Dims{2, 0});
  CHECK(a[1].sizes() == Dims{3});
  CHECK(a[1][2].item<double>() == 5);
  CHECK(a[-1][-3].item<double>() == 3);
  CHECK(zeros({0, 3}).select(1, 2).sizes() == Dims{0});
}

TEST_CASE("slice, narrow and select errors", "[movement][views][error]") {
  Tensor a = zeros({2, 3});
  Tensor s = scalar_tensor(1.0);
  CHECK_THROWS_WITH(a.slice(1, 0, 3, 0), Catch::Contains("slice: step must be positive, got 0"));
  CHECK_THROWS_WITH(a.slice(1, 0, 3, -1), Catch::Contains("step must be positive, got -1"));
  CHECK_THROWS_WITH(a.slice(2, 0, 1), Catch::Contains("but got 2"));
  CHECK_THROWS_WITH(s.slice(0, 0, 1), Catch::Contains("slice: cannot be applied to a 0-dim"));
  CHECK_THROWS_WITH(a.narrow(1, 2, 2), Catch::Contains("start (2) + length (2) exceeds "
                                                       "dimension size (3)"));
  CHECK_THROWS_WITH(a.narrow(1, 4, 0), Catch::Contains("start (4) out of range for dimension 1"));
  CHECK_THROWS_WITH(a.narrow(1, -4, 1), Catch::Contains("out of range for dimension 1"));
  CHECK_THROWS_AS(a.narrow(1, 0, -1), IndexError);
  CHECK_THROWS_WITH(s.narrow(0, 0, 1), Catch::Contains("narrow: cannot be applied to a 0-dim"));
  CHECK_THROWS_WITH(a.select(1, 3), Catch::Contains("select: index 3 out of range for tensor of "
                                                    "size [2, 3] at dimension 1"));
  CHECK_THROWS_WITH(a.select(-1, -4), Catch::Contains("index -4 out of range"));
  CHECK_THROWS_WITH(a.select(-3, 0), Catch::Contains("dimension out of range"));
  CHECK_THROWS_WITH(s.select(0, 0), Catch::Contains("select: cannot be applied to a 0-dim"));
  CHECK_THROWS_AS(zeros({0, 3}).select(0, 0), IndexError);
}

TEST_CASE("views of 0-d and zero-size tensors", "[movement][views]") {
  Tensor s = scalar_tensor(3.0, kFloat64);
  CHECK(s.view({1, 1}).sizes() == Dims{1, 1});
  CHECK(s.view({-1}).sizes() == Dims{1});
  CHECK(s.view({1}).view({}).item<double>() == 3);
  CHECK(s.reshape({1}).item<double>() == 3);
  CHECK(s.expand({3}).to_vector<double>() == std::vector<double>{3, 3, 3});
  Tensor z = zeros({0, 3});
  CHECK(z.view({-1}).sizes() == Dims{0});
  CHECK(z.view({3, 0}).sizes() == Dims{3, 0});
  CHECK(z.t().view({-1}).sizes() == Dims{0});
  CHECK(z.t().sizes() == Dims{3, 0});
  CHECK(z.reshape({0, 5}).sizes() == Dims{0, 5});
  CHECK(z.unsqueeze(1).sizes() == Dims{0, 1, 3});
  CHECK(z.permute({1, 0}).sizes() == Dims{3, 0});
  CHECK(z.slice(1, 1, 3).sizes() == Dims{0, 2});
  CHECK(z.narrow(0, 0, 0).sizes() == Dims{0, 3});
  CHECK_THROWS_WITH(z.view({-1, 0}), Catch::Contains("invalid for input of size 0"));
}

TEST_CASE("copies between layouts dense along different dims match element by element",
          "[views][copy]") {
  // contiguous(), clone() and copy_ of a permuted (transposed) layout take the tiled path when
  // both dims are 4 or longer (and 4096 elements or more): every element must land where the
  // strides say, for each element size, with other dims, size-1 dims, offsets, steps and
  // partial tiles (sides under 32: one partial tile across).
  struct Case {
    Dims sizes, perm;
    int64_t step;  // of the slice taken along dim 0 of the source
  };
  const std::vector<Case> cases = {{{64, 32}, {1, 0}, 1},       {{70, 45}, {1, 0}, 1},
                                   {{3, 40, 33}, {2, 0, 1}, 1}, {{40, 1, 50}, {2, 1, 0}, 1},
                                   {{90, 35}, {1, 0}, 2},       {{5, 33, 2, 37}, {0, 3, 2, 1}, 1},
                                   {{31, 64}, {1, 0}, 1},       {{2, 3, 48, 40}, {1, 0, 3, 2}, 1},
                                   {{1100, 4}, {1, 0}, 1},      {{16, 700}, {1, 0}, 1},
                                   {{3, 9, 500}, {0, 2, 1}, 1}};
  for (DType d : {kFloat32, kFloat64, kInt64, kBool})
    for (const Case& c : cases) {
      int64_t n = 1;
      for (int64_t s : c.sizes) n *= s;
      manual_seed(static_cast<uint64_t>(n));
      Tensor base = randint(0, d == kBool ? 2 : 251, {n + 3}).to(d);
      Tensor src = base.narrow(0, 3, n).reshape(c.sizes).slice(0, 0, c.sizes[0], c.step);
      Tensor view = src.permute(c.perm);
      const int64_t last = view.dim() - 1;
      const Tensor results[] = {view.contiguous(), view.clone(),
                                zeros(view.sizes(), TensorOptions(d)).copy_(view),
                                zeros(view.sizes(), TensorOptions(d))
                                    .transpose(0, last)
                                    .copy_(view.transpose(0, last))
                                    .transpose(0, last)};
      const Tensor flat = base.to(kInt64);
      const int64_t* want = flat.data_ptr<int64_t>();
      for (const Tensor& r : results) {
        Tensor got = r.to(kInt64).contiguous();
        INFO("dtype " << dtype_name(d) << ", sizes " << c.sizes << ", step " << c.step);
        REQUIRE(got.sizes() == view.sizes());
        const int64_t* g = got.data_ptr<int64_t>();
        Dims idx(static_cast<size_t>(view.dim()), 0);
        bool all = true;
        for (int64_t i = 0; i < got.numel() && all; ++i) {
          int64_t off = view.storage_offset();
          for (int64_t k = 0; k < view.dim(); ++k) off += idx[k] * view.stride(k);
          all = g[i] == want[off];
          for (int64_t k = view.dim(); k-- > 0;)
            if (++idx[k] < view.size(k))
              break;
            else
              idx[k] = 0;
        }
        CHECK(all);
      }
    }
}
