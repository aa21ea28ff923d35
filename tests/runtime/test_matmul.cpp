// matmul / mm / bmm against a double-precision reference written from torch.matmul's rules.
#include <sstream>

#include "support/reference.hpp"

using namespace ember;

namespace {

// torch.matmul in plain loops: 1-d a is [1, k] and 1-d b is [k, 1], both squeezed from the
// result; batch dims broadcast.
std::vector<double> ref_matmul(const Tensor& a, const Tensor& b, Dims& out_sizes) {
  int64_t n = a.dim() == 1 ? 1 : a.size(-2), k = a.size(-1);
  int64_t m = b.dim() == 1 ? 1 : b.size(-1);
  Dims ab, bb;
  for (int64_t d = 0; d + 2 < a.dim(); ++d) ab.push_back(a.size(d));
  for (int64_t d = 0; d + 2 < b.dim(); ++d) bb.push_back(b.size(d));
  size_t nb = std::max(ab.size(), bb.size());
  Dims batch(nb, 1);
  for (size_t i = 0; i < nb; ++i) {
    int64_t x = i + ab.size() >= nb ? ab[i + ab.size() - nb] : 1;
    int64_t y = i + bb.size() >= nb ? bb[i + bb.size() - nb] : 1;
    batch[i] = x == 1 ? y : x;
  }
  out_sizes = batch;
  if (a.dim() >= 2) out_sizes.push_back(n);
  if (b.dim() >= 2) out_sizes.push_back(m);
  int64_t nbatch = 1;
  for (int64_t s : batch) nbatch *= s;
  std::vector<double> out;
  for (int64_t bi = 0; bi < nbatch; ++bi) {
    std::vector<int64_t> bidx = test::unravel(bi, batch);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < m; ++j) {
        double s = 0;
        for (int64_t p = 0; p < k; ++p) {
          std::vector<int64_t> ia, ib;
          for (size_t d = nb - ab.size(); d < nb; ++d)
            ia.push_back(ab[d - (nb - ab.size())] == 1 ? 0 : bidx[d]);
          for (size_t d = nb - bb.size(); d < nb; ++d)
            ib.push_back(bb[d - (nb - bb.size())] == 1 ? 0 : bidx[d]);
          if (a.dim() >= 2) ia.push_back(i);
          ia.push_back(p);
          ib.push_back(p);
          if (b.dim() >= 2) ib.push_back(j);
          s += test::at(a, ia) * test::at(b, ib);
        }
        out.push_back(s);
      }
  }
  return out;
}

void check_matmul(const Tensor& a, const Tensor& b, const std::string& what, double tol = 1e-4) {
  Dims sizes;
  std::vector<double> expected = ref_matmul(a, b, sizes);
  std::ostringstream os;
  os << what << ": " << a.sizes() << " (strides " << a.strides() << ") @ " << b.sizes()
     << " (strides " << b.strides() << ") " << a.dtype();
  Tensor r = matmul(a, b);
  CHECK(r.dtype() == a.dtype());
  test::require_close(r, sizes, expected, os.str(), tol, tol);
}

struct Case {
  Dims a, b;
};

const std::vector<Case> kCases = {
    {{5}, {5}},
    {{4}, {4, 3}},
    {{3, 4}, {4}},
    {{3, 4}, {4, 5}},
    {{1, 4}, {4, 1}},
    {{2, 3, 4}, {4}},
    {{4}, {2, 4, 3}},
    {{2, 3, 4}, {4, 5}},
    {{3, 4}, {2, 4, 5}},
    {{2, 3, 4}, {2, 4, 5}},
    {{2, 1, 3, 4}, {5, 4, 2}},
    {{1, 3, 4}, {6, 4, 2}},
    {{3, 1, 2, 4}, {1, 2, 4, 3}},
    {{2, 2, 1, 4}, {4, 3}},
    {{17, 33}, {33, 9}},
    {{1}, {1}},
};

}  // namespace

TEST_CASE("matmul matches a double reference for every rank combination", "[linalg][matmul]") {
  for (size_t i = 0; i < kCases.size(); ++i) {
    Tensor a = test::seeded_randn(kCases[i].a, 100 + i),
           b = test::seeded_randn(kCases[i].b, 200 + i);
    check_matmul(a, b, "contiguous, case " + std::to_string(i));
    check_matmul(test::noncontiguous(a), test::noncontiguous(b),
                 "noncontiguous, case " + std::to_string(i));
    Tensor a64 = a.to(kFloat64), b64 = b.to(kFloat64);
    check_matmul(a64, b64, "float64, case " + std::to_string(i), 1e-12);
  }
}

