// How a reduction walks memory (internal). ReducePlan views the input as a contiguous
// [outer, rows, inner] block, `rows` the reduced elements: it coalesces dims, reads a permuted
// dense tensor (a transpose) in memory order without a copy, and copies only when the reduced
// dims are not one block. run_reduction then splits the work into fixed blocks (so results do
// not depend on the thread count) and hands rows or column tiles to the op's loops.
#pragma once

#include <memory>

#include "runtime/op.hpp"
#include "runtime/ops/reduce_kernels.hpp"
#include "runtime/parallel.hpp"
#include "runtime/shape.hpp"
#include "runtime/tensor.hpp"

namespace ember::reduce {

class ReducePlan {
 public:
  /// dims: wrapped, sorted, empty = all. keep_reduced_order: the reduced dims must be walked in
  /// logical order (flattened argmax), so no reordering by memory layout.
  ReducePlan(const Tensor& a, const Dims& dims, bool keepdim, bool keep_reduced_order = false);

  int64_t outer = 1, rows = 1, inner = 1;
  /// The input as [outer, rows, inner] elements of its dtype; only valid when rows * outer *
  /// inner > 0.
  template <class T>
  const T* data() const {
    return reinterpret_cast<const T*>(x_.raw_data());
  }
  /// A buffer of outer * inner elements for a result, in the plan's order.
  Tensor buffer(DType d) const;
  /// The op's result from a filled buffer: logical dim order, keepdim honoured.
  Tensor result(const Tensor& buf) const;
  const Dims& out_shape() const { return out_shape_; }

 private:
  Tensor x_;
  Dims out_shape_;   // the result's sizes
  Dims mem_sizes_;   // the kept dims (size > 1) in the order the buffer holds them
  Dims to_logical_;  // permutation of mem_sizes_ into logical order; empty when identity
};

/// The kernel's reduced dims from ReduceAttrs, checked and wrapped (empty = all).
Dims kernel_dims(const Tensor& a, const Attrs& attrs, const char* name);
/// max/min/argmax-style ops have no identity: an empty reduction is an error, as in PyTorch.
void check_nonempty(const Tensor& a, const Dims& dims, const char* name);

/// Registers max(dim), min(dim), argmax, argmin (arg_reduce.cpp).
void register_arg_reduce_kernels();

/// Rows per parallel block of a long row, and the element count a column block aims at.
inline constexpr int64_t kBlock = 65536;

/// Runs a reduction over plan p. Acc is the per-output accumulator state (starting at init):
///   row(k, r0, n) -> Acc          reduces rows [r0, r0 + n) of output k (used when inner == 1)
///   cols(k, r0, nr, j0, nc, acc)  folds rows [r0, r0 + nr) of block k, columns [j0, j0 + nc),
///                                 into acc[0..nc), which holds init on entry
///   combine(a, b) -> Acc          merges the states of consecutive row blocks (a first)
///   fin(o, acc)                   writes output o (o = k * inner + j); called once per output
template <class Acc, class Row, class Cols, class Combine, class Fin>
void run_reduction(const ReducePlan& p, Acc init, Row&& row, Cols&& cols, Combine&& combine,
                   Fin&& fin) {
  const int64_t K = p.outer, R = p.rows, W = p.inner;
  if (K * W == 0) return;
  if (R == 0) {
    for (int64_t o = 0; o < K * W; ++o) fin(o, init);
    return;
  }
  // Pairwise merge of n states spaced `stride` apart, in order.
  auto merge = [&](auto& self, const Acc* s, int64_t n, int64_t stride) -> Acc {
    if (n == 1) return s[0];
    int64_t h = n / 2;
    return combine(self(self, s, h, stride), self(self, s + h * stride, n - h, stride));
  };
  if (W == 1) {
    if (K < 64 && R >= 2 * kBlock) {  // few long rows: split each into blocks
      int64_t nb = (R + kBlock - 1) / kBlock;
      std::unique_ptr<Acc[]> part(new Acc[K * nb]);  // not vector: vector<bool> has no data
      parallel_for(0, K * nb, 1, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          int64_t r0 = (i % nb) * kBlock;
          part[i] = row(i / nb, r0, std::min(kBlock, R - r0));
        }
      });
      for (int64_t k = 0; k < K; ++k) fin(k, merge(merge, &part[k * nb], nb, 1));
      return;
    }
    parallel_for(0, K, std::max<int64_t>(1, kGrainSize / R), [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) fin(k, row(k, 0, R));
    });
    return;
  }
  const int64_t ntiles = (W + kTile - 1) / kTile;
  int64_t rb = R, nb = 1;
  if (K * W < 4096 && R * W >= 2 * kBlock) {  // few outputs, many rows: split the rows too
    rb = (kBlock + W - 1) / W;
    nb = (R + rb - 1) / rb;
  }
  std::unique_ptr<Acc[]> part(nb > 1 ? new Acc[K * nb * W] : nullptr);
  int64_t per_item = rb * std::min(W, kTile);
  parallel_for(0, K * nb * ntiles, std::max<int64_t>(1, kGrainSize / per_item),
               [&](int64_t b, int64_t e) {
                 Acc acc[kTile];
                 for (int64_t i = b; i < e; ++i) {
                   int64_t t = i % ntiles, blk = (i / ntiles) % nb, k = i / ntiles / nb;
                   int64_t j0 = t * kTile, nc = std::min(kTile, W - j0);
                   int64_t r0 = blk * rb, nr = std::min(rb, R - r0);
                   std::fill(acc, acc + nc, init);
                   cols(k, r0, nr, j0, nc, acc);
                   if (nb == 1) {
                     for (int64_t j = 0; j < nc; ++j) fin(k * W + j0 + j, acc[j]);
                   } else {
                     std::copy(acc, acc + nc, &part[(k * nb + blk) * W + j0]);
                   }
                 }
               });
  if (nb > 1) {
    for (int64_t k = 0; k < K; ++k)
      for (int64_t j = 0; j < W; ++j) fin(k * W + j, merge(merge, &part[k * nb * W + j], nb, W));
  }
}

}  // namespace ember::reduce
