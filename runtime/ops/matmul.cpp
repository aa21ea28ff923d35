// Matrix products: torch.matmul's rank rules over OpenBLAS (f32/f64) and a plain loop (int64).
// Strided operands reach BLAS through its trans flags and leading dimensions, so the common
// layouts (contiguous, transposed views, row slices) are never copied.
#include <cblas.h>

#include <algorithm>
#include <climits>
#include <optional>
#include <utility>
#include <vector>

#include "runtime/dispatch.hpp"
#include "runtime/ops.hpp"
#include "runtime/parallel.hpp"
#include "runtime/shape.hpp"

namespace ember {
namespace {

// How a rows x cols matrix with element strides (rs, cs) is handed to row-major BLAS without a
// copy: as stored (NoTrans, element (i, j) at i*ld + j) or as a transposed cols x rows matrix
// (Trans, element (i, j) at j*ld + i). Strides along size-1 dims are irrelevant, so they are
// replaced by the smallest valid leading dimension.
struct BlasLayout {
  bool ok = false;
  CBLAS_TRANSPOSE trans = CblasNoTrans;
  int64_t ld = 1;
};

BlasLayout blas_layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs) {
  if ((cs == 1 || cols <= 1) && (rows <= 1 || rs >= std::max<int64_t>(1, cols)))
    return {true, CblasNoTrans, rows <= 1 ? std::max<int64_t>(1, cols) : rs};
  if ((rs == 1 || rows <= 1) && (cols <= 1 || cs >= std::max<int64_t>(1, rows)))
    return {true, CblasTrans, cols <= 1 ? std::max<int64_t>(1, rows) : cs};
  return {};
}

// A vector of n elements with stride s as a BLAS increment (BLAS rejects 0).
int64_t blas_inc(int64_t n, int64_t s) { return n <= 1 ? 1 : s; }

bool fits_int(int64_t v) { return v >= 0 && v <= INT_MAX; }

void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int n, int m, int k, const float* a, int lda,
          const float* b, int ldb, float beta, float* c, int ldc) {
  detail::sync_blas_threads();
  cblas_sgemm(CblasRowMajor, ta, tb, n, m, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
}
void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int n, int m, int k, const double* a, int lda,
          const double* b, int ldb, double beta, double* c, int ldc) {
  detail::sync_blas_threads();
  cblas_dgemm(CblasRowMajor, ta, tb, n, m, k, 1.0, a, lda, b, ldb, beta, c, ldc);
}
void gemv(CBLAS_TRANSPOSE t, int rows, int cols, const float* a, int lda, const float* x, int incx,
          float* y, int incy) {
  detail::sync_blas_threads();
  cblas_sgemv(CblasRowMajor, t, rows, cols, 1.0f, a, lda, x, incx, 0.0f, y, incy);
}
void gemv(CBLAS_TRANSPOSE t, int rows, int cols, const double* a, int lda, const double* x,
          int incx, double* y, int incy) {
  detail::sync_blas_threads();
  cblas_dgemv(CblasRowMajor, t, rows, cols, 1.0, a, lda, x, incx, 0.0, y, incy);
}

// One BLAS call computing C[n x m] (rows ldc apart) = A[n x k] B[k x m] for A and B given by
// element strides; chosen once per matmul, then run for every batch with moved pointers.
struct BlasCall {
  enum Kind { Gemm, GemvA, GemvB } kind = Gemm;
  CBLAS_TRANSPOSE ta = CblasNoTrans, tb = CblasNoTrans;
  int rows = 0, cols = 0, k = 0, lda = 1, ldb = 1, inc = 1, ldc = 1;
};

