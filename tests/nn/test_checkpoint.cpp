// Checkpoints: a run stopped at an epoch boundary and resumed from its files (model, optimizer,
// scheduler, random generator, loader epoch) ends with exactly the parameters of a run that never
// stopped; the pieces round-trip and refuse files that are not theirs.
#include <unistd.h>

#include <filesystem>

#include "support/reference.hpp"

using namespace ember;

namespace {

struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& name)
      : path(std::filesystem::temp_directory_path() /
             ("ember_ckpt_" + std::to_string(::getpid()) + "_" + name)) {
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

enum class Recipe { sgd_step, adam_onecycle, rmsprop_cosine };

// One training setup: a small MLP with dropout (so the random generator matters), an optimizer and
// a scheduler, a shuffled loader with worker threads.
struct Run {
  data::TensorDataset dataset;
  nn::Sequential net;
  std::unique_ptr<optim::Optimizer> opt;
  std::unique_ptr<optim::LRScheduler> sched;
  data::DataLoader loader;
  Recipe recipe;

  Run(Recipe r, uint64_t init_seed)
      : dataset(make_data()), net(make_net(init_seed)), loader(make_loader(dataset)), recipe(r) {
    static constexpr int64_t kEpochs = 4;
    const int64_t per_epoch = static_cast<int64_t>(loader.size());
    switch (r) {
      case Recipe::sgd_step:
        opt = std::make_unique<optim::SGD>(net.parameters(),
                                           optim::SGDOptions{.lr = 0.05, .momentum = 0.9});
        sched = std::make_unique<optim::StepLR>(*opt, 1, 0.7);
        break;
      case Recipe::adam_onecycle:
        opt = std::make_unique<optim::Adam>(net.parameters(), optim::AdamOptions{.lr = 1e-3});
        sched = std::make_unique<optim::OneCycleLR>(
            *opt, 0.01, optim::OneCycleLROptions{.epochs = kEpochs, .steps_per_epoch = per_epoch});
        break;
      case Recipe::rmsprop_cosine:
        opt = std::make_unique<optim::RMSprop>(net.parameters(),
                                               optim::RMSpropOptions{.lr = 0.01, .momentum = 0.5});
        sched = std::make_unique<optim::CosineAnnealingLR>(*opt, 3);
        break;
    }
  }

  static data::TensorDataset make_data() {
    Tensor x = test::seeded_randn({96, 8}, 7, kFloat32);
    Tensor y = test::seeded_randn({96, 3}, 8, kFloat32);
    return {x, y};
  }
  static nn::Sequential make_net(uint64_t seed) {
    manual_seed(seed);
    return nn::Sequential(nn::Linear(8, 16), nn::ReLU(), nn::Dropout(0.25), nn::Linear(16, 3));
  }
  static data::DataLoader make_loader(data::TensorDataset& d) {
    return data::DataLoader(d, {.batch_size = 20, .shuffle = true, .num_workers = 2, .seed = 5});
  }

  void epoch() {
    for (auto [x, y] : loader) {
      Tensor loss = nn::functional::mse_loss(net(x), y);
      opt->zero_grad();
      loss.backward();
      opt->step();
      if (recipe == Recipe::adam_onecycle) sched->step();  // per batch
    }
    if (recipe != Recipe::adam_onecycle) sched->step();  // per epoch
  }

  void save(const TempDir& dir) const {
    net.save(dir.file("model.safetensors"));
    opt->save(dir.file("optimizer.safetensors"));
    nn::StateDict extra;
    for (const auto& [key, t] : sched->state_dict()) extra.insert("scheduler." + key, t);
    extra.insert("rng", get_rng_state());
    extra.insert("epoch", scalar_tensor(loader.epoch(), kInt64));
    nn::save_safetensors(dir.file("train_state.safetensors"), extra);
  }

  void load(const TempDir& dir) {
    net.load(dir.file("model.safetensors"));
    opt->load(dir.file("optimizer.safetensors"));
    nn::StateDict extra = nn::load_safetensors(dir.file("train_state.safetensors"));
    nn::StateDict sd;
    for (const auto& [key, t] : extra)
      if (key.starts_with("scheduler.")) sd.insert(key.substr(10), t);
    sched->load_state_dict(sd);
    set_rng_state(extra.at("rng"));
    loader.set_epoch(extra.at("epoch").item<int64_t>());
  }

  std::vector<std::vector<float>> values() const {
    std::vector<std::vector<float>> out;
    for (const Tensor& p : net.parameters()) out.push_back(p.to_vector<float>());
    return out;
  }
};

}  // namespace

