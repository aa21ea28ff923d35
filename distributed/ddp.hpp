// DistributedDataParallel: the same model on every rank, each rank on its own shard of the data;
// gradients are averaged over the ranks during backward, so the loop and the optimizer are the
// ones of single-process training.
//
//   distributed::init(&argc, &argv);
//   auto net = nn::Sequential(nn::Linear(784, 256), nn::ReLU(), nn::Linear(256, 10));
//   distributed::DistributedDataParallel ddp(net.parameters());   // rank 0's weights everywhere
//   for (auto [x, y] : loader) {          // a loader over a data::DistributedSampler
//     Tensor loss = nn::functional::cross_entropy(net(x), y);
//     opt.zero_grad();  loss.backward();  opt.step();   // backward returns averaged gradients
//   }
//   { auto guard = ddp.no_sync();  loss.backward(); }    // accumulate locally, no communication
//
// How: parameters are grouped into buckets of about bucket_cap_mb MiB in reverse order of
// registration (roughly the order backward produces their gradients, as PyTorch's DDP). Each
// parameter's post-accumulate-grad hook copies its gradient into its bucket; a full bucket starts
// a non-blocking MPI all-reduce while backward goes on (buckets start in order, so every rank
// issues the same collectives in the same order). When the backward's graph is done, the engine
// calls DDP back: it starts any bucket still open (a parameter this rank did not use
// contributes zeros), waits for all, and writes the averages into the parameters' .grad (a
// parameter without a gradient here gets the averaged one, so the ranks stay equal).
//
// Every rank must run the same backward passes with the same parameters requiring grad, and must
// enter or leave no_sync() together. The DDP object must outlive the backward passes it syncs;
// its destructor removes its hooks.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "runtime/tensor.hpp"

namespace ember::distributed {

struct DistributedDataParallelOptions {
  /// Bucket size in MiB (PyTorch's bucket_cap_mb): a bucket closes once it holds at least this
  /// many bytes of gradients.
  double bucket_cap_mb = 25;
  /// Buffers (batch norm's running statistics, ...) broadcast from rank 0 at construction.
  std::vector<Tensor> buffers{};
};

class DistributedDataParallel {
 public:
  /// Broadcasts rank 0's parameters (and options.buffers) to every rank and hooks the parameters
  /// that require grad. Error unless distributed::init() ran.
  explicit DistributedDataParallel(std::vector<Tensor> parameters,
                                   DistributedDataParallelOptions options = {});
  ~DistributedDataParallel();
  DistributedDataParallel(const DistributedDataParallel&) = delete;
  DistributedDataParallel& operator=(const DistributedDataParallel&) = delete;

  /// While the guard lives, backward accumulates gradients locally with no communication; the
  /// first backward after it averages the accumulated sums (PyTorch's no_sync()).
  class NoSyncGuard {
   public:
    ~NoSyncGuard();
    NoSyncGuard(const NoSyncGuard&) = delete;
    NoSyncGuard& operator=(const NoSyncGuard&) = delete;

   private:
    friend class DistributedDataParallel;
    explicit NoSyncGuard(DistributedDataParallel& ddp);
    DistributedDataParallel& ddp_;
    bool previous_;
  };
  [[nodiscard]] NoSyncGuard no_sync() { return NoSyncGuard(*this); }

  /// The parameters of each bucket, as indices into the parameter list, in launch order.
  std::vector<std::vector<size_t>> bucket_indices() const;
  const std::vector<Tensor>& parameters() const { return params_; }

 private:
  struct State;
  std::vector<Tensor> params_;
  std::shared_ptr<State> state_;
  std::vector<std::pair<size_t, uint64_t>> hook_ids_;  // (parameter, hook id)
};

}  // namespace ember::distributed
