// The caching allocator's bookkeeping and alignment, and the thread pool's parallel_for.
#include <atomic>
#include <cstdint>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "support/reference.hpp"

using namespace ember;

namespace {

uintptr_t address(const Tensor& t) { return reinterpret_cast<uintptr_t>(t.raw_data()); }

struct ThreadsGuard {
  int saved = get_num_threads();
  ~ThreadsGuard() { set_num_threads(saved); }
};

// Runs parallel_for over [begin, end) and returns how often each index was visited, plus the
// chunk lengths seen.
std::pair<std::vector<int>, std::vector<int64_t>> coverage(int64_t begin, int64_t end,
                                                           int64_t grain) {
  std::vector<std::atomic<int>> hits(static_cast<size_t>(end - begin));
  std::mutex mu;
  std::vector<int64_t> chunks;
  parallel_for(begin, end, grain, [&](int64_t b, int64_t e) {
    {
      std::lock_guard lk(mu);
      chunks.push_back(e - b);
    }
    for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i - begin)]++;
  });
  std::vector<int> out;
  for (auto& h : hits) out.push_back(h.load());
  return {out, chunks};
}

}  // namespace

TEST_CASE("freed blocks are cached and reused", "[runtime][memory]") {
  memory::empty_cache();
  CHECK(memory::cached_bytes() == 0);
  memory::Stats s0 = memory::stats();
  void* first = nullptr;
  {
    Tensor t = empty({1000});  // 4000 bytes
    first = t.raw_data();
    memory::Stats s1 = memory::stats();
    CHECK(s1.allocations == s0.allocations + 1);
    CHECK(s1.allocated_bytes >= s0.allocated_bytes + 4000);
    CHECK(s1.peak_bytes >= s1.allocated_bytes);
    CHECK(s1.cached_bytes == 0);
  }
  memory::Stats s2 = memory::stats();
  CHECK(s2.allocated_bytes == s0.allocated_bytes);
  CHECK(s2.cached_bytes >= 4000);
  CHECK(memory::cached_bytes() == s2.cached_bytes);
  {
    Tensor again = empty({1000});  // same size: served from the cache, the same block
    memory::Stats s3 = memory::stats();
    CHECK(s3.cache_hits == s2.cache_hits + 1);
    CHECK(s3.cached_bytes == s2.cached_bytes - (s3.allocated_bytes - s2.allocated_bytes));
    CHECK(again.raw_data() == first);
    Tensor other = empty({100000});  // a different size class misses
    CHECK(memory::stats().cache_hits == s3.cache_hits);
  }
  CHECK(memory::cached_bytes() > 0);
  memory::empty_cache();
  CHECK(memory::cached_bytes() == 0);
  CHECK(memory::stats().allocated_bytes == s0.allocated_bytes);
}

TEST_CASE("the cache limit sends blocks past it back to the system", "[runtime][memory]") {
  memory::empty_cache();
  memory::set_cache_limit(0);
  {
    Tensor t = empty({4096});
  }
  CHECK(memory::cached_bytes() == 0);
  memory::set_cache_limit(size_t{8} << 30);
  {
    Tensor t = empty({4096});
  }
  CHECK(memory::cached_bytes() >= 4096 * sizeof(float));
  memory::set_cache_limit(1);  // lowering the limit below the cache empties it
  CHECK(memory::cached_bytes() == 0);
  memory::set_cache_limit(size_t{8} << 30);
}

TEST_CASE("allocations are aligned: 64 bytes, and 2 MiB for large blocks", "[runtime][memory]") {
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  for (int64_t n : {int64_t{1} << 20, int64_t{3} << 19, int64_t{5000000}}) {
    Tensor big = empty({n});  // 4 MiB, 6 MiB, ~19 MiB
    INFO(n << " floats at " << big.raw_data());
    CHECK(address(big) % kHuge == 0);
    big.fill_(1.5);  // the whole block is usable
    CHECK(big.to_vector<float>().back() == 1.5f);
  }
  memory::empty_cache();  // large blocks return through munmap
  for (int64_t n : {1, 3, 17, 1000, 100000}) {
    Tensor t = empty({n}, kFloat64);
    INFO(n << " doubles at " << t.raw_data());
    CHECK(address(t) % 64 == 0);
  }
  Tensor none = empty({0});
  CHECK(none.numel() == 0);
  CHECK(none.raw_data() != nullptr);
}

TEST_CASE("set_num_threads and get_num_threads", "[runtime][threads]") {
  ThreadsGuard guard;
  for (int n : {1, 3, 2}) {
    set_num_threads(n);
    CHECK(get_num_threads() == n);
  }
  CHECK_THROWS_AS(set_num_threads(0), ValueError);
  CHECK_THROWS_WITH(set_num_threads(-2),
                    Catch::Contains("set_num_threads: expected a positive number of threads, "
                                    "got -2"));
  CHECK(get_num_threads() == 2);
}

TEST_CASE("parallel_for covers the range exactly once", "[runtime][threads]") {
  ThreadsGuard guard;
  for (int threads : {1, 2, 4}) {
    set_num_threads(threads);
    for (auto [begin, end, grain] : {std::tuple<int64_t, int64_t, int64_t>{0, 100000, 1000},
                                     {17, 2517, 1000},
                                     {-50, 50, 1},
                                     {5, 6, 1000},
                                     {3, 3, 1},
                                     {0, 9999, 0}}) {
      INFO(threads << " threads, [" << begin << ", " << end << ") grain " << grain);
      auto [hits, chunks] = coverage(begin, end, grain);
      CHECK(std::all_of(hits.begin(), hits.end(), [](int h) { return h == 1; }));
      CHECK(static_cast<int64_t>(chunks.size()) <= threads);
      if (end > begin)
        CHECK(*std::min_element(chunks.begin(), chunks.end()) >= std::min(grain, end - begin));
      if (end == begin) CHECK(chunks.empty());
    }
  }
}

