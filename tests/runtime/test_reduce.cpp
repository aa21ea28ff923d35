// Reductions, checked against double-precision references written as plain loops: every op on
// seeded random shapes (0-d to 4-d, zero-size), every dim set (negative dims too), keepdim,
// contiguous / strided / permuted inputs and every dtype the op takes.
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <sstream>

#include "support/reference.hpp"

using namespace ember;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// ---- references over one output's elements (in row-major order of the reduced dims) ----
double ref_sum(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}
double ref_prod(const std::vector<double>& v) {
  double p = 1;
  for (double x : v) p *= x;
  return p;
}
double ref_mean(const std::vector<double>& v) { return ref_sum(v) / double(v.size()); }
double ref_var(const std::vector<double>& v, int64_t correction) {
  double m = ref_mean(v), s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return s / double(std::max<int64_t>(0, int64_t(v.size()) - correction));
}
// Index of the first max (or min); a NaN counts as the extreme.
int64_t ref_arg(const std::vector<double>& v, bool is_max) {
  int64_t best = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    if (std::isnan(v[i])) return int64_t(i);
    if (is_max ? v[i] > v[best] : v[i] < v[best]) best = int64_t(i);
  }
  return best;
}
double ref_extreme(const std::vector<double>& v, bool is_max) { return v[ref_arg(v, is_max)]; }
double ref_logsumexp(const std::vector<double>& v) {
  if (v.empty()) return -kInf;
  double m = ref_extreme(v, true);
  if (std::isinf(m)) m = 0;
  double s = 0;
  for (double x : v) s += std::exp(x - m);
  return std::log(s) + m;
}

// The elements of t grouped by output position when reducing over `dims` (wrapped; empty = all).
struct Groups {
  Dims out_shape;
  std::vector<std::vector<double>> vals;
};
Groups group(const Tensor& t, const Dims& dims, bool keepdim) {
  const Dims& sizes = t.sizes();
  const int64_t nd = t.dim();
  std::vector<bool> red(nd, dims.empty());
  for (int64_t d : dims)
    if (d < nd) red[d] = true;
  Groups g;
  Dims kept;
  for (int64_t d = 0; d < nd; ++d) {
    if (!red[d]) kept.push_back(sizes[d]);
    if (!red[d] || keepdim) g.out_shape.push_back(red[d] ? 1 : sizes[d]);
  }
  g.vals.resize(product(kept));
  std::vector<double> v = test::values(t);
  for (int64_t i = 0; i < int64_t(v.size()); ++i) {
    std::vector<int64_t> idx = test::unravel(i, sizes), kidx;
    for (int64_t d = 0; d < nd; ++d)
      if (!red[d]) kidx.push_back(idx[d]);
    g.vals[test::ravel(kidx, kept)].push_back(v[i]);
  }
  return g;
}

Dims wrapped(const Dims& dims, int64_t nd) {
  Dims w;
  for (int64_t d : dims) w.push_back(d < 0 ? d + std::max<int64_t>(nd, 1) : d);
  std::sort(w.begin(), w.end());
  return w;
}

std::string describe(const Dims& d) {
  std::ostringstream os;
  os << d;
  return os.str();
}

// ---- the op table ----
enum class Out { Same, SumLike, Float, Index };  // result dtype rule
struct OpCase {
  const char* name;
  std::function<Tensor(const Tensor&, const Dims&, bool)> run;
  std::function<double(const std::vector<double>&)> ref;
  Out out;
  bool ints = false;         // takes int64 and bool inputs
  bool single_dim = false;   // one dim only (argmax also takes none)
  bool no_identity = false;  // empty reductions throw
  size_t max_group = 0;      // skip groups larger than this (products overflow), 0 = any
};

