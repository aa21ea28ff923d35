// One input of the reader fuzzers: its first byte picks the reader (safetensors, IDX images,
// IDX labels), the rest is the file. A reader must load the bytes or throw an ember::Error;
// anything else (another exception, a crash, a sanitizer report) is a bug. Loaded tensors are
// then used (summed, whole and over their last dim), so sizes that only break later are found
// too. Shared by the libFuzzer target (tests/fuzz) and the seeded mutation loop in ctest
// (tests/nn/test_reader_fuzz.cpp).
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "ember.hpp"

namespace ember::fuzz {

enum Reader : uint8_t { kSafetensors = 0, kIdxImages = 1, kIdxLabels = 2, kReaders = 3 };

/// A file in memory with a path (/proc/self/fd/N) for readers that open paths; reused.
class MemFile {
 public:
  MemFile() : fd_(static_cast<int>(::memfd_create("ember-fuzz", MFD_CLOEXEC))) {
    if (fd_ < 0) throw std::runtime_error("memfd_create failed");
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemFile() { ::close(fd_); }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;
  /// Replaces the content; returns the path.
  const std::string& set(const uint8_t* data, size_t size) {
    if (::ftruncate(fd_, 0) != 0) throw std::runtime_error("ftruncate failed");
    size_t done = 0;
    while (done < size) {
      ssize_t w = ::pwrite(fd_, data + done, size - done, static_cast<off_t>(done));
      if (w <= 0) throw std::runtime_error("pwrite failed");
      done += static_cast<size_t>(w);
    }
    return path_;
  }

 private:
  int fd_;
  std::string path_;
};

inline void use(const Tensor& t) {
  if (t.numel() > (int64_t{1} << 24)) return;  // a valid but large tensor: no time to sum it
  (void)t.sum();
  if (t.dim() > 0) (void)t.sum({-1});
}

/// Runs one input; throws only ember::Error (which the callers ignore).
inline void run_one(const uint8_t* data, size_t size, MemFile& file) {
  if (size == 0) return;
  const uint8_t reader = data[0] % kReaders;
  ++data, --size;
  if (reader == kSafetensors) {
    nn::StateDict sd = nn::deserialize_safetensors(
        std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.safetensors");
    for (const auto& [name, t] : sd) use(t);
  } else {
    const std::string& path = file.set(data, size);
    use(reader == kIdxImages ? data::read_idx_images(path) : data::read_idx_labels(path));
  }
}

/// Valid inputs of each reader (first byte: the reader), to mutate from.
inline std::vector<std::string> seeds() {
  std::vector<std::string> out;
  nn::StateDict sd;
  sd.insert("w", arange(0, 6, 1, kFloat32).view({2, 3}));
  sd.insert("b", tensor({0.5, -1.0}, kFloat64));
  sd.insert("i", tensor(std::vector<int64_t>{7, 8, 9}));
  sd.insert("m", tensor(std::vector<int64_t>{1, 0}).to(kBool));
  sd.insert("s", scalar_tensor(3.0));
  out.push_back(std::string(1, static_cast<char>(kSafetensors)) +
                nn::serialize_safetensors(sd, {{"format", "pt"}}));
  auto be32 = [](uint32_t v) {
    std::string s;
    for (int k = 24; k >= 0; k -= 8) s.push_back(static_cast<char>(v >> k & 0xff));
    return s;
  };
  std::string images = be32(0x803) + be32(2) + be32(28) + be32(28);
  for (int i = 0; i < 2 * 784; ++i) images.push_back(static_cast<char>(i * 7));
  std::string labels = be32(0x801) + be32(4) + std::string("\x01\x09\x00\x03", 4);
  // Plain IDX (zlib reads plain files as they are) and gzip members of stored blocks.
  auto gzip_stored = [](const std::string& raw) {
    std::string gz("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff", 10);
    gz += '\x01';  // final stored block
    uint16_t len = static_cast<uint16_t>(raw.size()), nlen = static_cast<uint16_t>(~len);
    gz.append(reinterpret_cast<const char*>(&len), 2)
        .append(reinterpret_cast<const char*>(&nlen), 2);
    gz += raw;
    uint32_t crc = 0xffffffffu;
    for (unsigned char c : raw) {
      crc ^= c;
      for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    crc = ~crc;
    uint32_t isize = static_cast<uint32_t>(raw.size());
    gz.append(reinterpret_cast<const char*>(&crc), 4)
        .append(reinterpret_cast<const char*>(&isize), 4);
    return gz;
  };
  out.push_back(std::string(1, static_cast<char>(kIdxImages)) + images);
  out.push_back(std::string(1, static_cast<char>(kIdxImages)) + gzip_stored(images));
  out.push_back(std::string(1, static_cast<char>(kIdxLabels)) + labels);
  out.push_back(std::string(1, static_cast<char>(kIdxLabels)) + gzip_stored(labels));
  return out;
}

}  // namespace ember::fuzz
