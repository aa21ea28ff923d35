// Fashion-MNIST from the IDX .gz files of Debian's dataset-fashion-mnist package.
//
//   data::FashionMNIST train(data::FashionMNIST::default_root(), data::Split::train);
//   data::Example e = train.get(0);   // data [1, 28, 28] float32 in [0, 1], target int64 0-d
#pragma once

#include <array>
#include <string>

#include "nn/data/dataset.hpp"

namespace ember::data {

enum class Split { train, test };

/// One IDX image file (gzip or plain) of 28x28 unsigned bytes as [N, 1, 28, 28] float32 in
/// [0, 1]. Untrusted files are safe: a bad magic, size, truncation or corruption is an
/// ember::Error naming the file, and memory grows only with the data actually read (at most
/// 10,000,000 images).
Tensor read_idx_images(const std::string& path);
/// One IDX label file (gzip or plain) of unsigned bytes 0..9 as [N] int64; errors as above.
Tensor read_idx_labels(const std::string& path);

/// 60,000 training or 10,000 test images of 10 clothing classes, read once into memory.
class FashionMNIST {
 public:
  /// Reads <root>/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz.
  FashionMNIST(const std::string& root, Split split);
  /// Reads from default_root().
  explicit FashionMNIST(Split split = Split::train) : FashionMNIST(default_root(), split) {}

  /// $EMBER_FASHION_MNIST when set, else /usr/share/datasets/fashion-mnist.
  static std::string default_root();
  /// The class names, by label.
  static constexpr std::array<const char*, 10> classes = {
      "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
      "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

  /// {image [1, 28, 28] float32 (a view), label 0-d int64}.
  Example get(size_t i) const;
  /// {images [B, 1, 28, 28], labels [B]} of `indices`, one index_select each.
  std::optional<Example> get_batch(std::span<const int64_t> indices) const {
    return Example{select_rows(images_, indices, "FashionMNIST"),
                   select_rows(targets_, indices, "FashionMNIST")};
  }
  size_t size() const { return static_cast<size_t>(images_.size(0)); }
  /// All images, [N, 1, 28, 28] float32 in [0, 1].
  const Tensor& images() const { return images_; }
  /// All labels, [N] int64 in [0, 9].
  const Tensor& targets() const { return targets_; }

 private:
  Tensor images_, targets_;
};

}  // namespace ember::data
