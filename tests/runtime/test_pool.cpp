// max_pool2d, avg_pool2d and adaptive_avg_pool2d against window-by-window double references.
#include <cmath>
#include <limits>
#include <sstream>

#include "nn/functional.hpp"
#include "support/reference.hpp"

using namespace ember;
namespace F = ember::nn::functional;

namespace {

struct PoolCase {
  Dims x;
  F::Pair kernel;
  std::optional<F::Pair> stride;
  F::Pair padding, dilation;
  bool ceil_mode;
};

// Output length of one dim: floor (or ceil) of the window count, minus a last window that
// would start inside the right padding.
int64_t out_len(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil_mode) {
  double span = static_cast<double>(in + 2 * p - d * (k - 1) - 1) / static_cast<double>(s);
  int64_t out = static_cast<int64_t>(ceil_mode ? std::ceil(span) : std::floor(span)) + 1;
  if (ceil_mode && (out - 1) * s >= in + p) --out;
  return out;
}

// Visits every window: f(plane index vector prefix, oy, ox, list of (ih, iw) in the padded
// window incl. out-of-bounds positions).
struct Geometry {
  int64_t H, W, OH, OW;
  Dims lead, out_sizes;
};

Geometry geometry(const Tensor& x, const PoolCase& c) {
  F::Pair s = c.stride.value_or(c.kernel);
  Geometry g;
  g.H = x.size(-2);
  g.W = x.size(-1);
  g.OH = out_len(g.H, c.kernel.h, s.h, c.padding.h, c.dilation.h, c.ceil_mode);
  g.OW = out_len(g.W, c.kernel.w, s.w, c.padding.w, c.dilation.w, c.ceil_mode);
  for (int64_t d = 0; d + 2 < x.dim(); ++d) g.lead.push_back(x.size(d));
  g.out_sizes = g.lead;
  g.out_sizes.push_back(g.OH);
  g.out_sizes.push_back(g.OW);
  return g;
}

std::vector<int64_t> at_plane(const std::vector<int64_t>& lead, int64_t ih, int64_t iw) {
  std::vector<int64_t> idx = lead;
  idx.push_back(ih);
  idx.push_back(iw);
  return idx;
}

void ref_max(const Tensor& x, const PoolCase& c, Geometry& g, std::vector<double>& vals,
             std::vector<double>& idxs) {
  g = geometry(x, c);
  F::Pair s = c.stride.value_or(c.kernel);
  int64_t planes = 1;
  for (int64_t v : g.lead) planes *= v;
  for (int64_t p = 0; p < planes; ++p) {
    std::vector<int64_t> lead = test::unravel(p, g.lead);
    for (int64_t y = 0; y < g.OH; ++y)
      for (int64_t xo = 0; xo < g.OW; ++xo) {
        double m = -std::numeric_limits<double>::infinity();
        int64_t best = -1;
        for (int64_t i = 0; i < c.kernel.h; ++i)
          for (int64_t j = 0; j < c.kernel.w; ++j) {
            int64_t ih = y * s.h - c.padding.h + i * c.dilation.h;
            int64_t iw = xo * s.w - c.padding.w + j * c.dilation.w;
            if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
            double v = test::at(x, at_plane(lead, ih, iw));
            if (best < 0 || v > m || std::isnan(v)) {  // NaN propagates, as in PyTorch
              m = v;
              best = ih * g.W + iw;
            }
          }
        vals.push_back(m);
        idxs.push_back(static_cast<double>(best));
      }
  }
}

std::string describe(const Tensor& x, const PoolCase& c, const std::string& what) {
  std::ostringstream os;
  F::Pair s = c.stride.value_or(c.kernel);
  os << what << ": input " << x.sizes() << " kernel " << c.kernel.h << "x" << c.kernel.w
     << " stride " << s.h << "x" << s.w << " padding " << c.padding.h << "x" << c.padding.w
     << " dilation " << c.dilation.h << "x" << c.dilation.w << " ceil_mode " << c.ceil_mode << " "
     << x.dtype();
  return os.str();
}

void check_max(const Tensor& x, const PoolCase& c, const std::string& what) {
  Geometry g;
  std::vector<double> vals, idxs;
  ref_max(x, c, g, vals, idxs);
  F::MaxPool2dOptions o{c.stride, c.padding, c.dilation, c.ceil_mode};
  ValuesIndices r = F::max_pool2d_with_indices(x, c.kernel, o);
  std::string d = describe(x, c, what);
  test::require_close(r.values, g.out_sizes, vals, d + " values", 0, 0);
  CHECK(r.indices.dtype() == kInt64);
  test::require_close(r.indices, g.out_sizes, idxs, d + " indices", 0, 0);
  test::require_close(F::max_pool2d(x, c.kernel, o), g.out_sizes, vals, d + " max_pool2d", 0, 0);
}

// Average over the window; the divisor counts the padded window (clipped at the padded edge)
// with count_include_pad, else only the in-bounds elements, unless overridden.
void check_avg(const Tensor& x, const PoolCase& c, bool include_pad, std::optional<int64_t> divisor,
               const std::string& what, double tol = 1e-5) {
  Geometry g = geometry(x, c);
  F::Pair s = c.stride.value_or(c.kernel);
  int64_t planes = 1;
  for (int64_t v : g.lead) planes *= v;
  bool integer = x.dtype() == kInt64;
  std::vector<double> e;
  for (int64_t p = 0; p < planes; ++p) {
    std::vector<int64_t> lead = test::unravel(p, g.lead);
    for (int64_t y = 0; y < g.OH; ++y)
      for (int64_t xo = 0; xo < g.OW; ++xo) {
        double sum = 0;
        int64_t inside = 0, padded = 0;
        for (int64_t i = 0; i < c.kernel.h; ++i)
          for (int64_t j = 0; j < c.kernel.w; ++j) {
            int64_t ih = y * s.h - c.padding.h + i, iw = xo * s.w - c.padding.w + j;
            if (ih < g.H + c.padding.h && iw < g.W + c.padding.w) ++padded;
            if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
            ++inside;
            sum += test::at(x, at_plane(lead, ih, iw));
          }
        int64_t div = divisor ? *divisor : include_pad ? padded : inside;
        if (integer)
          e.push_back(static_cast<double>(static_cast<int64_t>(sum) / div));
        else
          e.push_back(sum / static_cast<double>(div));
      }
  }
  F::AvgPool2dOptions o{c.stride, c.padding, c.ceil_mode, include_pad, divisor};
  std::ostringstream os;
  os << describe(x, c, what) << " count_include_pad " << include_pad << " divisor "
     << (divisor ? std::to_string(*divisor) : "none");
  test::require_close(F::avg_pool2d(x, c.kernel, o), g.out_sizes, e, os.str(), tol, tol);
}

const std::vector<PoolCase> kPoolCases = {
    {{2, 3, 6, 6}, 2, std::nullopt, 0, 1, false},
    {{2, 3, 7, 7}, 2, std::nullopt, 0, 1, true},  // ceil_mode adds a partial window
    {{1, 2, 6, 6}, 3, F::Pair(2), 1, 1, true},    // ceil_mode drops a window in padding
    {{1, 2, 5, 8}, {3, 2}, F::Pair(1, 2), {1, 1}, 1, false},
    {{2, 2, 9, 9}, 3, F::Pair(2), 1, 2, false},  // dilation (max only)
    {{1, 3, 8, 7}, {2, 3}, F::Pair(3, 1), {1, 1}, {2, 1}, true},
    {{3, 5, 5}, 3, F::Pair(1), 1, 1, false},  // unbatched
    {{1, 1, 4, 4}, 4, std::nullopt, 2, 1, true},
    {{2, 4, 3, 3}, 1, std::nullopt, 0, 1, false},
};

}  // namespace