TEST_CASE("parallel_for uses the pool, and nested calls run inline", "[runtime][threads]") {
  ThreadsGuard guard;
  set_num_threads(2);
  CHECK_FALSE(in_parallel_region());
  std::mutex mu;
  std::set<std::thread::id> ids;
  std::atomic<int> nested_ok{0}, nested_calls{0};
  parallel_for(0, 200000, 1000, [&](int64_t b, int64_t e) {
    {
      std::lock_guard lk(mu);
      ids.insert(std::this_thread::get_id());
    }
    bool inside = in_parallel_region();
    auto self = std::this_thread::get_id();
    parallel_for(b, e, 1, [&](int64_t ib, int64_t ie) {
      ++nested_calls;
      if (inside && ib == b && ie == e && std::this_thread::get_id() == self) ++nested_ok;
    });
  });
  CHECK(ids.size() == 2);  // two parts: the caller and one worker
  CHECK(nested_calls == 2);
  CHECK(nested_ok == 2);
  CHECK_FALSE(in_parallel_region());

  set_num_threads(1);
  std::set<std::thread::id> single;
  parallel_for(0, 100000, 10, [&](int64_t, int64_t) { single.insert(std::this_thread::get_id()); });
  CHECK(single == std::set<std::thread::id>{std::this_thread::get_id()});
}

TEST_CASE("kernels leave background work a core", "[runtime][threads]") {
  // While the JIT compiles (detail::background_work), kernels run on one thread fewer, at least
  // one; parallel_for splits into that many parts and still covers its range once.
  ThreadsGuard guard;
  for (int threads : {1, 2, 4}) {
    set_num_threads(threads);
    detail::background_work(1);
    CHECK(get_num_threads() == std::max(1, threads - 1));
    auto [hits, chunks] = coverage(0, 100000, 1000);
    CHECK(std::all_of(hits.begin(), hits.end(), [](int h) { return h == 1; }));
    CHECK(static_cast<int64_t>(chunks.size()) <= std::max(1, threads - 1));
    Tensor a = test::seeded_randn({70, 90}, 1), b = test::seeded_randn({90, 50}, 2);
    Tensor during = matmul(a, b);  // OpenBLAS at the lower count
    detail::background_work(-1);
    CHECK(get_num_threads() == threads);
    CHECK(allclose(matmul(a, b), during, 1e-4, 1e-4));
  }
}

TEST_CASE("parallel_for rethrows a chunk's exception and stays usable", "[runtime][threads]") {
  ThreadsGuard guard;
  set_num_threads(2);
  auto throwing = [] {
    parallel_for(0, 100000, 1000, [](int64_t b, int64_t e) {
      if (b <= 99999 && 99999 < e) throw ValueError("chunk holding 99999 failed");
    });
  };
  CHECK_THROWS_AS(throwing(), ValueError);
  CHECK_THROWS_WITH(throwing(), "chunk holding 99999 failed");
  CHECK_FALSE(in_parallel_region());
  auto [hits, chunks] = coverage(0, 100000, 1000);
  CHECK(std::all_of(hits.begin(), hits.end(), [](int h) { return h == 1; }));
  // Kernels still run correctly on the pool afterwards.
  Tensor x = arange(100000).to(kFloat64);
  std::vector<double> doubled = test::values(x * 2);
  bool ok = true;
  for (size_t i = 0; i < doubled.size(); ++i) ok = ok && doubled[i] == 2.0 * static_cast<double>(i);
  CHECK(ok);
}

TEST_CASE("concurrent callers of parallel_for each cover their range", "[runtime][threads]") {
  ThreadsGuard guard;
  set_num_threads(2);
  std::vector<int> results(4, -1);
  std::vector<std::thread> callers;
  for (int k = 0; k < 4; ++k) {
    callers.emplace_back([&results, k] {
      auto [hits, chunks] = coverage(0, 50000 + 1000 * k, 500);
      results[static_cast<size_t>(k)] =
          std::all_of(hits.begin(), hits.end(), [](int h) { return h == 1; });
    });
  }
  for (auto& t : callers) t.join();
  CHECK(results == std::vector<int>{1, 1, 1, 1});
}

TEST_CASE("large blocks cost their size class, not a whole number of huge pages",
          "[runtime][memory]") {
  // issue 15: blocks of 1 MiB and more were rounded up to 2 MiB, so a 1 MiB tensor cost 2.
  memory::empty_cache();
  auto cost = [](int64_t floats) {
    size_t before = memory::stats().allocated_bytes;
    Tensor t = empty({floats});
    return memory::stats().allocated_bytes - before;
  };
  CHECK(cost(256 * 1024) == size_t{1} << 20);                // 1 MiB
  CHECK(cost(256 * 1024 + 1) == (size_t{1} << 20) * 5 / 4);  // next class: 1.25 MiB
  CHECK(cost(768 * 1024) == size_t{3} << 20);                // 3 MiB, not 4
  size_t big = cost(3 * 1024 * 1024 + 7);                    // just over 12 MiB
  CHECK(big >= (size_t{12} << 20));
  CHECK(big <= (size_t{12} << 20) * 5 / 4);
  // Still 2 MiB aligned, so whole huge pages back the block.
  Tensor t = empty({1024 * 1024});
  CHECK(address(t) % (size_t{2} << 20) == 0);
}
