// DistributedSampler: each rank of a distributed job reads its own shard of every epoch, as
// PyTorch's torch.utils.data.DistributedSampler.
//
//   auto shard = std::make_shared<data::DistributedSampler>(train.size(),
//       data::DistributedSamplerOptions{.shuffle = true, .seed = 0});
//   data::DataLoader loader(train, shard, {.batch_size = 64});
//
// An epoch's order (a permutation of (seed, epoch) when shuffled) is padded by repeating its
// first indices to a multiple of the number of ranks (or, with drop_last, cut to one), and rank r
// takes every num_replicas-th index from r: the shards are disjoint and their union is the epoch.
// The DataLoader passes its epoch to indices(epoch), so the shards change every epoch without
// PyTorch's sampler.set_epoch(e) call (loader.set_epoch(e) is where a resumed run says which
// epoch comes next). Depends only on (seed, epoch, rank), so any number of loader workers reads
// the same batches.
#pragma once

#include <optional>

#include "nn/data/sampler.hpp"

namespace ember::data {

struct DistributedSamplerOptions {
  /// Number of ranks; unset, distributed::world_size().
  std::optional<int64_t> num_replicas{};
  /// This process's rank; unset, distributed::rank().
  std::optional<int64_t> rank{};
  bool shuffle = true;
  /// Must be the same on every rank.
  uint64_t seed = 0;
  /// Drop the tail that does not divide evenly instead of padding with repeated indices.
  bool drop_last = false;
};

class DistributedSampler : public Sampler {
 public:
  /// n: the dataset's size. ValueError for a rank outside [0, num_replicas - 1].
  explicit DistributedSampler(size_t n, DistributedSamplerOptions o = {});
  std::vector<int64_t> indices(int64_t epoch) const override;
  /// Indices per epoch on this rank (the same on every rank).
  size_t size() const override { return num_samples_; }
  int64_t num_replicas() const { return num_replicas_; }
  int64_t rank() const { return rank_; }

 private:
  size_t n_;
  DistributedSamplerOptions options_;
  int64_t num_replicas_ = 1, rank_ = 0;
  size_t num_samples_ = 0, total_size_ = 0;
};

}  // namespace ember::data