std::optional<BlasCall> choose_blas(int64_t n, int64_t m, int64_t k, int64_t ars, int64_t acs,
                                    int64_t brs, int64_t bcs, int64_t ldc) {
  BlasLayout la = blas_layout(n, k, ars, acs), lb = blas_layout(k, m, brs, bcs);
  auto ok = [](std::initializer_list<int64_t> v) {
    return std::all_of(v.begin(), v.end(), [](int64_t x) { return fits_int(x); });
  };
  BlasCall c;
  c.ldc = static_cast<int>(ldc);
  if (m == 1 && la.ok && (k <= 1 || brs > 0) && ok({n, k, la.ld, blas_inc(k, brs)})) {
    // y = A x with x the single column of B.
    bool nt = la.trans == CblasNoTrans;
    c.kind = BlasCall::GemvA;
    c.ta = la.trans;
    c.rows = static_cast<int>(nt ? n : k);
    c.cols = static_cast<int>(nt ? k : n);
    c.lda = static_cast<int>(la.ld);
    c.inc = static_cast<int>(blas_inc(k, brs));
    return c;
  }
  if (n == 1 && lb.ok && (k <= 1 || acs > 0) && ok({m, k, lb.ld, blas_inc(k, acs)})) {
    // y^T = x^T B, i.e. y = B^T x with x the single row of A.
    bool nt = lb.trans == CblasNoTrans;
    c.kind = BlasCall::GemvB;
    c.tb = nt ? CblasTrans : CblasNoTrans;
    c.rows = static_cast<int>(nt ? k : m);
    c.cols = static_cast<int>(nt ? m : k);
    c.ldb = static_cast<int>(lb.ld);
    c.inc = static_cast<int>(blas_inc(k, acs));
    return c;
  }
  if (!la.ok || !lb.ok || !ok({n, m, k, la.ld, lb.ld})) return std::nullopt;
  c.ta = la.trans;
  c.tb = lb.trans;
  c.rows = static_cast<int>(n);
  c.cols = static_cast<int>(m);
  c.k = static_cast<int>(k);
  c.lda = static_cast<int>(la.ld);
  c.ldb = static_cast<int>(lb.ld);
  return c;
}

template <class T>
void run_blas(const BlasCall& c, const T* a, const T* b, T* out) {
  switch (c.kind) {
    case BlasCall::GemvA:
      gemv(c.ta, c.rows, c.cols, a, c.lda, b, c.inc, out, c.ldc);
      break;
    case BlasCall::GemvB:
      gemv(c.tb, c.rows, c.cols, b, c.ldb, a, c.inc, out, 1);
      break;
    case BlasCall::Gemm:
      gemm(c.ta, c.tb, c.rows, c.cols, c.k, a, c.lda, b, c.ldb, T(0), out, c.ldc);
      break;
  }
}

// The operands of one matmul after torch.matmul's 1-d promotion: a is [batch..., n, k] and b is
// [batch..., k, m] with broadcast batch strides (0 along broadcast dims), strides in elements.
struct MatmulPlan {
  Dims batch;                 // broadcast batch sizes
  Dims a_bstride, b_bstride;  // per batch dim
  int64_t n = 1, k = 1, m = 1;
  int64_t ars = 0, acs = 0, brs = 0, bcs = 0;
  Dims out_sizes;
};

// Dims of t viewed as [batch..., rows, cols]; a 1-d t becomes [1, k] (left) or [k, 1] (right).
void matrix_dims(const Tensor& t, bool left, Dims& bsizes, Dims& bstrides, int64_t& rows,
                 int64_t& cols, int64_t& rs, int64_t& cs) {
  int64_t d = t.dim();
  if (d == 1) {
    int64_t len = t.sizes()[0], st = t.strides()[0];
    if (left) {
      rows = 1;
      cols = len;
      rs = len * st;
      cs = st;
    } else {
      rows = len;
      cols = 1;
      rs = st;
      cs = 1;
    }
    return;
  }
  rows = t.sizes()[d - 2];
  cols = t.sizes()[d - 1];
  rs = t.strides()[d - 2];
  cs = t.strides()[d - 1];
  for (int64_t i = 0; i < d - 2; ++i) {
    bsizes.push_back(t.sizes()[i]);
    bstrides.push_back(t.strides()[i]);
  }
}

