// Counter-based random numbers (Philox4x32-10): element i of a random op depends only on the
// seed, the op's counter offset and i, so results do not depend on the thread count.
#pragma once

#include <array>
#include <cstdint>

namespace ember::random {

/// Ten rounds of Philox4x32 on (counter, key): four independent 32-bit words.
std::array<uint32_t, 4> philox(uint64_t counter, uint64_t key);

/// A seed and a fresh block of counters, reserved from the global generator for one op.
struct Stream {
  uint64_t seed = 0;
  uint64_t offset = 0;  ///< first counter of this op's block
  /// Uniform in [0, 1) for element i (float precision when T = float).
  template <class T>
  T uniform(uint64_t i) const;
  /// Standard normal for element i (Box-Muller on two uniforms of the same block).
  template <class T>
  T normal(uint64_t i) const;
  /// 64 random bits for element i.
  uint64_t bits(uint64_t i) const;
};

/// Reserves counters for n elements from the global generator (thread-safe).
Stream next_stream(uint64_t n);
uint64_t initial_seed();

}  // namespace ember::random
