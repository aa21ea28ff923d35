// The on-disk object cache of compiled kernels (EMBER_JIT_CACHE): a directory of object files
// named by a hash of everything that decides the machine code. Its entries are code ember runs,
// so a directory other users can write is refused; it is bounded (EMBER_JIT_CACHE_MB), least
// recently used entries removed first. Internal: includes LLVM headers.
#pragma once

#include <llvm/ADT/StringRef.h>
#include <llvm/Support/MemoryBuffer.h>

#include <cstdint>
#include <memory>
#include <string>

namespace ember::jit {

class DiskCache {
 public:
  /// EMBER_JIT_CACHE if set ("" or "0" disables the cache), else $XDG_CACHE_HOME/ember/jit or
  /// ~/.cache/ember/jit; EMBER_JIT_CACHE_MB bounds it (default 512).
  DiskCache();

  /// The directory; empty when the cache is off.
  const std::string& dir() const { return dir_; }
  /// Another directory ("" or "0": off); a refusal or failure warns again for it.
  void set_dir(std::string dir);
  /// The bound in bytes, and setting it (tests; trims at the next write).
  uint64_t max_bytes() const { return max_bytes_; }
  void set_max_bytes(uint64_t bytes) { max_bytes_ = bytes; }

  /// The object stored under key, or null when absent, torn, corrupt, or the cache is off or
  /// refused. A hit marks the entry recently used.
  std::unique_ptr<llvm::MemoryBuffer> read(const std::string& key);
  /// Stores object under key (atomically: a concurrent reader sees no entry or the whole one),
  /// then removes the least recently used entries while the directory holds more than the
  /// bound. Failures warn once and are otherwise ignored: the cache is an optimisation.
  void write(const std::string& key, llvm::StringRef object);

 private:
  bool usable();  // the directory exists (made 0700 if not) and only its owner may write it
  std::string path_of(const std::string& key) const { return dir_ + "/" + key + ".o"; }
  void trim();
  void warn_once(const std::string& why);

  std::string dir_;
  uint64_t max_bytes_;
  int checked_ = 0;  // 0 unchecked, 1 usable, -1 refused
  bool warned_ = false;
  uint64_t writes_ = 0;
};

}  // namespace ember::jit
