#include "runtime/allocator.hpp"

#include <sys/mman.h>

#include <bit>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/error.hpp"

namespace ember::memory {
namespace {

constexpr size_t kAlign = 64;
constexpr size_t kHuge = size_t{2} << 20;   // 2 MiB: huge-page size and large-block alignment
constexpr size_t kLarge = size_t{1} << 20;  // blocks from here on are mmapped

// Four classes per power of two: at most 25% waste, few distinct classes to cache. Large blocks
// use the same classes (multiples of 128 KiB, so of the page size): rounding them up to whole
// 2 MiB huge pages made a 1 MiB tensor cost 2 MiB. Their start is 2 MiB aligned instead, so
// every whole huge page inside a block can be backed by one; a tail short of 2 MiB takes small
// pages.
size_t size_class(size_t n) {
  if (n <= 512) return (n + 63) & ~size_t{63};
  size_t p = std::bit_floor(n - 1);
  size_t step = p / 4;
  return (n + step - 1) / step * step;
}

// Sizes past this are refused before any arithmetic on them can wrap (no system has them).
constexpr size_t kMaxBytes = size_t{1} << 62;

void* system_alloc(size_t bytes) {
  if (bytes >= kLarge) {
    // Over-map by 2 MiB, then trim so the block starts on a huge-page boundary.
    size_t len = bytes + kHuge;
    void* raw = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return nullptr;
    auto base = reinterpret_cast<uintptr_t>(raw);
    uintptr_t aligned = (base + kHuge - 1) & ~(kHuge - 1);
    if (aligned > base) munmap(raw, aligned - base);
    size_t tail = (base + len) - (aligned + bytes);
    if (tail) munmap(reinterpret_cast<void*>(aligned + bytes), tail);
    void* p = reinterpret_cast<void*>(aligned);
    madvise(p, bytes, MADV_HUGEPAGE);
    return p;
  }
  return std::aligned_alloc(kAlign, bytes);
}

void system_free(void* p, size_t bytes) {
  if (bytes >= kLarge)
    munmap(p, bytes);
  else
    std::free(p);
}

struct Cache {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<void*>> free;
  Stats st;
  size_t limit = size_t{8} << 30;
};

std::string human_bytes(size_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 6) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

Cache& cache() {
  static auto* c = new Cache;  // never destroyed: tensors may outlive static destruction
  return *c;
}

}  // namespace

void* allocate(size_t nbytes) {
  if (nbytes > kMaxBytes)
    throw OutOfMemoryError(detail::cat("out of memory: asked for ", nbytes, " bytes (",
                                       human_bytes(nbytes), "), more than any system has"));
  size_t cls = size_class(nbytes == 0 ? 1 : nbytes);
  Cache& c = cache();
  {
    std::lock_guard lk(c.mu);
    ++c.st.allocations;
    auto it = c.free.find(cls);
    if (it != c.free.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      ++c.st.cache_hits;
      c.st.cached_bytes -= cls;
      c.st.allocated_bytes += cls;
      c.st.peak_bytes = std::max(c.st.peak_bytes, c.st.allocated_bytes);
      return p;
    }
  }
  void* p = system_alloc(cls);
  if (!p) {
    empty_cache();  // give the cache back and try once more before failing
    p = system_alloc(cls);
    if (!p)
      throw OutOfMemoryError(detail::cat("out of memory: asked for ", nbytes, " bytes (",
                                         human_bytes(nbytes), "); ember holds ",
                                         stats().allocated_bytes, " bytes in live tensors"));
  }
  std::lock_guard lk(c.mu);
  c.st.allocated_bytes += cls;
  c.st.peak_bytes = std::max(c.st.peak_bytes, c.st.allocated_bytes);
  return p;
}

void deallocate(void* p, size_t nbytes) {
  if (!p) return;
  size_t cls = size_class(nbytes == 0 ? 1 : nbytes);
  Cache& c = cache();
  {
    std::lock_guard lk(c.mu);
    c.st.allocated_bytes -= cls;
    if (c.st.cached_bytes + cls <= c.limit) {
      c.free[cls].push_back(p);
      c.st.cached_bytes += cls;
      return;
    }
  }
  system_free(p, cls);
}

Stats stats() {
  std::lock_guard lk(cache().mu);
  return cache().st;
}

size_t cached_bytes() { return stats().cached_bytes; }

void empty_cache() {
  Cache& c = cache();
  std::unordered_map<size_t, std::vector<void*>> blocks;
  {
    std::lock_guard lk(c.mu);
    blocks.swap(c.free);
    c.st.cached_bytes = 0;
  }
  for (auto& [cls, v] : blocks)
    for (void* p : v) system_free(p, cls);
}

void set_cache_limit(size_t bytes) {
  {
    std::lock_guard lk(cache().mu);
    cache().limit = bytes;
  }
  if (cached_bytes() > bytes) empty_cache();
}

}  // namespace ember::memory
