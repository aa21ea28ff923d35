// Learning-rate schedulers, as torch.optim.lr_scheduler: each sets its optimizer's group "lr"
// on construction (epoch 0) and on every step(), with PyTorch's (chainable) formulas.
//
//   optim::SGD opt(params, {.lr = 0.1, .momentum = 0.9});
//   optim::StepLR sched(opt, /*step_size=*/30, /*gamma=*/0.1);
//   for (int epoch = 0; epoch < 90; ++epoch) { train(opt); sched.step(); }
//
//   optim::LinearLR warmup(opt, {.start_factor = 0.01, .total_iters = 100});   // warm-up, then
//   optim::CosineAnnealingLR decay(opt, 900);                                 // decay, after
//   optim::SequentialLR sched(opt, {&warmup, &decay}, {100});                 // milestone 100
//   optim::ReduceLROnPlateau plateau(opt, {.patience = 5});  plateau.step(val_loss);
//
// Checkpoints: state_dict() holds the step counters and the lrs (exact float64 tensors, so it
// saves with nn::save_safetensors); the other inputs of the formulas live in the optimizer's
// groups ("lr", "initial_lr", OneCycleLR's "max_lr", momentum...), which Optimizer::save keeps.
// To resume, make the optimizer and the scheduler as before, then load both.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "nn/optim/optimizer.hpp"
#include "nn/serialize.hpp"

namespace ember::optim {

class SequentialLR;

/// Base of the schedulers. The optimizer must outlive the scheduler.
class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  /// Advances one epoch (or one batch, for OneCycleLR) and sets each group's lr.
  virtual void step();
  /// The lr of each group after the last step (or construction).
  const std::vector<double>& get_last_lr() const { return last_lr_; }
  /// Steps taken since construction (0 right after construction).
  int64_t last_epoch() const { return last_epoch_; }
  /// Each group's "initial_lr" when the scheduler was made.
  const std::vector<double>& base_lrs() const { return base_lrs_; }

  /// "last_epoch" and "_step_count" (0-d int64), "base_lrs" and "_last_lr" (float64, one per
  /// group), as PyTorch's state_dict() names them.
  virtual nn::StateDict state_dict() const;
  /// Restores state_dict(); ValueError naming the key when one is missing or sized for another
  /// number of parameter groups. The optimizer's lrs are not touched (load the optimizer too).
  virtual void load_state_dict(const nn::StateDict& sd);
  /// The optimizer whose group lrs this scheduler sets.
  Optimizer& optimizer() const { return optimizer_; }

 protected:
  friend class SequentialLR;
  /// Records each group's initial_lr (set to its lr when absent) as the base lr.
  explicit LRScheduler(Optimizer& optimizer);
  /// The new lr of every group for last_epoch_ (already advanced).
  virtual std::vector<double> get_lr() = 0;
  /// The lrs at last_epoch_ from base_lrs_ alone (PyTorch's _get_closed_form_lr), for schedulers
  /// that have one; SequentialLR restarts a scheduler at epoch 0 through it.
  virtual std::optional<std::vector<double>> closed_form_lr() const { return std::nullopt; }
  /// Derived constructors call this last: it takes the epoch-0 step.
  void initial_step();
  /// PyTorch's deprecated step(epoch): jumps to `epoch`, with the closed form when there is one.
  void step_to(int64_t epoch);
  /// Sets each group's lr and records them as the last lrs.
  void apply(std::vector<double> lrs);

  Optimizer& optimizer_;
  std::vector<double> base_lrs_;
  int64_t last_epoch_ = -1;
  int64_t step_count_ = 0;

 private:
  std::vector<double> last_lr_;
};

/// lr = initial_lr * gamma^(epoch / step_size).
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);

 protected:
  std::vector<double> get_lr() override;
  std::optional<std::vector<double>> closed_form_lr() const override;

 private:
  int64_t step_size_;
  double gamma_;
};

/// lr = initial_lr * gamma^(number of milestones <= epoch); repeated milestones count repeatedly.
class MultiStepLR : public LRScheduler {
 public:
  MultiStepLR(Optimizer& optimizer, std::vector<int64_t> milestones, double gamma = 0.1);

 protected:
  std::vector<double> get_lr() override;
  std::optional<std::vector<double>> closed_form_lr() const override;

 private:
  std::vector<int64_t> milestones_;  // sorted
  double gamma_;
};

/// lr = eta_min + (initial_lr - eta_min) (1 + cos(pi epoch / T_max)) / 2 (PyTorch's recursive
/// form, which continues periodically past T_max).
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min = 0);

 protected:
  std::vector<double> get_lr() override;
  std::optional<std::vector<double>> closed_form_lr() const override;

 private:
  int64_t T_max_;
  double eta_min_;
};

/// lr = initial_lr * gamma^epoch.
class ExponentialLR : public LRScheduler {
 public:
  ExponentialLR(Optimizer& optimizer, double gamma);

 protected:
  std::vector<double> get_lr() override;
  std::optional<std::vector<double>> closed_form_lr() const override;

 private:
  double gamma_;
};

struct LinearLROptions {
  double start_factor = 1.0 / 3;  ///< in (0, 1]
  double end_factor = 1.0;        ///< in [0, 1]
  int64_t total_iters = 5;
};