MatmulPlan plan_matmul(const Tensor& a, const Tensor& b) {
  MatmulPlan p;
  Dims abs, ast, bbs, bst;
  int64_t ka = 0, kb = 0;
  matrix_dims(a, true, abs, ast, p.n, ka, p.ars, p.acs);
  matrix_dims(b, false, bbs, bst, kb, p.m, p.brs, p.bcs);
  if (ka != kb) {
    EMBER_CHECK(!(a.dim() == 1 && b.dim() == 1), ShapeError,
                "matmul: inconsistent tensor size, expected tensor [", ka, "] and src [", kb,
                "] to have the same number of elements, but got ", ka, " and ", kb,
                " elements respectively");
    throw ShapeError(detail::cat("matmul: mat1 and mat2 shapes cannot be multiplied (", p.n, "x",
                                 ka, " and ", kb, "x", p.m, ") for inputs of sizes ", a.sizes(),
                                 " and ", b.sizes()));
  }
  p.k = ka;
  p.batch = broadcast_shapes(abs, bbs, "matmul");
  size_t nb = p.batch.size();
  p.a_bstride = Dims(nb, 0);
  p.b_bstride = Dims(nb, 0);
  for (size_t i = 0; i < abs.size(); ++i)
    if (abs[i] != 1) p.a_bstride[nb - abs.size() + i] = ast[i];
  for (size_t i = 0; i < bbs.size(); ++i)
    if (bbs[i] != 1) p.b_bstride[nb - bbs.size() + i] = bst[i];
  p.out_sizes = p.batch;
  if (a.dim() >= 2) p.out_sizes.push_back(p.n);
  if (b.dim() >= 2) p.out_sizes.push_back(p.m);
  return p;
}

// Each batch's element offset into a and into b, in order (the batch dims' last fastest).
std::pair<std::vector<int64_t>, std::vector<int64_t>> batch_offsets(const MatmulPlan& p) {
  const auto nbatch = static_cast<size_t>(product(p.batch));
  std::vector<int64_t> aoff(nbatch), boff(nbatch);
  Dims idx(p.batch.size(), 0);
  int64_t ao = 0, bo = 0;
  for (size_t bi = 0; bi < nbatch; ++bi) {
    aoff[bi] = ao;
    boff[bi] = bo;
    for (size_t d = idx.size(); d-- > 0;) {
      ao += p.a_bstride[d];
      bo += p.b_bstride[d];
      if (++idx[d] < p.batch[d]) break;
      ao -= p.a_bstride[d] * idx[d];
      bo -= p.b_bstride[d] * idx[d];
      idx[d] = 0;
    }
  }
  return {std::move(aoff), std::move(boff)};
}

// When b is the same matrix for every batch and a's batch dims run evenly into its rows, the
// whole product is one [batch*n, k] x [k, m] GEMM (x @ W^T in a linear layer over [B, T, in]).
bool fold_batch_into_rows(const MatmulPlan& p, int64_t& rows, int64_t& rs) {
  if (p.batch.empty()) return false;
  for (int64_t s : p.b_bstride)
    if (s != 0) return false;
  // (batch..., n) from the inner end: each dim of size > 1 must sit at the next one's extent.
  rows = 1;
  rs = 0;
  int64_t inner_extent = -1;
  for (size_t i = p.batch.size() + 1; i-- > 0;) {
    bool is_n = i == p.batch.size();
    int64_t sz = is_n ? p.n : p.batch[i], st = is_n ? p.ars : p.a_bstride[i];
    if (sz == 1) continue;
    if (inner_extent < 0)
      rs = st;
    else if (st != inner_extent)
      return false;
    inner_extent = st * sz;
    rows *= sz;
  }
  return true;
}

