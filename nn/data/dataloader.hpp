// DataLoader: batches of a dataset, optionally shuffled and read by worker threads.
//
//   data::FashionMNIST train(data::FashionMNIST::default_root(), data::Split::train);
//   data::DataLoader loader(train, {.batch_size = 128, .shuffle = true, .num_workers = 2});
//   for (auto [images, labels] : loader) { ... }   // images [128, 1, 28, 28], labels [128]
//
// Each range-for (each begin()) is a new epoch: with shuffle, a new permutation derived from
// (seed, epoch). Workers prepare batches ahead into a bounded queue and batches arrive in order,
// so the batches of a given seed are the same for any num_workers. An exception thrown while
// reading a sample reaches the loop, from the iterator, naming the sample index.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "nn/data/dataset.hpp"
#include "nn/data/sampler.hpp"

namespace ember::data {

/// A batch: stacked inputs and targets (`auto [x, y] = batch` works).
struct Batch {
  Tensor data;
  Tensor target;
};

/// Stacks the examples' data and targets along a new first dim (ember::stack).
Batch default_collate(const std::vector<Example>& examples);

struct DataLoaderOptions {
  int64_t batch_size = 1;
  bool shuffle = false;
  /// Drop the last batch when it is smaller than batch_size.
  bool drop_last = false;
  /// 0: read batches on the calling thread; n: n worker threads.
  int64_t num_workers = 0;
  /// Seeds shuffling and random transforms; unset, it is drawn from the global generator
  /// (manual_seed) when the loader is made.
  std::optional<uint64_t> seed{};
  /// Batches each worker may prepare ahead (the queue holds prefetch_factor * num_workers).
  int64_t prefetch_factor = 2;
  /// Makes a batch from examples; default_collate when empty.
  std::function<Batch(const std::vector<Example>&)> collate{};
};

namespace detail {
/// The type-erased dataset a DataLoader reads.
struct Source {
  virtual ~Source() = default;
  virtual Example get(size_t i) = 0;
  /// The stacked examples, or nullopt when the dataset reads sample by sample.
  virtual std::optional<Example> get_batch(std::span<const int64_t> indices) = 0;
  virtual size_t size() = 0;
};
template <class D>
struct SourceOf final : Source {
  template <class U>
  explicit SourceOf(U&& d) : dataset(std::forward<U>(d)) {}
  Example get(size_t i) override { return dataset.get(i); }
  std::optional<Example> get_batch(std::span<const int64_t> indices) override {
    if constexpr (BatchDataset<std::remove_reference_t<D>>)
      return dataset.get_batch(indices);
    else
      return std::nullopt;
  }
  size_t size() override { return static_cast<size_t>(dataset.size()); }
  D dataset;  // a reference for an lvalue dataset, a value for a temporary
};
struct Epoch;
}  // namespace detail

class DataLoader {
 public:
  /// Reads `dataset`, held by reference when it is an lvalue (keep it alive) and by value when
  /// it is a temporary.
  template <class D>
    requires Dataset<std::remove_reference_t<D>>
  DataLoader(D&& dataset, DataLoaderOptions o = {})
      : DataLoader(std::make_shared<detail::SourceOf<D>>(std::forward<D>(dataset)), nullptr,
                   std::move(o)) {}
  /// Reads in the order of a custom sampler (shuffle must be false).
  template <class D>
    requires Dataset<std::remove_reference_t<D>>
  DataLoader(D&& dataset, std::shared_ptr<const Sampler> sampler, DataLoaderOptions o = {})
      : DataLoader(std::make_shared<detail::SourceOf<D>>(std::forward<D>(dataset)),
                   std::move(sampler), std::move(o)) {}

  struct Sentinel {};
  /// Walks one epoch; holds it alive (workers stop when the last copy is destroyed).
  class Iterator {
   public:
    using value_type = Batch;
    using difference_type = std::ptrdiff_t;
    const Batch& operator*() const;
    const Batch* operator->() const { return &**this; }
    Iterator& operator++();
    bool operator==(Sentinel) const;
    /// The position of the current batch in the epoch.
    int64_t index() const;

   private:
    friend class DataLoader;
    explicit Iterator(std::shared_ptr<detail::Epoch> e) : epoch_(std::move(e)) {}
    std::shared_ptr<detail::Epoch> epoch_;
  };

  /// Starts the next epoch and returns its first batch.
  Iterator begin();
  Sentinel end() const { return {}; }
  /// Batches per epoch.
  size_t size() const;
  /// Number of epochs started so far (the epoch the next begin() reads).
  int64_t epoch() const { return epoch_; }
  /// Makes the next begin() read epoch e (to resume training).
  void set_epoch(int64_t e) { epoch_ = e; }
  /// The seed in use (given or drawn).
  uint64_t seed() const { return seed_; }
  const DataLoaderOptions& options() const { return options_; }

 private:
  DataLoader(std::shared_ptr<detail::Source> source, std::shared_ptr<const Sampler> sampler,
             DataLoaderOptions o);

  std::shared_ptr<detail::Source> source_;
  std::shared_ptr<const Sampler> sampler_;
  DataLoaderOptions options_;
  uint64_t seed_ = 0;
  int64_t epoch_ = 0;
};

}  // namespace ember::data