std::vector<OpCase> op_table() {
  auto pick_dim = [](const Dims& d) { return d[0]; };
  std::vector<OpCase> t = {
      {"sum", [](auto& a, auto& d, bool k) { return sum(a, d, k); }, ref_sum, Out::SumLike, true},
      {"prod", [](auto& a, auto& d, bool k) { return prod(a, d, k); }, ref_prod, Out::SumLike, true,
       false, false, 12},
      {"mean", [](auto& a, auto& d, bool k) { return mean(a, d, k); }, ref_mean, Out::Same},
      {"amax", [](auto& a, auto& d, bool k) { return amax(a, d, k); },
       [](auto& v) { return ref_extreme(v, true); }, Out::Same, true, false, true},
      {"amin", [](auto& a, auto& d, bool k) { return amin(a, d, k); },
       [](auto& v) { return ref_extreme(v, false); }, Out::Same, true, false, true},
      {"var", [](auto& a, auto& d, bool k) { return var(a, d, k); },
       [](auto& v) { return ref_var(v, 1); }, Out::Same},
      {"var(correction=0)", [](auto& a, auto& d, bool k) { return var(a, d, k, 0); },
       [](auto& v) { return ref_var(v, 0); }, Out::Same},
      {"std", [](auto& a, auto& d, bool k) { return ember::std(a, d, k); },
       [](auto& v) { return std::sqrt(ref_var(v, 1)); }, Out::Same},
      {"std(correction=2)", [](auto& a, auto& d, bool k) { return ember::std(a, d, k, 2); },
       [](auto& v) { return std::sqrt(ref_var(v, 2)); }, Out::Same},
      {"logsumexp", [](auto& a, auto& d, bool k) { return logsumexp(a, d, k); }, ref_logsumexp,
       Out::Float, true},
      {"max(dim).values", [=](auto& a, auto& d, bool k) { return max(a, pick_dim(d), k).values; },
       [](auto& v) { return ref_extreme(v, true); }, Out::Same, true, true, true},
      {"max(dim).indices", [=](auto& a, auto& d, bool k) { return max(a, pick_dim(d), k).indices; },
       [](auto& v) { return double(ref_arg(v, true)); }, Out::Index, true, true, true},
      {"min(dim).values", [=](auto& a, auto& d, bool k) { return min(a, pick_dim(d), k).values; },
       [](auto& v) { return ref_extreme(v, false); }, Out::Same, true, true, true},
      {"min(dim).indices", [=](auto& a, auto& d, bool k) { return min(a, pick_dim(d), k).indices; },
       [](auto& v) { return double(ref_arg(v, false)); }, Out::Index, true, true, true},
      {"argmax",
       [=](auto& a, auto& d, bool k) { return d.empty() ? argmax(a) : argmax(a, d[0], k); },
       [](auto& v) { return double(ref_arg(v, true)); }, Out::Index, true, true, true},
      {"argmin",
       [=](auto& a, auto& d, bool k) { return d.empty() ? argmin(a) : argmin(a, d[0], k); },
       [](auto& v) { return double(ref_arg(v, false)); }, Out::Index, true, true, true},
  };
  return t;
}

DType expected_dtype(Out rule, DType in) {
  switch (rule) {
    case Out::Same:
      return in;
    case Out::SumLike:
      return is_floating(in) ? in : kInt64;
    case Out::Float:
      return is_floating(in) ? in : kFloat32;
    case Out::Index:
      return kInt64;
  }
  return in;
}

// Input data: normal floats, small integers (many ties), or bools.
enum class Data { Float32, Float64, TiedFloat32, Int64, Bool };
const char* data_name(Data d) {
  switch (d) {
    case Data::Float32:
      return "float32";
    case Data::Float64:
      return "float64";
    case Data::TiedFloat32:
      return "float32 with ties";
    case Data::Int64:
      return "int64";
    case Data::Bool:
      return "bool";
  }
  return "?";
}
Tensor make_data(const Dims& sizes, Data d, uint64_t seed) {
  manual_seed(seed);
  switch (d) {
    case Data::Float32:
      return randn(sizes);
    case Data::Float64:
      return randn(sizes, kFloat64);
    case Data::TiedFloat32:
      return randint(-2, 3, sizes).to(kFloat32);
    case Data::Int64:
      return randint(-3, 4, sizes);
    case Data::Bool:
      return randint(0, 2, sizes).to(kBool);
  }
  return {};
}

