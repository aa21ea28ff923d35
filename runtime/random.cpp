#include "runtime/random.hpp"

#include <atomic>
#include <cmath>
#include <cstring>
#include <mutex>
#include <numeric>

#include "runtime/ops.hpp"
#include "runtime/ops/loops.hpp"

namespace ember {
namespace random {

std::array<uint32_t, 4> philox(uint64_t counter, uint64_t key) {
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32);
  uint32_t c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int r = 0; r < 10; ++r) {
    uint64_t p0 = uint64_t{0xD2511F53} * c0, p1 = uint64_t{0xCD9E8D57} * c2;
    uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ k0;
    uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1;
    c1 = static_cast<uint32_t>(p1);
    c3 = static_cast<uint32_t>(p0);
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9;
    k1 += 0xBB67AE85;
  }
  return {c0, c1, c2, c3};
}

namespace {
std::mutex g_mu;
uint64_t g_seed = 67280421310721ULL;
uint64_t g_offset = 0;

constexpr double kTwoPi = 6.283185307179586;
}  // namespace

Stream next_stream(uint64_t n) {
  std::lock_guard lk(g_mu);
  Stream s{g_seed, g_offset};
  g_offset += n;
  return s;
}

uint64_t initial_seed() {
  std::lock_guard lk(g_mu);
  return g_seed;
}

uint64_t Stream::bits(uint64_t i) const {
  auto w = philox(offset + i, seed);
  return (uint64_t{w[0]} << 32) | w[1];
}

template <class T>
T Stream::uniform(uint64_t i) const {
  auto w = philox(offset + i, seed);
  if constexpr (std::is_same_v<T, float>)
    return static_cast<float>(w[0] >> 8) * 0x1p-24f;
  else
    return static_cast<double>(((uint64_t{w[0]} << 32) | w[1]) >> 11) * 0x1p-53;
}

template <class T>
T Stream::normal(uint64_t i) const {
  auto w = philox(offset + i, seed);
  // Two uniforms from one block; u1 in (0, 1] so the log is finite.
  double u1 = (static_cast<double>(((uint64_t{w[0]} << 32) | w[1]) >> 11) + 1) * 0x1p-53;
  double u2 = static_cast<double>(((uint64_t{w[2]} << 32) | w[3]) >> 11) * 0x1p-53;
  return static_cast<T>(std::sqrt(-2.0 * std::log(u1)) * std::cos(kTwoPi * u2));
}

template float Stream::uniform<float>(uint64_t) const;
template double Stream::uniform<double>(uint64_t) const;
template float Stream::normal<float>(uint64_t) const;
template double Stream::normal<double>(uint64_t) const;

}  // namespace random

void manual_seed(uint64_t seed) {
  std::lock_guard lk(random::g_mu);
  random::g_seed = seed;
  random::g_offset = 0;
}

Tensor get_rng_state() {
  Tensor t = make_tensor({2}, kInt64);
  std::lock_guard lk(random::g_mu);
  int64_t* p = t.data_ptr<int64_t>();
  std::memcpy(&p[0], &random::g_seed, sizeof(uint64_t));
  std::memcpy(&p[1], &random::g_offset, sizeof(uint64_t));
  return t;
}

void set_rng_state(const Tensor& state) {
  EMBER_CHECK(
      state.defined() && state.dtype() == kInt64 && state.numel() == 2, ValueError,
      "set_rng_state: expected the int64 tensor of 2 elements get_rng_state() returns, got ",
      state.defined() ? detail::cat(dtype_name(state.dtype()), " ", state.sizes())
                      : std::string("an undefined tensor"));
  std::vector<int64_t> v = state.to_vector<int64_t>();
  std::lock_guard lk(random::g_mu);
  std::memcpy(&random::g_seed, &v[0], sizeof(uint64_t));
  std::memcpy(&random::g_offset, &v[1], sizeof(uint64_t));
}

namespace {

template <class F>
Tensor fill_random(const Dims& sizes, DType d, F&& per_element) {
  Tensor t = make_tensor(sizes, d);
  int64_t n = t.numel();
  random::Stream s = random::next_stream(static_cast<uint64_t>(n));
  visit_dtype(d, [&](auto x) {
    using T = decltype(x);
    T* p = t.data_ptr<T>();
    parallel_for(0, n, 4096, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) p[i] = per_element(s, static_cast<uint64_t>(i), T{});
    });
  });
  return t;
}

