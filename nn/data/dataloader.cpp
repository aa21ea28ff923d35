#include "nn/data/dataloader.hpp"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

#include "runtime/random.hpp"

namespace ember::data {

Batch default_collate(const std::vector<Example>& examples) {
  EMBER_CHECK(!examples.empty(), ValueError, "default_collate: got no examples");
  std::vector<Tensor> data, target;
  data.reserve(examples.size());
  target.reserve(examples.size());
  bool any_target = false;
  for (const auto& e : examples) {
    data.push_back(e.data);
    target.push_back(e.target);
    any_target = any_target || e.target.defined();
  }
  return {stack(data), any_target ? stack(target) : Tensor()};
}

namespace detail {
namespace {

// Rethrows the exception in flight with `where` in front of its message, keeping ember's
// error class so a loop can still catch IndexError and friends.
[[noreturn]] void rethrow_with(const std::string& where) {
  try {
    throw;
  } catch (const ShapeError& e) {
    throw ShapeError(where + ": " + e.what());
  } catch (const DTypeError& e) {
    throw DTypeError(where + ": " + e.what());
  } catch (const IndexError& e) {
    throw IndexError(where + ": " + e.what());
  } catch (const ValueError& e) {
    throw ValueError(where + ": " + e.what());
  } catch (const std::exception& e) {
    throw Error(where + ": " + e.what());
  } catch (...) {
    throw Error(where + ": unknown exception");
  }
}

}  // namespace

struct Epoch {
  struct Result {
    Batch batch;
    std::exception_ptr error;
  };

  std::shared_ptr<Source> source;
  std::function<Batch(const std::vector<Example>&)> collate;
  std::vector<int64_t> order;
  int64_t batch_size = 1, num_batches = 0, epoch = 0;
  uint64_t seed = 0;

  int64_t current = -1;  // the batch held in `batch`
  Batch batch;
  bool done = false;

  // Workers: they claim batches in order, at most `capacity` ahead of the consumer.
  std::vector<std::thread> threads;
  std::mutex mu;
  std::condition_variable work_cv, ready_cv;
  std::map<int64_t, Result> ready;
  int64_t next_start = 0, consumed = 0, capacity = 1;
  bool stop = false;

  ~Epoch() {
    {
      std::lock_guard lk(mu);
      stop = true;
    }
    work_cv.notify_all();
    for (auto& t : threads) t.join();
  }

  Batch make_batch(int64_t b, int worker) const {
    SampleContextGuard ctx({seed, epoch});
    const int64_t begin = b * batch_size;
    const int64_t end = std::min<int64_t>(begin + batch_size, static_cast<int64_t>(order.size()));
    std::string who = worker < 0 ? "DataLoader" : "DataLoader worker " + std::to_string(worker);
    if (!collate) {
      // The whole batch at once when the dataset can. On any failure, read it again sample by
      // sample below: that names the sample that fails.
      try {
        std::span<const int64_t> indices(order.data() + begin, static_cast<size_t>(end - begin));
        if (std::optional<Example> e = source->get_batch(indices))
          return {std::move(e->data), std::move(e->target)};
      } catch (...) {
      }
    }
    std::vector<Example> examples;
    examples.reserve(static_cast<size_t>(end - begin));
    for (int64_t k = begin; k < end; ++k) {
      const int64_t index = order[static_cast<size_t>(k)];
      try {
        examples.push_back(source->get(static_cast<size_t>(index)));
      } catch (...) {
        rethrow_with(
            ::ember::detail::cat(who, ": reading sample index ", index, " (batch ", b, ") failed"));
      }
    }
    try {
      return collate ? collate(examples) : default_collate(examples);
    } catch (...) {
      std::string indices;
      for (int64_t k = begin; k < end && k < begin + 8; ++k)
        indices += (k == begin ? "" : ", ") + std::to_string(order[static_cast<size_t>(k)]);
      if (end - begin > 8) indices += ", ...";
      rethrow_with(::ember::detail::cat(who, ": collating batch ", b, " (sample indices ", indices,
                                        ") failed"));
    }
  }

  void worker_loop(int id) {
    for (;;) {
      int64_t b = 0;
      {
        std::unique_lock lk(mu);
        work_cv.wait(lk, [&] {
          return stop || next_start >= num_batches || next_start < consumed + capacity;
        });
        if (stop || next_start >= num_batches) return;
        b = next_start++;
      }
      Result r;
      try {
        r.batch = make_batch(b, id);
      } catch (...) {
        r.error = std::current_exception();
      }
      {
        std::lock_guard lk(mu);
        ready.emplace(b, std::move(r));
      }
      ready_cv.notify_all();
    }
  }

