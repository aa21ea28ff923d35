#include "nn/optim/lr_scheduler.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "runtime/ops.hpp"

namespace ember::optim {

// ---- LRScheduler ----

LRScheduler::LRScheduler(Optimizer& optimizer) : optimizer_(optimizer) {
  for (auto& g : optimizer_.param_groups()) {
    g.options.emplace("initial_lr", g.lr());
    base_lrs_.push_back(g.get("initial_lr"));
  }
}

void LRScheduler::initial_step() {
  step_count_ = 0;
  step();
}

void LRScheduler::step() {
  ++step_count_;
  ++last_epoch_;
  std::vector<double> lrs = get_lr();
  auto& groups = optimizer_.param_groups();
  EMBER_CHECK(lrs.size() == groups.size(), ValueError, "LRScheduler: the optimizer has ",
              groups.size(), " parameter groups but the scheduler was made for ", lrs.size());
  for (size_t i = 0; i < groups.size(); ++i) groups[i].options["lr"] = lrs[i];
  last_lr_ = std::move(lrs);
}

nn::StateDict LRScheduler::state_dict() const {
  auto doubles = [](const std::vector<double>& v) {
    Tensor t = empty({static_cast<int64_t>(v.size())}, kFloat64);
    std::copy(v.begin(), v.end(), t.data_ptr<double>());
    return t;
  };
  nn::StateDict sd;
  sd.insert("last_epoch", scalar_tensor(last_epoch_, kInt64));
  sd.insert("_step_count", scalar_tensor(step_count_, kInt64));
  sd.insert("base_lrs", doubles(base_lrs_));
  sd.insert("_last_lr", doubles(last_lr_));
  return sd;
}

void LRScheduler::load_state_dict(const nn::StateDict& sd) {
  const size_t groups = base_lrs_.size();
  auto get = [&](const char* key, DType dtype, size_t numel) -> const Tensor& {
    const Tensor* t = sd.find(key);
    EMBER_CHECK(t && t->defined(), ValueError, "LRScheduler.load_state_dict: missing key '", key,
                "'");
    EMBER_CHECK(t->dtype() == dtype && static_cast<size_t>(t->numel()) == numel, ValueError,
                "LRScheduler.load_state_dict: '", key, "' should be ", dtype_name(dtype), " with ",
                numel, " elements (one per parameter group for lrs), got ", dtype_name(t->dtype()),
                " ", t->sizes());
    return *t;
  };
  int64_t last_epoch = get("last_epoch", kInt64, 1).item<int64_t>();
  int64_t step_count = get("_step_count", kInt64, 1).item<int64_t>();
  std::vector<double> base = get("base_lrs", kFloat64, groups).to_vector<double>();
  std::vector<double> last = get("_last_lr", kFloat64, groups).to_vector<double>();
  last_epoch_ = last_epoch;
  step_count_ = step_count;
  base_lrs_ = std::move(base);
  last_lr_ = std::move(last);
}

namespace {
std::vector<double> current_lrs(Optimizer& opt) {
  std::vector<double> out;
  for (const auto& g : opt.param_groups()) out.push_back(g.lr());
  return out;
}
}  // namespace

// ---- StepLR ----

StepLR::StepLR(Optimizer& optimizer, int64_t step_size, double gamma)
    : LRScheduler(optimizer), step_size_(step_size), gamma_(gamma) {
  EMBER_CHECK(step_size > 0, ValueError, "StepLR: step_size must be positive, got ", step_size);
  initial_step();
}

std::vector<double> StepLR::get_lr() {
  std::vector<double> lrs = current_lrs(optimizer_);
  if (last_epoch_ == 0 || last_epoch_ % step_size_ != 0) return lrs;
  for (double& lr : lrs) lr *= gamma_;
  return lrs;
}

// ---- MultiStepLR ----

MultiStepLR::MultiStepLR(Optimizer& optimizer, std::vector<int64_t> milestones, double gamma)
    : LRScheduler(optimizer), milestones_(std::move(milestones)), gamma_(gamma) {
  std::sort(milestones_.begin(), milestones_.end());
  initial_step();
}

std::vector<double> MultiStepLR::get_lr() {
  std::vector<double> lrs = current_lrs(optimizer_);
  auto n = std::count(milestones_.begin(), milestones_.end(), last_epoch_);
  if (n == 0) return lrs;
  for (double& lr : lrs) lr *= std::pow(gamma_, static_cast<double>(n));
  return lrs;
}

// ---- CosineAnnealingLR ----

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min)
    : LRScheduler(optimizer), T_max_(T_max), eta_min_(eta_min) {
  EMBER_CHECK(T_max > 0, ValueError, "CosineAnnealingLR: T_max must be positive, got ", T_max);
  initial_step();
}