template <class T>
bool matmul_blas(const MatmulPlan& p, const T* ap, const T* bp, T* c) {
  int64_t ldc = std::max<int64_t>(1, p.m);
  int64_t rows = 0, rs = 0;
  if (fold_batch_into_rows(p, rows, rs)) {
    if (auto call = choose_blas(rows, p.m, p.k, rs, p.acs, p.brs, p.bcs, ldc)) {
      run_blas(*call, ap, bp, c);
      return true;
    }
  }
  auto call = choose_blas(p.n, p.m, p.k, p.ars, p.acs, p.brs, p.bcs, ldc);
  if (!call) return false;
  const int64_t nbatch = product(p.batch);
  const auto [aoff, boff] = batch_offsets(p);
  auto run = [&](int64_t lo, int64_t hi) {
    for (int64_t bi = lo; bi < hi; ++bi)
      run_blas(*call, ap + aoff[static_cast<size_t>(bi)], bp + boff[static_cast<size_t>(bi)],
               c + bi * p.n * p.m);
  };
  // Small products (attention's [128, 64] x [64, 128] per head) split over ember's threads, a
  // batch each, with OpenBLAS on one thread: OpenBLAS threading each small call cost a thread
  // hand-off per call. Larger ones are threaded by OpenBLAS, one call after the other.
  const int threads = in_parallel_region() ? 1 : get_num_threads();
  if (threads > 1 && nbatch >= 2 && 2.0 * double(p.n) * double(p.m) * double(p.k) < 3e7) {
    detail::SingleThreadedBlas one(threads);
    parallel_for(0, nbatch, 1, run);
  } else {
    run(0, nbatch);
  }
  return true;
}

template <class T>
void matmul_float(const Tensor& a, const Tensor& b, const Tensor& out) {
  T* c = out.data_ptr<T>();
  if (matmul_blas<T>(plan_matmul(a, b), a.data_ptr<T>(), b.data_ptr<T>(), c)) return;
  // A matrix BLAS cannot describe (expanded, or strided along both dims): copy that operand.
  NoGradGuard no_grad;
  Tensor ac = a, bc = b;
  MatmulPlan p = plan_matmul(a, b);
  if (!blas_layout(p.n, p.k, p.ars, p.acs).ok || (p.n == 1 && p.k > 1 && p.acs == 0))
    ac = a.contiguous();
  if (!blas_layout(p.k, p.m, p.brs, p.bcs).ok || (p.m == 1 && p.k > 1 && p.brs == 0))
    bc = b.contiguous();
  if (matmul_blas<T>(plan_matmul(ac, bc), ac.data_ptr<T>(), bc.data_ptr<T>(), c)) return;
  ac = a.contiguous();
  bc = b.contiguous();
  bool ok = matmul_blas<T>(plan_matmul(ac, bc), ac.data_ptr<T>(), bc.data_ptr<T>(), c);
  EMBER_CHECK(ok, ShapeError, "matmul: sizes ", a.sizes(), " and ", b.sizes(),
              " exceed what BLAS can index (32-bit ints)");
}

void matmul_int64(const Tensor& a0, const Tensor& b0, const Tensor& out) {
  NoGradGuard no_grad;
  Tensor a = a0.contiguous(), b = b0.contiguous();
  MatmulPlan p = plan_matmul(a, b);
  const int64_t* ap = a.data_ptr<int64_t>();
  const int64_t* bp = b.data_ptr<int64_t>();
  int64_t* c = out.data_ptr<int64_t>();
  int64_t nbatch = product(p.batch), n = p.n, m = p.m, k = p.k;
  const auto [aoff, boff] = batch_offsets(p);
  // Contiguous operands: the inner loop runs along a row of b and a row of c.
  int64_t grain = std::max<int64_t>(1, kGrainSize / std::max<int64_t>(1, k * m));
  parallel_for(0, nbatch * n, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      int64_t bi = r / n, i = r % n;
      const int64_t* arow = ap + aoff[bi] + i * p.ars;
      const int64_t* bm = bp + boff[bi];
      int64_t* __restrict crow = c + r * m;
      std::fill(crow, crow + m, int64_t{0});
      for (int64_t q = 0; q < k; ++q) {
        int64_t av = arow[q * p.acs];
        const int64_t* __restrict brow = bm + q * p.brs;
        for (int64_t j = 0; j < m; ++j) crow[j] += av * brow[j];
      }
    }
  });
}