// Same values, three layouts: contiguous, strided (fallback copy), permuted dense (memory order).
enum class Layout { Contiguous, Strided, Permuted };
Tensor make_input(const Dims& sizes, Data d, Layout l, uint64_t seed) {
  if (l == Layout::Permuted && sizes.size() >= 2) {
    Dims rev, perm;
    for (int64_t i = int64_t(sizes.size()) - 1; i >= 0; --i) {
      rev.push_back(sizes[i]);
      perm.push_back(i);
    }
    return make_data(rev, d, seed).permute(perm);
  }
  Tensor t = make_data(sizes, d, seed);
  return l == Layout::Strided ? test::noncontiguous(t) : t;
}

double tolerance(Data d, const char* op) {
  bool f32 = d != Data::Float64;  // int and bool inputs: logsumexp computes in float32
  if (std::string(op) == "prod") return f32 ? 1e-4 : 1e-10;
  return f32 ? 2e-5 : 1e-10;
}

// Checks one op on input a reduced over dims (g: a's elements grouped for those dims).
void check_case(const OpCase& op, const Tensor& a, const Dims& dims, bool keepdim, const Groups& g,
                const std::string& ctx, double rtol, double atol) {
  std::string what =
      std::string(op.name) + " " + ctx + " dims " + describe(dims) + (keepdim ? " keepdim" : "");
  Dims w = wrapped(dims, a.dim());
  bool empty_reduction = a.numel() == 0 && (w.empty() || [&] {
                           for (int64_t d : w)
                             if (d < a.dim() && a.size(d) == 0) return true;
                           return false;
                         }());
  if (op.no_identity && empty_reduction) {
    INFO(what);
    CHECK_THROWS_WITH(op.run(a, dims, keepdim), Catch::Contains("Expected reduction dim"));
    return;
  }
  if (op.max_group && !g.vals.empty() && g.vals[0].size() > op.max_group) return;
  std::vector<double> expected;
  for (auto& v : g.vals) expected.push_back(op.ref(v));
  Tensor r = op.run(a, dims, keepdim);
  INFO(what);
  REQUIRE(r.dtype() == expected_dtype(op.out, a.dtype()));
  REQUIRE(r.is_contiguous());
  test::require_close(r, g.out_shape, expected, what, rtol, atol);
}

// Every subset of dims of an nd tensor, each dim negative or not at random; {} means all.
std::vector<Dims> dim_sets(int64_t nd, std::mt19937& rng) {
  std::vector<Dims> out;
  if (nd == 0) return {{}, {0}, {-1}};
  for (int64_t mask = 0; mask < (int64_t(1) << nd); ++mask) {
    Dims d;
    for (int64_t i = 0; i < nd; ++i)
      if (mask >> i & 1) d.push_back(rng() % 2 ? i - nd : i);
    if (d.size() > 1 && rng() % 2) std::reverse(d.begin(), d.end());  // order must not matter
    out.push_back(d);
  }
  return out;
}

}  // namespace

TEST_CASE("reductions match double references over shapes, dims, layouts, dtypes", "[reduce]") {
  std::mt19937 rng(1234);
  std::vector<Dims> shapes = {{}, {0}, {2, 0}, {0, 3}, {2, 0, 3}, {1}, {1, 1, 3}};
  for (int nd = 1; nd <= 4; ++nd) {
    for (int rep = 0; rep < 2; ++rep) {
      Dims s;
      for (int i = 0; i < nd; ++i) s.push_back(1 + rng() % (nd <= 2 ? 7 : 4));
      shapes.push_back(s);
    }
  }
  const auto table = op_table();
  uint64_t seed = 0;
  for (const Dims& shape : shapes) {
    std::vector<Dims> sets = dim_sets(int64_t(shape.size()), rng);
    for (Data data : {Data::Float32, Data::Float64, Data::TiedFloat32, Data::Int64, Data::Bool}) {
      for (Layout layout : {Layout::Contiguous, Layout::Strided, Layout::Permuted}) {
        ++seed;
        Tensor a = make_input(shape, data, layout, seed);
        std::ostringstream ctx;
        ctx << "on " << data_name(data) << " " << shape << " layout " << int(layout) << " seed "
            << seed;
        for (const Dims& dims : sets) {
          for (bool keepdim : {false, true}) {
            Groups g = group(a, wrapped(dims, a.dim()), keepdim);
            for (const OpCase& op : table) {
              bool is_int = data == Data::Int64 || data == Data::Bool;
              bool is_arg = std::string(op.name).rfind("arg", 0) == 0;
              if (is_int && !op.ints) continue;
              if (data == Data::Bool && is_arg) continue;
              if (op.single_dim && dims.size() > 1) continue;
              bool flat_arg = op.single_dim && dims.empty();
              if (flat_arg && (!is_arg || keepdim)) continue;
              double tol = tolerance(data, op.name);
              check_case(op, a, dims, keepdim, g, ctx.str(), tol, tol);
            }
          }
        }
      }
    }
  }
}

