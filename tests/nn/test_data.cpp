// Datasets, samplers, transforms, the DataLoader and Fashion-MNIST.
// DataLoader tests collate with ember::stack (the movement branch): tagged [needs-merge].
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>
#include <stdexcept>

#include "nn/data/data.hpp"
#include "support/reference.hpp"

using namespace ember;

namespace {

// A dataset whose sample i is the value i in every element of a [2, 3] tensor, target i.
struct Counting {
  size_t n = 10;
  data::Example get(size_t i) const {
    return {full({2, 3}, static_cast<double>(i)), scalar_tensor(static_cast<int64_t>(i))};
  }
  size_t size() const { return n; }
};
static_assert(data::Dataset<Counting>);
static_assert(data::Dataset<data::TensorDataset>);
static_assert(data::Dataset<data::FashionMNIST>);
static_assert(!data::Dataset<int>);
static_assert(data::BatchDataset<data::TensorDataset>);
static_assert(data::BatchDataset<data::FashionMNIST>);
static_assert(!data::BatchDataset<Counting>);

// A dataset reading one sample at a time (no get_batch): the reference for batched reads.
struct OneByOne {
  const data::TensorDataset* base;
  data::Example get(size_t i) const { return base->get(i); }
  size_t size() const { return base->size(); }
};
static_assert(!data::BatchDataset<OneByOne>);

// A batch dataset that counts its get_batch calls and throws on one index, as get does.
struct CountingBatches {
  size_t bad = 1000;
  std::atomic<int>* calls;
  data::Example get(size_t i) const {
    if (i == bad) throw ValueError("corrupt record");
    return Counting{40}.get(i);
  }
  std::optional<data::Example> get_batch(std::span<const int64_t> indices) const {
    ++*calls;
    std::vector<data::Example> e;
    for (int64_t i : indices) e.push_back(get(static_cast<size_t>(i)));
    data::Batch b = data::default_collate(e);
    return data::Example{b.data, b.target};
  }
  size_t size() const { return 40; }
};

// A dataset that throws on one index.
struct Failing {
  size_t bad = 13;
  data::Example get(size_t i) const {
    if (i == bad) throw ValueError("corrupt record");
    return Counting{}.get(i);
  }
  size_t size() const { return 40; }
};

// Every batch of one epoch, as values (data and target).
using Values = std::vector<std::vector<double>>;
Values read_epoch(data::DataLoader& loader) {
  Values out;
  for (auto [x, y] : loader) {
    out.push_back(test::values(x));
    out.push_back(test::values(y));
  }
  return out;
}

std::vector<int64_t> targets_of_epoch(data::DataLoader& loader) {
  std::vector<int64_t> out;
  for (const auto& batch : loader)
    for (int64_t v : batch.target.to_vector<int64_t>()) out.push_back(v);
  return out;
}

}  // namespace

// ---- datasets ----

TEST_CASE("TensorDataset returns rows and checks sizes", "[data]") {
  Tensor x = arange(12, kFloat64).view({4, 3}), y = arange(4);
  data::TensorDataset ds(x, y);
  CHECK(ds.size() == 4);
  data::Example e = ds.get(2);
  test::require_close(e.data, {3}, {6, 7, 8}, "row 2");
  CHECK(e.target.item<int64_t>() == 2);
  CHECK_THROWS_WITH(ds.get(4), Catch::Contains("index 4 is out of range for a dataset of size 4"));
  CHECK_THROWS_WITH(data::TensorDataset(x, arange(3)),
                    Catch::Contains("data has 4 samples (shape [4, 3]) but target has 3"));
}

// ---- samplers ----

