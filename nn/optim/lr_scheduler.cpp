#include "nn/optim/lr_scheduler.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
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
  apply(get_lr());
}

void LRScheduler::step_to(int64_t epoch) {
  ++step_count_;
  last_epoch_ = epoch;
  std::optional<std::vector<double>> closed = closed_form_lr();
  apply(closed ? std::move(*closed) : get_lr());
}

void LRScheduler::apply(std::vector<double> lrs) {
  auto& groups = optimizer_.param_groups();
  EMBER_CHECK(lrs.size() == groups.size(), ValueError, "LRScheduler: the optimizer has ",
              groups.size(), " parameter groups but the scheduler was made for ", lrs.size());
  for (size_t i = 0; i < groups.size(); ++i) groups[i].options["lr"] = lrs[i];
  last_lr_ = std::move(lrs);
}

namespace {

Tensor doubles(const std::vector<double>& v) {
  Tensor t = empty({static_cast<int64_t>(v.size())}, kFloat64);
  std::copy(v.begin(), v.end(), t.data_ptr<double>());
  return t;
}

// The tensor under key in a scheduler's state dict, checked for dtype and element count.
const Tensor& get_state(const nn::StateDict& sd, const std::string& key, DType dtype, size_t numel,
                        const char* who) {
  const Tensor* t = sd.find(key);
  EMBER_CHECK(t && t->defined(), ValueError, who, ".load_state_dict: missing key '", key, "'");
  EMBER_CHECK(t->dtype() == dtype && static_cast<size_t>(t->numel()) == numel, ValueError, who,
              ".load_state_dict: '", key, "' should be ", dtype_name(dtype), " with ", numel,
              " elements (one per parameter group for lrs), got ", dtype_name(t->dtype()), " ",
              t->sizes());
  return *t;
}

}  // namespace

nn::StateDict LRScheduler::state_dict() const {
  nn::StateDict sd;
  sd.insert("last_epoch", scalar_tensor(last_epoch_, kInt64));
  sd.insert("_step_count", scalar_tensor(step_count_, kInt64));
  sd.insert("base_lrs", doubles(base_lrs_));
  sd.insert("_last_lr", doubles(last_lr_));
  return sd;
}

