// Storage: one ref-counted buffer shared by a tensor and all its views.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

namespace ember {

struct Storage {
  void* data = nullptr;
  size_t nbytes = 0;
  /// Frees `data`; empty for memory from the caching allocator (returned there).
  std::function<void(void*)> deleter;
  /// Bumped by every in-place write; autograd compares it with the value it saved.
  std::atomic<uint32_t> version{0};
  /// Set while a JIT trace on this thread holds this storage: its value is still to be computed
  /// (data is null) or the trace reads it. Any data access first runs the trace (see
  /// TensorImpl::data()).
  bool pending = false;

  Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage();

  /// nbytes of fresh, 64-byte aligned, uninitialised memory from the caching allocator.
  static std::shared_ptr<Storage> allocate(size_t nbytes);
  /// Wraps memory ember does not own; `deleter` (may be empty) runs when the last user goes.
  static std::shared_ptr<Storage> wrap(void* data, size_t nbytes,
                                       std::function<void(void*)> deleter);
};

/// Runs the pending trace that holds `s` (installed by the JIT; see Storage::pending).
using PendingHook = void (*)(Storage& s);
void set_pending_hook(PendingHook h);
namespace detail {
void resolve_pending(Storage& s);
}

}  // namespace ember