TEST_CASE("samplers: sequential order, seeded permutations per epoch", "[data]") {
  data::SequentialSampler seq(5);
  CHECK(seq.indices(0) == std::vector<int64_t>{0, 1, 2, 3, 4});
  CHECK(seq.indices(3) == seq.indices(0));

  data::RandomSampler r(50, 7);
  std::vector<int64_t> e0 = r.indices(0), e1 = r.indices(1);
  std::vector<int64_t> sorted = e0;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> iota(50);
  std::iota(iota.begin(), iota.end(), 0);
  CHECK(sorted == iota);  // a permutation
  std::sort(e1.begin(), e1.end());
  CHECK(e1 == iota);
  CHECK(r.indices(0) == e0);                           // a function of (seed, epoch)
  CHECK(r.indices(1) != e0);                           // a new order each epoch
  CHECK(data::RandomSampler(50, 8).indices(0) != e0);  // and per seed
  CHECK(e0 != iota);
  CHECK(data::RandomSampler(0, 1).indices(0).empty());
  CHECK(data::RandomSampler(1, 1).indices(4) == std::vector<int64_t>{0});
}

// ---- transforms ----

TEST_CASE("Normalize subtracts the mean and divides by std per channel", "[data]") {
  Tensor x = test::seeded_randn({3, 2, 2}, 5);
  data::Normalize norm({0.5, -1.0, 2.0}, {0.25, 2.0, 4.0});
  Tensor y = norm(x);
  std::vector<double> xv = test::values(x), expect(12);
  const double mean[3] = {0.5, -1.0, 2.0}, sd[3] = {0.25, 2.0, 4.0};
  for (int i = 0; i < 12; ++i) expect[i] = (xv[i] - mean[i / 4]) / sd[i / 4];
  test::require_close(y, {3, 2, 2}, expect, "Normalize");
  CHECK(y.dtype() == kFloat32);
  // A batch [N, C, H, W], float64, and a non-contiguous input.
  Tensor xb = test::noncontiguous(test::seeded_randn({2, 3, 2, 2}, 6, kFloat64));
  std::vector<double> bv = test::values(xb), bexpect(24);
  for (int i = 0; i < 24; ++i) bexpect[i] = (bv[i] - mean[(i / 4) % 3]) / sd[(i / 4) % 3];
  Tensor yb = norm(xb);
  CHECK(yb.dtype() == kFloat64);
  test::require_close(yb, {2, 3, 2, 2}, bexpect, "Normalize batch", 1e-12, 1e-12);
  // One value applies to every channel.
  test::require_close(
      data::Normalize({1.0}, {2.0})(x), {3, 2, 2},
      [&] {
        std::vector<double> v = xv;
        for (double& e : v) e = (e - 1) / 2;
        return v;
      }(),
      "Normalize one value");
  CHECK_THROWS_WITH(norm(zeros({2, 4, 4})),
                    Catch::Contains("expected input [..., 3, H, W] to match the 3 values of "
                                    "mean/std, got shape [2, 4, 4]"));
  CHECK_THROWS_WITH(data::Normalize({0.0}, {0.0}), Catch::Contains("std evaluated to zero"));
}

TEST_CASE("RandomHorizontalFlip reverses the width with probability p", "[data]") {
  Tensor x = arange(24, kFloat32).view({2, 3, 4});
  std::vector<double> xv = test::values(x), flipped(24);
  for (int i = 0; i < 24; ++i) flipped[i] = xv[(i / 4) * 4 + 3 - i % 4];
  data::SampleRng rng(123);
  test::require_close(data::RandomHorizontalFlip(1.0)(x, rng), {2, 3, 4}, flipped, "p = 1");
  test::require_close(data::RandomHorizontalFlip(0.0)(x, rng), {2, 3, 4}, xv, "p = 0");
  // A non-contiguous input (a transposed view) flips along its own last dim.
  Tensor xt = x.transpose(1, 2);  // [2, 4, 3]
  std::vector<double> tv = test::values(xt), tflip(24);
  for (int i = 0; i < 24; ++i) tflip[i] = tv[(i / 3) * 3 + 2 - i % 3];
  test::require_close(data::RandomHorizontalFlip(1.0)(xt, rng), {2, 4, 3}, tflip, "transposed");
  CHECK(test::values(x) == xv);  // the input is untouched
  // p = 0.5 over many keys: both outcomes happen, about half each.
  int flips = 0;
  data::RandomHorizontalFlip half;
  for (uint64_t k = 0; k < 400; ++k) flips += test::values(half(x, data::SampleRng(k))) == flipped;
  CHECK(flips > 150);
  CHECK(flips < 250);
}