TEST_CASE("matmul of 1-d by 1-d is a 0-d dot product", "[linalg][matmul]") {
  Tensor r = matmul(tensor({1, 2, 3}), tensor({4, 5, 6}));
  CHECK(r.dim() == 0);
  CHECK(r.item<double>() == 32.0);
}

TEST_CASE("matmul takes transposed, sliced and expanded operands", "[linalg][matmul]") {
  Tensor a = test::seeded_randn({6, 5}, 1), b = test::seeded_randn({7, 6}, 2);
  // Transposed views go to BLAS through its trans flags.
  check_matmul(a.t(), b.t(), "a^T @ b^T");
  check_matmul(b, a, "b @ a");
  check_matmul(a.t(), test::seeded_randn({6, 3}, 3), "a^T @ c");
  // Row slices: leading dimension larger than the row.
  check_matmul(b.narrow(1, 1, 4), a.narrow(0, 0, 4), "narrowed cols @ narrowed rows");
  check_matmul(b.slice(0, 0, 7, 2), a, "every other row");
  // Strided along both dims: needs a copy.
  Tensor big = test::seeded_randn({8, 10}, 4);
  check_matmul(big.slice(0, 0, 8, 2).slice(1, 0, 10, 2), test::seeded_randn({5, 3}, 5),
               "strided both dims");
  // Expanded (stride 0) operands.
  check_matmul(test::seeded_randn({4, 1}, 6).expand({4, 5}), test::seeded_randn({5, 3}, 7),
               "expanded columns");
  check_matmul(test::seeded_randn({1, 5}, 8).expand({4, 5}), test::seeded_randn({5, 3}, 9),
               "expanded rows");
  check_matmul(test::seeded_randn({4, 5}, 10), test::seeded_randn({1}, 11).expand({5}),
               "expanded vector");
  check_matmul(test::seeded_randn({1}, 12).expand({5}), test::seeded_randn({5, 3}, 13),
               "expanded vector on the left");
  check_matmul(test::seeded_randn({3, 4}, 14).expand({2, 3, 4}), test::seeded_randn({2, 4, 2}, 15),
               "expanded batch");
  // Vectors with a stride, against a transposed matrix (gemv paths).
  Tensor v = test::seeded_randn({12}, 16).slice(0, 0, 12, 2);
  check_matmul(test::seeded_randn({3, 6}, 17).t().t(), v, "matrix @ strided vector");
  check_matmul(v, test::seeded_randn({4, 6}, 18).t(), "strided vector @ transposed matrix");
  check_matmul(test::seeded_randn({6, 3}, 19).t(), v, "transposed matrix @ strided vector");
  // Batched with permuted batch dims (no single GEMM), and a batch folded into rows.
  Tensor p = test::seeded_randn({3, 2, 4}, 20).transpose(0, 1);
  check_matmul(p, test::seeded_randn({4, 5}, 21), "permuted batch @ matrix");
  check_matmul(p, test::seeded_randn({2, 4, 5}, 22), "permuted batch @ batch");
  check_matmul(test::seeded_randn({2, 3, 4}, 23).transpose(1, 2), test::seeded_randn({3, 5}, 24),
               "batch of transposed matrices @ matrix");
  check_matmul(test::seeded_randn({2, 3, 4}, 25), test::seeded_randn({5, 4}, 26).t(),
               "batch @ transposed matrix (linear)");
  check_matmul(test::seeded_randn({2, 3, 4}, 27), test::seeded_randn({2, 5, 4}, 28).transpose(1, 2),
               "batch @ transposed batch");
}

TEST_CASE("matmul of int64 is exact", "[linalg][matmul]") {
  manual_seed(7);
  for (size_t i = 0; i < kCases.size(); ++i) {
    Tensor a = randint(-9, 10, kCases[i].a), b = randint(-9, 10, kCases[i].b);
    check_matmul(a, b, "int64, case " + std::to_string(i), 0);
    check_matmul(a.dim() >= 2 ? a.transpose(-1, -2).contiguous().transpose(-1, -2) : a,
                 test::noncontiguous(b), "int64 strided, case " + std::to_string(i), 0);
  }
}

