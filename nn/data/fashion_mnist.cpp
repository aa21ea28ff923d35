#include "nn/data/fashion_mnist.hpp"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

namespace ember::data {
namespace {

constexpr const char* kInstallHint =
    "install the Debian package dataset-fashion-mnist (apt install dataset-fashion-mnist), "
    "or point EMBER_FASHION_MNIST or the root argument at a folder holding the IDX .gz files";

// A whole .gz file, decompressed (zlib reads a plain file as it is, too).
class GzFile {
 public:
  explicit GzFile(std::string path) : path_(std::move(path)) {
    errno = 0;
    file_ = gzopen(path_.c_str(), "rb");
    EMBER_CHECK(file_ != nullptr, Error, "FashionMNIST: cannot open ", path_, " (",
                errno ? std::strerror(errno) : "gzopen failed", "); ", kInstallHint);
  }
  ~GzFile() { gzclose(file_); }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;

  // Reads up to n bytes into dst, fewer only at the end of the data; a corrupt stream is an
  // error naming `what` and the counts (`total` bytes expected, `before` read already).
  size_t read_some(void* dst, size_t n, const char* what, size_t total, size_t before) {
    size_t got = 0;
    auto* p = static_cast<unsigned char*>(dst);
    while (got < n) {
      unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - got, 1u << 30));
      int r = gzread(file_, p + got, chunk);
      if (r < 0) {
        int code = 0;
        const char* msg = gzerror(file_, &code);
        if (code == Z_BUF_ERROR) break;  // the compressed stream ends early: truncated
        EMBER_CHECK(false, Error, "FashionMNIST: ", path_, " is corrupt while reading ", what, ": ",
                    msg, " (expected ", total, " bytes, read ", before + got, ")");
      }
      if (r == 0) break;
      got += static_cast<size_t>(r);
    }
    return got;
  }

  // Reads exactly n bytes; a short read is an error naming `what` and the counts.
  void read(void* dst, size_t n, const char* what) {
    size_t got = read_some(dst, n, what, n, 0);
    if (got < n) {
      int code = 0;
      const char* msg = gzerror(file_, &code);
      EMBER_CHECK(false, Error, "FashionMNIST: ", path_, " is truncated: expected ", n,
                  " bytes of ", what, " but the file ends after ", got,
                  (code != Z_OK && msg && *msg) ? std::string(" (") + msg + ")" : std::string());
    }
  }

  // Reads the n bytes a header claims in bounded chunks, growing the buffer only as data
  // arrives: a 58-byte file claiming 10 million images fails at its end, not after allocating
  // and zeroing 7.8 GB for the claim.
  std::vector<unsigned char> read_claimed(size_t n, const char* what) {
    constexpr size_t kChunk = size_t{16} << 20;
    std::vector<unsigned char> out;
    size_t got = 0;
    while (got < n) {
      size_t want = std::min(n - got, kChunk);
      out.resize(got + want);
      size_t r = read_some(out.data() + got, want, what, n, got);
      got += r;
      if (r < want) {
        int code = 0;
        const char* msg = gzerror(file_, &code);
        EMBER_CHECK(false, Error, "FashionMNIST: ", path_, " is truncated: expected ", n,
                    " bytes of ", what, " but the file ends after ", got,
                    (code != Z_OK && msg && *msg) ? std::string(" (") + msg + ")" : std::string());
      }
    }
    return out;
  }

  uint32_t read_u32(const char* what) {
    unsigned char b[4];
    read(b, 4, what);
    return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
  }

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  gzFile file_ = nullptr;
};

std::string hex(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

// IDX magic numbers: 0x0000 08 nd (unsigned byte data, nd dims).
constexpr uint32_t kImagesMagic = 0x00000803, kLabelsMagic = 0x00000801;
constexpr uint32_t kMaxItems = 10'000'000;

}  // namespace

Tensor read_idx_images(const std::string& path) {
  GzFile f(path);
  uint32_t magic = f.read_u32("the header");
  EMBER_CHECK(magic == kImagesMagic, ValueError, "FashionMNIST: ", path, " has magic number ",
              hex(magic), " but an IDX image file (unsigned bytes, 3 dims) has ",
              hex(kImagesMagic));
  uint32_t n = f.read_u32("the header"), rows = f.read_u32("the header"),
           cols = f.read_u32("the header");
  EMBER_CHECK(rows == 28 && cols == 28, ValueError, "FashionMNIST: ", path, " holds ", rows, "x",
              cols, " images; expected 28x28");
  EMBER_CHECK(n <= kMaxItems, ValueError, "FashionMNIST: ", path, " claims ", n,
              " images in its header; more than ", kMaxItems, " means a corrupt header");
  const size_t count = size_t{n} * rows * cols;
  std::vector<unsigned char> bytes = f.read_claimed(count, "image data");
  Tensor images = empty({static_cast<int64_t>(n), 1, 28, 28}, kFloat32);
  float* out = images.data_ptr<float>();
  for (size_t i = 0; i < count; ++i) out[i] = static_cast<float>(bytes[i]) / 255.0f;
  return images;
}

Tensor read_idx_labels(const std::string& path) {
  GzFile f(path);
  uint32_t magic = f.read_u32("the header");
  EMBER_CHECK(magic == kLabelsMagic, ValueError, "FashionMNIST: ", path, " has magic number ",
              hex(magic), " but an IDX label file (unsigned bytes, 1 dim) has ", hex(kLabelsMagic));
  uint32_t n = f.read_u32("the header");
  EMBER_CHECK(n <= kMaxItems, ValueError, "FashionMNIST: ", path, " claims ", n,
              " labels in its header; more than ", kMaxItems, " means a corrupt header");
  std::vector<unsigned char> bytes = f.read_claimed(n, "label data");
  Tensor labels = empty({static_cast<int64_t>(n)}, kInt64);
  int64_t* out = labels.data_ptr<int64_t>();
  for (size_t i = 0; i < n; ++i) {
    EMBER_CHECK(bytes[i] < 10, ValueError, "FashionMNIST: ", path, " has label ", int{bytes[i]},
                " at index ", i, "; expected 0..9");
    out[i] = bytes[i];
  }
  return labels;
}

std::string FashionMNIST::default_root() {
  const char* env = std::getenv("EMBER_FASHION_MNIST");
  return env && *env ? std::string(env) : std::string("/usr/share/datasets/fashion-mnist");
}

FashionMNIST::FashionMNIST(const std::string& root, Split split) {
  const std::string prefix = root + "/" + (split == Split::train ? "train" : "t10k");
  // Labels first: the small file fails fast when the folder is wrong.
  targets_ = read_idx_labels(prefix + "-labels-idx1-ubyte.gz");
  images_ = read_idx_images(prefix + "-images-idx3-ubyte.gz");
  EMBER_CHECK(images_.size(0) == targets_.size(0), ValueError, "FashionMNIST: ", prefix,
              "-images-idx3-ubyte.gz holds ", images_.size(0), " images but ", prefix,
              "-labels-idx1-ubyte.gz holds ", targets_.size(0), " labels");
}

Example FashionMNIST::get(size_t i) const {
  EMBER_CHECK(i < size(), IndexError, "FashionMNIST: index ", i,
              " is out of range for a dataset of size ", size());
  auto k = static_cast<int64_t>(i);
  return {images_.select(0, k), targets_.select(0, k)};
}

}  // namespace ember::data