TEST_CASE("RandomCrop cuts a window of the zero-padded image", "[data]") {
  const int64_t C = 2, H = 5, W = 6, pad = 2, ch = 4, cw = 5;
  Tensor x = test::seeded_randn({C, H, W}, 9);
  std::vector<double> xv = test::values(x);
  auto padded = [&](int64_t c, int64_t r, int64_t k) {  // element of the padded image
    r -= pad, k -= pad;
    return (r < 0 || r >= H || k < 0 || k >= W) ? 0.0 : xv[(c * H + r) * W + k];
  };
  data::RandomCrop crop(ch, cw, pad);
  std::set<std::pair<int64_t, int64_t>> offsets;
  for (uint64_t key = 0; key < 200; ++key) {
    Tensor y = crop(x, data::SampleRng(key));
    REQUIRE(y.sizes() == Dims{C, ch, cw});
    std::vector<double> yv = test::values(y);
    // Find the offset whose window this is; exactly one must match.
    int matches = 0;
    for (int64_t top = 0; top <= H + 2 * pad - ch; ++top)
      for (int64_t left = 0; left <= W + 2 * pad - cw; ++left) {
        bool same = true;
        for (int64_t i = 0; i < C * ch * cw && same; ++i)
          same = yv[i] == padded(i / (ch * cw), top + (i / cw) % ch, left + i % cw);
        if (same) ++matches, offsets.insert({top, left});
      }
    INFO("key " << key);
    REQUIRE(matches == 1);
    CHECK(test::values(crop(x, data::SampleRng(key))) == yv);  // a function of the key
  }
  CHECK(offsets.size() == 6 * 6);  // every 4 x 5 window of the padded 9 x 10 image occurs
  // No padding and the full size: the image itself.
  test::require_close(data::RandomCrop(H, W, 0)(x, data::SampleRng(1)), {C, H, W}, xv, "full");
  CHECK_THROWS_WITH(data::RandomCrop(10, 0)(x, data::SampleRng(1)),
                    Catch::Contains("required crop size (10, 10) is larger than the padded input "
                                    "image (5, 6)"));
}

TEST_CASE("Transformed applies transforms keyed by (seed, epoch, index)", "[data]") {
  data::TensorDataset base(test::seeded_randn({6, 1, 4, 4}, 3), arange(6));
  data::Transformed ds(
      base, {data::RandomCrop(4, 1), data::RandomHorizontalFlip(), data::Normalize({0.5}, {2.0})});
  static_assert(std::is_same_v<decltype(ds), data::Transformed<data::TensorDataset&>>);
  CHECK(ds.size() == 6);
  std::vector<double> a = test::values(ds.get(2).data), b = test::values(ds.get(2).data);
  CHECK(a == b);
  CHECK(ds.get(2).target.item<int64_t>() == 2);
  std::vector<std::vector<double>> by_epoch;
  for (int64_t e = 0; e < 6; ++e) {
    data::SampleContextGuard g({.seed = 42, .epoch = e});
    by_epoch.push_back(test::values(ds.get(2).data));
    CHECK(test::values(ds.get(2).data) == by_epoch.back());
  }
  std::set<std::vector<double>> distinct(by_epoch.begin(), by_epoch.end());
  CHECK(distinct.size() > 1);                        // epochs draw new augmentations
  CHECK(data::current_sample_context().epoch == 0);  // the guard restored the context
  // A temporary base is held by value.
  data::Transformed owned(data::TensorDataset(zeros({3, 2}), arange(3)), {});
  static_assert(std::is_same_v<decltype(owned), data::Transformed<data::TensorDataset>>);
  CHECK(owned.size() == 3);
}

// ---- DataLoader ----