  void start(int64_t num_workers, int64_t prefetch_factor) {
    if (num_workers == 0 || num_batches == 0) return;
    capacity = std::max<int64_t>(1, num_workers * prefetch_factor);
    for (int64_t i = 0; i < num_workers; ++i)
      threads.emplace_back([this, i] { worker_loop(static_cast<int>(i)); });
  }

  // Moves to the next batch (or to the end), rethrowing a failure of that batch.
  void advance() {
    const int64_t b = current + 1;
    if (b >= num_batches) {
      done = true;
      batch = {};
      return;
    }
    current = b;
    if (threads.empty()) {
      try {
        batch = make_batch(b, -1);
      } catch (...) {
        done = true;
        throw;
      }
      return;
    }
    Result r;
    {
      std::unique_lock lk(mu);
      ready_cv.wait(lk, [&] { return ready.count(b) > 0; });
      auto it = ready.find(b);
      r = std::move(it->second);
      ready.erase(it);
      consumed = b + 1;
    }
    work_cv.notify_all();
    if (r.error) {
      done = true;
      std::rethrow_exception(r.error);
    }
    batch = std::move(r.batch);
  }
};

}  // namespace detail

// ---- DataLoader ----

DataLoader::DataLoader(std::shared_ptr<detail::Source> source,
                       std::shared_ptr<const Sampler> sampler, DataLoaderOptions o)
    : source_(std::move(source)), sampler_(std::move(sampler)), options_(std::move(o)) {
  EMBER_CHECK(options_.batch_size > 0, ValueError,
              "DataLoader: batch_size should be a positive integer value, but got batch_size=",
              options_.batch_size);
  EMBER_CHECK(options_.num_workers >= 0, ValueError,
              "DataLoader: num_workers option should be non-negative, got ", options_.num_workers);
  EMBER_CHECK(options_.prefetch_factor >= 1, ValueError,
              "DataLoader: prefetch_factor option should be positive, got ",
              options_.prefetch_factor);
  EMBER_CHECK(!(sampler_ && options_.shuffle), ValueError,
              "DataLoader: sampler option is mutually exclusive with shuffle");
  seed_ = options_.seed ? *options_.seed : random::next_stream(1).bits(0);
  if (!sampler_) {
    size_t n = source_->size();
    if (options_.shuffle)
      sampler_ = std::make_shared<RandomSampler>(n, seed_);
    else
      sampler_ = std::make_shared<SequentialSampler>(n);
  }
}

size_t DataLoader::size() const {
  auto n = sampler_->size(), bs = static_cast<size_t>(options_.batch_size);
  return options_.drop_last ? n / bs : (n + bs - 1) / bs;
}

DataLoader::Iterator DataLoader::begin() {
  auto e = std::make_shared<detail::Epoch>();
  e->source = source_;
  e->collate = options_.collate;
  e->order = sampler_->indices(epoch_);
  e->batch_size = options_.batch_size;
  e->num_batches = static_cast<int64_t>(size());
  e->epoch = epoch_;
  e->seed = seed_;
  const auto n = static_cast<int64_t>(sampler_->size());
  EMBER_CHECK(static_cast<int64_t>(e->order.size()) == n, ValueError, "DataLoader: the sampler ",
              "returned ", e->order.size(), " indices but its size() is ", n);
  ++epoch_;
  e->start(options_.num_workers, options_.prefetch_factor);
  e->advance();
  return Iterator(std::move(e));
}

const Batch& DataLoader::Iterator::operator*() const {
  EMBER_CHECK(epoch_ && !epoch_->done, IndexError,
              "DataLoader: dereferencing an iterator past the last batch");
  return epoch_->batch;
}

DataLoader::Iterator& DataLoader::Iterator::operator++() {
  EMBER_CHECK(epoch_ && !epoch_->done, IndexError,
              "DataLoader: incrementing an iterator past the last batch");
  epoch_->advance();
  return *this;
}

bool DataLoader::Iterator::operator==(Sentinel) const { return !epoch_ || epoch_->done; }

int64_t DataLoader::Iterator::index() const { return epoch_ ? epoch_->current : -1; }

}  // namespace ember::data