/// lr = initial_lr * (start_factor + (end_factor - start_factor) min(epoch, total_iters) /
/// total_iters): a linear warm-up (or decay), then constant.
class LinearLR : public LRScheduler {
 public:
  explicit LinearLR(Optimizer& optimizer, LinearLROptions o = {});

 protected:
  std::vector<double> get_lr() override;
  std::optional<std::vector<double>> closed_form_lr() const override;

 private:
  LinearLROptions o_;
};

/// lr = initial_lr * lr_lambda(epoch), one function for every group or one per group. The
/// functions are not part of state_dict (as PyTorch's plain functions).
class LambdaLR : public LRScheduler {
 public:
  using Lambda = std::function<double(int64_t epoch)>;
  LambdaLR(Optimizer& optimizer, Lambda lr_lambda);
  LambdaLR(Optimizer& optimizer, std::vector<Lambda> lr_lambdas);

 protected:
  std::vector<double> get_lr() override;

 private:
  std::vector<Lambda> lambdas_;
};

/// Runs schedulers one after another: schedulers[i] from milestones[i - 1] on (restarted at its
/// epoch 0 there), e.g. a LinearLR warm-up, then a decay. The schedulers must be made on the
/// same optimizer before this one and outlive it; step() only this one. state_dict() holds this
/// one's counters and each scheduler's under "_schedulers.<i>.".
class SequentialLR : public LRScheduler {
 public:
  SequentialLR(Optimizer& optimizer, std::vector<LRScheduler*> schedulers,
               std::vector<int64_t> milestones);
  void step() override;
  nn::StateDict state_dict() const override;
  void load_state_dict(const nn::StateDict& sd) override;

 protected:
  std::vector<double> get_lr() override;  // unused: step() delegates

 private:
  std::vector<LRScheduler*> schedulers_;
  std::vector<int64_t> milestones_;
};

struct OneCycleLROptions {
  std::optional<int64_t> total_steps{};  ///< or epochs * steps_per_epoch
  std::optional<int64_t> epochs{};
  std::optional<int64_t> steps_per_epoch{};
  double pct_start = 0.3;
  std::string anneal_strategy = "cos";  ///< "cos" or "linear"
  bool cycle_momentum = true;
  double base_momentum = 0.85;
  double max_momentum = 0.95;
  double div_factor = 25;
  double final_div_factor = 1e4;
  bool three_phase = false;
};

/// The 1cycle policy, stepped once per batch: lr rises from max_lr / div_factor to max_lr over
/// pct_start of the steps, then anneals to initial_lr / final_div_factor; momentum (or Adam's
/// beta1) cycles inversely between max_momentum and base_momentum.
class OneCycleLR : public LRScheduler {
 public:
  OneCycleLR(Optimizer& optimizer, double max_lr, const OneCycleLROptions& o);
  /// One max_lr per parameter group.
  OneCycleLR(Optimizer& optimizer, std::vector<double> max_lrs, const OneCycleLROptions& o);
  int64_t total_steps() const { return total_steps_; }

 protected:
  std::vector<double> get_lr() override;

 private:
  struct Phase {
    double end_step;
    const char *start_lr, *end_lr, *start_momentum, *end_momentum;
  };
  double anneal(double start, double end, double pct) const;

  int64_t total_steps_ = 0;
  std::vector<Phase> phases_;
  bool linear_ = false;
  bool cycle_momentum_ = true;
  const char* momentum_key_ = "momentum";  ///< "beta1" for Adam-like optimizers
};

struct ReduceLROnPlateauOptions {
  std::string mode = "min";  ///< "min": the metric should fall; "max": rise
  double factor = 0.1;       ///< new lr = lr * factor, < 1
  int64_t patience = 10;     ///< epochs without improvement before a reduction
  double threshold = 1e-4;
  std::string threshold_mode = "rel";  ///< "rel": best * (1 -+ threshold); "abs": best -+ threshold
  int64_t cooldown = 0;                ///< epochs to wait after a reduction
  double min_lr = 0;
  std::vector<double> min_lrs{};  ///< one per parameter group, instead of min_lr
  double eps = 1e-8;              ///< a reduction smaller than eps is skipped
};

/// Reduces each group's lr by factor when a metric has not improved for more than patience
/// epochs (torch.optim.lr_scheduler.ReduceLROnPlateau). Not an LRScheduler: step takes the metric.
class ReduceLROnPlateau {
 public:
  explicit ReduceLROnPlateau(Optimizer& optimizer, ReduceLROnPlateauOptions o = {});
  /// Records one epoch's metric (e.g. the validation loss) and reduces the lrs when due.
  void step(double metric);
  const std::vector<double>& get_last_lr() const { return last_lr_; }
  int64_t last_epoch() const { return last_epoch_; }
  double best() const { return best_; }
  int64_t num_bad_epochs() const { return num_bad_epochs_; }
  int64_t cooldown_counter() const { return cooldown_counter_; }

  /// "best" (float64), "num_bad_epochs", "cooldown_counter", "last_epoch" (int64), "_last_lr"
  /// (float64, one per group). The options are not saved: make the scheduler with the same ones.
  nn::StateDict state_dict() const;
  void load_state_dict(const nn::StateDict& sd);

 private:
  bool is_better(double a) const;

  Optimizer& optimizer_;
  ReduceLROnPlateauOptions o_;
  double best_ = 0;
  int64_t num_bad_epochs_ = 0, cooldown_counter_ = 0, last_epoch_ = 0;
  std::vector<double> last_lr_;
};

}  // namespace ember::optim