TEST_CASE("DataLoader batches: shapes, order, drop_last, size", "[data][needs-merge]") {
  Counting ds{10};
  data::DataLoader loader(ds, {.batch_size = 4});
  CHECK(loader.size() == 3);
  std::vector<Dims> shapes;
  std::vector<int64_t> targets;
  for (auto [x, y] : loader) {
    shapes.push_back(x.sizes());
    CHECK(y.dtype() == kInt64);
    for (int64_t v : y.to_vector<int64_t>()) targets.push_back(v);
    // Every element of row r is the sample's index.
    std::vector<double> xv = test::values(x), yv = test::values(y);
    for (size_t i = 0; i < xv.size(); ++i) CHECK(xv[i] == yv[i / 6]);
  }
  CHECK(shapes == std::vector<Dims>{{4, 2, 3}, {4, 2, 3}, {2, 2, 3}});
  CHECK(targets == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});

  data::DataLoader dropping(ds, {.batch_size = 4, .drop_last = true});
  CHECK(dropping.size() == 2);
  CHECK(targets_of_epoch(dropping) == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7});
  data::DataLoader exact(Counting{8}, {.batch_size = 4, .drop_last = true, .num_workers = 2});
  CHECK(exact.size() == 2);
  CHECK(targets_of_epoch(exact).size() == 8);
  data::DataLoader empty(Counting{0}, {.batch_size = 4, .num_workers = 2});
  CHECK(empty.size() == 0);
  CHECK(empty.begin() == empty.end());
  data::DataLoader small(Counting{3}, {.batch_size = 4, .drop_last = true});
  CHECK(small.size() == 0);
  CHECK(targets_of_epoch(small).empty());

  CHECK_THROWS_WITH(data::DataLoader(ds, {.batch_size = 0}),
                    Catch::Contains("batch_size should be a positive integer value"));
  CHECK_THROWS_WITH(
      data::DataLoader(ds, std::make_shared<data::SequentialSampler>(10), {.shuffle = true}),
      Catch::Contains("sampler option is mutually exclusive with shuffle"));
}

TEST_CASE("DataLoader: the same batches for any num_workers", "[data][needs-merge]") {
  data::TensorDataset base(test::seeded_randn({37, 1, 6, 6}, 11), arange(37));
  data::Transformed ds(
      base, {data::RandomCrop(6, 2), data::RandomHorizontalFlip(), data::Normalize({0.1}, {0.9})});
  std::vector<Values> runs;
  for (int64_t workers : {0, 1, 2, 3}) {
    data::DataLoader loader(ds, {.batch_size = 5,
                                 .shuffle = true,
                                 .num_workers = workers,
                                 .seed = 1234,
                                 .prefetch_factor = 1});
    Values epochs = read_epoch(loader);
    Values second = read_epoch(loader);
    epochs.insert(epochs.end(), second.begin(), second.end());
    runs.push_back(epochs);
    INFO("num_workers " << workers);
    CHECK(runs.back() == runs.front());
  }
  // A different seed gives different batches.
  data::DataLoader other(ds, {.batch_size = 5, .shuffle = true, .num_workers = 2, .seed = 99});
  CHECK(read_epoch(other) != Values(runs[0].begin(), runs[0].begin() + 16));
}

