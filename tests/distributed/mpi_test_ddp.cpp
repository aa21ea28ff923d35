// DistributedDataParallel against single-process training on the whole batch, no_sync
// accumulation, the DistributedSampler's shards, and checkpoint resume under MPI.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <set>

#include "ember.hpp"

using namespace ember;

namespace {

Tensor seeded(const Dims& sizes, uint64_t seed) {
  manual_seed(seed);
  return randn(sizes);
}

nn::Sequential make_net(uint64_t seed) {
  manual_seed(seed);
  return nn::Sequential(nn::Linear(6, 16), nn::Tanh(), nn::Linear(16, 8), nn::ReLU(),
                        nn::Linear(8, 3));
}

std::vector<std::vector<float>> values(const std::vector<Tensor>& ps) {
  std::vector<std::vector<float>> out;
  for (const Tensor& p : ps) out.push_back(p.to_vector<float>());
  return out;
}

void check_close(const std::vector<Tensor>& a, const std::vector<Tensor>& b, double tol) {
  CHECK(a.size() == b.size());
  for (size_t k = 0; k < a.size() && k < b.size(); ++k) {
    double worst = (a[k] - b[k]).abs().amax().item<double>();
    INFO("parameter " << k << " worst difference " << worst);
    CHECK(worst <= tol);
  }
}

// The same 12-sample batch on every rank (12 divides over 1, 2, 3 and 4 ranks).
constexpr int64_t kBatch = 12;

}  // namespace

TEST_CASE("DDP: N ranks on shards of a batch train like 1 process on the whole batch",
          "[mpi][ddp]") {
  const int r = distributed::rank(), n = distributed::world_size();
  REQUIRE(kBatch % n == 0);
  const int64_t shard = kBatch / n;
  Tensor x = seeded({kBatch, 6}, 11), y = seeded({kBatch, 3}, 12);

  struct Variant {
    double cap_mb;  // 25: one bucket; 0.0001: several (about 100 bytes each)
    bool as_view, set_to_none;
  };
  for (Variant v :
       {Variant{25.0, true, true}, Variant{0.0001, true, true}, Variant{0.0001, true, false},
        Variant{0.0001, false, true}, Variant{25.0, false, false}}) {
    const double cap_mb = v.cap_mb;
    INFO("bucket_cap_mb " << cap_mb << " gradient_as_bucket_view " << v.as_view
                          << " zero_grad(set_to_none) " << v.set_to_none);
    // The reference: one process, whole batch (each rank computes it alone).
    nn::Sequential ref = make_net(1);
    optim::SGD ref_opt(ref.parameters(), {.lr = 0.1, .momentum = 0.9});
    // DDP: every rank starts from other weights; construction broadcasts rank 0's.
    nn::Sequential net = make_net(r == 0 ? 1 : 100 + static_cast<uint64_t>(r));
    distributed::DistributedDataParallel ddp(
        net.parameters(), {.bucket_cap_mb = cap_mb, .gradient_as_bucket_view = v.as_view});
    CHECK(values(net.parameters()) == values(ref.parameters()));
    auto buckets = ddp.bucket_indices();
    if (cap_mb < 1) {
      CHECK(buckets.size() > 1);
      CHECK(buckets.front().front() == net.parameters().size() - 1);  // reverse order
    } else {
      CHECK(buckets.size() == 1);
    }
    optim::SGD opt(net.parameters(), {.lr = 0.1, .momentum = 0.9});

    for (int step = 0; step < 10; ++step) {
      Tensor loss = nn::functional::mse_loss(ref(x), y);
      ref_opt.zero_grad();
      loss.backward();
      ref_opt.step();

      Tensor xs = x.narrow(0, r * shard, shard), ys = y.narrow(0, r * shard, shard);
      Tensor local = nn::functional::mse_loss(net(xs), ys);
      opt.zero_grad(v.set_to_none);
      local.backward();
      opt.step();
    }
    check_close(net.parameters(), ref.parameters(), 1e-5);
    // And every rank holds exactly the same parameters.
    for (const Tensor& p : net.parameters()) {
      std::vector<Tensor> all = distributed::all_gather(p.detach());
      for (const Tensor& q : all) CHECK(q.to_vector<float>() == p.to_vector<float>());
    }
  }
}

