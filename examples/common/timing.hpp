// Wall-clock timing for the examples: the median of several runs.
#pragma once

#include <algorithm>
#include <chrono>
#include <vector>

namespace examples {

/// Median wall time of f over reps runs, in ms.
template <class F>
double median_ms(int reps, F&& f) {
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    auto t1 = std::chrono::steady_clock::now();
    t.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace examples
