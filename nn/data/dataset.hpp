// Datasets: anything with `Example get(size_t i)` and `size_t size()`.
//
//   struct Squares {
//     data::Example get(size_t i) const { return {full({1}, i * 1.0), full({1}, i * i * 1.0)}; }
//     size_t size() const { return 100; }
//   };
//   static_assert(data::Dataset<Squares>);
//
// A DataLoader with workers calls get() from several threads at once: get must be safe to call
// concurrently (reading tensors is; ember's ops are).
//
// A dataset may also read a whole batch at once, `std::optional<Example> get_batch(indices)`
// returning the stacked examples (or nullopt to decline): one index_select instead of a get()
// per sample and a stack. The DataLoader uses it when there and no custom collate is set; the
// batch must equal stacking get(i) for each index.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "runtime/ops.hpp"
#include "runtime/tensor.hpp"

namespace ember::data {

/// One sample: an input and its target.
struct Example {
  Tensor data;
  Tensor target;
};

/// The dataset concept: indexable examples and a size.
template <class D>
concept Dataset = requires(D& d, size_t i) {
  { d.get(i) } -> std::convertible_to<Example>;
  { d.size() } -> std::convertible_to<size_t>;
};

/// A dataset that can also read a batch of samples at once.
template <class D>
concept BatchDataset = Dataset<D> && requires(D& d, std::span<const int64_t> indices) {
  { d.get_batch(indices) } -> std::convertible_to<std::optional<Example>>;
};

/// Rows `indices` of the sample dim of `t`, for get_batch. IndexError naming `who`, the index
/// and the dataset size when one is out of range (as get(i) reports it).
inline Tensor select_rows(const Tensor& t, std::span<const int64_t> indices, const char* who) {
  for (int64_t i : indices)
    EMBER_CHECK(i >= 0 && i < t.size(0), IndexError, who, ": index ", i,
                " is out of range for a dataset of size ", t.size(0));
  return t.index_select(0, tensor(std::vector<int64_t>(indices.begin(), indices.end())));
}

/// The seed and epoch a DataLoader is reading for, seen by random transforms inside get()
/// (thread-local; {0, 0} outside a loader).
struct SampleContext {
  uint64_t seed = 0;
  int64_t epoch = 0;
};
/// This thread's sample context.
inline SampleContext& current_sample_context() {
  thread_local SampleContext ctx;
  return ctx;
}
/// Sets this thread's sample context for a scope (the DataLoader does this around get()).
class SampleContextGuard {
 public:
  explicit SampleContextGuard(SampleContext c) : prev_(current_sample_context()) {
    current_sample_context() = c;
  }
  ~SampleContextGuard() { current_sample_context() = prev_; }
  SampleContextGuard(const SampleContextGuard&) = delete;
  SampleContextGuard& operator=(const SampleContextGuard&) = delete;

 private:
  SampleContext prev_;
};

/// Rows of two tensors as examples: get(i) = {data[i], target[i]} (views, no copy).
class TensorDataset {
 public:
  TensorDataset(Tensor data, Tensor target) : data_(std::move(data)), target_(std::move(target)) {
    EMBER_CHECK(data_.defined() && target_.defined(), ValueError,
                "TensorDataset: data and target must be defined tensors");
    EMBER_CHECK(data_.dim() >= 1 && target_.dim() >= 1, ShapeError,
                "TensorDataset: data and target need a first (sample) dimension, got shapes ",
                data_.sizes(), " and ", target_.sizes());
    EMBER_CHECK(data_.size(0) == target_.size(0), ShapeError,
                "TensorDataset: size mismatch between tensors: data has ", data_.size(0),
                " samples (shape ", data_.sizes(), ") but target has ", target_.size(0), " (shape ",
                target_.sizes(), ")");
  }
  /// {data[i], target[i]}.
  Example get(size_t i) const {
    EMBER_CHECK(i < size(), IndexError, "TensorDataset: index ", i,
                " is out of range for a dataset of size ", size());
    auto k = static_cast<int64_t>(i);
    return {data_.select(0, k), target_.select(0, k)};
  }
  /// {data[indices], target[indices]}.
  std::optional<Example> get_batch(std::span<const int64_t> indices) const {
    return Example{select_rows(data_, indices, "TensorDataset"),
                   select_rows(target_, indices, "TensorDataset")};
  }
  size_t size() const { return static_cast<size_t>(data_.size(0)); }
  const Tensor& data() const { return data_; }
  const Tensor& target() const { return target_; }

 private:
  Tensor data_, target_;
};

}  // namespace ember::data
