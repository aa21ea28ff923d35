// Samplers: the order in which a DataLoader reads a dataset, one list of indices per epoch,
// derived only from (seed, epoch) so that any number of workers reads the same batches.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <vector>

namespace ember::data {

/// A well-mixed 64-bit key from several words (splitmix64 finalisers chained).
uint64_t mix_seed(std::initializer_list<uint64_t> words);

/// Base of the samplers: indices(epoch) lists the dataset indices to read in that epoch.
class Sampler {
 public:
  virtual ~Sampler() = default;
  /// The indices of one epoch, in reading order.
  virtual std::vector<int64_t> indices(int64_t epoch) const = 0;
  /// How many indices each epoch yields.
  virtual size_t size() const = 0;
};

/// 0, 1, ..., n - 1 every epoch.
class SequentialSampler : public Sampler {
 public:
  explicit SequentialSampler(size_t n) : n_(n) {}
  std::vector<int64_t> indices(int64_t epoch) const override;
  size_t size() const override { return n_; }

 private:
  size_t n_;
};

/// A random permutation of 0..n-1, a new one each epoch, a function of (seed, epoch) only.
class RandomSampler : public Sampler {
 public:
  RandomSampler(size_t n, uint64_t seed) : n_(n), seed_(seed) {}
  std::vector<int64_t> indices(int64_t epoch) const override;
  size_t size() const override { return n_; }
  uint64_t seed() const { return seed_; }

 private:
  size_t n_;
  uint64_t seed_;
};

}  // namespace ember::data
