#include "jit/orc/disk_cache.hpp"

#include <llvm/Support/xxhash.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

#include "runtime/env.hpp"
#include "runtime/error.hpp"
#include "runtime/file_io.hpp"

namespace ember::jit {
namespace {

namespace fs = std::filesystem;

// Cache files end with an xxh3 of the object and this tag: a torn or corrupt file is detected
// and recompiled, never linked.
constexpr char kTag[8] = {'E', 'M', 'B', 'J', 'I', 'T', 'O', '1'};

std::string default_dir() {
  if (const char* e = std::getenv("EMBER_JIT_CACHE")) {
    std::string s = e;
    return s == "0" ? std::string() : s;
  }
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/ember/jit";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/ember/jit";
  return {};
}

}  // namespace

DiskCache::DiskCache()
    : dir_(default_dir()),
      max_bytes_(static_cast<uint64_t>(env::integer("EMBER_JIT_CACHE_MB", 512, 1, 1 << 24)) << 20) {
}

void DiskCache::set_dir(std::string dir) {
  dir_ = dir == "0" ? std::string() : std::move(dir);
  checked_ = 0;
  warned_ = false;
}

void DiskCache::warn_once(const std::string& why) {
  if (warned_) return;
  warned_ = true;
  std::fprintf(stderr, "ember: warning: JIT disk cache disabled for now: %s\n", why.c_str());
}

bool DiskCache::usable() {
  if (dir_.empty() || checked_ < 0) return false;
  if (checked_ > 0) return true;
  struct stat st;
  if (::stat(dir_.c_str(), &st) != 0) {
    std::error_code ec;
    fs::create_directories(dir_, ec);
    // Only its owner may read or write what we made (the parents keep the umask's mode).
    if (ec || ::chmod(dir_.c_str(), 0700) != 0 || ::stat(dir_.c_str(), &st) != 0) {
      warn_once("cannot create " + dir_ + (ec ? ": " + ec.message() : ""));
      checked_ = -1;
      return false;
    }
  }
  if (!S_ISDIR(st.st_mode)) {
    warn_once(dir_ + " is not a directory");
    checked_ = -1;
  } else if (st.st_uid != ::geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    // Its entries are machine code this process runs: another user able to write one could
    // run theirs as us.
    warn_once(dir_ + " is writable by other users (entries there are code ember runs); " +
              "make it yours alone (chmod go-w) or set EMBER_JIT_CACHE to another directory");
    checked_ = -1;
  } else {
    checked_ = 1;
  }
  return checked_ > 0;
}

std::unique_ptr<llvm::MemoryBuffer> DiskCache::read(const std::string& key) {
  if (!usable()) return nullptr;
  const std::string path = path_of(key);
  auto file = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                          /*RequiresNullTerminator=*/false);
  if (!file) return nullptr;
  llvm::StringRef data = (*file)->getBuffer();
  if (data.size() <= 16 || std::memcmp(data.end() - 8, kTag, 8) != 0) return nullptr;
  llvm::StringRef object = data.drop_back(16);
  uint64_t sum;
  std::memcpy(&sum, data.end() - 16, 8);
  if (llvm::xxh3_64bits(object) != sum) return nullptr;
  std::error_code ec;  // recently used: trim() keeps it longer
  fs::last_write_time(path, fs::file_time_type::clock::now(), ec);
  return llvm::MemoryBuffer::getMemBufferCopy(object, path);
}

void DiskCache::write(const std::string& key, llvm::StringRef object) {
  if (!usable()) return;
  uint64_t sum = llvm::xxh3_64bits(object);
  try {
    write_file_atomic(path_of(key),
                      {std::string_view(object.data(), object.size()),
                       std::string_view(reinterpret_cast<const char*>(&sum), sizeof sum),
                       std::string_view(kTag, sizeof kTag)},
                      "jit disk cache");
  } catch (const Error& e) {
    warn_once(e.what());
    return;
  }
  // Listing the directory costs far less than the compile that preceded this write; every
  // 16th write is often enough for the bound to hold within 16 entries.
  if (writes_++ % 16 == 0) trim();
}

void DiskCache::trim() {
  struct Item {
    fs::path path;
    fs::file_time_type used;
    uint64_t bytes;
  };
  std::vector<Item> items;
  uint64_t total = 0;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(dir_, ec)) {
    if (e.path().extension() != ".o" || !e.is_regular_file(ec)) continue;
    Item it{e.path(), e.last_write_time(ec), e.file_size(ec)};
    if (ec) continue;  // removed by another process meanwhile
    total += it.bytes;
    items.push_back(std::move(it));
  }
  if (total <= max_bytes_) return;
  // Oldest first, down to three quarters of the bound, so that trimming is rare.
  std::sort(items.begin(), items.end(),
            [](const Item& a, const Item& b) { return a.used < b.used; });
  for (const Item& it : items) {
    if (total <= max_bytes_ / 4 * 3) break;
    if (fs::remove(it.path, ec)) total -= it.bytes;
  }
}

}  // namespace ember::jit