TEST_CASE("DDP: no_sync accumulates locally; the next backward averages the sums", "[mpi][ddp]") {
  const int r = distributed::rank();
  nn::Sequential net = make_net(3);
  distributed::DistributedDataParallel ddp(net.parameters(), {.bucket_cap_mb = 0.0001});
  nn::Sequential twin = make_net(3);  // the same weights, no DDP: local gradients
  Tensor x1 = seeded({4, 6}, 20 + static_cast<uint64_t>(r)),
         x2 = seeded({4, 6}, 40 + static_cast<uint64_t>(r));
  {
    auto guard = ddp.no_sync();
    net(x1).sum().backward();
  }
  twin(x1).sum().backward();
  // Still local: equal to the twin's, bitwise.
  for (size_t k = 0; k < net.parameters().size(); ++k)
    CHECK(net.parameters()[k].grad().to_vector<float>() ==
          twin.parameters()[k].grad().to_vector<float>());
  net(x2).sum().backward();
  twin(x2).sum().backward();
  for (size_t k = 0; k < net.parameters().size(); ++k) {
    Tensor want = twin.parameters()[k].grad().clone();
    distributed::all_reduce(want, distributed::ReduceOp::mean);
    double worst = (net.parameters()[k].grad() - want).abs().amax().item<double>();
    INFO("parameter " << k);
    CHECK(worst <= 1e-6);
  }
}

TEST_CASE("DDP: a parameter one rank did not use still ends equal on every rank", "[mpi][ddp]") {
  const int r = distributed::rank(), n = distributed::world_size();
  Tensor a = zeros({3}).requires_grad_(), b = zeros({2}).requires_grad_();
  distributed::DistributedDataParallel ddp({a, b});
  Tensor loss = r == 0 ? (a * 2).sum() + b.sum() : (a * 2).sum();  // b unused on ranks > 0
  loss.backward();
  CHECK(a.grad().to_vector<float>() == std::vector<float>(3, 2.0f));
  CHECK(b.grad().defined());
  if (b.grad().defined())
    CHECK(b.grad().to_vector<float>() == std::vector<float>(2, 1.0f / static_cast<float>(n)));
}

// The average of every rank's `local` (a clone of each rank's tensor, averaged by all_reduce).
Tensor averaged(const Tensor& local) {
  Tensor t = local.detach().clone();
  distributed::all_reduce(t, distributed::ReduceOp::mean);
  return t;
}