TEST_CASE("max_pool2d values and indices match a reference", "[linalg][pool]") {
  for (size_t i = 0; i < kPoolCases.size(); ++i) {
    Tensor x = test::seeded_randn(kPoolCases[i].x, 600 + i);
    std::string tag = "case " + std::to_string(i);
    check_max(x, kPoolCases[i], tag);
    check_max(test::noncontiguous(x), kPoolCases[i], tag + " noncontiguous");
    check_max(x.to(kFloat64), kPoolCases[i], tag + " float64");
  }
}

TEST_CASE("max_pool2d propagates NaN and handles -inf windows", "[linalg][pool]") {
  double nan = std::numeric_limits<double>::quiet_NaN(),
         inf = std::numeric_limits<double>::infinity();
  Tensor x = tensor(std::vector<double>{nan, 1, nan, 2, 3, 4, -inf, -inf, -inf}, {1, 1, 3, 3});
  check_max(x, {{1, 1, 3, 3}, 2, F::Pair(1), 0, 1, false}, "nan");
  check_max(x, {{1, 1, 3, 3}, 2, F::Pair(1), 1, 1, true}, "nan padded");
  // A window of only -inf picks its first in-bounds element, as PyTorch.
  ValuesIndices r =
      F::max_pool2d_with_indices(full({1, 1, 3, 3}, -inf), 2, {.stride = 1, .padding = 1});
  test::require_close(r.indices, {1, 1, 4, 4}, {0, 0, 1, 2, 0, 0, 1, 2, 3, 3, 4, 5, 6, 6, 7, 8},
                      "-inf indices", 0, 0);
}

