// ember::distributed pieces that need no other process: the DistributedSampler's shards given
// explicit ranks (PyTorch's padding and drop_last), errors before init, and a build without MPI
// being a world of one process. The multi-process tests are mpi_test_*.cpp (ctest runs them
// under mpirun).
#include <set>

#include "support/reference.hpp"

using namespace ember;

namespace {
std::vector<int64_t> shard(size_t n, int64_t replicas, int64_t rank, bool shuffle,
                           bool drop_last = false, int64_t epoch = 0) {
  data::DistributedSampler s(
      n, {.num_replicas = replicas, .rank = rank, .shuffle = shuffle, .drop_last = drop_last});
  return s.indices(epoch);
}
}  // namespace

TEST_CASE("DistributedSampler pads and drops as PyTorch's", "[distributed][sampler]") {
  // torch DistributedSampler(range(10), num_replicas=3, rank=r, shuffle=False)
  CHECK(shard(10, 3, 0, false) == std::vector<int64_t>{0, 3, 6, 9});
  CHECK(shard(10, 3, 1, false) == std::vector<int64_t>{1, 4, 7, 0});
  CHECK(shard(10, 3, 2, false) == std::vector<int64_t>{2, 5, 8, 1});
  // ... and with drop_last=True
  CHECK(shard(10, 3, 0, false, true) == std::vector<int64_t>{0, 3, 6});
  CHECK(shard(10, 3, 2, false, true) == std::vector<int64_t>{2, 5, 8});
  // Fewer samples than ranks: padded by repetition.
  CHECK(shard(2, 3, 2, false) == std::vector<int64_t>{0});
}

TEST_CASE("DistributedSampler shards a shuffled epoch disjointly, new each epoch",
          "[distributed][sampler]") {
  for (int64_t replicas : {1, 2, 4}) {
    for (int64_t epoch : {0, 1}) {
      std::multiset<int64_t> seen;
      for (int64_t r = 0; r < replicas; ++r)
        for (int64_t i : shard(100, replicas, r, true, false, epoch)) seen.insert(i);
      std::set<int64_t> distinct(seen.begin(), seen.end());
      CHECK(seen.size() == 100);
      CHECK(distinct.size() == 100);
    }
  }
  CHECK(shard(100, 2, 0, true, false, 0) != shard(100, 2, 0, true, false, 1));
  // Same batches for any number of loader workers.
  data::TensorDataset d(arange(50).to(kFloat32), arange(50));
  auto sampler = std::make_shared<data::DistributedSampler>(
      50, data::DistributedSamplerOptions{.num_replicas = 2, .rank = 1, .seed = 3});
  std::vector<std::vector<int64_t>> by_workers;
  for (int64_t workers : {0, 3}) {
    data::DataLoader loader(d, sampler, {.batch_size = 8, .num_workers = workers});
    std::vector<int64_t> got;
    for (auto [x, y] : loader)
      for (int64_t v : y.to_vector<int64_t>()) got.push_back(v);
    CHECK(got == sampler->indices(0));
    by_workers.push_back(got);
  }
  CHECK(by_workers[0] == by_workers[1]);
  CHECK_THROWS_WITH(shard(10, 2, 2, true),
                    Catch::Contains("DistributedSampler: Invalid rank 2, rank should be in the "
                                    "interval [0, 1]"));
}

TEST_CASE("distributed calls before init say so", "[distributed][error]") {
  if (distributed::is_initialized()) return;  // another test of this process initialised
  CHECK_THROWS_WITH(distributed::rank(),
                    Catch::Contains("distributed::rank: call distributed::init(&argc, &argv) "
                                    "first"));
  CHECK_THROWS_WITH(distributed::all_reduce(ones({2})),
                    Catch::Contains("distributed::all_reduce: call distributed::init"));
  Tensor p = ones({2}).requires_grad_();
  CHECK_THROWS_WITH(distributed::DistributedDataParallel({p}),
                    Catch::Contains("DistributedDataParallel: call distributed::init"));
  CHECK_THROWS_WITH(data::DistributedSampler(10),
                    Catch::Contains("distributed::world_size: call distributed::init"));
}

TEST_CASE("without MPI the world is this one process", "[distributed]") {
  if (distributed::is_available()) return;  // an MPI build: mpi_test_*.cpp cover it
  distributed::InitGuard guard(nullptr, nullptr);
  CHECK(distributed::rank() == 0);
  CHECK(distributed::world_size() == 1);
  Tensor t = tensor({1.0, 2.0}).t();
  distributed::all_reduce(t, distributed::ReduceOp::mean);
  CHECK(t.to_vector<double>() == std::vector<double>{1.0, 2.0});
  CHECK(distributed::all_gather(t).size() == 1);
  CHECK_THROWS_WITH(distributed::broadcast(t, 1),
                    Catch::Contains("root 1 is not a rank of a world of 1 process"));
  // DDP leaves gradients as they are.
  Tensor p = ones({3}).requires_grad_();
  distributed::DistributedDataParallel ddp({p});
  (p * 3).sum().backward();
  CHECK(p.grad().to_vector<float>() == std::vector<float>{3, 3, 3});
}