TEST_CASE("large reductions take the blocked and column paths correctly", "[reduce]") {
  struct Big {
    Dims shape;
    Dims dims;
    bool transposed;  // build as the reversed shape and transpose (permuted dense input)
  };
  std::vector<Big> cases = {
      {{2, 150000}, {1}, false},      // few long rows: split into parallel blocks
      {{150000, 3}, {0}, false},      // few narrow columns: rows split into blocks
      {{300, 600}, {0}, false},       // columns in two tiles
      {{3, 40000, 5}, {-2}, false},   // middle dim
      {{130001}, {}, false},          // full reduction
      {{600, 300}, {1}, true},        // transposed: read in memory order
      {{40, 70, 50}, {0, 2}, false},  // split reduced dims: one permuting copy
      {{500, 400}, {}, true},         // full reduction of a transpose
  };
  const auto table = op_table();
  uint64_t seed = 100;
  for (const Big& c : cases) {
    for (DType dt : {kFloat32, kFloat64}) {
      ++seed;
      Tensor a = c.transposed ? test::seeded_randn({c.shape[1], c.shape[0]}, seed, dt).t()
                              : test::seeded_randn(c.shape, seed, dt);
      int64_t rows = 1;
      for (int64_t d : wrapped(c.dims, a.dim())) rows *= a.size(d);
      if (c.dims.empty()) rows = a.numel();
      Groups g = group(a, wrapped(c.dims, a.dim()), false);
      for (const OpCase& op : table) {
        std::string name = op.name;
        if (name == "prod") continue;  // overflows on this many normals
        if (op.single_dim && c.dims.size() > 1) continue;
        if (op.single_dim && c.dims.empty() && name.rfind("arg", 0) != 0) continue;
        bool f32 = dt == kFloat32;
        // Sums of `rows` normals can land near zero: the error scales with the row count.
        double rtol = f32 ? 1e-4 : 1e-9, atol = (f32 ? 1e-6 : 1e-12) * double(rows);
        std::ostringstream ctx;
        ctx << "on " << dtype_name(dt) << " " << a.sizes() << (c.transposed ? " (transposed)" : "")
            << " seed " << seed;
        check_case(op, a, c.dims, false, g, ctx.str(), rtol, atol);
      }
    }
  }
}

TEST_CASE("float32 sums stay accurate over ten million elements", "[reduce]") {
  const int64_t n = 10'000'000;
  std::vector<float> v(n);
  double exact = 0;
  for (int64_t i = 0; i < n; ++i) {
    v[i] = 1.0f + float(i % 7) / 3.0f;  // not exactly representable: every add rounds
    exact += double(v[i]);
  }
  Tensor a = tensor(v);
  v = {};
  double s = sum(a).item<double>();
  INFO("sum " << s << " exact " << exact);
  CHECK(std::abs(s - exact) <= 1e-6 * exact);
  CHECK(std::abs(mean(a).item<double>() - exact / double(n)) <= 1e-6 * exact / double(n));
  // The same data as [2.5M, 4] summed down the columns (row-wise accumulation, cascaded).
  Tensor cols = sum(a.view({n / 4, 4}), {0});
  std::vector<double> exact_cols(4, 0.0);
  for (int64_t i = 0; i < n; ++i) exact_cols[i % 4] += 1.0 + double(float(i % 7) / 3.0f);
  test::require_close(cols, {4}, exact_cols, "column sums of [2.5M, 4]", 1e-6, 0);
}