std::vector<double> CosineAnnealingLR::get_lr() {
  constexpr double pi = std::numbers::pi;
  std::vector<double> lrs = current_lrs(optimizer_);
  if (last_epoch_ == 0) return lrs;
  const auto e = static_cast<double>(last_epoch_), T = static_cast<double>(T_max_);
  for (size_t i = 0; i < lrs.size(); ++i) {
    if ((last_epoch_ - 1 - T_max_) % (2 * T_max_) == 0)  // the minimum: the ratio below is 0/0
      lrs[i] += (base_lrs_[i] - eta_min_) * (1 - std::cos(pi / T)) / 2;
    else
      lrs[i] = (1 + std::cos(pi * e / T)) / (1 + std::cos(pi * (e - 1) / T)) * (lrs[i] - eta_min_) +
               eta_min_;
  }
  return lrs;
}

// ---- OneCycleLR ----

OneCycleLR::OneCycleLR(Optimizer& optimizer, double max_lr, const OneCycleLROptions& o)
    : OneCycleLR(optimizer, std::vector<double>(optimizer.param_groups().size(), max_lr), o) {}

OneCycleLR::OneCycleLR(Optimizer& optimizer, std::vector<double> max_lrs,
                       const OneCycleLROptions& o)
    : LRScheduler(optimizer) {
  if (o.total_steps) {
    EMBER_CHECK(*o.total_steps > 0, ValueError,
                "OneCycleLR: Expected positive integer total_steps, but got ", *o.total_steps);
    total_steps_ = *o.total_steps;
  } else {
    EMBER_CHECK(o.epochs && o.steps_per_epoch, ValueError,
                "OneCycleLR: You must define either total_steps OR (epochs AND steps_per_epoch)");
    EMBER_CHECK(*o.epochs > 0, ValueError, "OneCycleLR: Expected positive integer epochs, but got ",
                *o.epochs);
    EMBER_CHECK(*o.steps_per_epoch > 0, ValueError,
                "OneCycleLR: Expected positive integer steps_per_epoch, but got ",
                *o.steps_per_epoch);
    total_steps_ = *o.epochs * *o.steps_per_epoch;
  }
  EMBER_CHECK(o.pct_start >= 0 && o.pct_start <= 1, ValueError,
              "OneCycleLR: Expected float between 0 and 1 pct_start, but got ", o.pct_start);
  EMBER_CHECK(o.anneal_strategy == "cos" || o.anneal_strategy == "linear", ValueError,
              "OneCycleLR: anneal_strategy must be one of 'cos' or 'linear', instead got ",
              o.anneal_strategy);
  linear_ = o.anneal_strategy == "linear";
  const double T = static_cast<double>(total_steps_);
  if (o.three_phase)
    phases_ = {{o.pct_start * T - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"},
               {2 * o.pct_start * T - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"},
               {T - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"}};
  else
    phases_ = {{o.pct_start * T - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"},
               {T - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"}};

  auto& groups = optimizer_.param_groups();
  EMBER_CHECK(max_lrs.size() == groups.size(), ValueError, "OneCycleLR: expected ", groups.size(),
              " values for max_lr, got ", max_lrs.size());
  base_lrs_.clear();
  for (size_t i = 0; i < groups.size(); ++i) {
    Hyper& h = groups[i].options;
    h["initial_lr"] = max_lrs[i] / o.div_factor;
    h["max_lr"] = max_lrs[i];
    h["min_lr"] = h["initial_lr"] / o.final_div_factor;
    base_lrs_.push_back(h["initial_lr"]);
  }
  cycle_momentum_ = o.cycle_momentum;
  if (cycle_momentum_) {
    const Hyper& d = optimizer_.defaults();
    EMBER_CHECK(d.count("momentum") || d.count("beta1"), ValueError, "OneCycleLR: optimizer ",
                optimizer_.name(), " must support momentum with `cycle_momentum` option enabled");
    momentum_key_ = d.count("beta1") ? "beta1" : "momentum";
    for (auto& g : groups) {
      g.options[momentum_key_] = o.max_momentum;
      g.options["max_momentum"] = o.max_momentum;
      g.options["base_momentum"] = o.base_momentum;
    }
  }
  initial_step();
}

double OneCycleLR::anneal(double start, double end, double pct) const {
  if (linear_) return (end - start) * pct + start;
  return end + (start - end) / 2.0 * (std::cos(std::numbers::pi * pct) + 1);
}

std::vector<double> OneCycleLR::get_lr() {
  EMBER_CHECK(last_epoch_ <= total_steps_, ValueError, "OneCycleLR: Tried to step ",
              last_epoch_ + 1, " times. The specified number of total steps is ", total_steps_);
  const auto step = static_cast<double>(last_epoch_);
  std::vector<double> lrs;
  for (auto& g : optimizer_.param_groups()) {
    double start_step = 0, lr = 0, momentum = 0;
    for (size_t i = 0; i < phases_.size(); ++i) {
      const Phase& ph = phases_[i];
      if (step <= ph.end_step || i == phases_.size() - 1) {
        double pct = (step - start_step) / (ph.end_step - start_step);
        lr = anneal(g.get(ph.start_lr), g.get(ph.end_lr), pct);
        if (cycle_momentum_)
          momentum = anneal(g.get(ph.start_momentum), g.get(ph.end_momentum), pct);
        break;
      }
      start_step = ph.end_step;
    }
    lrs.push_back(lr);
    if (cycle_momentum_) g.options[momentum_key_] = momentum;
  }
  return lrs;
}

}  // namespace ember::optim
