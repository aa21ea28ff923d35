// Transforms of one example's data tensor, attached to a dataset with Transformed:
//
//   data::Transformed train(data::FashionMNIST(root, data::Split::train),
//                           {data::RandomCrop(28, 2), data::RandomHorizontalFlip(),
//                            data::Normalize({0.2860}, {0.3530})});
//
// Random transforms draw from a key of (loader seed, epoch, sample index, transform position),
// so a sample gets the same augmentation whichever worker reads it, and new ones each epoch.
#pragma once

#include <cstdint>
#include <functional>
#include <type_traits>
#include <utility>
#include <vector>

#include "nn/data/dataset.hpp"
#include "nn/data/sampler.hpp"

namespace ember::data {

/// Counter-based random numbers for one transform of one sample (Philox on a fixed key).
class SampleRng {
 public:
  explicit SampleRng(uint64_t key = 0) : key_(key) {}
  /// The n-th uniform number in [0, 1).
  double uniform(uint64_t n = 0) const;
  /// The n-th integer in [low, high).
  int64_t randint(int64_t low, int64_t high, uint64_t n = 0) const;
  uint64_t key() const { return key_; }

 private:
  uint64_t key_;
};

/// A transform: new data from an example's data and its random numbers.
using Transform = std::function<Tensor(const Tensor& data, const SampleRng& rng)>;

/// (x - mean[c]) / std[c] per channel c of dim -3 ([C, H, W] or [..., C, H, W]); one value
/// applies to every channel.
class Normalize {
 public:
  Normalize(std::vector<double> mean, std::vector<double> std);
  Tensor operator()(const Tensor& x, const SampleRng& rng = SampleRng()) const;

 private:
  std::vector<double> mean_, std_;
  Tensor mean32_, std32_, mean64_, std64_;  // [C, 1, 1] (0-d for one value)
};

/// Reverses the last dim (width) with probability p.
class RandomHorizontalFlip {
 public:
  explicit RandomHorizontalFlip(double p = 0.5);
  Tensor operator()(const Tensor& x, const SampleRng& rng) const;

 private:
  double p_;
};

/// Pads the last two dims (H, W) with zeros by `padding` on each side, then cuts a random
/// height x width window, as torchvision's RandomCrop(size, padding).
class RandomCrop {
 public:
  /// A square size x size crop.
  explicit RandomCrop(int64_t size, int64_t padding = 0) : RandomCrop(size, size, padding) {}
  RandomCrop(int64_t height, int64_t width, int64_t padding);
  Tensor operator()(const Tensor& x, const SampleRng& rng) const;

 private:
  int64_t height_, width_, padding_;
};

/// A dataset whose examples' data pass through transforms in order. Holds the base dataset by
/// reference when given an lvalue (keep it alive) and by value when given a temporary.
template <class D>
class Transformed {
 public:
  template <class U>
  Transformed(U&& base, std::vector<Transform> transforms)
      : base_(std::forward<U>(base)), transforms_(std::move(transforms)) {
    static_assert(Dataset<std::remove_reference_t<D>>, "Transformed: D must be a Dataset");
  }
  Example get(size_t i) {
    Example e = base_.get(i);
    const SampleContext& ctx = current_sample_context();
    for (size_t k = 0; k < transforms_.size(); ++k) {
      SampleRng rng(mix_seed({ctx.seed, static_cast<uint64_t>(ctx.epoch), i, k}));
      e.data = transforms_[k](e.data, rng);
    }
    return e;
  }
  size_t size() { return static_cast<size_t>(base_.size()); }
  /// The wrapped dataset.
  std::remove_reference_t<D>& base() { return base_; }

 private:
  D base_;
  std::vector<Transform> transforms_;
};

template <class D>
Transformed(D&&, std::vector<Transform>) -> Transformed<D>;

}  // namespace ember::data