TEST_CASE("reduction results do not depend on the thread count", "[reduce]") {
  Tensor a = test::seeded_randn({400000}, 7);
  Tensor b = test::seeded_randn({200000, 3}, 8);
  int threads = get_num_threads();
  set_num_threads(1);
  float s1 = sum(a).item<float>();
  std::vector<float> c1 = sum(b, {0}).to_vector<float>();
  set_num_threads(std::max(2, threads));
  float s2 = sum(a).item<float>();
  std::vector<float> c2 = sum(b, {0}).to_vector<float>();
  set_num_threads(threads);
  CHECK(s1 == s2);
  CHECK(c1 == c2);
}

TEST_CASE("empty reductions give the identity; dtypes follow PyTorch", "[reduce]") {
  Tensor e = zeros({0});
  test::require_close(sum(e), {}, {0}, "sum of empty");
  test::require_close(prod(e), {}, {1}, "prod of empty");
  test::require_close(mean(e), {}, {kNaN}, "mean of empty");
  test::require_close(var(e), {}, {kNaN}, "var of empty");
  test::require_close(logsumexp(e, {0}), {}, {-kInf}, "logsumexp of empty");
  Tensor e2 = zeros({0, 3});
  test::require_close(sum(e2, {0}), {3}, {0, 0, 0}, "sum over a zero-size dim");
  test::require_close(ember::std(e2, {0}, true), {1, 3}, {kNaN, kNaN, kNaN}, "std, empty");
  test::require_close(amax(e2, {1}), {0}, {}, "amax keeping the zero-size dim");
  CHECK(sum(e).dtype() == kFloat32);

  Tensor i = tensor({{1, 2}, {3, 4}}).to(kInt64);
  Tensor s = sum(i, {0});
  CHECK(s.dtype() == kInt64);
  CHECK(s.to_vector<int64_t>() == std::vector<int64_t>{4, 6});
  CHECK(prod(i).item<int64_t>() == 24);
  Tensor b = tensor({1, 0, 1, 1}).to(kBool);
  CHECK(sum(b).dtype() == kInt64);
  CHECK(sum(b).item<int64_t>() == 3);
  CHECK(amax(b).dtype() == kBool);
  CHECK(amin(b).item<bool>() == false);
  CHECK(logsumexp(i, {1}).dtype() == kFloat32);
  // Large int64 sums are exact (no float accumulation).
  Tensor big = full({3}, int64_t(1) << 60, kInt64);
  CHECK(sum(big).item<int64_t>() == (int64_t(3) << 60));
}

TEST_CASE("0-d tensors reduce to themselves", "[reduce]") {
  Tensor s = scalar_tensor(3.5);
  test::require_close(sum(s), {}, {3.5}, "sum()");
  test::require_close(sum(s, {0}), {}, {3.5}, "sum(0)");
  test::require_close(sum(s, {-1}, true), {}, {3.5}, "sum(-1, keepdim)");
  test::require_close(var(s, {}, false, 0), {}, {0}, "var, correction 0");
  test::require_close(var(s), {}, {kNaN}, "var of one element");
  auto [v, ix] = max(s, 0);
  test::require_close(v, {}, {3.5}, "max(0).values");
  CHECK(ix.item<int64_t>() == 0);
  CHECK(argmax(s).item<int64_t>() == 0);
  CHECK(argmin(s, 0, true).sizes() == Dims{});
  CHECK_THROWS_WITH(sum(s, {1}), Catch::Contains("expected to be in range of [-1, 0], but got 1"));
}

