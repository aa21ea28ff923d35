// Declares glibc's libmvec vector variants of the libm functions kernels call, so that g++
// vectorises loops over std::exp, std::tanh, ... (glibc only declares them under -ffast-math,
// which ember does not use: it would break NaN and infinity handling). Internal header.
#pragma once

#include <cmath>

#define EMBER_SIMD __attribute__((simd("notinbranch")))
extern "C" {
EMBER_SIMD float expf(float) noexcept;
EMBER_SIMD double exp(double) noexcept;
EMBER_SIMD float logf(float) noexcept;
EMBER_SIMD double log(double) noexcept;
EMBER_SIMD float log1pf(float) noexcept;
EMBER_SIMD double log1p(double) noexcept;
EMBER_SIMD float expm1f(float) noexcept;
EMBER_SIMD double expm1(double) noexcept;
EMBER_SIMD float sinf(float) noexcept;
EMBER_SIMD double sin(double) noexcept;
EMBER_SIMD float cosf(float) noexcept;
EMBER_SIMD double cos(double) noexcept;
EMBER_SIMD float tanhf(float) noexcept;
EMBER_SIMD double tanh(double) noexcept;
EMBER_SIMD float erff(float) noexcept;
EMBER_SIMD double erf(double) noexcept;
EMBER_SIMD float powf(float, float) noexcept;
EMBER_SIMD double pow(double, double) noexcept;
}
#undef EMBER_SIMD
