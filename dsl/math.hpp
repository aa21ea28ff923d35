// libm for dsl formulas, under names that vectorise whatever flags the user compiles with.
// A dsl kernel is instantiated in the user's translation unit. There, std::exp & co. are
// errno-setting calls (unless -fno-math-errno) with no declared vector variant (glibc declares
// libmvec's only under -ffast-math), so the fused loop would stay scalar. These declarations
// name the same glibc symbols (asm labels) as functions without side effects, with libmvec's
// vector variants: g++ vectorises the loop and calls _ZGV..._expf & co. Nothing else in the
// user's code changes. (sqrt is an instruction, vectorised only under -fno-math-errno.)
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <type_traits>

namespace ember::dsl::math {

#if defined(__GNUC__) && defined(__x86_64__) && defined(__GLIBC__)
#define EMBER_DSL_LIBM(name)                                                                       \
  [[gnu::simd("notinbranch"), gnu::const, gnu::nothrow, gnu::leaf]] float name##_f(float) __asm__( \
      #name "f");                                                                                  \
  [[gnu::simd("notinbranch"), gnu::const, gnu::nothrow, gnu::leaf]] double name##_d(               \
      double) __asm__(#name);
#define EMBER_DSL_LIBM2(name)                                                        \
  [[gnu::simd("notinbranch"), gnu::const, gnu::nothrow, gnu::leaf]] float name##_f(  \
      float, float) __asm__(#name "f");                                              \
  [[gnu::simd("notinbranch"), gnu::const, gnu::nothrow, gnu::leaf]] double name##_d( \
      double, double) __asm__(#name);
#else  // elsewhere: plain libm
#define EMBER_DSL_LIBM(name)                              \
  inline float name##_f(float a) { return std::name(a); } \
  inline double name##_d(double a) { return std::name(a); }
#define EMBER_DSL_LIBM2(name)                                         \
  inline float name##_f(float a, float b) { return std::name(a, b); } \
  inline double name##_d(double a, double b) { return std::name(a, b); }
#endif

EMBER_DSL_LIBM(exp)
EMBER_DSL_LIBM(log)
EMBER_DSL_LIBM(log1p)
EMBER_DSL_LIBM(expm1)
EMBER_DSL_LIBM(sin)
EMBER_DSL_LIBM(cos)
EMBER_DSL_LIBM(tanh)
EMBER_DSL_LIBM(erf)
EMBER_DSL_LIBM2(pow)
#undef EMBER_DSL_LIBM
#undef EMBER_DSL_LIBM2

/// c ? a : b without a branch for floating T. Written as `c ? a : b` (or as T(a < b)), g++
/// may sink each branch's arithmetic under the condition, and then, as floating-point ops may
/// trap (-ftrapping-math, the default), it will not if-convert it back: the loop stays scalar.
template <class T>
[[gnu::always_inline]] inline T select(bool c, T a, T b) {
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
    // __builtin_bit_cast here and below: std::bit_cast is a call in an unoptimised build.
    U ua = __builtin_bit_cast(U, a), ub = __builtin_bit_cast(U, b);
    return __builtin_bit_cast(T, ub ^ ((ua ^ ub) & (U(0) - U(c))));
  } else {
    return c ? a : b;
  }
}

/// max(a, b) with PyTorch's NaN rule (torch.maximum): a NaN in either input is the result (a's
/// first); otherwise a > b ? a : b, so max(+0, -0) = -0. The one definition of this rule: the
/// dsl's max and the eager maximum kernel call it; the JIT emits the same selects
/// (jit/codegen/math.cpp). For integers (and bool) x != x is false: a plain max.
template <class T>
[[gnu::always_inline]] inline T maximum(T a, T b) {
  return select(a != a, a, select(b != b, b, select(a > b, a, b)));
}
/// min(a, b) with the NaN rule of maximum (torch.minimum): otherwise a < b ? a : b.
template <class T>
[[gnu::always_inline]] inline T minimum(T a, T b) {
  return select(a != a, a, select(b != b, b, select(a < b, a, b)));
}