TEST_CASE("DataLoader reads whole batches from datasets that can", "[data][needs-merge]") {
  data::TensorDataset base(test::seeded_randn({37, 2, 3, 3}, 12), arange(37));
  // Batched (index_select) and sample-by-sample reads give the same batches, with a batch-wide
  // transform, and for any num_workers.
  data::Transformed batched(base, {data::Normalize({0.1, -0.2}, {0.9, 1.5})});
  data::Transformed single(OneByOne{&base}, {data::Normalize({0.1, -0.2}, {0.9, 1.5})});
  static_assert(data::BatchDataset<decltype(batched)>);
  CHECK(batched.get_batch(std::vector<int64_t>{3, 1}).has_value());
  CHECK_FALSE(single.get_batch(std::vector<int64_t>{3, 1}).has_value());
  for (int64_t workers : {0, 2}) {
    INFO("num_workers " << workers);
    data::DataLoaderOptions o{.batch_size = 5, .shuffle = true, .num_workers = workers, .seed = 7};
    data::DataLoader a(batched, o), b(single, o);
    CHECK(read_epoch(a) == read_epoch(b));
  }
  // A transform with per-sample randomness makes Transformed decline batches.
  data::Transformed flipped(base, {data::RandomHorizontalFlip(), data::Normalize({0.1}, {0.9})});
  CHECK_FALSE(flipped.get_batch(std::vector<int64_t>{0, 1}).has_value());
  // An index out of range is an IndexError naming it.
  CHECK_THROWS_WITH(base.get_batch(std::vector<int64_t>{0, 37}),
                    Catch::Contains("TensorDataset: index 37 is out of range for a dataset of "
                                    "size 37"));

  // The loader calls get_batch once per batch; when it fails, the batch is read again sample by
  // sample, and the error names the failing sample.
  std::atomic<int> calls = 0;
  data::DataLoader ok(CountingBatches{1000, &calls}, {.batch_size = 8, .num_workers = 2});
  CHECK(targets_of_epoch(ok).size() == 40);
  CHECK(calls == 5);
  data::DataLoader failing(CountingBatches{13, &calls}, {.batch_size = 4, .num_workers = 1});
  CHECK_THROWS_WITH(targets_of_epoch(failing),
                    Catch::Contains("reading sample index 13 (batch 3) failed: corrupt record"));
  // A custom collate sees examples: get_batch is not used.
  calls = 0;
  data::DataLoader custom(CountingBatches{1000, &calls},
                          {.batch_size = 8, .collate = [](const std::vector<data::Example>& e) {
                             return data::default_collate(e);
                           }});
  CHECK(targets_of_epoch(custom).size() == 40);
  CHECK(calls == 0);
}

TEST_CASE("DataLoader shuffles differently each epoch", "[data][needs-merge]") {
  Counting ds{30};
  data::DataLoader loader(ds, {.batch_size = 7, .shuffle = true, .num_workers = 2, .seed = 5});
  std::vector<int64_t> e0 = targets_of_epoch(loader), e1 = targets_of_epoch(loader);
  CHECK(loader.epoch() == 2);
  CHECK(e0 != e1);
  std::vector<int64_t> s0 = e0, s1 = e1, iota(30);
  std::iota(iota.begin(), iota.end(), 0);
  std::sort(s0.begin(), s0.end());
  std::sort(s1.begin(), s1.end());
  CHECK(s0 == iota);
  CHECK(s1 == iota);
  CHECK(e0 != iota);
  loader.set_epoch(0);  // resuming replays epoch 0
  CHECK(targets_of_epoch(loader) == e0);
  // Without an explicit seed, manual_seed makes the order reproducible.
  manual_seed(3);
  data::DataLoader a(ds, {.batch_size = 7, .shuffle = true});
  manual_seed(3);
  data::DataLoader b(ds, {.batch_size = 7, .shuffle = true});
  CHECK(a.seed() == b.seed());
  CHECK(targets_of_epoch(a) == targets_of_epoch(b));
}

TEST_CASE("DataLoader: a failing sample reaches the loop with its index", "[data][needs-merge]") {
  for (int64_t workers : {0, 1, 2}) {
    INFO("num_workers " << workers);
    data::DataLoader loader(Failing{}, {.batch_size = 4, .num_workers = workers});
    std::vector<int64_t> seen;
    auto run = [&] {
      for (auto [x, y] : loader)
        for (int64_t v : y.to_vector<int64_t>()) seen.push_back(v);
    };
    CHECK_THROWS_AS(run(), ValueError);  // the error's class is kept
    seen.clear();
    CHECK_THROWS_WITH(run(), Catch::Contains("reading sample index 13 (batch 3) failed: "
                                             "corrupt record"));
    // The batches before the failing one arrived, in order.
    std::vector<int64_t> before(12);
    std::iota(before.begin(), before.end(), 0);
    CHECK(seen == before);
    if (workers > 0) CHECK_THROWS_WITH(run(), Catch::Contains("DataLoader worker"));
  }
  // A failure in the first batch is thrown by begin().
  data::DataLoader first(Failing{0}, {.batch_size = 4, .num_workers = 2});
  CHECK_THROWS_WITH(first.begin(), Catch::Contains("sample index 0"));
  // A collate failure names the batch and its samples.
  struct Ragged {
    data::Example get(size_t i) const { return {zeros({static_cast<int64_t>(i) + 1}), {}}; }
    size_t size() const { return 4; }
  };
  data::DataLoader ragged(Ragged{}, {.batch_size = 2, .num_workers = 1});
  CHECK_THROWS_WITH(ragged.begin(), Catch::Contains("collating batch 0 (sample indices 0, 1) "
                                                    "failed"));
}

