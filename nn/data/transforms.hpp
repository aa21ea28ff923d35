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

/// A transform: new data from an example's data and its random numbers. Any callable
/// Tensor(const Tensor&, const SampleRng&) converts to one. A callable type that declares
/// `static constexpr bool per_sample = false` (Normalize) is the same on a stacked batch as on
/// each sample and draws no random numbers: Transformed then applies it to whole batches.
class Transform {
 public:
  using Fn = std::function<Tensor(const Tensor& data, const SampleRng& rng)>;
  template <class F>
    requires std::is_invocable_r_v<Tensor, const F&, const Tensor&, const SampleRng&> &&
                 (!std::is_same_v<std::remove_cvref_t<F>, Transform>)
  Transform(F f) : fn_(std::move(f)), per_sample_(per_sample_of<F>()) {}  // NOLINT: implicit

  Tensor operator()(const Tensor& data, const SampleRng& rng) const { return fn_(data, rng); }
  /// False when the transform may be applied to a stacked batch at once.
  bool per_sample() const { return per_sample_; }

 private:
  template <class F>
  static constexpr bool per_sample_of() {
    if constexpr (requires { F::per_sample; })
      return F::per_sample;
    else
      return true;
  }
  Fn fn_;
  bool per_sample_;
};

/// (x - mean[c]) / std[c] per channel c of dim -3 ([C, H, W] or [..., C, H, W]); one value
/// applies to every channel.
class Normalize {
 public:
  static constexpr bool per_sample = false;  // the same on a stacked batch
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
  /// The stacked examples of `indices` read at once, when the base dataset can and no
  /// transform works per sample; nullopt otherwise (the DataLoader then reads sample by sample).
  std::optional<Example> get_batch(std::span<const int64_t> indices) {
    if constexpr (BatchDataset<std::remove_reference_t<D>>) {
      for (const Transform& t : transforms_)
        if (t.per_sample()) return std::nullopt;
      std::optional<Example> e = base_.get_batch(indices);
      if (e)
        for (const Transform& t : transforms_) e->data = t(e->data, SampleRng());
      return e;
    } else {
      return std::nullopt;
    }
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
