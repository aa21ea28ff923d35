// DType facts, PyTorch's type promotion (promote, result_type and the dtypes ops return), the
// default dtype, conversions, and Scalar.
#include <sstream>

#include "runtime/shape.hpp"
#include "support/reference.hpp"

using namespace ember;

namespace {

constexpr DType kAll[] = {kFloat32, kFloat64, kInt64, kBool};

// A dimensioned tensor, a 0-d tensor and a wrapped number of dtype d.
Tensor dimmed(DType d) { return ones({2}, d); }
Tensor zero_dim(DType d) { return ones({}, d); }

}  // namespace

TEST_CASE("dtype facts and names", "[runtime][dtype]") {
  CHECK(element_size(kFloat32) == 4);
  CHECK(element_size(kFloat64) == 8);
  CHECK(element_size(kInt64) == 8);
  CHECK(element_size(kBool) == 1);
  CHECK(is_floating(kFloat32));
  CHECK(is_floating(kFloat64));
  CHECK_FALSE(is_floating(kInt64));
  CHECK_FALSE(is_floating(kBool));
  CHECK(is_integral(kInt64));
  CHECK_FALSE(is_integral(kBool));
  CHECK(is_integral(kBool, true));
  CHECK_FALSE(is_integral(kFloat32, true));
  CHECK(std::string(dtype_name(kFloat64)) == "float64");
  CHECK(std::string(dtype_name(kBool)) == "bool");
  std::ostringstream os;
  os << kFloat32 << " " << kInt64;
  CHECK(os.str() == "ember.float32 ember.int64");
  CHECK(kFloat == kFloat32);
  CHECK(kDouble == kFloat64);
  CHECK(kLong == kInt64);
  for (DType d : kAll) {
    INFO(d);
    CHECK(zeros({3}, d).element_size() == element_size(d));
    CHECK(visit_dtype(d, [](auto x) { return dtype_of_v<decltype(x)>; }) == d);
  }
}

TEST_CASE("promote follows torch.promote_types", "[runtime][dtype]") {
  // Rows and columns in kAll order: float32, float64, int64, bool.
  const DType expected[4][4] = {{kFloat32, kFloat64, kFloat32, kFloat32},
                                {kFloat64, kFloat64, kFloat64, kFloat64},
                                {kFloat32, kFloat64, kInt64, kInt64},
                                {kFloat32, kFloat64, kInt64, kBool}};
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) {
      INFO(kAll[i] << " with " << kAll[j]);
      CHECK(promote(kAll[i], kAll[j]) == expected[i][j]);
      // Two dimensioned tensors promote the same way, and so do two 0-d tensors.
      CHECK(result_type(dimmed(kAll[i]), dimmed(kAll[j])) == expected[i][j]);
      CHECK(result_type(zero_dim(kAll[i]), zero_dim(kAll[j])) == expected[i][j]);
    }
  }
  static_assert(promote(kInt64, kFloat32) == kFloat32);
}

TEST_CASE("result_type ranks dimensioned, 0-d and wrapped operands", "[runtime][dtype]") {
  struct Case {
    Tensor a, b;
    DType expected;
    const char* what;
  };
  const Case cases[] = {
      {dimmed(kFloat32), zero_dim(kFloat64), kFloat32, "f32 tensor + 0-d f64"},
      {zero_dim(kFloat64), dimmed(kFloat32), kFloat32, "0-d f64 + f32 tensor"},
      {dimmed(kInt64), zero_dim(kFloat32), kFloat32, "int tensor + 0-d f32"},
      {dimmed(kInt64), zero_dim(kFloat64), kFloat64, "int tensor + 0-d f64"},
      {dimmed(kBool), zero_dim(kInt64), kInt64, "bool tensor + 0-d int"},
      {dimmed(kInt64), wrapped_scalar(1.5), kFloat32, "int tensor + 1.5"},
      {dimmed(kBool), wrapped_scalar(2), kInt64, "bool tensor + 2"},
      {dimmed(kBool), wrapped_scalar(true), kBool, "bool tensor + true"},
      {dimmed(kFloat32), wrapped_scalar(2), kFloat32, "f32 tensor + 2"},
      {dimmed(kFloat64), wrapped_scalar(1.5), kFloat64, "f64 tensor + 1.5"},
      {dimmed(kInt64), wrapped_scalar(3), kInt64, "int tensor + 3"},
      {zero_dim(kInt64), wrapped_scalar(1.5), kFloat32, "0-d int + 1.5"},
      {zero_dim(kFloat64), wrapped_scalar(2), kFloat64, "0-d f64 + 2"},
      {wrapped_scalar(2), wrapped_scalar(1.5), kFloat32, "2 + 1.5"},
      {dimmed(kFloat32), dimmed(kFloat64), kFloat64, "f32 tensor + f64 tensor"},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    CHECK(result_type(c.a, c.b) == c.expected);
    CHECK(add(c.a, c.b).dtype() == c.expected);
    CHECK(mul(c.b, c.a).dtype() == c.expected);
  }
  Tensor three[] = {dimmed(kBool), zero_dim(kInt64), wrapped_scalar(0.5)};
  CHECK(result_type(std::span<const Tensor>(three, 3)) == kFloat32);
}