// float exp and erf as inline polynomials: plain arithmetic that the compiler vectorises in
// the caller's loop, faster than a call to libmvec per vector. exp is within 1.5 ulp and erf
// within 7 ulp of the correctly rounded result (tests/dsl/test_fastmath.cpp checks every 613th
// float against double-precision libm). The JIT emits the same steps as IR
// (jit/codegen/math.cpp), coefficient for coefficient (dsl::poly).
namespace poly {
// e^x = 2^n e^r with n = round(x / ln 2) and r = x - n ln 2 in two parts (ln2_hi has few bits,
// so n ln2_hi is exact); e^r on |r| <= ln2/2 by a degree-6 polynomial fitted for relative error.
inline constexpr float kLog2e = 0x1.715476p+0f, kLn2Hi = 0x1.63p-1f, kLn2Lo = -0x1.bd0106p-13f;
inline constexpr float kShift = 0x1.8p23f;  // x + kShift rounds x to an integer in the low bits
inline constexpr float kExpLo = -104.0f, kExpHi = 89.0f;  // e^x is 0 / inf beyond
inline constexpr float kExpC[] = {0x1.fffffcp-2f, 0x1.555492p-3f, 0x1.5558f2p-5f, 0x1.1239d8p-7f,
                                  0x1.6a2428p-10f};  // r^2 .. r^6
// erf x = x P(x^2) / Q(x^2) on |x| <= kErfMax (a (6, 5) rational fitted for relative error);
// beyond, erf rounds to +-1 in float.
inline constexpr float kErfMax = 3.92f;
inline constexpr float kErfP[] = {0x1.20dd76p+0f,  0x1.7b2936p-3f,  0x1.bc5cc2p-5f,  0x1.f721e4p-9f,
                                  0x1.8b06a4p-12f, 0x1.354286p-18f, -0x1.b7a518p-27f};
inline constexpr float kErfQ[] = {0x1.000000p+0f, 0x1.fd5842p-2f,  0x1.d26d64p-4f,
                                  0x1.f99b3ep-7f, 0x1.552c7cp-10f, 0x1.05af56p-14f};

/// 2^n for an integer n in [-126, 127], built from its exponent bits.
[[gnu::always_inline]] inline float exp2i(int32_t n) {
  return __builtin_bit_cast(float, static_cast<uint32_t>(n + 127) << 23);
}

[[gnu::always_inline]] inline float exp(float x) {
  float xc = select(x < kExpLo, kExpLo, x);  // NaN compares false and passes through
  xc = select(xc > kExpHi, kExpHi, xc);
  const float z = xc * kLog2e + kShift;
  const float n = z - kShift;
  const float r = (xc - n * kLn2Hi) - n * kLn2Lo;
  float p = kExpC[4];
  p = p * r + kExpC[3];
  p = p * r + kExpC[2];
  p = p * r + kExpC[1];
  p = p * r + kExpC[0];
  p = p * (r * r) + (r + 1.0f);
  // 2^n in two exact factors, so that n in [-150, 128] reaches subnormals and overflow.
  const int32_t ni = __builtin_bit_cast(int32_t, z) - __builtin_bit_cast(int32_t, kShift);
  const int32_t n1 = ni >> 1;
  return p * exp2i(n1) * exp2i(ni - n1);
}

[[gnu::always_inline]] inline float erf(float x) {
  float xc = select(x < -kErfMax, -kErfMax, x);
  xc = select(xc > kErfMax, kErfMax, xc);
  const float t = xc * xc;
  float p = kErfP[6], q = kErfQ[5];
  // Unrolled at -O2 too: a loop left in the element function keeps the row loop scalar.
#pragma GCC unroll 6
  for (int i = 5; i >= 0; --i) p = p * t + kErfP[i];
#pragma GCC unroll 5
  for (int i = 4; i >= 0; --i) q = q * t + kErfQ[i];
  return xc * p / q;
}
}  // namespace poly

// exp(a) etc. in T: the declarations above for float and double, std:: for other types.
#define EMBER_DSL_CALL(name)                      \
  template <class T>                              \
  [[gnu::always_inline]] inline T name(T a) {     \
    if constexpr (std::is_same_v<T, float>)       \
      return name##_f(a);                         \
    else if constexpr (std::is_same_v<T, double>) \
      return name##_d(a);                         \
    else                                          \
      return static_cast<T>(std::name(a));        \
  }
EMBER_DSL_CALL(log)
EMBER_DSL_CALL(log1p)
EMBER_DSL_CALL(expm1)
EMBER_DSL_CALL(sin)
EMBER_DSL_CALL(cos)
EMBER_DSL_CALL(tanh)
#undef EMBER_DSL_CALL

// float exp and erf: the inline polynomials above; double: libm / libmvec.
template <class T>
[[gnu::always_inline]] inline T exp(T a) {
  if constexpr (std::is_same_v<T, float>)
    return poly::exp(a);
  else if constexpr (std::is_same_v<T, double>)
    return exp_d(a);
  else
    return static_cast<T>(std::exp(a));
}
template <class T>
[[gnu::always_inline]] inline T erf(T a) {
  if constexpr (std::is_same_v<T, float>)
    return poly::erf(a);
  else if constexpr (std::is_same_v<T, double>)
    return erf_d(a);
  else
    return static_cast<T>(std::erf(a));
}

// sqrt and |a| by the compiler's builtins: std::sqrt and std::abs are calls in an unoptimised
// build (loops::row_v3 then inlines only always-inline code).
template <class T>
[[gnu::always_inline]] inline T sqrt(T a) {
  if constexpr (std::is_same_v<T, float>)
    return __builtin_sqrtf(a);
  else if constexpr (std::is_same_v<T, double>)
    return __builtin_sqrt(a);
  else
    return static_cast<T>(std::sqrt(a));
}
template <class T>
[[gnu::always_inline]] inline T abs(T a) {
  if constexpr (std::is_same_v<T, float>)
    return __builtin_fabsf(a);
  else if constexpr (std::is_same_v<T, double>)
    return __builtin_fabs(a);
  else
    return std::abs(a);
}

template <class T>
[[gnu::always_inline]] inline T pow(T a, T b) {
  if constexpr (std::is_same_v<T, float>)
    return pow_f(a, b);
  else if constexpr (std::is_same_v<T, double>)
    return pow_d(a, b);
  else
    return static_cast<T>(std::pow(a, b));
}

}  // namespace ember::dsl::math
