// Printing: expected strings are PyTorch 1.13's repr of the same tensors (torch. -> ember.),
// produced once with the default print options.
#include <functional>
#include <limits>
#include <sstream>

#include "support/reference.hpp"

using namespace ember;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int64_t kInt64Min = std::numeric_limits<int64_t>::min();

Tensor leaf(const Tensor& t) {
  Tensor d = t.detach();
  d.requires_grad_();
  return d;
}

struct PrintCase {
  const char* name;
  std::function<Tensor()> make;
  const char* expected;
};

}  // namespace

TEST_CASE("printing matches PyTorch's repr", "[runtime][print]") {
  // clang-format off: a data table; each expected string is one raw literal.
  const PrintCase cases[] = {
    {"vec", [] { return tensor({1., 2., 3.}); },
     R"(tensor([1., 2., 3.]))"},
    {"mat", [] { return tensor({{1.5, -2.}, {3., 4.25}}); },
     R"(tensor([[ 1.5000, -2.0000],
        [ 3.0000,  4.2500]]))"},
    {"sci_range", [] { return tensor({1e-5, 1e5}); },
     R"(tensor([1.0000e-05, 1.0000e+05]))"},
    {"ints", [] { return arange(3); },
     R"(tensor([0, 1, 2]))"},
    {"ints_neg", [] { return tensor(std::vector<int64_t>{-1, 10, 100}); },
     R"(tensor([ -1,  10, 100]))"},
    {"int64_min", [] { return tensor(std::vector<int64_t>{kInt64Min, 5}); },
     R"(tensor([-9223372036854775808,                    5]))"},
    {"bools", [] { return tensor({1, 0}, kBool); },
     R"(tensor([ True, False]))"},
    {"bool_mat", [] { return tensor({{1, 0, 1}, {0, 0, 1}}, kBool); },
     R"(tensor([[ True, False,  True],
        [False, False,  True]]))"},
    {"scalar", [] { return scalar_tensor(3.5); },
     R"(tensor(3.5000))"},
    {"scalar_int", [] { return scalar_tensor(5); },
     R"(tensor(5))"},
    {"scalar_bool", [] { return scalar_tensor(true); },
     R"(tensor(True))"},
    {"scalar_f64", [] { return scalar_tensor(2.5, kFloat64); },
     R"(tensor(2.5000, dtype=ember.float64))"},
    {"scalar_nan", [] { return scalar_tensor(kNaN); },
     R"(tensor(nan))"},
    {"scalar_small", [] { return scalar_tensor(1e-5); },
     R"(tensor(1.0000e-05))"},
    {"scalar_negzero", [] { return scalar_tensor(-0.0); },
     R"(tensor(-0.))"},
    {"empty", [] { return zeros({0}); },
     R"(tensor([]))"},
    {"empty2", [] { return zeros({0, 3}); },
     R"(tensor([], size=(0, 3)))"},
    {"empty_int", [] { return zeros({0}, kInt64); },
     R"(tensor([], dtype=ember.int64))"},
    {"empty_bool2", [] { return zeros({2, 0}, kBool); },
     R"(tensor([], size=(2, 0), dtype=ember.bool))"},
    {"empty_f64", [] { return zeros({0}, kFloat64); },
     R"(tensor([], dtype=ember.float64))"},
    {"nonfinite", [] { return tensor({kNaN, kInf, -kInf, 1.5}); },
     R"(tensor([   nan,    inf,   -inf, 1.5000]))"},
    {"nonfinite_int", [] { return tensor({kNaN, 1., -kInf}); },
     R"(tensor([nan, 1., -inf]))"},
    {"all_nonfinite", [] { return tensor({kNaN, -kInf, 0.}); },
     R"(tensor([nan, -inf, 0.]))"},
    {"negative_nan", [] { return tensor({-kNaN, 2.5}); },
     R"(tensor([   nan, 2.5000]))"},
    {"negzero", [] { return tensor({0., -0.}); },
     R"(tensor([0., -0.]))"},
    {"negzero_frac", [] { return tensor({-0., 1.5}); },
     R"(tensor([-0.0000, 1.5000]))"},
    {"f64", [] { return tensor({1., 2.}, kFloat64); },
     R"(tensor([1., 2.], dtype=ember.float64))"},
    {"f64_frac", [] { return tensor({{0.125, -3.75}}, kFloat64); },
     R"(tensor([[ 0.1250, -3.7500]], dtype=ember.float64))"},
    {"int_mode_width", [] { return tensor({1., -10., 100.}); },
     R"(tensor([  1., -10., 100.]))"},
    {"big_int_mode", [] { return tensor({1e9, 1.}); },
     R"(tensor([1.0000e+09, 1.0000e+00]))"},
    {"over_1e8", [] { return tensor({123456789.0}); },
     R"(tensor([1.2346e+08]))"},
    {"small", [] { return tensor({1e-5}); },
     R"(tensor([1.0000e-05]))"},
    {"ratio", [] { return tensor({0.001, 2.0}); },
     R"(tensor([1.0000e-03, 2.0000e+00]))"},
    {"tenths", [] { return tensor({0.1, 0.25}); },
     R"(tensor([0.1000, 0.2500]))"},
    {"rounding", [] { return tensor({2.00005, 1.99995, 0.33333}); },
     R"(tensor([2.0001, 2.0000, 0.3333]))"},
    {"sci_neg", [] { return tensor({{-1e-6, 2.5}, {3e7, kNaN}}); },
     R"(tensor([[-1.0000e-06,  2.5000e+00],
        [ 3.0000e+07,         nan]]))"},
    {"sci_huge_f64", [] { return tensor({1e200, -1e-200}, kFloat64); },
     R"(tensor([ 1.0000e+200, -1.0000e-200], dtype=ember.float64))"},
    {"wrap_float", [] { return arange(30) * 1.5; },
     R"(tensor([ 0.0000,  1.5000,  3.0000,  4.5000,  6.0000,  7.5000,  9.0000, 10.5000,
        12.0000, 13.5000, 15.0000, 16.5000, 18.0000, 19.5000, 21.0000, 22.5000,
        24.0000, 25.5000, 27.0000, 28.5000, 30.0000, 31.5000, 33.0000, 34.5000,
        36.0000, 37.5000, 39.0000, 40.5000, 42.0000, 43.5000]))"},
    {"wrap_int", [] { return arange(40) * 1000; },
     R"(tensor([    0,  1000,  2000,  3000,  4000,  5000,  6000,  7000,  8000,  9000,
        10000, 11000, 12000, 13000, 14000, 15000, 16000, 17000, 18000, 19000,
        20000, 21000, 22000, 23000, 24000, 25000, 26000, 27000, 28000, 29000,
        30000, 31000, 32000, 33000, 34000, 35000, 36000, 37000, 38000, 39000]))"},
    {"wrap_rows", [] { return arange(40).reshape({2, 20}) * 0.25; },
     R"(tensor([[0.0000, 0.2500, 0.5000, 0.7500, 1.0000, 1.2500, 1.5000, 1.7500, 2.0000,
         2.2500, 2.5000, 2.7500, 3.0000, 3.2500, 3.5000, 3.7500, 4.0000, 4.2500,
         4.5000, 4.7500],
        [5.0000, 5.2500, 5.5000, 5.7500, 6.0000, 6.2500, 6.5000, 6.7500, 7.0000,
         7.2500, 7.5000, 7.7500, 8.0000, 8.2500, 8.5000, 8.7500, 9.0000, 9.2500,
         9.5000, 9.7500]]))"},
    {"summ_int", [] { return arange(2000); },
     R"(tensor([   0,    1,    2,  ..., 1997, 1998, 1999]))"},
    {"not_summarised_1000", [] { return arange(1000).reshape({100, 10}).slice(0, 0, 4); },
     R"(tensor([[ 0,  1,  2,  3,  4,  5,  6,  7,  8,  9],
        [10, 11, 12, 13, 14, 15, 16, 17, 18, 19],
        [20, 21, 22, 23, 24, 25, 26, 27, 28, 29],
        [30, 31, 32, 33, 34, 35, 36, 37, 38, 39]]))"},
    {"summ_float", [] { return arange(1200).reshape({40, 30}) * 0.5; },
     R"(tensor([[0.0000e+00, 5.0000e-01, 1.0000e+00,  ..., 1.3500e+01, 1.4000e+01,
         1.4500e+01],
        [1.5000e+01, 1.5500e+01, 1.6000e+01,  ..., 2.8500e+01, 2.9000e+01,
         2.9500e+01],
        [3.0000e+01, 3.0500e+01, 3.1000e+01,  ..., 4.3500e+01, 4.4000e+01,
         4.4500e+01],
        ...,
        [5.5500e+02, 5.5550e+02, 5.5600e+02,  ..., 5.6850e+02, 5.6900e+02,
         5.6950e+02],
        [5.7000e+02, 5.7050e+02, 5.7100e+02,  ..., 5.8350e+02, 5.8400e+02,
         5.8450e+02],
        [5.8500e+02, 5.8550e+02, 5.8600e+02,  ..., 5.9850e+02, 5.9900e+02,
         5.9950e+02]]))"},
    {"summ_3d", [] { return arange(1200).reshape({2, 20, 30}); },
     R"(tensor([[[   0,    1,    2,  ...,   27,   28,   29],
         [  30,   31,   32,  ...,   57,   58,   59],
         [  60,   61,   62,  ...,   87,   88,   89],
         ...,
         [ 510,  511,  512,  ...,  537,  538,  539],
         [ 540,  541,  542,  ...,  567,  568,  569],
         [ 570,  571,  572,  ...,  597,  598,  599]],

        [[ 600,  601,  602,  ...,  627,  628,  629],
         [ 630,  631,  632,  ...,  657,  658,  659],
         [ 660,  661,  662,  ...,  687,  688,  689],
         ...,
         [1110, 1111, 1112,  ..., 1137, 1138, 1139],
         [1140, 1141, 1142,  ..., 1167, 1168, 1169],
         [1170, 1171, 1172,  ..., 1197, 1198, 1199]]]))"},
    {"summ_3d_f64", [] { return arange(1600).reshape({8, 2, 100}).to(kFloat64) / 3; },
     R"(tensor([[[0.0000e+00, 3.3333e-01, 6.6667e-01,  ..., 3.2333e+01,
          3.2667e+01, 3.3000e+01],
         [3.3333e+01, 3.3667e+01, 3.4000e+01,  ..., 6.5667e+01,
          6.6000e+01, 6.6333e+01]],

        [[6.6667e+01, 6.7000e+01, 6.7333e+01,  ..., 9.9000e+01,
          9.9333e+01, 9.9667e+01],
         [1.0000e+02, 1.0033e+02, 1.0067e+02,  ..., 1.3233e+02,
          1.3267e+02, 1.3300e+02]],

        [[1.3333e+02, 1.3367e+02, 1.3400e+02,  ..., 1.6567e+02,
          1.6600e+02, 1.6633e+02],
         [1.6667e+02, 1.6700e+02, 1.6733e+02,  ..., 1.9900e+02,
          1.9933e+02, 1.9967e+02]],

        ...,

        [[3.3333e+02, 3.3367e+02, 3.3400e+02,  ..., 3.6567e+02,
          3.6600e+02, 3.6633e+02],
         [3.6667e+02, 3.6700e+02, 3.6733e+02,  ..., 3.9900e+02,
          3.9933e+02, 3.9967e+02]],

        [[4.0000e+02, 4.0033e+02, 4.0067e+02,  ..., 4.3233e+02,
          4.3267e+02, 4.3300e+02],
         [4.3333e+02, 4.3367e+02, 4.3400e+02,  ..., 4.6567e+02,
          4.6600e+02, 4.6633e+02]],

        [[4.6667e+02, 4.6700e+02, 4.6733e+02,  ..., 4.9900e+02,
          4.9933e+02, 4.9967e+02],
         [5.0000e+02, 5.0033e+02, 5.0067e+02,  ..., 5.3233e+02,
          5.3267e+02, 5.3300e+02]]], dtype=ember.float64))"},
    {"summ_small_dim", [] { return arange(1002).reshape({501, 2}); },
     R"(tensor([[   0,    1],
        [   2,    3],
        [   4,    5],
        ...,
        [ 996,  997],
        [ 998,  999],
        [1000, 1001]]))"},
    {"summ_transposed", [] { return arange(1200).reshape({40, 30}).t(); },
     R"(tensor([[   0,   30,   60,  ..., 1110, 1140, 1170],
        [   1,   31,   61,  ..., 1111, 1141, 1171],
        [   2,   32,   62,  ..., 1112, 1142, 1172],
        ...,
        [  27,   57,   87,  ..., 1137, 1167, 1197],
        [  28,   58,   88,  ..., 1138, 1168, 1198],
        [  29,   59,   89,  ..., 1139, 1169, 1199]]))"},
    {"grad", [] { return tensor({1., 2.}, TensorOptions().requires_grad(true)); },
     R"(tensor([1., 2.], requires_grad=True))"},
    {"grad_f64_long", [] { return leaf(arange(14, kFloat64) * 1.25); },
     R"(tensor([ 0.0000,  1.2500,  2.5000,  3.7500,  5.0000,  6.2500,  7.5000,  8.7500,
        10.0000, 11.2500, 12.5000, 13.7500, 15.0000, 16.2500],
       dtype=ember.float64, requires_grad=True))"},
    {"grad_wrap", [] { return leaf(arange(30) / 7); },
     R"(tensor([0.0000, 0.1429, 0.2857, 0.4286, 0.5714, 0.7143, 0.8571, 1.0000, 1.1429,
        1.2857, 1.4286, 1.5714, 1.7143, 1.8571, 2.0000, 2.1429, 2.2857, 2.4286,
        2.5714, 2.7143, 2.8571, 3.0000, 3.1429, 3.2857, 3.4286, 3.5714, 3.7143,
        3.8571, 4.0000, 4.1429], requires_grad=True))"},
    {"noncontig", [] { return arange(6).reshape({2, 3}).to(kFloat32).t(); },
     R"(tensor([[0., 3.],
        [1., 4.],
        [2., 5.]]))"},
    {"slice_offset", [] { return arange(10).slice(0, 2, 8, 2); },
     R"(tensor([2, 4, 6]))"},
    {"expanded", [] { return tensor({1.5, 2.}).expand({2, 2}); },
     R"(tensor([[1.5000, 2.0000],
        [1.5000, 2.0000]]))"},
    {"nd4", [] { return arange(16).reshape({2, 2, 2, 2}); },
     R"(tensor([[[[ 0,  1],
          [ 2,  3]],

         [[ 4,  5],
          [ 6,  7]]],


        [[[ 8,  9],
          [10, 11]],

         [[12, 13],
          [14, 15]]]]))"},
  };
  // clang-format on
  for (const PrintCase& c : cases) {
    INFO("case " << c.name);
    Tensor t = c.make();
    CHECK(to_string(t) == c.expected);
  }
}