TEST_CASE("DDP: .grad is a view into the bucket; accumulation and a replaced .grad still average",
          "[mpi][ddp]") {
  const int r = distributed::rank();
  for (bool as_view : {true, false}) {
    INFO("gradient_as_bucket_view " << as_view);
    nn::Sequential net = make_net(5);
    distributed::DistributedDataParallel ddp(
        net.parameters(), {.bucket_cap_mb = 0.0001, .gradient_as_bucket_view = as_view});
    const std::vector<Tensor> ps = net.parameters();
    nn::Sequential twin = make_net(5);  // no DDP: this rank's local gradients
    auto grads = [](nn::Sequential& m) {
      std::vector<Tensor> g;
      for (const Tensor& p : m.parameters()) g.push_back(p.grad());
      return g;
    };
    Tensor x1 = seeded({4, 6}, 60 + static_cast<uint64_t>(r)),
           x2 = seeded({4, 6}, 70 + static_cast<uint64_t>(r)),
           x3 = seeded({4, 6}, 80 + static_cast<uint64_t>(r));

    net(x1).sum().backward();
    twin(x1).sum().backward();
    std::vector<Tensor> first = grads(net);
    std::vector<Tensor> twin_ps = twin.parameters();
    std::vector<Tensor> kept;  // values, not views
    for (const Tensor& g : first) kept.push_back(g.clone());
    for (size_t k = 0; k < first.size(); ++k) {
      INFO("parameter " << k);
      CHECK((first[k] - averaged(twin_ps[k].grad())).abs().amax().item<double>() <= 1e-6);
    }

    // A second backward without zero_grad accumulates onto the average (into the bucket when
    // .grad is its view), as one process would: the result is average + average of the new.
    net(x2).sum().backward();
    {
      nn::Sequential local = make_net(5);
      local(x2).sum().backward();
      std::vector<Tensor> local_ps = local.parameters();
      for (size_t k = 0; k < first.size(); ++k) {
        Tensor want = kept[k] + averaged(local_ps[k].grad());
        INFO("parameter " << k);
        CHECK((ps[k].grad() - want).abs().amax().item<double>() <= 1e-5);
      }
    }
    // The user (or an optimizer) replaces .grad: DDP copies the new tensor in, then averages.
    std::vector<Tensor> replaced;
    for (size_t k = 0; k < first.size(); ++k) {
      replaced.push_back(full(ps[k].sizes(), static_cast<double>(r + 1)));
      ps[k].set_grad(replaced.back());
    }
    net(x3).sum().backward();
    {
      nn::Sequential local = make_net(5);
      local(x3).sum().backward();
      std::vector<Tensor> local_ps = local.parameters();
      for (size_t k = 0; k < first.size(); ++k) {
        Tensor mine = full(ps[k].sizes(), static_cast<double>(r + 1)) + local_ps[k].grad();
        INFO("parameter " << k);
        CHECK((ps[k].grad() - averaged(mine)).abs().amax().item<double>() <= 1e-5);
      }
    }

    // zero_grad to none, then a backward: a .grad held from before is the bucket's memory with
    // the view (it now holds the new average), a tensor of its own without.
    std::vector<Tensor> held = grads(net), before;
    for (const Tensor& g : held) before.push_back(g.clone());
    for (const Tensor& p : ps) p.set_grad(Tensor());
    net(x1).sum().backward();
    for (size_t k = 0; k < ps.size(); ++k) {
      INFO("parameter " << k);
      CHECK(held[k].is_same(ps[k].grad()) == as_view);
      CHECK((held[k].to_vector<float>() == before[k].to_vector<float>()) == !as_view);
      CHECK((ps[k].grad() - kept[k]).abs().amax().item<double>() <= 1e-6);
    }
  }
}

TEST_CASE("DDP: an unused parameter contributes the gradient it has accumulated", "[mpi][ddp]") {
  const int r = distributed::rank(), n = distributed::world_size();
  Tensor a = zeros({3}).requires_grad_(), b = zeros({2}).requires_grad_();
  distributed::DistributedDataParallel ddp({a, b});
  (a.sum() + b.sum()).backward();  // both used: grads of 1, averaged: 1
  CHECK(b.grad().to_vector<float>() == std::vector<float>(2, 1.0f));
  // b used on rank 0 only, without zero_grad: rank 0 holds 1 + 3, the others 1.
  Tensor loss = r == 0 ? (a * 2).sum() + (b * 3).sum() : (a * 2).sum();
  loss.backward();
  CHECK(a.grad().to_vector<float>() == std::vector<float>(3, 3.0f));
  const float want = 1.0f + 3.0f / static_cast<float>(n);
  for (float v : b.grad().to_vector<float>()) CHECK(v == Approx(want).epsilon(1e-6));
}

