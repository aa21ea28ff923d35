#include "runtime/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "runtime/error.hpp"

extern "C" void openblas_set_num_threads(int);
extern "C" int openblas_get_num_threads();
#if EMBER_HAVE_DNNL
#include <omp.h>  // oneDNN's conv2d runs on OpenMP (libgomp)
#endif

namespace ember {
namespace {

thread_local bool t_in_parallel = false;

// Workers sleep on a condition variable between jobs; a job is a range cut into one chunk per
// participating thread, the caller taking chunk 0.
class Pool {
 public:
  explicit Pool(int n) { resize(n); }
  ~Pool() { stop(); }

  int size() const { return nthreads_; }

  void resize(int n) {
    stop();
    nthreads_ = std::max(1, n);
    quit_ = false;
    // New workers must wait for the next job, not replay the last one (its fn_ is gone).
    uint64_t gen = generation_;
    for (int i = 1; i < nthreads_; ++i) workers_.emplace_back([this, i, gen] { loop(i, gen); });
  }

  void run(int64_t begin, int64_t end, int64_t grain, RangeFn fn) {
    // One job at a time; a second caller (a data-loader worker, say) runs its range inline.
    std::unique_lock job_lock(job_mu_, std::try_to_lock);
    if (!job_lock.owns_lock()) {
      bool was = t_in_parallel;
      t_in_parallel = true;
      try {
        fn(begin, end);
      } catch (...) {
        t_in_parallel = was;
        throw;
      }
      t_in_parallel = was;
      return;
    }
    int64_t n = end - begin;
    // At most n / grain parts, so every chunk holds at least `grain` items (parallel.hpp).
    // (get_num_threads() is below nthreads_ while background work has a core.)
    int parts = static_cast<int>(std::clamp<int64_t>(n / std::max<int64_t>(grain, 1), 1,
                                                     std::min(nthreads_, get_num_threads())));
    {
      std::lock_guard lk(mu_);
      begin_ = begin;
      end_ = end;
      parts_ = parts;
      fn_ = &fn;
      pending_ = parts - 1;
      error_ = nullptr;
      ++generation_;
    }
    cv_.notify_all();
    run_part(0);
    std::unique_lock lk(mu_);
    done_cv_.wait(lk, [&] { return pending_ == 0; });
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void run_part(int part) {
    int64_t n = end_ - begin_;
    int64_t b = begin_ + n * part / parts_, e = begin_ + n * (part + 1) / parts_;
    bool was = t_in_parallel;
    t_in_parallel = true;
    try {
      if (b < e) (*fn_)(b, e);
    } catch (...) {
      std::lock_guard lk(mu_);
      if (!error_) error_ = std::current_exception();
    }
    t_in_parallel = was;
  }

  void loop(int id, uint64_t seen) {
    for (;;) {
      {
        std::unique_lock lk(mu_);
        cv_.wait(lk, [&] { return quit_ || generation_ != seen; });
        if (quit_) return;
        seen = generation_;
        if (id >= parts_) continue;
      }
      run_part(id);
      std::lock_guard lk(mu_);
      if (--pending_ == 0) done_cv_.notify_one();
    }
  }

  void stop() {
    {
      std::lock_guard lk(mu_);
      quit_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  int nthreads_ = 1;
  std::vector<std::thread> workers_;
  std::mutex job_mu_, mu_;
  std::condition_variable cv_, done_cv_;
  uint64_t generation_ = 0;
  bool quit_ = false;
  int64_t begin_ = 0, end_ = 0;
  int parts_ = 0, pending_ = 0;
  RangeFn* fn_ = nullptr;
  std::exception_ptr error_;
};

// The libraries' own thread teams: OpenBLAS's, and (for the calling thread; oneDNN's conv also
// sets it on other threads) OpenMP's that oneDNN runs on.
void set_library_threads(int n) {
  openblas_set_num_threads(n);
#if EMBER_HAVE_DNNL
  omp_set_num_threads(n);
#endif
}

int default_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n ? static_cast<int>(n) : 1;
}

std::atomic<int> g_threads{0};
std::atomic<int> g_background{0};  // detail::background_work: kernels leave it a core

Pool& pool() {
  static auto* p = [] {
    int n = g_threads.load() ? g_threads.load() : default_threads();
    g_threads = n;
    set_library_threads(n);
    return new Pool(n);  // leaked on purpose: no join at static destruction
  }();
  return *p;
}

// The threads set_num_threads asked for (the hardware's by default).
int configured_threads() {
  int n = g_threads.load(std::memory_order_relaxed);
  return n ? n : pool().size();
}

}  // namespace

void set_num_threads(int n) {
  EMBER_CHECK(n >= 1, ValueError, "set_num_threads: expected a positive number of threads, got ",
              n);
  g_threads = n;
  set_library_threads(n);
  Pool& p = pool();
  if (p.size() != n) p.resize(n);
}

int get_num_threads() {
  const int n = configured_threads();
  return g_background.load(std::memory_order_relaxed) > 0 ? std::max(1, n - 1) : n;
}

bool in_parallel_region() { return t_in_parallel; }

namespace detail {
void parallel_run(int64_t begin, int64_t end, int64_t grain, RangeFn fn) {
  pool().run(begin, end, grain, fn);
}

void background_work(int delta) { g_background.fetch_add(delta); }

void sync_blas_threads() {
  // OpenBLAS's count is global: a call inside a parallel_for body (a conv chunk) leaves it.
  if (in_parallel_region()) return;
  const int want = get_num_threads();
  if (openblas_get_num_threads() != want) openblas_set_num_threads(want);
}

SingleThreadedBlas::SingleThreadedBlas(int threads) : threads_(threads) {
  openblas_set_num_threads(1);
}
SingleThreadedBlas::~SingleThreadedBlas() { openblas_set_num_threads(threads_); }
}  // namespace detail

}  // namespace ember