TEST_CASE("DataLoader: leaving a loop early stops the workers", "[data][needs-merge]") {
  struct Slow {
    std::atomic<int>* reads;
    data::Example get(size_t i) const {
      ++*reads;
      return Counting{}.get(i);
    }
    size_t size() const { return 1000; }
  };
  std::atomic<int> reads{0};
  data::DataLoader loader(Slow{&reads}, {.batch_size = 2, .num_workers = 2, .prefetch_factor = 2});
  int batches = 0;
  for (auto [x, y] : loader) {
    (void)x;
    if (++batches == 3) break;
  }
  // Bounded prefetch: at most (3 taken + 2 workers x 2 ahead) batches were ever read.
  CHECK(reads.load() <= 2 * (3 + 4));
  CHECK(targets_of_epoch(loader).size() == 1000);  // the loader still works
}

TEST_CASE("DataLoader: custom sampler and collate", "[data]") {
  Counting ds{6};
  struct Reverse : data::Sampler {
    std::vector<int64_t> indices(int64_t) const override { return {5, 4, 3, 2, 1, 0}; }
    size_t size() const override { return 6; }
  };
  auto collate = [](const std::vector<data::Example>& ex) {
    std::vector<int64_t> ids;
    for (const auto& e : ex) ids.push_back(e.target.item<int64_t>());
    return data::Batch{Tensor(), tensor(ids)};
  };
  data::DataLoader loader(ds, std::make_shared<Reverse>(),
                          {.batch_size = 4, .num_workers = 1, .collate = collate});
  std::vector<std::vector<int64_t>> got;
  for (const auto& b : loader) {
    CHECK_FALSE(b.data.defined());
    got.push_back(b.target.to_vector<int64_t>());
  }
  CHECK(got == std::vector<std::vector<int64_t>>{{5, 4, 3, 2}, {1, 0}});
}

// ---- Fashion-MNIST ----

namespace {

// A gzip file of stored (uncompressed) deflate blocks, written without zlib.
std::vector<unsigned char> gzip_stored(const std::vector<unsigned char>& data) {
  uint32_t table[256];
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  uint32_t crc = 0xffffffffu;
  for (unsigned char b : data) crc = table[(crc ^ b) & 0xff] ^ (crc >> 8);
  crc ^= 0xffffffffu;
  std::vector<unsigned char> out = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};
  size_t pos = 0;
  do {
    size_t n = std::min<size_t>(data.size() - pos, 65535);
    bool last = pos + n == data.size();
    out.push_back(last ? 1 : 0);
    out.push_back(n & 0xff), out.push_back(n >> 8);
    out.push_back(~n & 0xff), out.push_back((~n >> 8) & 0xff);
    out.insert(out.end(), data.begin() + pos, data.begin() + pos + n);
    pos += n;
  } while (pos < data.size());
  for (uint32_t v : {crc, static_cast<uint32_t>(data.size())})
    for (int k = 0; k < 4; ++k) out.push_back((v >> (8 * k)) & 0xff);
  return out;
}

// An IDX file: magic, dims (big-endian), then bytes.
std::vector<unsigned char> idx(uint32_t magic, std::vector<uint32_t> dims,
                               std::vector<unsigned char> payload) {
  std::vector<unsigned char> out;
  dims.insert(dims.begin(), magic);
  for (uint32_t v : dims)
    for (int k = 3; k >= 0; --k) out.push_back((v >> (8 * k)) & 0xff);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() /
           ("ember_fmnist_" + std::to_string(::getpid()) + "_" + std::to_string(counter()++));
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  static int& counter() {
    static int c = 0;
    return c;
  }
  void write(const std::string& name, const std::vector<unsigned char>& bytes) const {
    std::ofstream f(path / name, std::ios::binary);
    f.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  }
};

}  // namespace

