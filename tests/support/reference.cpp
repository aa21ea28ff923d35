#include "support/reference.hpp"

#include <cmath>
#include <sstream>

namespace ember::test {

Tensor seeded_randn(const Dims& sizes, uint64_t seed, DType d) {
  manual_seed(seed);
  return randn(sizes, d);
}

Tensor noncontiguous(const Tensor& t) {
  if (t.dim() == 0 || t.numel() == 0) return t.clone();
  Dims wide = t.sizes();
  wide.back() *= 2;
  Tensor buf = zeros(wide, t.dtype());
  Tensor view = buf.slice(-1, 0, wide.back(), 2);
  view.copy_(t);
  return view;
}

std::vector<int64_t> unravel(int64_t i, const Dims& sizes) {
  std::vector<int64_t> idx(sizes.size());
  for (size_t d = sizes.size(); d-- > 0;) {
    idx[d] = sizes[d] ? i % sizes[d] : 0;
    i = sizes[d] ? i / sizes[d] : 0;
  }
  return idx;
}

int64_t ravel(const std::vector<int64_t>& idx, const Dims& sizes) {
  int64_t i = 0;
  for (size_t d = 0; d < sizes.size(); ++d) i = i * sizes[d] + idx[d];
  return i;
}

double at(const Tensor& t, const std::vector<int64_t>& idx) {
  int64_t off = 0;
  for (size_t d = 0; d < idx.size(); ++d) off += idx[d] * t.strides()[d];
  return visit_dtype(t.dtype(), [&](auto x) {
    using T = decltype(x);
    return static_cast<double>(reinterpret_cast<const T*>(t.raw_data())[off]);
  });
}

std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

void require_close(const Tensor& actual, const Dims& sizes, const std::vector<double>& expected,
                   const std::string& what, double rtol, double atol) {
  INFO(what);
  REQUIRE(actual.defined());
  INFO("actual sizes " << actual.sizes() << ", expected " << sizes);
  REQUIRE(actual.sizes() == sizes);
  std::vector<double> got = values(actual);
  REQUIRE(got.size() == expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    double e = expected[i], g = got[i];
    bool ok = (std::isnan(e) && std::isnan(g)) || (std::isinf(e) && g == e) ||
              std::abs(g - e) <= atol + rtol * std::abs(e);
    if (!ok) {
      std::ostringstream os;
      os << "element " << i << ": got " << g << ", expected " << e;
      FAIL(os.str());
    }
  }
}

}  // namespace ember::test
