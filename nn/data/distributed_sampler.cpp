#include "nn/data/distributed_sampler.hpp"

#include "distributed/collectives.hpp"
#include "runtime/error.hpp"

namespace ember::data {

DistributedSampler::DistributedSampler(size_t n, DistributedSamplerOptions o) : n_(n), options_(o) {
  num_replicas_ = o.num_replicas ? *o.num_replicas : distributed::world_size();
  rank_ = o.rank ? *o.rank : distributed::rank();
  EMBER_CHECK(num_replicas_ > 0, ValueError,
              "DistributedSampler: num_replicas should be positive, ", "got ", num_replicas_);
  EMBER_CHECK(rank_ >= 0 && rank_ < num_replicas_, ValueError, "DistributedSampler: Invalid rank ",
              rank_, ", rank should be in the interval [0, ", num_replicas_ - 1, "]");
  const auto r = static_cast<size_t>(num_replicas_);
  // PyTorch's sizes: ceil((n - r) / r) per rank when dropping an uneven tail, else ceil(n / r).
  if (o.drop_last && n % r != 0)
    num_samples_ = n >= r ? (n - r + r - 1) / r : 0;
  else
    num_samples_ = (n + r - 1) / r;
  total_size_ = num_samples_ * r;
}

std::vector<int64_t> DistributedSampler::indices(int64_t epoch) const {
  std::vector<int64_t> all = options_.shuffle ? RandomSampler(n_, options_.seed).indices(epoch)
                                              : SequentialSampler(n_).indices(epoch);
  if (all.size() < total_size_) {
    EMBER_CHECK(!all.empty(), ValueError, "DistributedSampler: the dataset is empty");
    const size_t base = all.size();
    for (size_t i = 0; all.size() < total_size_; ++i) all.push_back(all[i % base]);
  }
  all.resize(total_size_);
  std::vector<int64_t> out;
  out.reserve(num_samples_);
  for (size_t i = static_cast<size_t>(rank_); i < total_size_;
       i += static_cast<size_t>(num_replicas_))
    out.push_back(all[i]);
  return out;
}

}  // namespace ember::data
