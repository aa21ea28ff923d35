// Tensor methods that forward to the free functions of ops.hpp.
#include "runtime/ops.hpp"

namespace ember {

Tensor Tensor::view(const Dims& s) const { return ember::view(*this, s); }
Tensor Tensor::reshape(const Dims& s) const { return ember::reshape(*this, s); }
Tensor Tensor::flatten(int64_t a, int64_t b) const { return ember::flatten(*this, a, b); }
Tensor Tensor::squeeze() const { return ember::squeeze(*this); }
Tensor Tensor::squeeze(int64_t d) const { return ember::squeeze(*this, d); }
Tensor Tensor::unsqueeze(int64_t d) const { return ember::unsqueeze(*this, d); }
Tensor Tensor::transpose(int64_t a, int64_t b) const { return ember::transpose(*this, a, b); }
Tensor Tensor::t() const { return ember::t(*this); }
Tensor Tensor::permute(const Dims& p) const { return ember::permute(*this, p); }
Tensor Tensor::expand(const Dims& s) const { return ember::expand(*this, s); }
Tensor Tensor::expand_as(const Tensor& o) const { return ember::expand(*this, o.sizes()); }
Tensor Tensor::narrow(int64_t d, int64_t s, int64_t l) const {
  return ember::narrow(*this, d, s, l);
}
Tensor Tensor::select(int64_t d, int64_t i) const { return ember::select(*this, d, i); }
Tensor Tensor::slice(int64_t d, int64_t s, int64_t e, int64_t st) const {
  return ember::slice(*this, d, s, e, st);
}
Tensor Tensor::index_select(int64_t d, const Tensor& i) const {
  return ember::index_select(*this, d, i);
}
Tensor Tensor::gather(int64_t d, const Tensor& i) const { return ember::gather(*this, d, i); }
std::vector<Tensor> Tensor::split(int64_t s, int64_t d) const { return ember::split(*this, s, d); }
std::vector<Tensor> Tensor::chunk(int64_t c, int64_t d) const { return ember::chunk(*this, c, d); }

Tensor Tensor::neg() const { return ember::neg(*this); }
Tensor Tensor::abs() const { return ember::abs(*this); }
Tensor Tensor::exp() const { return ember::exp(*this); }
Tensor Tensor::log() const { return ember::log(*this); }
Tensor Tensor::sqrt() const { return ember::sqrt(*this); }
Tensor Tensor::rsqrt() const { return ember::rsqrt(*this); }
Tensor Tensor::sin() const { return ember::sin(*this); }
Tensor Tensor::cos() const { return ember::cos(*this); }
Tensor Tensor::tanh() const { return ember::tanh(*this); }
Tensor Tensor::sigmoid() const { return ember::sigmoid(*this); }
Tensor Tensor::relu() const { return ember::relu(*this); }
Tensor Tensor::gelu() const { return ember::gelu(*this); }
Tensor Tensor::silu() const { return ember::silu(*this); }
Tensor Tensor::erf() const { return ember::erf(*this); }
Tensor Tensor::pow(const Tensor& e) const { return ember::pow(*this, e); }
Tensor Tensor::pow(Scalar e) const { return ember::pow(*this, e); }
Tensor Tensor::clamp(std::optional<double> lo, std::optional<double> hi) const {
  return ember::clamp(*this, lo, hi);
}
Tensor Tensor::matmul(const Tensor& o) const { return ember::matmul(*this, o); }
Tensor Tensor::mm(const Tensor& o) const { return ember::mm(*this, o); }
Tensor Tensor::softmax(int64_t d) const { return ember::softmax(*this, d); }
Tensor Tensor::log_softmax(int64_t d) const { return ember::log_softmax(*this, d); }

Tensor Tensor::sum() const { return ember::sum(*this); }
Tensor Tensor::sum(const Dims& d, bool k) const { return ember::sum(*this, d, k); }
Tensor Tensor::mean() const { return ember::mean(*this); }
Tensor Tensor::mean(const Dims& d, bool k) const { return ember::mean(*this, d, k); }
Tensor Tensor::prod() const { return ember::prod(*this); }
Tensor Tensor::prod(const Dims& d, bool k) const { return ember::prod(*this, d, k); }
Tensor Tensor::amax(const Dims& d, bool k) const { return ember::amax(*this, d, k); }
Tensor Tensor::amin(const Dims& d, bool k) const { return ember::amin(*this, d, k); }
Tensor Tensor::max() const { return ember::max(*this); }
ValuesIndices Tensor::max(int64_t d, bool k) const { return ember::max(*this, d, k); }
Tensor Tensor::min() const { return ember::min(*this); }
ValuesIndices Tensor::min(int64_t d, bool k) const { return ember::min(*this, d, k); }
Tensor Tensor::argmax() const { return ember::argmax(*this); }
Tensor Tensor::argmax(int64_t d, bool k) const { return ember::argmax(*this, d, k); }
Tensor Tensor::argmin() const { return ember::argmin(*this); }
Tensor Tensor::argmin(int64_t d, bool k) const { return ember::argmin(*this, d, k); }
Tensor Tensor::var(const Dims& d, bool k, int64_t c) const { return ember::var(*this, d, k, c); }
Tensor Tensor::std(const Dims& d, bool k, int64_t c) const { return ember::std(*this, d, k, c); }
Tensor Tensor::logsumexp(const Dims& d, bool k) const { return ember::logsumexp(*this, d, k); }

}  // namespace ember