TEST_CASE("max and min pick the first extreme; NaN wins and propagates", "[reduce]") {
  Tensor t = tensor({3, 1, 3, 1, 2});
  CHECK(max(t, 0).indices.item<int64_t>() == 0);
  CHECK(min(t, 0).indices.item<int64_t>() == 1);
  CHECK(argmax(t).item<int64_t>() == 0);
  CHECK(argmin(t, -1).item<int64_t>() == 1);

  Tensor n = tensor({1.0, kNaN, 5.0, kNaN});
  CHECK(std::isnan(amax(n).item<double>()));
  CHECK(std::isnan(amin(n).item<double>()));
  CHECK(std::isnan(max(n).item<double>()));
  CHECK(std::isnan(sum(n).item<double>()));
  CHECK(max(n, 0).indices.item<int64_t>() == 1);
  CHECK(min(n, 0).indices.item<int64_t>() == 1);
  CHECK(argmax(n).item<int64_t>() == 1);
  CHECK(argmin(n).item<int64_t>() == 1);

  // Down columns, and past the block boundaries of the parallel paths.
  Tensor m = tensor({{1.0, 2.0}, {kNaN, 0.0}, {kNaN, 7.0}});
  CHECK(max(m, 0).indices.to_vector<int64_t>() == std::vector<int64_t>{1, 2});
  CHECK(argmin(m, 0).to_vector<int64_t>() == std::vector<int64_t>{1, 1});
  Tensor big = zeros({300000});
  big.narrow(0, 200000, 1).fill_(kNaN);
  big.narrow(0, 250000, 1).fill_(5.0);
  CHECK(argmax(big).item<int64_t>() == 200000);
  CHECK(std::isnan(amax(big).item<float>()));
  Tensor cols = zeros({200000, 2});
  cols.select(1, 1).narrow(0, 150001, 1).fill_(kNaN);
  CHECK(max(cols, 0).indices.to_vector<int64_t>() == std::vector<int64_t>{0, 150001});
  Tensor ties = ones({200000});
  CHECK(argmax(ties).item<int64_t>() == 0);
  for (int64_t at : {190000, 70000, 140000}) ties.narrow(0, at, 1).fill_(2.0);
  CHECK(argmax(ties).item<int64_t>() == 70000);  // blocks of 65536: the earlier block wins
  CHECK(max(ties, 0).indices.item<int64_t>() == 70000);
}

TEST_CASE("argmax without a dim indexes the logical flattening", "[reduce]") {
  // t() of [[1, 9], [5, 2]] is [[1, 5], [9, 2]]: 9 sits at logical index 2 (memory index 1).
  Tensor a = tensor({{1, 9}, {5, 2}}).t();
  CHECK(argmax(a).item<int64_t>() == 2);
  CHECK(argmin(a.contiguous()).item<int64_t>() == 0);
  Tensor p = test::seeded_randn({3, 4, 5}, 3).permute({2, 0, 1});
  CHECK(argmax(p).item<int64_t>() == argmax(p.contiguous()).item<int64_t>());
  CHECK(argmin(p).item<int64_t>() == argmin(p.contiguous()).item<int64_t>());
}

TEST_CASE("logsumexp is stable for large and infinite values", "[reduce]") {
  test::require_close(logsumexp(tensor({1000.0, 1000.0}), {0}), {}, {1000 + std::log(2.0)}, "large",
                      1e-6);
  test::require_close(logsumexp(tensor({-1000.0, -1000.0}), {0}), {}, {-1000 + std::log(2.0)},
                      "very negative", 1e-6);
  test::require_close(logsumexp(tensor({-kInf, -kInf}), {0}), {}, {-kInf}, "all -inf");
  test::require_close(logsumexp(tensor({kInf, 1.0}), {0}), {}, {kInf}, "+inf");
  test::require_close(logsumexp(tensor({kNaN, 1.0}), {0}), {}, {kNaN}, "nan");
}

TEST_CASE("var and std take a correction", "[reduce]") {
  Tensor a = tensor({1.0, 2.0, 3.0, 4.0});
  test::require_close(var(a), {}, {5.0 / 3.0}, "unbiased");
  test::require_close(var(a, {0}, false, 0), {}, {1.25}, "population");
  test::require_close(ember::std(a, {0}, true, 2), {1}, {std::sqrt(2.5)}, "correction 2");
  test::require_close(var(a, {0}, false, 4), {}, {kInf}, "N - correction = 0");
  // Two-pass variance does not cancel catastrophically around a large mean.
  Tensor shifted = tensor({1e4 + 1, 1e4 + 2, 1e4 + 3, 1e4 + 4}).to(kFloat32);
  test::require_close(var(shifted), {}, {5.0 / 3.0}, "shifted float32", 1e-5);
}