TEST_CASE("ops return PyTorch's dtypes", "[runtime][dtype]") {
  Tensor i = arange(1, 4), f = tensor({1.5, 2.5, 3.5}), b = tensor({1, 0, 1}, kBool);
  CHECK((i / i).dtype() == kFloat32);  // true division
  test::require_close(i / arange(2, 5), {3}, {0.5, 2.0 / 3, 0.75}, "int / int");
  CHECK((i + 1.5).dtype() == kFloat32);
  test::require_close(i + 1.5, {3}, {2.5, 3.5, 4.5}, "int + 1.5");
  Tensor f64_scalar = scalar_tensor(0.1, kFloat64);
  Tensor sum = f + f64_scalar;
  CHECK(sum.dtype() == kFloat32);  // computed in float32: 1.5f + 0.1f
  CHECK(sum.to_vector<float>()[0] == 1.5f + 0.1f);
  CHECK((i + scalar_tensor(0.5)).dtype() == kFloat32);
  test::require_close(i + scalar_tensor(0.5), {3}, {1.5, 2.5, 3.5}, "int + 0-d float");
  CHECK((b + b).dtype() == kBool);
  CHECK((b * b).dtype() == kBool);
  test::require_close(b * tensor({1, 1, 0}, kBool), {3}, {1, 0, 0}, "bool * bool is and");
  CHECK((b + 1).dtype() == kInt64);
  test::require_close(b + 1, {3}, {2, 1, 2}, "bool + 1");
  for (DType x : kAll) {
    for (DType y : kAll) {
      INFO(x << " vs " << y);
      Tensor p = ones({2}, x), q = zeros({2}, y);
      for (Tensor r :
           {p == q, p != q, p<q, p <= q, p> q, p >= q, logical_and(p, q), logical_or(p, q)})
        CHECK(r.dtype() == kBool);
      test::require_close(p > q, {2}, {1, 1}, "1 > 0 in any dtype pair");
    }
  }
  CHECK((i == 1.5).dtype() == kBool);
  test::require_close(i == 1.5, {3}, {0, 0, 0}, "int == 1.5 compares as float");
  test::require_close(tensor({1.5}) == scalar_tensor(1.5, kFloat64), {1}, {1}, "f32 == 0-d f64");
  CHECK(exp(b).dtype() == kFloat32);
  CHECK(relu(i).dtype() == kInt64);
  CHECK(maximum(i, scalar_tensor(1.5)).dtype() == kFloat32);
  CHECK(where(b, i, scalar_tensor(2.5)).dtype() == kFloat32);
  CHECK(where(b, i, i).dtype() == kInt64);
  // int64 + 0.0 rounds through float32, as in PyTorch.
  CHECK((tensor(std::vector<int64_t>{16777217}) + 0.0).item<double>() == 16777216.0);
}

