// Creation functions: zeros/ones/full, arange, linspace, eye, *_like, from_blob, tensor(...).
#include <cmath>
#include <vector>

#include "support/reference.hpp"

using namespace ember;

TEST_CASE("zeros, ones, full and empty take sizes and dtype", "[runtime][creation]") {
  for (DType d : {kFloat32, kFloat64, kInt64, kBool}) {
    INFO("dtype " << d);
    Tensor z = zeros({2, 3}, d), o = ones({4}, d);
    CHECK(z.dtype() == d);
    CHECK(z.is_contiguous());
    test::require_close(z, {2, 3}, std::vector<double>(6, 0), "zeros", 0, 0);
    test::require_close(o, {4}, std::vector<double>(4, 1), "ones", 0, 0);
    CHECK(empty({3, 0, 2}, d).numel() == 0);
    CHECK(empty({5, 2}, d).sizes() == Dims{5, 2});
  }
  CHECK(zeros({2}).dtype() == kFloat32);
  test::require_close(zeros({}), {}, {0}, "0-d zeros");
  // full's dtype follows the value unless one is given, as torch.full.
  CHECK(full({2}, 7).dtype() == kInt64);
  CHECK(full({2}, 1.5).dtype() == kFloat32);
  CHECK(full({2}, true).dtype() == kBool);
  test::require_close(full({2, 2}, -2.5, kFloat64), {2, 2}, {-2.5, -2.5, -2.5, -2.5}, "full");
  CHECK(full({1}, 3.75, kInt64).item<int64_t>() == 3);
  CHECK(ones({2}, TensorOptions().requires_grad(true)).requires_grad());
  CHECK_FALSE(ones({2}).requires_grad());
  CHECK_THROWS_WITH(zeros({2, -1}), Catch::Contains("negative dimension -1 in sizes [2, -1]"));
  CHECK_THROWS_WITH(ones({2}, TensorOptions(kInt64).requires_grad(true)),
                    Catch::Contains("only tensors of floating point dtype can require gradients"));
}

TEST_CASE("scalar_tensor and tensor(...) build values and shapes", "[runtime][creation]") {
  CHECK(scalar_tensor(2.5).dtype() == kFloat32);
  CHECK(scalar_tensor(int64_t{4}).dtype() == kInt64);
  CHECK(scalar_tensor(true).dtype() == kBool);
  CHECK(scalar_tensor(2.5).dim() == 0);
  CHECK(scalar_tensor(2.5, kFloat64).item<double>() == 2.5);

  Tensor v = tensor({1.5, -2, 3});
  CHECK(v.dtype() == kFloat32);
  test::require_close(v, {3}, {1.5, -2, 3}, "1-d list", 0, 0);
  Tensor m = tensor({{1, 2, 3}, {4, 5, 6}}, kInt64);
  CHECK(m.dtype() == kInt64);
  test::require_close(m, {2, 3}, {1, 2, 3, 4, 5, 6}, "nested list", 0, 0);
  CHECK(m[1][2].item<int64_t>() == 6);
  test::require_close(tensor(std::initializer_list<Scalar>{}), {0}, {}, "empty list");
  CHECK(tensor({1.0}, TensorOptions(kFloat64).requires_grad(true)).requires_grad());

  // std::vector overloads take their dtype from the element type and an optional shape.
  Tensor f = tensor(std::vector<float>{1, 2, 3, 4, 5, 6}, {3, 2});
  CHECK(f.dtype() == kFloat32);
  CHECK(f.sizes() == Dims{3, 2});
  CHECK(tensor(std::vector<double>{0.1}).dtype() == kFloat64);
  CHECK(tensor(std::vector<double>{0.1}).item<double>() == 0.1);  // no float rounding
  Tensor big = tensor(std::vector<int64_t>{int64_t{1} << 62, -7});
  CHECK(big.dtype() == kInt64);
  CHECK(big.to_vector<int64_t>() == std::vector<int64_t>{int64_t{1} << 62, -7});
  // Without sizes a vector makes a 1-d tensor, even of one element.
  test::require_close(tensor(std::vector<double>{42}), {1}, {42}, "one-element vector");

  CHECK_THROWS_AS(tensor(std::vector<float>{1, 2, 3, 4, 5}, {2, 3}), ShapeError);
  CHECK_THROWS_WITH(tensor(std::vector<float>{1, 2, 3, 4, 5}, {2, 3}),
                    Catch::Contains("5 values do not fill shape [2, 3]"));
  CHECK_THROWS_WITH(tensor({{1, 2}, {3}}),
                    Catch::Contains("expected rows of length 2 but got one of length 1"));
}