TEST_CASE("avg_pool2d matches a reference", "[linalg][pool]") {
  for (size_t i = 0; i < kPoolCases.size(); ++i) {
    PoolCase c = kPoolCases[i];
    c.dilation = 1;  // avg_pool2d has no dilation
    Tensor x = test::seeded_randn(c.x, 700 + i);
    std::string tag = "case " + std::to_string(i);
    for (bool include_pad : {true, false}) {
      check_avg(x, c, include_pad, std::nullopt, tag);
      check_avg(test::noncontiguous(x), c, include_pad, std::nullopt, tag + " noncontiguous");
    }
    check_avg(x.to(kFloat64), c, false, std::nullopt, tag + " float64", 1e-12);
    check_avg(x, c, true, 3, tag + " divisor_override");
  }
  manual_seed(5);
  Tensor xi = randint(-20, 21, {2, 2, 5, 5});
  check_avg(xi, {{2, 2, 5, 5}, 2, F::Pair(1), 1, 1, true}, true, std::nullopt, "int64", 0);
  check_avg(xi, {{2, 2, 5, 5}, 3, F::Pair(2), 1, 1, false}, false, std::nullopt, "int64 no pad", 0);
}

TEST_CASE("pool output sizes agree with PyTorch", "[linalg][pool]") {
  // Sizes printed by torch 1.13 for the same calls.
  CHECK(F::max_pool2d(zeros({1, 3, 5, 5}), 2, {.ceil_mode = true}).sizes() == Dims{1, 3, 3, 3});
  CHECK(F::max_pool2d(zeros({1, 1, 6, 6}), 3, {.stride = 2, .padding = 1, .ceil_mode = true})
            .sizes() == Dims{1, 1, 4, 4});
  CHECK(F::avg_pool2d(zeros({1, 1, 6, 6}), 3, {.stride = 2, .padding = 1, .ceil_mode = true})
            .sizes() == Dims{1, 1, 4, 4});
  CHECK(F::max_pool2d(zeros({0, 3, 5, 5}), 2).sizes() == Dims{0, 3, 2, 2});
  CHECK(F::avg_pool2d(zeros({0, 3, 5, 5}), 2).sizes() == Dims{0, 3, 2, 2});
}