TEST_CASE("FashionMNIST loads Debian's files", "[data][fashion]") {
  const std::string root = data::FashionMNIST::default_root();
  if (!std::filesystem::exists(root + "/train-labels-idx1-ubyte.gz")) {
    WARN("dataset-fashion-mnist is not installed; skipping");
    return;
  }
  for (auto split : {data::Split::train, data::Split::test}) {
    data::FashionMNIST ds(root, split);
    const bool train = split == data::Split::train;
    CHECK(ds.size() == (train ? 60000u : 10000u));
    CHECK(ds.images().sizes() == Dims{static_cast<int64_t>(ds.size()), 1, 28, 28});
    CHECK(ds.images().dtype() == kFloat32);
    CHECK(ds.targets().dtype() == kInt64);
    std::vector<int64_t> labels = ds.targets().to_vector<int64_t>();
    std::vector<int64_t> counts(10, 0);
    int64_t out_of_range = 0;
    for (int64_t l : labels) {
      if (l < 0 || l > 9)
        ++out_of_range;
      else
        ++counts[l];
    }
    CHECK(out_of_range == 0);
    CHECK(counts == std::vector<int64_t>(10, train ? 6000 : 1000));
    std::vector<int64_t> first(labels.begin(), labels.begin() + 10);
    CHECK(first == (train ? std::vector<int64_t>{9, 0, 0, 3, 0, 2, 7, 2, 5, 5}
                          : std::vector<int64_t>{9, 2, 1, 1, 6, 1, 4, 6, 5, 7}));
    data::Example e = ds.get(0);
    REQUIRE(e.data.sizes() == Dims{1, 28, 28});
    CHECK(e.target.dim() == 0);
    std::vector<float> px = e.data.to_vector<float>();
    double sum = 0;
    for (float v : px) sum += v;
    CHECK(*std::min_element(px.begin(), px.end()) == 0.0f);
    CHECK(*std::max_element(px.begin(), px.end()) == 1.0f);
    CHECK(sum == Approx((train ? 76247 : 33456) / 255.0).epsilon(1e-6));
    CHECK(px[14 * 28 + 14] == (train ? 217 : 110) / 255.0f);
    CHECK_THROWS_WITH(ds.get(ds.size()), Catch::Contains("out of range"));
  }
}

TEST_CASE("FashionMNIST feeds a DataLoader with workers", "[data][fashion][needs-merge]") {
  const std::string root = data::FashionMNIST::default_root();
  if (!std::filesystem::exists(root + "/t10k-labels-idx1-ubyte.gz")) {
    WARN("dataset-fashion-mnist is not installed; skipping");
    return;
  }
  data::FashionMNIST test_set(root, data::Split::test);
  data::DataLoader loader(test_set,
                          {.batch_size = 128, .shuffle = true, .num_workers = 2, .seed = 0});
  CHECK(loader.size() == 79);
  int n = 0;
  for (auto [images, labels] : loader) {
    CHECK(images.sizes() == Dims{128, 1, 28, 28});
    CHECK(labels.sizes() == Dims{128});
    CHECK(labels.dtype() == kInt64);
    if (++n == 3) break;
  }
  CHECK(n == 3);
}