TEST_CASE("arange matches start + i * step for every sign and dtype", "[runtime][creation]") {
  struct Case {
    Scalar start, end, step;
    DType dtype;
  };
  std::vector<Case> cases = {{0, 5, 1, kInt64},           {5, 0, -1, kInt64},
                             {0, 10, 3, kInt64},          {-3, 4, 2, kInt64},
                             {2, 2, 1, kInt64},           {0.0, 1.0, 0.1, kFloat32},
                             {1.0, -1.0, -0.5, kFloat32}, {-1.0, 1.0, 0.3, kFloat32},
                             {0, 5, 1.5, kFloat32},       {10.0, 0.0, -2.5, kFloat32}};
  for (const Case& c : cases) {
    double s = c.start.to_double(), e = c.end.to_double(), st = c.step.to_double();
    INFO("arange(" << s << ", " << e << ", " << st << ")");
    Tensor t = arange(c.start, c.end, c.step);
    std::vector<double> expected;
    for (int64_t i = 0;; ++i) {
      double x = s + static_cast<double>(i) * st;
      if (st > 0 ? x >= e : x <= e) break;
      expected.push_back(x);
    }
    CHECK(t.dtype() == c.dtype);
    test::require_close(t, {static_cast<int64_t>(expected.size())}, expected, "arange", 1e-6, 1e-6);
  }
  CHECK(arange(4).dtype() == kInt64);
  CHECK(arange(4.0).dtype() == kFloat32);
  test::require_close(arange(4, kFloat64), {4}, {0, 1, 2, 3}, "arange(4, float64)", 0, 0);
  CHECK(arange(4, kFloat64).dtype() == kFloat64);
  test::require_close(arange(0, 3, 1, kFloat32), {3}, {0, 1, 2}, "int args, float dtype", 0, 0);
  CHECK_THROWS_WITH(arange(0, 5, 0), Catch::Contains("arange: step must be nonzero"));
  CHECK_THROWS_WITH(arange(0, 5, -1),
                    Catch::Contains("upper bound and larger bound inconsistent with step sign"));
}

TEST_CASE("linspace hits both ends and is evenly spaced", "[runtime][creation]") {
  for (int64_t steps : {0, 1, 2, 5, 7, 100}) {
    for (auto [lo, hi] : {std::pair{0.0, 1.0}, std::pair{3.0, -2.0}, std::pair{-1.0, 1.0}}) {
      INFO("linspace(" << lo << ", " << hi << ", " << steps << ")");
      Tensor t = linspace(lo, hi, steps);
      std::vector<double> expected;
      for (int64_t i = 0; i < steps; ++i)
        expected.push_back(steps == 1 ? lo : lo + (hi - lo) * i / (steps - 1));
      CHECK(t.dtype() == kFloat32);
      test::require_close(t, {steps}, expected, "linspace", 1e-6, 1e-6);
      if (steps > 1) CHECK(t.to_vector<float>().back() == static_cast<float>(hi));
    }
  }
  test::require_close(linspace(0, 10, 5, kInt64), {5}, {0, 2, 5, 7, 10}, "int linspace", 0, 0);
  test::require_close(linspace(0, 1, 3, kFloat64), {3}, {0, 0.5, 1}, "f64 linspace", 0, 0);
  CHECK_THROWS_WITH(linspace(0, 1, -1), Catch::Contains("number of steps must be non-negative"));
}