Tensor finish(Tensor t, const TensorOptions& o) {
  if (o.requires_grad()) t.requires_grad_();
  return t;
}

}  // namespace

Tensor rand(const Dims& sizes, TensorOptions o) {
  EMBER_CHECK(is_floating(o.dtype()), DTypeError, "rand: expected a floating dtype, got ",
              dtype_name(o.dtype()));
  return finish(fill_random(sizes, o.dtype(),
                            [](const random::Stream& s, uint64_t i, auto z) {
                              using T = decltype(z);
                              if constexpr (std::is_floating_point_v<T>)
                                return s.uniform<T>(i);
                              else
                                return T{};
                            }),
                o);
}

Tensor randn(const Dims& sizes, TensorOptions o) {
  EMBER_CHECK(is_floating(o.dtype()), DTypeError, "randn: expected a floating dtype, got ",
              dtype_name(o.dtype()));
  return finish(fill_random(sizes, o.dtype(),
                            [](const random::Stream& s, uint64_t i, auto z) {
                              using T = decltype(z);
                              if constexpr (std::is_floating_point_v<T>)
                                return s.normal<T>(i);
                              else
                                return T{};
                            }),
                o);
}

Tensor randint(int64_t low, int64_t high, const Dims& sizes, TensorOptions o) {
  EMBER_CHECK(low < high, ValueError, "randint: expected low < high, got low = ", low,
              " and high = ", high);
  auto range = static_cast<uint64_t>(high - low);
  return finish(fill_random(sizes, o.has_dtype() ? o.dtype() : kInt64,
                            [low, range](const random::Stream& s, uint64_t i, auto z) {
                              using T = decltype(z);
                              return static_cast<T>(low + static_cast<int64_t>(s.bits(i) % range));
                            }),
                o);
}

Tensor randint(int64_t high, const Dims& sizes, TensorOptions o) {
  return randint(0, high, sizes, o);
}

Tensor randperm(int64_t n, TensorOptions o) {
  EMBER_CHECK(n >= 0, ValueError, "randperm: n must be non-negative, got ", n);
  // Fisher-Yates driven by one stream: the permutation depends only on the seed.
  std::vector<int64_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  random::Stream s = random::next_stream(static_cast<uint64_t>(n));
  for (int64_t i = n - 1; i > 0; --i) {
    auto j = static_cast<int64_t>(s.bits(static_cast<uint64_t>(i)) % static_cast<uint64_t>(i + 1));
    std::swap(v[i], v[j]);
  }
  return tensor(v).to(o.has_dtype() ? o.dtype() : kInt64);
}

Tensor bernoulli(const Tensor& p) {
  Tensor probs = p.to(kFloat64).contiguous();
  const double* pp = probs.data_ptr<double>();
  Tensor out = make_tensor(p.sizes(), is_floating(p.dtype()) ? p.dtype() : default_dtype());
  int64_t n = out.numel();
  // NaN fails both comparisons, so it is caught with the values outside [0, 1].
  for (int64_t i = 0; i < n; ++i)
    EMBER_CHECK(pp[i] >= 0 && pp[i] <= 1, ValueError,
                "bernoulli: probabilities must be in [0, 1], got ", pp[i], " at element ", i,
                " of a tensor of shape ", p.sizes());
  random::Stream s = random::next_stream(static_cast<uint64_t>(n));
  visit_dtype(out.dtype(), [&](auto x) {
    using T = decltype(x);
    if constexpr (std::is_floating_point_v<T>) {
      T* o = out.data_ptr<T>();
      parallel_for(0, n, 4096, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i)
          o[i] = s.uniform<double>(static_cast<uint64_t>(i)) < pp[i] ? T(1) : T(0);
      });
    }
  });
  return out;
}

Tensor rand_like(const Tensor& t) { return rand(t.sizes(), t.dtype()); }
Tensor randn_like(const Tensor& t) { return randn(t.sizes(), t.dtype()); }

}  // namespace ember