TEST_CASE("operator<< writes to_string", "[runtime][print]") {
  Tensor t = tensor({{1.5, -2.}, {3., 4.25}});
  std::ostringstream os;
  os << t;
  CHECK(os.str() == to_string(t));
  CHECK(os.str() == "tensor([[ 1.5000, -2.0000],\n        [ 3.0000,  4.2500]])");
  std::ostringstream undefined;
  undefined << Tensor();
  CHECK(undefined.str() == "[ Tensor (undefined) ]");
}

TEST_CASE("printing names the dtype relative to the default dtype", "[runtime][print]") {
  set_default_dtype(kFloat64);
  std::string f32 = to_string(tensor({1.5}, kFloat32));
  std::string f64 = to_string(tensor({1.5}, kFloat64));
  std::string empty32 = to_string(zeros({0}, kFloat32));
  std::string empty64 = to_string(zeros({0}, kFloat64));
  set_default_dtype(kFloat32);
  CHECK(f32 == "tensor([1.5000], dtype=ember.float32)");
  CHECK(f64 == "tensor([1.5000])");
  CHECK(empty32 == "tensor([], dtype=ember.float32)");
  CHECK(empty64 == "tensor([])");
}

TEST_CASE("printing a view shows its logical values", "[runtime][print]") {
  // Differential: every kind of view prints exactly as its contiguous copy.
  Tensor base = test::seeded_randn({30, 40}, 7);
  const Tensor views[] = {base.t(),
                          base.slice(1, 1, 40, 3),
                          base.select(1, 5),
                          test::noncontiguous(base),
                          base.unsqueeze(0).expand({2, 30, 40}),
                          base.slice(0, 2, 6).t()};
  for (const Tensor& v : views) {
    INFO("view of sizes " << v.sizes() << " strides " << v.strides());
    CHECK_FALSE(v.is_contiguous());
    CHECK(to_string(v) == to_string(v.contiguous()));
  }
}