TEST_CASE("reduction methods and keepdim shapes", "[reduce]") {
  Tensor a = test::seeded_randn({2, 3, 4}, 11);
  CHECK(a.sum().sizes() == Dims{});
  CHECK(a.sum({1}, true).sizes() == Dims{2, 1, 4});
  CHECK(a.mean({0, -1}).sizes() == Dims{3});
  CHECK(a.amax({}, true).sizes() == Dims{1, 1, 1});
  CHECK(a.argmax(2, true).sizes() == Dims{2, 3, 1});
  CHECK(a.var({0, 1, 2}).sizes() == Dims{});
  CHECK(a.logsumexp({-3}, true).sizes() == Dims{1, 3, 4});
  CHECK(max(a, 1, true).values.sizes() == Dims{2, 1, 4});
  CHECK(a.max().item<float>() == amax(a).item<float>());
  CHECK(a.min().item<float>() == amin(a).item<float>());
}

TEST_CASE("integer-dim overloads equal the one-dim list, and braced lists still mean Dims",
          "[reduce]") {
  Tensor a = test::seeded_randn({2, 3, 4}, 12, kFloat64);
  // methods
  CHECK(equal(a.sum(1), a.sum({1})));
  CHECK(a.sum(1).sizes() == Dims{2, 4});
  CHECK(a.sum(1, true).sizes() == Dims{2, 1, 4});
  CHECK(equal(a.sum(1, true), sum(a, {1}, true)));
  CHECK(equal(a.mean(1, true), mean(a, {1}, true)));
  CHECK(equal(a.amax(-1), amax(a, {2})));
  CHECK(equal(a.amin(0, true), amin(a, {0}, true)));
  CHECK(equal(a.var(0), var(a, {0})));
  CHECK(equal(a.var(0, true, 0), var(a, {0}, true, 0)));
  CHECK(equal(a.std(-2), ember::std(a, {1})));
  CHECK(equal(a.prod(1), prod(a, {1})));
  CHECK(equal(a.prod(), prod(a)));
  CHECK(equal(a.logsumexp(1), logsumexp(a, {1})));
  auto [values, indices] = a.max(2);
  CHECK(equal(values, amax(a, {2})));
  CHECK(equal(indices, argmax(a, 2)));
  CHECK(equal(a.min(0, true).indices, argmin(a, 0, true)));
  const int64_t d64 = 2;
  const size_t dsize = 2;
  CHECK(equal(a.sum(d64), a.sum(dsize)));
  // free functions
  CHECK(equal(sum(a, 2), sum(a, {2})));
  CHECK(equal(mean(a, -1, true), mean(a, {2}, true)));
  CHECK(equal(amax(a, 0), amax(a, {0})));
  CHECK(equal(amin(a, 1), amin(a, {1})));
  CHECK(equal(var(a, 1), var(a, {1})));
  CHECK(equal(ember::std(a, 1, false, 0), ember::std(a, {1}, false, 0)));
  CHECK(equal(prod(a, 0, true), prod(a, {0}, true)));
  CHECK(equal(logsumexp(a, -1), logsumexp(a, {2})));
  // a braced list is Dims: {} reduces every dim (it must not become dim 0)
  CHECK(a.sum({}).sizes() == Dims{});
  CHECK(sum(a, {}, true).sizes() == Dims{1, 1, 1});
  CHECK(a.var({}, false, 0).sizes() == Dims{});
  CHECK(a.sum({1}).sizes() == Dims{2, 4});
  CHECK(a.mean({0, 2}, true).sizes() == Dims{1, 3, 1});
  // the values, not only the forwarding: sum over dim 1 of a known tensor
  Tensor b = tensor({{1, 2, 3}, {4, 5, 6}});
  test::require_close(b.sum(1), {2}, {6, 15}, "sum(1)");
  test::require_close(b.mean(0, true), {1, 3}, {2.5, 3.5, 4.5}, "mean(0, true)");
  test::require_close(b.amax(-1), {2}, {3, 6}, "amax(-1)");
  test::require_close(b.var(0), {3}, {4.5, 4.5, 4.5}, "var(0)");
  // gradients flow through the integer-dim form
  Tensor w = test::seeded_randn({3, 2}, 13, kFloat64).requires_grad_();
  w.sum(1).mean(0).backward();
  test::require_close(w.grad(), {3, 2}, std::vector<double>(6, 1.0 / 3), "grad of sum(1).mean(0)");
  // errors name the op and the dim, as for a list
  CHECK_THROWS_WITH(a.sum(3), Catch::Contains("sum") &&
                                  Catch::Contains("expected to be in range of [-3, 2], but got 3"));
  CHECK_THROWS_WITH(a.mean(-4, true), Catch::Contains("but got -4"));
}