void LRScheduler::load_state_dict(const nn::StateDict& sd) {
  const size_t groups = base_lrs_.size();
  const char* who = "LRScheduler";
  int64_t last_epoch = get_state(sd, "last_epoch", kInt64, 1, who).item<int64_t>();
  int64_t step_count = get_state(sd, "_step_count", kInt64, 1, who).item<int64_t>();
  std::vector<double> base = get_state(sd, "base_lrs", kFloat64, groups, who).to_vector<double>();
  std::vector<double> last = get_state(sd, "_last_lr", kFloat64, groups, who).to_vector<double>();
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

std::optional<std::vector<double>> StepLR::closed_form_lr() const {
  std::vector<double> lrs = base_lrs_;
  for (double& lr : lrs) lr *= std::pow(gamma_, static_cast<double>(last_epoch_ / step_size_));
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

std::optional<std::vector<double>> MultiStepLR::closed_form_lr() const {
  auto passed =
      std::upper_bound(milestones_.begin(), milestones_.end(), last_epoch_) - milestones_.begin();
  std::vector<double> lrs = base_lrs_;
  for (double& lr : lrs) lr *= std::pow(gamma_, static_cast<double>(passed));
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

std::optional<std::vector<double>> CosineAnnealingLR::closed_form_lr() const {
  const double c =
      std::cos(std::numbers::pi * static_cast<double>(last_epoch_) / static_cast<double>(T_max_));
  std::vector<double> lrs = base_lrs_;
  for (double& lr : lrs) lr = eta_min_ + (lr - eta_min_) * (1 + c) / 2;
  return lrs;
}

// ---- ExponentialLR ----

ExponentialLR::ExponentialLR(Optimizer& optimizer, double gamma)
    : LRScheduler(optimizer), gamma_(gamma) {
  initial_step();
}

std::vector<double> ExponentialLR::get_lr() {
  std::vector<double> lrs = current_lrs(optimizer_);
  if (last_epoch_ == 0) return lrs;
  for (double& lr : lrs) lr *= gamma_;
  return lrs;
}

std::optional<std::vector<double>> ExponentialLR::closed_form_lr() const {
  std::vector<double> lrs = base_lrs_;
  for (double& lr : lrs) lr *= std::pow(gamma_, static_cast<double>(last_epoch_));
  return lrs;
}

// ---- LinearLR ----

LinearLR::LinearLR(Optimizer& optimizer, LinearLROptions o) : LRScheduler(optimizer), o_(o) {
  EMBER_CHECK(o.start_factor > 0 && o.start_factor <= 1, ValueError,
              "LinearLR: Starting multiplicative factor expected to be greater than 0 and less "
              "or equal to 1, got ",
              o.start_factor);
  EMBER_CHECK(o.end_factor >= 0 && o.end_factor <= 1, ValueError,
              "LinearLR: Ending multiplicative factor expected to be between 0 and 1, got ",
              o.end_factor);
  EMBER_CHECK(o.total_iters > 0, ValueError, "LinearLR: total_iters must be positive, got ",
              o.total_iters);
  initial_step();
}

// PyTorch's chainable form: each step multiplies the current lr by the ratio of consecutive
// factors, so other schedulers' changes to the lr carry through.
std::vector<double> LinearLR::get_lr() {
  std::vector<double> lrs = current_lrs(optimizer_);
  const double start = o_.start_factor, end = o_.end_factor;
  const auto total = static_cast<double>(o_.total_iters);
  if (last_epoch_ == 0) {
    for (double& lr : lrs) lr *= start;
    return lrs;
  }
  if (last_epoch_ > o_.total_iters) return lrs;
  const double ratio =
      1 + (end - start) / (total * start + static_cast<double>(last_epoch_ - 1) * (end - start));
  for (double& lr : lrs) lr *= ratio;
  return lrs;
}

std::optional<std::vector<double>> LinearLR::closed_form_lr() const {
  const auto t = static_cast<double>(std::min(o_.total_iters, last_epoch_));
  const double factor =
      o_.start_factor + (o_.end_factor - o_.start_factor) * t / static_cast<double>(o_.total_iters);
  std::vector<double> lrs = base_lrs_;
  for (double& lr : lrs) lr *= factor;
  return lrs;
}

// ---- LambdaLR ----

LambdaLR::LambdaLR(Optimizer& optimizer, Lambda lr_lambda)
    : LambdaLR(optimizer, std::vector<Lambda>(optimizer.param_groups().size(), lr_lambda)) {}

LambdaLR::LambdaLR(Optimizer& optimizer, std::vector<Lambda> lr_lambdas)
    : LRScheduler(optimizer), lambdas_(std::move(lr_lambdas)) {
  EMBER_CHECK(lambdas_.size() == base_lrs_.size(), ValueError, "LambdaLR: Expected ",
              base_lrs_.size(), " lr_lambdas, but got ", lambdas_.size());
  for (size_t i = 0; i < lambdas_.size(); ++i)
    EMBER_CHECK(static_cast<bool>(lambdas_[i]), ValueError, "LambdaLR: lr_lambda ", i, " is empty");
  initial_step();
}

std::vector<double> LambdaLR::get_lr() {
  std::vector<double> lrs = base_lrs_;
  for (size_t i = 0; i < lrs.size(); ++i) lrs[i] *= lambdas_[i](last_epoch_);
  return lrs;
}

// ---- SequentialLR ----

SequentialLR::SequentialLR(Optimizer& optimizer, std::vector<LRScheduler*> schedulers,
                           std::vector<int64_t> milestones)
    : LRScheduler(optimizer),
      schedulers_(std::move(schedulers)),
      milestones_(std::move(milestones)) {
  EMBER_CHECK(!schedulers_.empty(), ValueError,
              "SequentialLR: expects at least one scheduler, got none");
  for (size_t i = 0; i < schedulers_.size(); ++i) {
    EMBER_CHECK(schedulers_[i] != nullptr, ValueError, "SequentialLR: scheduler ", i, " is null");
    EMBER_CHECK(&schedulers_[i]->optimizer_ == &optimizer_, ValueError,
                "SequentialLR: Sequential Schedulers expects all schedulers to belong to the same "
                "optimizer, but got schedulers at index ",
                i, " to be different than the optimizer passed in.");
  }
  EMBER_CHECK(milestones_.size() + 1 == schedulers_.size(), ValueError,
              "SequentialLR: Sequential Schedulers expects number of schedulers provided to be one "
              "more than the number of milestone points, but got number of schedulers ",
              schedulers_.size(), " and the number of milestones to be equal to ",
              milestones_.size());
  last_epoch_ = 0;
  // Back to the initial lrs; the schedulers' construction steps are undone and only the first
  // one takes its epoch-0 step (PyTorch's SequentialLR.__init__).
  for (auto& g : optimizer_.param_groups()) g.options["lr"] = g.get("initial_lr");
  for (LRScheduler* s : schedulers_) --s->last_epoch_;
  schedulers_[0]->initial_step();
  last_lr_ = schedulers_[0]->get_last_lr();
}

void SequentialLR::step() {
  ++step_count_;
  ++last_epoch_;
  const auto idx = static_cast<size_t>(
      std::upper_bound(milestones_.begin(), milestones_.end(), last_epoch_) - milestones_.begin());
  LRScheduler& s = *schedulers_[idx];
  if (idx > 0 && milestones_[idx - 1] == last_epoch_)
    s.step_to(0);  // the next scheduler starts from its epoch 0
  else
    s.step();
  last_lr_ = s.get_last_lr();
}

std::vector<double> SequentialLR::get_lr() { return current_lrs(optimizer_); }

nn::StateDict SequentialLR::state_dict() const {
  nn::StateDict sd = LRScheduler::state_dict();
  for (size_t i = 0; i < schedulers_.size(); ++i)
    for (const auto& [key, value] : schedulers_[i]->state_dict())
      sd.insert(ember::detail::cat("_schedulers.", i, ".", key), value);
  return sd;
}

void SequentialLR::load_state_dict(const nn::StateDict& sd) {
  LRScheduler::load_state_dict(sd);
  for (size_t i = 0; i < schedulers_.size(); ++i) {
    const std::string prefix = ember::detail::cat("_schedulers.", i, ".");
    nn::StateDict sub;
    for (const auto& [key, value] : sd)
      if (key.starts_with(prefix)) sub.insert(key.substr(prefix.size()), value);
    schedulers_[i]->load_state_dict(sub);
  }
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

// ---- ReduceLROnPlateau ----

ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& optimizer, ReduceLROnPlateauOptions o)
    : optimizer_(optimizer), o_(std::move(o)) {
  const size_t groups = optimizer_.param_groups().size();
  EMBER_CHECK(o_.factor < 1.0, ValueError, "ReduceLROnPlateau: Factor should be < 1.0, got ",
              o_.factor);
  EMBER_CHECK(o_.mode == "min" || o_.mode == "max", ValueError, "ReduceLROnPlateau: mode ", o_.mode,
              " is unknown!");
  EMBER_CHECK(o_.threshold_mode == "rel" || o_.threshold_mode == "abs", ValueError,
              "ReduceLROnPlateau: threshold mode ", o_.threshold_mode, " is unknown!");
  EMBER_CHECK(o_.patience >= 0, ValueError,
              "ReduceLROnPlateau: patience must be non-negative, got ", o_.patience);
  EMBER_CHECK(o_.cooldown >= 0, ValueError,
              "ReduceLROnPlateau: cooldown must be non-negative, got ", o_.cooldown);
  if (o_.min_lrs.empty()) o_.min_lrs.assign(groups, o_.min_lr);
  EMBER_CHECK(o_.min_lrs.size() == groups, ValueError, "ReduceLROnPlateau: expected ", groups,
              " min_lrs, got ", o_.min_lrs.size());
  best_ = o_.mode == "min" ? std::numeric_limits<double>::infinity()
                           : -std::numeric_limits<double>::infinity();
  last_lr_ = current_lrs(optimizer_);
}

bool ReduceLROnPlateau::is_better(double a) const {
  const bool rel = o_.threshold_mode == "rel";
  if (o_.mode == "min") return rel ? a < best_ * (1 - o_.threshold) : a < best_ - o_.threshold;
  return rel ? a > best_ * (o_.threshold + 1) : a > best_ + o_.threshold;
}

void ReduceLROnPlateau::step(double metric) {
  ++last_epoch_;
  if (is_better(metric)) {
    best_ = metric;
    num_bad_epochs_ = 0;
  } else {
    ++num_bad_epochs_;
  }
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    num_bad_epochs_ = 0;  // bad epochs in cooldown do not count
  }
  if (num_bad_epochs_ > o_.patience) {
    auto& groups = optimizer_.param_groups();
    for (size_t i = 0; i < groups.size(); ++i) {
      const double old_lr = groups[i].lr();
      const double new_lr = std::max(old_lr * o_.factor, o_.min_lrs[i]);
      if (old_lr - new_lr > o_.eps) groups[i].options["lr"] = new_lr;
    }
    cooldown_counter_ = o_.cooldown;
    num_bad_epochs_ = 0;
  }
  last_lr_ = current_lrs(optimizer_);
}

nn::StateDict ReduceLROnPlateau::state_dict() const {
  nn::StateDict sd;
  sd.insert("best", scalar_tensor(best_, kFloat64));
  sd.insert("num_bad_epochs", scalar_tensor(num_bad_epochs_, kInt64));
  sd.insert("cooldown_counter", scalar_tensor(cooldown_counter_, kInt64));
  sd.insert("last_epoch", scalar_tensor(last_epoch_, kInt64));
  sd.insert("_last_lr", doubles(last_lr_));
  return sd;
}

void ReduceLROnPlateau::load_state_dict(const nn::StateDict& sd) {
  const char* who = "ReduceLROnPlateau";
  const size_t groups = optimizer_.param_groups().size();
  double best = get_state(sd, "best", kFloat64, 1, who).item<double>();
  int64_t bad = get_state(sd, "num_bad_epochs", kInt64, 1, who).item<int64_t>();
  int64_t cooldown = get_state(sd, "cooldown_counter", kInt64, 1, who).item<int64_t>();
  int64_t last_epoch = get_state(sd, "last_epoch", kInt64, 1, who).item<int64_t>();
  std::vector<double> last = get_state(sd, "_last_lr", kFloat64, groups, who).to_vector<double>();
  best_ = best;
  num_bad_epochs_ = bad;
  cooldown_counter_ = cooldown;
  last_epoch_ = last_epoch;
  last_lr_ = std::move(last);
}

}  // namespace ember::optim
