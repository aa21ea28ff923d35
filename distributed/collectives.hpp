// ember::distributed: processes started by `mpirun -np N` (OpenMPI), each a rank of one world,
// and the collectives data-parallel training needs.
//
//   int main(int argc, char** argv) {
//     distributed::init(&argc, &argv);                 // once, before any collective
//     Tensor t = full({4}, distributed::rank());
//     distributed::all_reduce(t);                      // in place: every rank holds the sum
//     distributed::broadcast(t, /*root=*/0);
//     std::vector<Tensor> parts = distributed::all_gather(t);   // one per rank, rank order
//     distributed::finalize();
//   }
//
// Collectives take float32, float64 and int64 tensors of any layout (all_reduce packs a
// non-contiguous tensor block by block into a cache-sized buffer, reduces it there and writes it
// back; broadcast and all_gather go through a contiguous copy) and must be called by every
// rank in the same order with tensors of the same shape and dtype, as MPI requires. An error MPI
// reports becomes an ember::Error naming the collective, the rank and MPI's message. Once init()
// ran, an exception that escapes main (std::terminate) prints "ember rank R: ..." and calls
// MPI_Abort, so a failing rank ends the whole job instead of leaving the others waiting.
//
// Built without MPI (EMBER_WITH_MPI=OFF or not found), the world is this one process: rank 0 of
// 1, collectives leave tensors as they are; init() refuses to run under mpirun with more ranks.
// Inside a jit::Region a collective is a graph break: the graph so far runs, then MPI is called.
#pragma once

#include <vector>

#include "runtime/tensor.hpp"

namespace ember::distributed {

enum class ReduceOp { sum, mean, max, min };

/// True when ember was built with MPI.
bool is_available();
/// Initialises MPI (MPI_Init_thread at MPI_THREAD_SERIALIZED, checked: ember calls MPI from the
/// thread running backward or the loop, one call at a time) unless the program already did,
/// and makes ember's own communicator. Calling it again is a no-op.
void init(int* argc = nullptr, char*** argv = nullptr);
/// Finalises MPI when init() initialised it. Collectives are errors afterwards.
void finalize();
bool is_initialized();
/// This process's rank, 0 .. world_size() - 1. Error before init().
int rank();
/// The number of processes.
int world_size();

/// Reduces t over the ranks, in place: every rank ends with the sum (mean, max, min). mean needs
/// a floating tensor.
void all_reduce(const Tensor& t, ReduceOp op = ReduceOp::sum);
/// Copies root's t into every other rank's t, in place.
void broadcast(const Tensor& t, int root = 0);
/// Every rank's t, in rank order (new tensors; t's shape must be the same on every rank).
std::vector<Tensor> all_gather(const Tensor& t);
/// Returns once every rank has called it.
void barrier();

/// init() on construction, finalize() on destruction.
class InitGuard {
 public:
  InitGuard(int* argc, char*** argv) { init(argc, argv); }
  ~InitGuard() { finalize(); }
  InitGuard(const InitGuard&) = delete;
  InitGuard& operator=(const InitGuard&) = delete;
};

namespace detail {
/// A non-blocking sum all-reduce of a contiguous buffer, in place (what DDP's buckets use).
class PendingReduce {
 public:
  PendingReduce() = default;
  /// Starts reducing t (contiguous, float32/float64/int64); `what` names it in errors.
  PendingReduce(const Tensor& t, const char* what);
  PendingReduce(PendingReduce&& o) noexcept;
  PendingReduce& operator=(PendingReduce&& o) noexcept;
  ~PendingReduce();
  /// Lets MPI progress; true once the reduction has completed.
  bool test();
  /// Blocks until the reduction has completed.
  void wait();
  bool active() const { return active_; }

 private:
  Tensor buffer_;
  const char* what_ = "";
  alignas(8) unsigned char request_[8] = {};  // an MPI_Request (an int or a pointer)
  bool active_ = false;
};
}  // namespace detail

}  // namespace ember::distributed