TEST_CASE("reduction errors name the op and the dim", "[reduce][error]") {
  Tensor a = zeros({2, 3});
  CHECK_THROWS_AS(sum(a, {3}), IndexError);
  CHECK_THROWS_WITH(
      sum(a, {3}),
      Catch::Contains("sum") && Catch::Contains("expected to be in range of [-2, 1], but got 3"));
  CHECK_THROWS_WITH(amax(a, {-3}), Catch::Contains("but got -3"));
  CHECK_THROWS_WITH(max(a, 2), Catch::Contains("max") && Catch::Contains("but got 2"));
  CHECK_THROWS_WITH(argmin(a, -3), Catch::Contains("but got -3"));
  CHECK_THROWS_WITH(sum(a, {0, -2}), Catch::Contains("dim 0 appears multiple times"));
  CHECK_THROWS_WITH(var(a, {1, 1}), Catch::Contains("dim 1 appears multiple times"));

  Tensor i = tensor({1, 2}).to(kInt64);
  CHECK_THROWS_AS(mean(i), DTypeError);
  CHECK_THROWS_WITH(mean(i),
                    Catch::Contains("mean(): could not infer output dtype. Input dtype must be "
                                    "either a floating point or complex dtype. Got: Long"));
  CHECK_THROWS_WITH(mean(i.to(kBool)), Catch::Contains("Got: Bool"));
  CHECK_THROWS_WITH(var(i), Catch::Contains("std and var only support floating point"));
  CHECK_THROWS_WITH(ember::std(i), Catch::Contains("std and var only support floating point"));
  CHECK_THROWS_WITH(argmax(i.to(kBool)), Catch::Contains("argmax(): not implemented for bool"));

  CHECK_THROWS_WITH(amax(zeros({0})),
                    Catch::Contains("amax(): Expected reduction dim to be specified for "
                                    "input.numel() == 0"));
  CHECK_THROWS_AS(amin(zeros({0, 3}), {0}), IndexError);
  CHECK_THROWS_WITH(amin(zeros({0, 3}), {0}),
                    Catch::Contains("amin(): Expected reduction dim 0 to have non-zero size."));
  CHECK_THROWS_WITH(max(zeros({0})), Catch::Contains("max(): Expected reduction dim to be "));
  CHECK_THROWS_WITH(min(zeros({2, 0}), 1),
                    Catch::Contains("min(): Expected reduction dim 1 to have non-zero size"));
  CHECK_THROWS_WITH(argmax(zeros({0})), Catch::Contains("argmax(): Expected reduction dim"));
  CHECK_THROWS_WITH(sum(Tensor()), Catch::Contains("undefined"));
}

TEST_CASE("int64 sums and products wrap around as in PyTorch", "[runtime][reduce]") {
  // Found by the reader fuzzer: an I64 tensor loaded from a file summed past INT64_MAX, a signed
  // overflow (undefined behaviour; UBSan stops the sanitizer build on it).
  Tensor big = tensor(std::vector<int64_t>{INT64_MAX, 1, INT64_MAX, 3});
  CHECK(big.sum().item<int64_t>() == 2);  // wraps twice: 2^64 + 2 -> 2
  CHECK(big.view({2, 2}).sum({0}).to_vector<int64_t>() == std::vector<int64_t>{-2, 4});
  CHECK(big.view({2, 2}).sum({1}).to_vector<int64_t>() ==
        std::vector<int64_t>{INT64_MIN, INT64_MIN + 2});
  Tensor p = tensor(std::vector<int64_t>{int64_t{1} << 62, 4, 3});
  CHECK(prod(p).item<int64_t>() == 0);  // 2^64 * 3 wraps to 0
  std::vector<int64_t> many(10000, INT64_MAX);
  CHECK(tensor(many).sum().item<int64_t>() == -10000);  // 10000 * (2^63 - 1) mod 2^64
}