TEST_CASE("FashionMNIST errors name the file and what was expected", "[data][fashion][error]") {
  CHECK_THROWS_WITH(data::FashionMNIST("/nonexistent/ember-fmnist", data::Split::train),
                    Catch::Contains("/nonexistent/ember-fmnist/train-labels-idx1-ubyte.gz") &&
                        Catch::Contains("install the Debian package dataset-fashion-mnist"));

  std::vector<unsigned char> labels = idx(0x801, {3}, {1, 2, 3});
  std::vector<unsigned char> pixels(3 * 784, 255);
  TempDir dir;
  const std::string root = dir.path.string();
  // A good pair of files loads.
  dir.write("t10k-labels-idx1-ubyte.gz", gzip_stored(labels));
  dir.write("t10k-images-idx3-ubyte.gz", gzip_stored(idx(0x803, {3, 28, 28}, pixels)));
  data::FashionMNIST ok(root, data::Split::test);
  CHECK(ok.size() == 3);
  CHECK(ok.targets().to_vector<int64_t>() == std::vector<int64_t>{1, 2, 3});
  CHECK(ok.get(2).data.to_vector<float>()[100] == 1.0f);

  // Wrong magic number: a label file where the images belong.
  dir.write("train-labels-idx1-ubyte.gz", gzip_stored(labels));
  dir.write("train-images-idx3-ubyte.gz", gzip_stored(labels));
  CHECK_THROWS_WITH(data::FashionMNIST(root, data::Split::train),
                    Catch::Contains("train-images-idx3-ubyte.gz has magic number 0x00000801 but "
                                    "an IDX image file (unsigned bytes, 3 dims) has 0x00000803"));
  // A complete gzip stream whose content is short.
  dir.write("train-images-idx3-ubyte.gz",
            gzip_stored(idx(0x803, {3, 28, 28}, std::vector<unsigned char>(1000, 7))));
  CHECK_THROWS_WITH(data::FashionMNIST(root, data::Split::train),
                    Catch::Contains("train-images-idx3-ubyte.gz is truncated: expected 2352 bytes "
                                    "of image data but the file ends after 1000"));
  // A gzip stream cut in the middle.
  std::vector<unsigned char> gz = gzip_stored(idx(0x803, {3, 28, 28}, pixels));
  gz.resize(gz.size() / 2);
  dir.write("train-images-idx3-ubyte.gz", gz);
  CHECK_THROWS_WITH(data::FashionMNIST(root, data::Split::train),
                    Catch::Contains("train-images-idx3-ubyte.gz is truncated: expected 2352 bytes "
                                    "of image data"));
  // A header cut short.
  dir.write("train-images-idx3-ubyte.gz", gzip_stored({0, 0, 8}));
  CHECK_THROWS_WITH(data::FashionMNIST(root, data::Split::train),
                    Catch::Contains("is truncated: expected 4 bytes of the header"));
  // A damaged checksum.
  gz = gzip_stored(idx(0x803, {3, 28, 28}, pixels));
  gz[gz.size() - 6] ^= 0xff;
  dir.write("train-images-idx3-ubyte.gz", gz);
  CHECK_THROWS_WITH(data::FashionMNIST(root, data::Split::train),
                    Catch::Contains("train-images-idx3-ubyte.gz is corrupt"));
  // A label out of range, and counts that disagree.
  dir.write("train-labels-idx1-ubyte.gz", gzip_stored(idx(0x801, {2}, {4, 12})));
  CHECK_THROWS_WITH(data::FashionMNIST(root, data::Split::train),
                    Catch::Contains("has label 12 at index 1; expected 0..9"));
  dir.write("train-labels-idx1-ubyte.gz", gzip_stored(idx(0x801, {2}, {4, 5})));
  dir.write("train-images-idx3-ubyte.gz", gzip_stored(idx(0x803, {3, 28, 28}, pixels)));
  CHECK_THROWS_WITH(data::FashionMNIST(root, data::Split::train),
                    Catch::Contains("holds 3 images but") && Catch::Contains("holds 2 labels"));

  // EMBER_FASHION_MNIST overrides the default root.
  const char* old = std::getenv("EMBER_FASHION_MNIST");
  std::string saved = old ? old : "";
  ::setenv("EMBER_FASHION_MNIST", root.c_str(), 1);
  CHECK(data::FashionMNIST::default_root() == root);
  CHECK(data::FashionMNIST(data::Split::test).size() == 3);
  if (old)
    ::setenv("EMBER_FASHION_MNIST", saved.c_str(), 1);
  else
    ::unsetenv("EMBER_FASHION_MNIST");
  CHECK(data::FashionMNIST::default_root() ==
        (old ? saved : std::string("/usr/share/datasets/fashion-mnist")));
}