TEST_CASE("eye places ones on the diagonal", "[runtime][creation]") {
  for (auto [n, m] : {std::pair<int64_t, int64_t>{3, 3}, {2, 4}, {4, 2}, {0, 0}, {1, 1}}) {
    INFO("eye(" << n << ", " << m << ")");
    Tensor t = eye(n, m);
    std::vector<double> expected;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < m; ++j) expected.push_back(i == j);
    test::require_close(t, {n, m}, expected, "eye", 0, 0);
  }
  CHECK(eye(3).sizes() == Dims{3, 3});
  CHECK(eye(2, std::nullopt, kInt64).dtype() == kInt64);
  test::require_close(eye(2, std::nullopt, kBool), {2, 2}, {1, 0, 0, 1}, "bool eye", 0, 0);
  CHECK_THROWS_WITH(eye(-1), Catch::Contains("eye: n and m must be non-negative"));
}

TEST_CASE("*_like copy sizes and dtype, not values or strides", "[runtime][creation]") {
  Tensor base = arange(6).to(kFloat64).reshape({2, 3}).t();
  CHECK_FALSE(base.is_contiguous());
  for (Tensor t : {zeros_like(base), ones_like(base), full_like(base, 2.5), empty_like(base),
                   rand_like(base), randn_like(base)}) {
    CHECK(t.sizes() == Dims{3, 2});
    CHECK(t.dtype() == kFloat64);
    CHECK(t.is_contiguous());
    CHECK_FALSE(t.storage() == base.storage());
  }
  test::require_close(zeros_like(base), {3, 2}, std::vector<double>(6, 0), "zeros_like", 0, 0);
  test::require_close(ones_like(base), {3, 2}, std::vector<double>(6, 1), "ones_like", 0, 0);
  test::require_close(full_like(base, 2.5), {3, 2}, std::vector<double>(6, 2.5), "full_like");
  Tensor i = ones_like(base, kInt64);
  CHECK(i.dtype() == kInt64);
  CHECK(full_like(i, 7).dtype() == kInt64);
  CHECK(zeros_like(scalar_tensor(true)).dtype() == kBool);
  CHECK(zeros_like(scalar_tensor(true)).dim() == 0);
  std::vector<double> r = test::values(rand_like(base));
  for (double x : r) CHECK((x >= 0 && x < 1));
}

TEST_CASE("from_blob views caller memory without copying", "[runtime][creation]") {
  std::vector<float> buf = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  Tensor t = from_blob(buf.data(), {3, 4});
  CHECK(t.dtype() == kFloat32);
  CHECK(t.is_contiguous());
  CHECK(t.data_ptr<float>() == buf.data());
  test::require_close(t, {3, 4}, std::vector<double>(buf.begin(), buf.end()), "from_blob", 0, 0);
  buf[5] = -1;  // the tensor sees the caller's writes ...
  CHECK(t[1][1].item<float>() == -1);
  t.select(1, 0).fill_(42);  // ... and the caller sees the tensor's
  CHECK(buf[0] == 42);
  CHECK(buf[4] == 42);
  CHECK(buf[8] == 42);

  // Strides: the second column of a row-major 4x3 double matrix, and its transpose.
  std::vector<double> mat = {0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32};
  Tensor col = from_blob(mat.data() + 1, {4}, {3}, kFloat64);
  CHECK_FALSE(col.is_contiguous());
  test::require_close(col, {4}, {1, 11, 21, 31}, "strided from_blob", 0, 0);
  Tensor tr = from_blob(mat.data(), {3, 4}, {1, 3}, kFloat64);
  test::require_close(tr, {3, 4}, {0, 10, 20, 30, 1, 11, 21, 31, 2, 12, 22, 32}, "transposed", 0,
                      0);
  Tensor doubled = tr * 2;  // ops read the foreign strides correctly
  test::require_close(doubled, {3, 4}, {0, 20, 40, 60, 2, 22, 42, 62, 4, 24, 44, 64}, "tr * 2", 0,
                      0);
  std::vector<int64_t> ints = {5, 6};
  CHECK(from_blob(ints.data(), {2}, kInt64).to_vector<int64_t>() == ints);
  CHECK_THROWS_WITH(from_blob(buf.data(), {2, 2}, {1}, kFloat32),
                    Catch::Contains("from_blob: sizes [2, 2] and strides [1] differ in length"));
}