TEST_CASE("the default dtype drives floating results", "[runtime][dtype]") {
  CHECK(default_dtype() == kFloat32);
  set_default_dtype(kFloat64);
  DType z = zeros({2}).dtype(), r = randn({2}).dtype(), t = tensor({1.5}).dtype();
  DType a = (arange(3) + 1.5).dtype(), q = (arange(3) / 2).dtype(), e = exp(arange(3)).dtype();
  DType fs = (ones({2}, kFloat32) + 1.5).dtype();
  set_default_dtype(kFloat32);
  CHECK(z == kFloat64);
  CHECK(r == kFloat64);
  CHECK(t == kFloat64);
  CHECK(a == kFloat64);
  CHECK(q == kFloat64);
  CHECK(e == kFloat64);
  CHECK(fs == kFloat32);  // a wrapped float does not promote a float32 tensor
  CHECK_THROWS_AS(set_default_dtype(kInt64), DTypeError);
  CHECK_THROWS_WITH(set_default_dtype(kBool),
                    Catch::Contains("set_default_dtype: expected a floating dtype, got bool"));
  CHECK(default_dtype() == kFloat32);
}

TEST_CASE("to(dtype) converts values as C++ casts do", "[runtime][dtype]") {
  Tensor f = tensor({2.5, -2.5, 0, 1e10});
  test::require_close(f.to(kInt64), {4}, {2, -2, 0, 1e10}, "float -> int truncates", 0, 0);
  test::require_close(f.to(kBool), {4}, {1, 1, 0, 1}, "float -> bool", 0, 0);
  test::require_close(tensor({1, 0}, kBool).to(kFloat64), {2}, {1, 0}, "bool -> f64", 0, 0);
  CHECK(tensor({0.1}, kFloat64).to(kFloat32).item<double>() == static_cast<double>(0.1f));
  Tensor nc = arange(6).reshape({2, 3}).t();
  Tensor nf = nc.to(kFloat32);
  CHECK(nf.is_contiguous());
  test::require_close(nf, {3, 2}, {0, 3, 1, 4, 2, 5}, "non-contiguous to()", 0, 0);
  CHECK(f.to(kFloat32).is_same(f));  // same dtype: the same tensor, no copy
  CHECK(cast(f, kFloat32).is_same(f));
  CHECK(cast(f, kFloat64).dtype() == kFloat64);
  for (DType d : kAll) CHECK(zeros({0, 2}).to(d).sizes() == Dims{0, 2});
}

TEST_CASE("Scalar keeps ints exact and knows its kind", "[runtime][dtype]") {
  Scalar i = 7, l = int64_t{1} << 62, d = 2.75, f = 0.5f, b = true, none;
  CHECK(i.kind() == kInt64);
  CHECK(d.kind() == kFloat64);
  CHECK(f.kind() == kFloat64);
  CHECK(b.kind() == kBool);
  CHECK(none.kind() == kInt64);
  CHECK(none.to_int() == 0);
  CHECK(d.is_floating());
  CHECK_FALSE(i.is_floating());
  CHECK(d.to_int() == 2);
  CHECK(Scalar(-2.75).to_int() == -2);
  CHECK(d.to<float>() == 2.75f);
  CHECK(i.to_double() == 7.0);
  CHECK(b.to<double>() == 1.0);
  CHECK(Scalar(0.0).to<bool>() == false);
  CHECK(Scalar(0.25).to<bool>() == true);
  int64_t big = (int64_t{1} << 62) + 1;  // not representable as a double
  CHECK(Scalar(big).to_int() == big);
  CHECK(Scalar(big).to<int64_t>() == big);
  CHECK(l.to_int() == int64_t{1} << 62);
  CHECK(full({1}, big).item<int64_t>() == big);
  CHECK((tensor(std::vector<int64_t>{big}) + 1).item<int64_t>() == big + 1);
  CHECK(Scalar(uint8_t{200}).to_int() == 200);
  // item() reports the tensor's kind.
  CHECK(scalar_tensor(1.5).item().kind() == kFloat64);
  CHECK(scalar_tensor(big).item().to_int() == big);
  CHECK(scalar_tensor(false).item().kind() == kBool);
  CHECK(scalar_tensor(2.5).item<int64_t>() == 2);
  CHECK_THROWS_WITH(
      zeros({2}).item(),
      Catch::Contains("item: a Tensor with 2 elements cannot be converted to Scalar"));
  // A wrapped number is 0-d, float64 for floating values, and flagged.
  Tensor w = wrapped_scalar(0.1);
  CHECK(w.is_wrapped_number());
  CHECK(w.dtype() == kFloat64);
  CHECK(w.item<double>() == 0.1);
  CHECK(wrapped_scalar(3).dtype() == kInt64);
  CHECK_FALSE(scalar_tensor(0.1).is_wrapped_number());
}
