// A caching CPU allocator: freed blocks are kept by size class and handed out again, so hot
// loops stop paying for page faults; large blocks are 2 MiB aligned and advised for huge pages.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ember::memory {

/// 64-byte aligned memory of at least nbytes (a cached block when one of its class is free).
void* allocate(size_t nbytes);
/// Returns a block from allocate(nbytes) to the cache.
void deallocate(void* p, size_t nbytes);

struct Stats {
  size_t allocated_bytes = 0;  ///< bytes in blocks handed out now (rounded to the size class)
  size_t cached_bytes = 0;     ///< bytes in free blocks kept for reuse
  size_t peak_bytes = 0;       ///< highest allocated_bytes seen
  uint64_t allocations = 0;    ///< calls to allocate
  uint64_t cache_hits = 0;     ///< allocations served from the cache
};
Stats stats();
/// Bytes held in free cached blocks.
size_t cached_bytes();
/// Gives every cached block back to the system.
void empty_cache();
/// Largest number of bytes kept in the cache; blocks freed past it go back to the system.
void set_cache_limit(size_t bytes);

}  // namespace ember::memory
