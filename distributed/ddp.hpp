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
// parameter's post-accumulate-grad hook puts its gradient divided by the world size into its
// bucket (in place when .grad already is its slot of the bucket); a full bucket starts a
// non-blocking MPI sum while backward goes on (buckets start in order, so every rank issues the
// same collectives in the same order). When the backward's graph is done, the engine calls DDP
// back: it starts any bucket still open (a parameter this rank did not use contributes the
// gradient it holds, or zeros), waits for all, and makes each .grad a view of its slot, which
// now holds the average (gradient_as_bucket_view; without it, the averages are copied out).
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
  /// .grad of each parameter is a view into its bucket once DDP has averaged it (PyTorch's
  /// gradient_as_bucket_view): no copy out of the bucket, and a gradient accumulated into it
  /// needs no copy in either. The averages stay in the bucket: a .grad kept across a backward
  /// changes with it (clone it to keep it). false copies the averages into .grad instead.
  bool gradient_as_bucket_view = true;
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
