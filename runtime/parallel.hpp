// Threads: one pool for every kernel, one parallel_for, one thread setting (OpenBLAS's and
// oneDNN's OpenMP too).
#pragma once

#include <cstdint>
#include <type_traits>
#include <utility>

namespace ember {

/// Sets the number of threads every ember kernel, OpenBLAS and oneDNN use (default: hardware
/// threads; one less while the JIT compiles in the background, see README).
void set_num_threads(int n);
int get_num_threads();
/// True while running inside a parallel_for body (nested calls run inline).
bool in_parallel_region();

/// A cheap non-owning reference to a callable `void(int64_t begin, int64_t end)`.
class RangeFn {
 public:
  template <class F>
  RangeFn(F& f)  // NOLINT: implicit
      : obj_(&f), call_([](void* o, int64_t b, int64_t e) { (*static_cast<F*>(o))(b, e); }) {}
  void operator()(int64_t b, int64_t e) const { call_(obj_, b, e); }

 private:
  void* obj_;
  void (*call_)(void*, int64_t, int64_t);
};

namespace detail {
void parallel_run(int64_t begin, int64_t end, int64_t grain, RangeFn fn);
/// Background work (the JIT's compiler) begins (+1) or ends (-1). While any runs, kernels leave
/// it a core: get_num_threads() is one less than set_num_threads asked for (at least 1), and
/// ember's pool, OpenBLAS and oneDNN use that many.
void background_work(int delta);
/// Sets OpenBLAS's thread count to get_num_threads() if it differs (before each BLAS call).
void sync_blas_threads();

/// Runs OpenBLAS on one thread for its lifetime (ember's threads split the work instead; BLAS
/// threads would nest inside them), then restores `threads`. OpenBLAS's setting is global.
class SingleThreadedBlas {
 public:
  explicit SingleThreadedBlas(int threads);
  ~SingleThreadedBlas();
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

 private:
  int threads_;
};
}  // namespace detail

/// Calls f(b, e) on disjoint chunks covering [begin, end), in parallel when the range holds more
/// than `grain` items. Chunks are at least `grain` long; small ranges run inline on the caller.
template <class F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, F&& f) {
  if (end <= begin) return;
  if (end - begin <= grain || get_num_threads() == 1 || in_parallel_region()) {
    f(begin, end);
    return;
  }
  auto& ref = f;
  detail::parallel_run(begin, end, grain, RangeFn(ref));
}

/// Grain for cheap elementwise work: ranges below it are not worth a thread hand-off.
inline constexpr int64_t kGrainSize = 32768;

}  // namespace ember
