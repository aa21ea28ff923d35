// Shared by the libtorch twins of the Fashion-MNIST trainers (peer_mlp_fashion,
// peer_resnet_fashion): reading Debian's IDX .gz files into libtorch tensors with zlib, and
// timing. Header-only: each twin is a program of its own.
#pragma once

#include <torch/torch.h>
#include <zlib.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace peer {

inline std::string data_root() {
  const char* env = std::getenv("EMBER_FASHION_MNIST");
  return env && *env ? env : "/usr/share/datasets/fashion-mnist";
}

// The whole decompressed file.
inline std::vector<unsigned char> read_gz(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f)
    throw std::runtime_error("cannot open " + path + " (apt-get install dataset-fashion-mnist)");
  std::vector<unsigned char> out;
  unsigned char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.insert(out.end(), buf, buf + n);
  bool bad = n < 0;
  gzclose(f);
  if (bad) throw std::runtime_error("corrupt gzip data in " + path);
  return out;
}

inline uint32_t be32(const unsigned char* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

// images [N, 1, 28, 28] float32 in [0, 1], labels [N] int64.
inline std::pair<torch::Tensor, torch::Tensor> load(const std::string& prefix) {
  auto img = read_gz(data_root() + "/" + prefix + "-images-idx3-ubyte.gz");
  auto lab = read_gz(data_root() + "/" + prefix + "-labels-idx1-ubyte.gz");
  if (img.size() < 16 || be32(img.data()) != 2051 || lab.size() < 8 || be32(lab.data()) != 2049)
    throw std::runtime_error("bad IDX header in " + prefix);
  int64_t n = be32(img.data() + 4), h = be32(img.data() + 8), w = be32(img.data() + 12);
  if (int64_t(img.size()) != 16 + n * h * w || int64_t(lab.size()) != 8 + n)
    throw std::runtime_error("truncated IDX file in " + prefix);
  auto images =
      torch::from_blob(img.data() + 16, {n, 1, h, w}, torch::kUInt8).to(torch::kFloat32).div_(255);
  auto labels = torch::from_blob(lab.data() + 8, {n}, torch::kUInt8).to(torch::kInt64);
  return {images, labels};
}

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace peer