TensorList matmul_kernel(std::span<const Tensor> in, const Attrs&) {
  const Tensor& a = in[0];
  const Tensor& b = in[1];
  EMBER_CHECK(a.defined() && b.defined(), Error, "matmul: an input tensor is undefined");
  EMBER_CHECK(a.dim() >= 1 && b.dim() >= 1, ShapeError,
              "matmul: both arguments to matmul need to be at least 1D, but they are ", a.dim(),
              "D and ", b.dim(), "D");
  EMBER_CHECK(a.dtype() == b.dtype(), DTypeError,
              "matmul: expected both operands to have the same dtype, but got ",
              dtype_name(a.dtype()), " and ", dtype_name(b.dtype()));
  EMBER_CHECK(a.dtype() != kBool, DTypeError, "matmul: not implemented for 'bool'");
  MatmulPlan p = plan_matmul(a, b);
  Tensor out = make_tensor(p.out_sizes, a.dtype());
  if (out.numel() == 0) return {out};
  if (p.k == 0) return {out.zero_()};
  switch (a.dtype()) {
    case kFloat32:
      matmul_float<float>(a, b, out);
      break;
    case kFloat64:
      matmul_float<double>(a, b, out);
      break;
    default:
      matmul_int64(a, b, out);
      break;
  }
  return {out};
}

}  // namespace

namespace detail {
void register_matmul_kernels() { register_kernel(Op::Matmul, matmul_kernel); }

// Row-major C[n x m] = A B + beta C for contiguous-row operands (A is n x k, or k x n when
// trans_a), for other kernels (conv) that build their own GEMMs. Defined here, next to BLAS.
void gemm_rowmajor(bool trans_a, bool trans_b, int64_t n, int64_t m, int64_t k, const float* a,
                   int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  detail::sync_blas_threads();
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, static_cast<int>(n), static_cast<int>(m),
              static_cast<int>(k), 1.0f, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta,
              c, static_cast<int>(ldc));
}
void gemm_rowmajor(bool trans_a, bool trans_b, int64_t n, int64_t m, int64_t k, const double* a,
                   int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  detail::sync_blas_threads();
  cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, static_cast<int>(n), static_cast<int>(m),
              static_cast<int>(k), 1.0, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta, c,
              static_cast<int>(ldc));
}
}  // namespace detail

Tensor matmul(const Tensor& a, const Tensor& b) { return dispatch1(Op::Matmul, {a, b}); }

Tensor mm(const Tensor& a, const Tensor& b) {
  EMBER_CHECK(a.defined() && b.defined(), Error, "mm: an input tensor is undefined");
  EMBER_CHECK(a.dim() == 2, ShapeError, "mm: self must be a matrix, got sizes ", a.sizes());
  EMBER_CHECK(b.dim() == 2, ShapeError, "mm: mat2 must be a matrix, got sizes ", b.sizes());
  EMBER_CHECK(a.sizes()[1] == b.sizes()[0], ShapeError,
              "mm: mat1 and mat2 shapes cannot be multiplied (", a.sizes()[0], "x", a.sizes()[1],
              " and ", b.sizes()[0], "x", b.sizes()[1], ")");
  return dispatch1(Op::Matmul, {a, b});
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  EMBER_CHECK(a.defined() && b.defined(), Error, "bmm: an input tensor is undefined");
  EMBER_CHECK(a.dim() == 3, ShapeError, "bmm: batch1 must be a 3D tensor, got sizes ", a.sizes());
  EMBER_CHECK(b.dim() == 3, ShapeError, "bmm: batch2 must be a 3D tensor, got sizes ", b.sizes());
  EMBER_CHECK(b.sizes()[0] == a.sizes()[0] && b.sizes()[1] == a.sizes()[2], ShapeError,
              "bmm: Expected size for first two dimensions of batch2 tensor to be: [", a.sizes()[0],
              ", ", a.sizes()[2], "] but got: [", b.sizes()[0], ", ", b.sizes()[1], "]");
  return dispatch1(Op::Matmul, {a, b});
}

}  // namespace ember
