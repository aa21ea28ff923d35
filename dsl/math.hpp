// libm for dsl formulas, under names that vectorise whatever flags the user compiles with.
// A dsl kernel is instantiated in the user's translation unit. There, std::exp & co. are
// errno-setting calls (unless -fno-math-errno) with no declared vector variant (glibc declares
// libmvec's only under -ffast-math), so the fused loop would stay scalar. These declarations
// name the same glibc symbols (asm labels) as functions without side effects, with libmvec's
// vector variants: g++ vectorises the loop and calls _ZGV..._expf & co. Nothing else in the
// user's code changes. (sqrt is an instruction, vectorised only under -fno-math-errno.)
#pragma once

#include <cmath>
#include <type_traits>

namespace ember::dsl::math {

#if defined(__GNUC__) && defined(__x86_64__) && defined(__GLIBC__)
#define EMBER_DSL_LIBM(name)                                                                    \
  [[gnu::simd("notinbranch"), gnu::const, gnu::nothrow, gnu::leaf]] float name##_f(float) \
      __asm__(#name "f");                                                                   \
  [[gnu::simd("notinbranch"), gnu::const, gnu::nothrow, gnu::leaf]] double name##_d(double) \
      __asm__(#name);
#define EMBER_DSL_LIBM2(name)                                                                 \
  [[gnu::simd("notinbranch"), gnu::const, gnu::nothrow, gnu::leaf]] float name##_f(float,  \
                                                                                   float)  \
      __asm__(#name "f");                                                                   \
  [[gnu::simd("notinbranch"), gnu::const, gnu::nothrow, gnu::leaf]] double name##_d(double, \
                                                                                    double) \
      __asm__(#name);
#else  // elsewhere: plain libm
#define EMBER_DSL_LIBM(name)                                  \
  inline float name##_f(float a) { return std::name(a); }     \
  inline double name##_d(double a) { return std::name(a); }
#define EMBER_DSL_LIBM2(name)                                           \
  inline float name##_f(float a, float b) { return std::name(a, b); }   \
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

// exp(a) etc. in T: the declarations above for float and double, std:: for other types.
#define EMBER_DSL_CALL(name)                                               \
  template <class T> [[gnu::always_inline]] inline T name(T a) {           \
    if constexpr (std::is_same_v<T, float>) return name##_f(a);            \
    else if constexpr (std::is_same_v<T, double>) return name##_d(a);      \
    else return static_cast<T>(std::name(a));                              \
  }
EMBER_DSL_CALL(exp)
EMBER_DSL_CALL(log)
EMBER_DSL_CALL(log1p)
EMBER_DSL_CALL(expm1)
EMBER_DSL_CALL(sin)
EMBER_DSL_CALL(cos)
EMBER_DSL_CALL(tanh)
EMBER_DSL_CALL(erf)
#undef EMBER_DSL_CALL

template <class T> [[gnu::always_inline]] inline T pow(T a, T b) {
  if constexpr (std::is_same_v<T, float>) return pow_f(a, b);
  else if constexpr (std::is_same_v<T, double>) return pow_d(a, b);
  else return static_cast<T>(std::pow(a, b));
}

}  // namespace ember::dsl::math
