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

Tensor wave(const Dims& sizes, double phase, double amp) {
  int64_t n = 1;
  for (int64_t d : sizes) n *= d;
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = amp * std::sin(1.3 * static_cast<double>(i) + phase);
  return tensor(v, sizes);
}

void set_wave_parameters(nn::ModuleBase& m) {
  NoGradGuard g;
  double k = 0;
  for (auto& [name, p] : m.named_parameters()) p.copy_(wave(p.sizes(), 0.1 + 0.7 * k++, 0.5));
}

Tensor parameter_grads(const nn::ModuleBase& m) {
  std::vector<Tensor> g;
  for (auto& [name, p] : m.named_parameters()) g.push_back(p.grad().reshape({-1}));
  return cat(g);
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