TEST_CASE("adaptive_avg_pool2d uses floor/ceil window bounds", "[linalg][pool]") {
  struct Case {
    Dims x;
    F::Pair out;
  };
  for (const Case& c : {Case{{2, 3, 7, 5}, {3, 2}}, Case{{1, 2, 4, 4}, 4}, Case{{3, 5, 6}, {4, 7}},
                        Case{{2, 2, 9, 10}, 1}, Case{{1, 1, 5, 5}, {0, 2}}}) {
    Tensor x = test::seeded_randn(c.x, 800);
    int64_t H = x.size(-2), W = x.size(-1);
    Dims lead;
    for (int64_t d = 0; d + 2 < x.dim(); ++d) lead.push_back(x.size(d));
    Dims sizes = lead;
    sizes.push_back(c.out.h);
    sizes.push_back(c.out.w);
    int64_t planes = 1;
    for (int64_t v : lead) planes *= v;
    std::vector<double> e;
    for (int64_t p = 0; p < planes; ++p)
      for (int64_t y = 0; y < c.out.h; ++y)
        for (int64_t xo = 0; xo < c.out.w; ++xo) {
          auto lo = [](int64_t o, int64_t in, int64_t n) {
            return static_cast<int64_t>(std::floor(static_cast<double>(o * in) / n));
          };
          auto hi = [](int64_t o, int64_t in, int64_t n) {
            return static_cast<int64_t>(std::ceil(static_cast<double>((o + 1) * in) / n));
          };
          double s = 0;
          int64_t cnt = 0;
          for (int64_t ih = lo(y, H, c.out.h); ih < hi(y, H, c.out.h); ++ih)
            for (int64_t iw = lo(xo, W, c.out.w); iw < hi(xo, W, c.out.w); ++iw) {
              s += test::at(x, at_plane(test::unravel(p, lead), ih, iw));
              ++cnt;
            }
          e.push_back(s / static_cast<double>(cnt));
        }
    std::ostringstream os;
    os << "adaptive_avg_pool2d " << c.x << " -> " << c.out.h << "x" << c.out.w;
    test::require_close(F::adaptive_avg_pool2d(x, c.out), sizes, e, os.str());
    test::require_close(F::adaptive_avg_pool2d(test::noncontiguous(x), c.out), sizes, e,
                        os.str() + " noncontiguous");
  }
}

TEST_CASE("pool errors read like PyTorch's", "[linalg][pool][error]") {
  CHECK_THROWS_WITH(F::max_pool2d(zeros({1, 3, 5, 5}), 3, {.padding = 2}),
                    Catch::Contains("pad should be at most half of kernel size, but got pad=2 and "
                                    "kernel_size=3"));
  CHECK_THROWS_WITH(F::avg_pool2d(zeros({1, 3, 5, 5}), 3, {.padding = 2}),
                    Catch::Contains("pad should be at most half of kernel size"));
  CHECK_THROWS_WITH(F::max_pool2d(zeros({1, 3, 2, 2}), 3),
                    Catch::Contains("Given input size: (3x2x2). Calculated output size: (3x0x0). "
                                    "Output size is too small"));
  CHECK_THROWS_WITH(F::max_pool2d(zeros({1, 0, 5, 5}), 2),
                    Catch::Contains("Expected 3D or 4D (batch mode) tensor with optional 0 dim "
                                    "batch size for input, but got: [1, 0, 5, 5]"));
  CHECK_THROWS_WITH(F::max_pool2d(zeros({5, 5}), 2), Catch::Contains("Expected 3D or 4D"));
  CHECK_THROWS_WITH(F::max_pool2d(zeros({1, 3, 5, 5}), 2, {.stride = F::Pair(0)}),
                    Catch::Contains("stride should be greater than zero"));
  CHECK_THROWS_WITH(F::max_pool2d(zeros({1, 3, 5, 5}), 0),
                    Catch::Contains("kernel size should be greater than zero"));
  CHECK_THROWS_WITH(F::max_pool2d(zeros({1, 3, 5, 5}), 2, {.dilation = 0}),
                    Catch::Contains("dilation should be greater than zero"));
  CHECK_THROWS_WITH(F::max_pool2d(zeros({1, 3, 5, 5}), 2, {.padding = -1}),
                    Catch::Contains("pad must be non-negative, but got pad: -1"));
  CHECK_THROWS_WITH(F::max_pool2d(zeros({1, 3, 5, 5}, kInt64), 2),
                    Catch::Contains("max_pool2d: not implemented for 'int64'"));
  CHECK_THROWS_WITH(F::avg_pool2d(zeros({1, 3, 5, 5}), 2, {.divisor_override = 0}),
                    Catch::Contains("divisor must be not zero"));
  CHECK_THROWS_WITH(F::adaptive_avg_pool2d(zeros({1, 3, 0, 5}), 2),
                    Catch::Contains("Expected input to have non-zero size for non-batch "
                                    "dimensions, but input has sizes [1, 3, 0, 5] with dimension "
                                    "2 being empty"));
  CHECK_THROWS_WITH(F::adaptive_avg_pool2d(zeros({1, 3, 5, 5}), -1),
                    Catch::Contains("elements of output_size must be greater than or equal to 0"));
  CHECK_THROWS_WITH(F::adaptive_avg_pool2d(zeros({3, 5}), 2),
                    Catch::Contains("Expected 3D or 4D tensor, but got [3, 5]"));
}