TEST_CASE("sizes whose element or byte count overflows are ValueErrors naming them",
          "[runtime][creation][error]") {
  // issue 15: these wrapped the byte count and crashed (or read outside the allocation).
  constexpr int64_t k40 = int64_t{1} << 40, k62 = int64_t{1} << 62;
  CHECK_THROWS_MATCHES(zeros({k62}), ValueError,
                       Catch::Message("zeros: a tensor of sizes [4611686018427387904] and dtype "
                                      "float32 is too large: its byte count overflows 64 bits"));
  CHECK_THROWS_WITH(zeros({k40, k40}), Catch::Contains("zeros") &&
                                           Catch::Contains("[1099511627776, 1099511627776]") &&
                                           Catch::Contains("element count overflows"));
  CHECK_THROWS_WITH(empty({k62})[1000000].item(),
                    Catch::Contains("empty: a tensor of sizes [4611686018427387904]"));
  CHECK_THROWS_AS(ones({k62 / 2}, kInt64), ValueError);
  CHECK_THROWS_AS(full({k62, 4}, 1.0), ValueError);
  // A zero makes any other size fine (0 elements), until an op drops the zero.
  Tensor e = empty({int64_t{1} << 61, 2, 0});
  CHECK(e.numel() == 0);
  CHECK_THROWS_MATCHES(
      e.sum({2}), ValueError,
      Catch::Message("a tensor of sizes [2305843009213693952, 2] and dtype float32 "
                     "is too large: its byte count overflows 64 bits"));
  CHECK_THROWS_WITH(ones({1, 1}).expand({k40, k40}),
                    Catch::Contains("[1099511627776, 1099511627776]"));
}

TEST_CASE("memory the system refuses is an OutOfMemoryError saying how much",
          "[runtime][creation][error]") {
  // 2^60 bytes: more than any address space, whatever the overcommit policy.
  CHECK_THROWS_MATCHES(
      zeros({int64_t{1} << 58}), OutOfMemoryError,
      Catch::Message("out of memory: asked for 1152921504606846976 bytes "
                     "(1.0 EiB); ember holds " +
                     std::to_string(memory::stats().allocated_bytes) + " bytes in live tensors"));
  CHECK_THROWS_AS(zeros({int64_t{1} << 61}, kBool), OutOfMemoryError);
}

TEST_CASE("arange names itself and the size it computed", "[runtime][creation][error]") {
  CHECK_THROWS_MATCHES(arange(0.0, 1e20), ValueError,
                       Catch::Message("arange: start 0, end 1e+20 and step 1 make 1e+20 elements, "
                                      "more than a tensor can hold"));
  CHECK_THROWS_WITH(arange(0.0, INFINITY), Catch::Contains("arange") && Catch::Contains("inf"));
  CHECK_THROWS_WITH(
      arange(0, int64_t{1} << 62),
      Catch::Contains("arange: a tensor of sizes [4611686018427387904] and dtype int64"));
}

TEST_CASE("from_blob refuses a null pointer for a non-empty tensor", "[runtime][creation][error]") {
  CHECK_THROWS_MATCHES(from_blob(nullptr, {4}), ValueError,
                       Catch::Message("from_blob: data is a null pointer for 4 elements of sizes "
                                      "[4]"));
  CHECK(from_blob(nullptr, {0, 3}).numel() == 0);
  float x = 1;
  CHECK_THROWS_WITH(from_blob(&x, {int64_t{1} << 62, 4}), Catch::Contains("from_blob"));
}