TEST_CASE("matmul over zero-size dims", "[linalg][matmul]") {
  Tensor r = matmul(zeros({2, 0}), zeros({0, 3}));
  test::require_close(r, {2, 3}, std::vector<double>(6, 0.0), "k = 0 gives zeros");
  r = matmul(empty({0}), empty({0}));
  CHECK(r.dim() == 0);
  CHECK(r.item<double>() == 0.0);
  test::require_close(matmul(zeros({2, 0}, kInt64), zeros({0, 3}, kInt64)), {2, 3},
                      std::vector<double>(6, 0.0), "int64 k = 0");
  test::require_close(matmul(zeros({0, 4}), zeros({4, 3})), {0, 3}, {}, "n = 0");
  test::require_close(matmul(zeros({3, 4}), zeros({4, 0})), {3, 0}, {}, "m = 0");
  test::require_close(matmul(zeros({0, 3, 4}), zeros({4, 2})), {0, 3, 2}, {}, "batch 0");
  test::require_close(matmul(zeros({2, 3, 0}, kFloat64), zeros({1, 0, 2}, kFloat64)), {2, 3, 2},
                      std::vector<double>(12, 0.0), "batched k = 0");
}

TEST_CASE("mm and bmm multiply matrices and batches", "[linalg][matmul]") {
  Tensor a = test::seeded_randn({3, 4}, 30), b = test::seeded_randn({4, 2}, 31);
  Dims sizes;
  std::vector<double> e = ref_matmul(a, b, sizes);
  test::require_close(mm(a, b), sizes, e, "mm", 1e-5, 1e-5);
  test::require_close(a.mm(b), sizes, e, "Tensor::mm", 1e-5, 1e-5);
  test::require_close(a.matmul(b), sizes, e, "Tensor::matmul", 1e-5, 1e-5);
  Tensor x = test::seeded_randn({2, 3, 4}, 32), y = test::seeded_randn({2, 4, 5}, 33);
  e = ref_matmul(x, y, sizes);
  test::require_close(bmm(x, y), sizes, e, "bmm", 1e-5, 1e-5);
}

TEST_CASE("matmul shape and dtype errors read like PyTorch's", "[linalg][matmul][error]") {
  CHECK_THROWS_WITH(matmul(zeros({2, 3}), zeros({4, 5})),
                    Catch::Contains("mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)"));
  CHECK_THROWS_WITH(matmul(zeros({3}), zeros({4, 5})),
                    Catch::Contains("mat1 and mat2 shapes cannot be multiplied (1x3 and 4x5)"));
  CHECK_THROWS_WITH(matmul(zeros({2, 3}), zeros({4})),
                    Catch::Contains("mat1 and mat2 shapes cannot be multiplied (2x3 and 4x1)"));
  CHECK_THROWS_WITH(matmul(zeros({3}), zeros({4})),
                    Catch::Contains("expected tensor [3] and src [4] to have the same number"));
  CHECK_THROWS_WITH(matmul(zeros({2, 2, 3}), zeros({3, 3, 5})),
                    Catch::Contains("The size of tensor a (2) must match the size of tensor b (3) "
                                    "at non-singleton dimension 0"));
  CHECK_THROWS_WITH(matmul(zeros({}), zeros({2})),
                    Catch::Contains("both arguments to matmul need to be at least 1D, but they "
                                    "are 0D and 1D"));
  CHECK_THROWS_AS(matmul(zeros({2, 3}), zeros({3, 2}, kFloat64)), DTypeError);
  CHECK_THROWS_WITH(matmul(zeros({2, 3}), zeros({3, 2}, kFloat64)),
                    Catch::Contains("same dtype, but got float32 and float64"));
  CHECK_THROWS_WITH(matmul(zeros({2, 3}, kBool), zeros({3, 2}, kBool)),
                    Catch::Contains("not implemented for 'bool'"));
  CHECK_THROWS_WITH(mm(zeros({3}), zeros({3, 2})), Catch::Contains("self must be a matrix"));
  CHECK_THROWS_WITH(mm(zeros({2, 3}), zeros({3})), Catch::Contains("mat2 must be a matrix"));
  CHECK_THROWS_WITH(mm(zeros({2, 3}), zeros({2, 3})),
                    Catch::Contains("mat1 and mat2 shapes cannot be multiplied (2x3 and 2x3)"));
  CHECK_THROWS_WITH(bmm(zeros({2, 3}), zeros({2, 3, 2})),
                    Catch::Contains("batch1 must be a 3D tensor"));
  CHECK_THROWS_WITH(bmm(zeros({2, 2, 3}), zeros({3, 3, 2})),
                    Catch::Contains("Expected size for first two dimensions of batch2 tensor to "
                                    "be: [2, 3] but got: [3, 3]"));
}