TEST_CASE("DistributedSampler: disjoint shards whose union is the epoch", "[mpi][sampler]") {
  const int r = distributed::rank(), n = distributed::world_size();
  for (int64_t size : {int64_t{12}, int64_t{13}}) {
    for (bool drop_last : {false, true}) {
      data::DistributedSampler sampler(static_cast<size_t>(size),
                                       {.shuffle = true, .seed = 4, .drop_last = drop_last});
      CHECK(sampler.rank() == r);
      CHECK(sampler.num_replicas() == n);
      for (int64_t epoch : {0, 1}) {
        std::vector<int64_t> mine = sampler.indices(epoch);
        CHECK(mine.size() == sampler.size());
        Tensor t = empty({static_cast<int64_t>(mine.size())}, kInt64);
        std::copy(mine.begin(), mine.end(), t.data_ptr<int64_t>());
        std::vector<Tensor> all = distributed::all_gather(t);
        std::multiset<int64_t> seen;
        for (const Tensor& part : all)
          for (int64_t i : part.to_vector<int64_t>()) seen.insert(i);
        std::set<int64_t> distinct(seen.begin(), seen.end());
        INFO("size " << size << " drop_last " << drop_last << " epoch " << epoch);
        if (size % n == 0 || drop_last) {
          CHECK(distinct.size() == seen.size());  // disjoint
          CHECK(static_cast<int64_t>(seen.size()) == (size / n) * n);
        } else {
          CHECK(static_cast<int64_t>(distinct.size()) == size);  // every index, a few twice
        }
        for (int64_t i : distinct) CHECK((i >= 0 && i < size));
      }
      CHECK(sampler.indices(0) != sampler.indices(1));  // reshuffled per epoch
    }
  }
}

TEST_CASE("DDP training resumed from a checkpoint equals the uninterrupted run", "[mpi][ckpt]") {
  const int r = distributed::rank();
  // One directory for all ranks: rank 0's pid, broadcast.
  Tensor id = full({1}, static_cast<int64_t>(::getpid()), kInt64);
  distributed::broadcast(id, 0);
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("ember_mpi_ckpt_" + std::to_string(id.item<int64_t>()));
  if (r == 0) std::filesystem::create_directories(dir);
  Tensor xs = seeded({48, 6}, 31), ys = seeded({48, 3}, 32);
  data::TensorDataset dataset(xs, ys);

  struct Run {
    nn::Sequential net;
    distributed::DistributedDataParallel ddp;
    optim::Adam opt;
    optim::StepLR sched;
    data::DataLoader loader;
    Run(data::TensorDataset& d, uint64_t seed)
        : net(make_net(seed)),
          ddp(net.parameters()),
          opt(net.parameters(), {.lr = 0.01}),
          sched(opt, 1, 0.5),
          loader(d, std::make_shared<data::DistributedSampler>(d.size()),
                 {.batch_size = 4, .num_workers = 1}) {}
    void epoch() {
      for (auto [x, y] : loader) {
        Tensor loss = nn::functional::mse_loss(net(x), y);
        opt.zero_grad();
        loss.backward();
        opt.step();
      }
      sched.step();
    }
  };

  Run whole(dataset, 5);
  for (int e = 0; e < 3; ++e) whole.epoch();
  {
    Run first(dataset, 5);
    first.epoch();
    if (r == 0) {  // the ranks are equal: rank 0 writes
      first.net.save((dir / "model.safetensors").string());
      first.opt.save((dir / "optimizer.safetensors").string());
      nn::StateDict extra = first.sched.state_dict();
      extra.insert("epoch", scalar_tensor(first.loader.epoch(), kInt64));
      nn::save_safetensors((dir / "train_state.safetensors").string(), extra);
    }
    distributed::barrier();
  }
  Run resumed(dataset, 77);
  resumed.net.load((dir / "model.safetensors").string());
  resumed.opt.load((dir / "optimizer.safetensors").string());
  nn::StateDict extra = nn::load_safetensors((dir / "train_state.safetensors").string());
  resumed.sched.load_state_dict(extra);
  resumed.loader.set_epoch(extra.at("epoch").item<int64_t>());
  resumed.epoch();
  resumed.epoch();
  CHECK(values(resumed.net.parameters()) == values(whole.net.parameters()));
  distributed::barrier();
  if (r == 0) std::filesystem::remove_all(dir);
}