TEST_CASE("a run resumed from a checkpoint equals an uninterrupted run, bitwise", "[checkpoint]") {
  for (Recipe recipe : {Recipe::sgd_step, Recipe::adam_onecycle, Recipe::rmsprop_cosine}) {
    INFO("recipe " << static_cast<int>(recipe));
    Run whole(recipe, 1);
    for (int e = 0; e < 4; ++e) whole.epoch();

    TempDir dir("resume" + std::to_string(static_cast<int>(recipe)));
    {
      Run first(recipe, 1);
      first.epoch();
      first.epoch();
      first.save(dir);
      manual_seed(999);  // whatever happens after the checkpoint must not matter
      (void)randn({100});
    }
    Run resumed(recipe, 2);  // other initial weights: all of them must come from the files
    CHECK(resumed.values() != whole.values());
    resumed.load(dir);
    resumed.epoch();
    resumed.epoch();
    CHECK(resumed.values() == whole.values());
    CHECK(resumed.sched->get_last_lr() == whole.sched->get_last_lr());
    CHECK(resumed.sched->last_epoch() == whole.sched->last_epoch());
    CHECK(resumed.loader.epoch() == 4);
  }
}

TEST_CASE("rng state round-trips and is checked", "[checkpoint][random]") {
  manual_seed(3);
  (void)rand({10});
  Tensor state = get_rng_state();
  CHECK(state.dtype() == kInt64);
  CHECK(state.sizes() == Dims{2});
  std::vector<float> a = randn({50}).to_vector<float>();
  (void)rand({7});
  set_rng_state(state);
  CHECK(randn({50}).to_vector<float>() == a);
  CHECK_THROWS_WITH(set_rng_state(zeros({3}, kInt64)),
                    Catch::Contains("set_rng_state: expected the int64 tensor of 2 elements "
                                    "get_rng_state() returns, got int64 [3]"));
  CHECK_THROWS_WITH(set_rng_state(zeros({2})), Catch::Contains("got float32 [2]"));
}

TEST_CASE("optimizer files keep every hyper-parameter exactly and refuse other files",
          "[checkpoint][optim]") {
  TempDir dir("optfile");
  Tensor a = test::seeded_randn({4, 3}, 1, kFloat64).requires_grad_();
  Tensor b = test::seeded_randn({3}, 2, kFloat64).requires_grad_();
  optim::Adam first({{{a}}, {{b}, {{"lr", 0.1 / 3}}}}, {.lr = 1e-3, .amsgrad = true});
  a.set_grad(ones_like(a));
  b.set_grad(ones_like(b));
  first.step();
  first.save(dir.file("adam.safetensors"));

  Tensor a2 = zeros({4, 3}, kFloat64).requires_grad_(), b2 = zeros({3}, kFloat64).requires_grad_();
  optim::Adam second({{{a2}, {}}, {{b2}, {}}}, {.lr = 0.5});
  second.load(dir.file("adam.safetensors"));
  CHECK(second.param_groups()[1].lr() == 0.1 / 3);
  CHECK(second.param_groups()[0].options == first.param_groups()[0].options);
  CHECK(second.state_dict().state.at("1.max_exp_avg_sq").to_vector<double>() ==
        first.state_dict().state.at("1.max_exp_avg_sq").to_vector<double>());

  optim::SGD sgd({a2, b2}, {.lr = 0.1});
  CHECK_THROWS_WITH(sgd.load(dir.file("adam.safetensors")),
                    Catch::Contains("SGD.load: '" + dir.file("adam.safetensors") +
                                    "' holds the state of Adam, not SGD"));
  nn::save_safetensors(dir.file("weights.safetensors"), {{"w", a2}});
  CHECK_THROWS_WITH(
      second.load(dir.file("weights.safetensors")),
      Catch::Contains("is not an optimizer checkpoint (no 'format' in its metadata)"));
  CHECK_THROWS_WITH(second.load(dir.file("missing.safetensors")),
                    Catch::Contains("missing.safetensors"));
}

TEST_CASE("scheduler state_dict round-trips and names bad keys", "[checkpoint][sched]") {
  Tensor p = zeros({2}).requires_grad_();
  optim::SGD opt({p}, {.lr = 0.1});
  optim::MultiStepLR first(opt, {2, 4}, 0.5);
  for (int i = 0; i < 3; ++i) first.step();
  nn::StateDict sd = first.state_dict();
  CHECK(sd.at("last_epoch").item<int64_t>() == 3);
  CHECK(sd.at("_last_lr").to_vector<double>() == std::vector<double>{0.05});

  Tensor q = zeros({2}).requires_grad_();
  optim::SGD opt2({q}, {.lr = 0.1});
  optim::MultiStepLR second(opt2, {2, 4}, 0.5);
  second.load_state_dict(sd);
  CHECK(second.last_epoch() == 3);
  CHECK(second.get_last_lr() == first.get_last_lr());
  opt2.param_groups()[0].options["lr"] = 0.05;  // what loading the optimizer restores
  first.step();
  second.step();
  CHECK(second.get_last_lr() == first.get_last_lr());

  nn::StateDict missing = sd;
  missing.erase("base_lrs");
  CHECK_THROWS_WITH(second.load_state_dict(missing),
                    Catch::Contains("LRScheduler.load_state_dict: missing key 'base_lrs'"));
  nn::StateDict wrong = sd;
  wrong.insert("_last_lr", zeros({2}, kFloat64));
  CHECK_THROWS_WITH(second.load_state_dict(wrong),
                    Catch::Contains("'_last_lr' should be float64 with 1 elements (one per "
                                    "parameter group for lrs), got float64 [2]"));
}
