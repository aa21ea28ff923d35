// Learning-rate schedulers, as torch.optim.lr_scheduler: each sets its optimizer's group "lr"
// on construction (epoch 0) and on every step(), with PyTorch's (chainable) formulas.
//
//   optim::SGD opt(params, {.lr = 0.1, .momentum = 0.9});
//   optim::StepLR sched(opt, /*step_size=*/30, /*gamma=*/0.1);
//   for (int epoch = 0; epoch < 90; ++epoch) { train(opt); sched.step(); }
//
// Checkpoints: state_dict() holds the step counters and the lrs (exact float64 tensors, so it
// saves with nn::save_safetensors); the other inputs of the formulas live in the optimizer's
// groups ("lr", "initial_lr", OneCycleLR's "max_lr", momentum...), which Optimizer::save keeps.
// To resume, make the optimizer and the scheduler as before, then load both.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "nn/optim/optimizer.hpp"
#include "nn/serialize.hpp"

namespace ember::optim {

/// Base of the schedulers. The optimizer must outlive the scheduler.
class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  /// Advances one epoch (or one batch, for OneCycleLR) and sets each group's lr.
  void step();
  /// The lr of each group after the last step (or construction).
  const std::vector<double>& get_last_lr() const { return last_lr_; }
  /// Steps taken since construction (0 right after construction).
  int64_t last_epoch() const { return last_epoch_; }
  /// Each group's "initial_lr" when the scheduler was made.
  const std::vector<double>& base_lrs() const { return base_lrs_; }

  /// "last_epoch" and "_step_count" (0-d int64), "base_lrs" and "_last_lr" (float64, one per
  /// group), as PyTorch's state_dict() names them.
  nn::StateDict state_dict() const;
  /// Restores state_dict(); ValueError naming the key when one is missing or sized for another
  /// number of parameter groups. The optimizer's lrs are not touched (load the optimizer too).
  void load_state_dict(const nn::StateDict& sd);

 protected:
  /// Records each group's initial_lr (set to its lr when absent) as the base lr.
  explicit LRScheduler(Optimizer& optimizer);
  /// The new lr of every group for last_epoch_ (already advanced).
  virtual std::vector<double> get_lr() = 0;
  /// Derived constructors call this last: it takes the epoch-0 step.
  void initial_step();

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

 private:
  int64_t T_max_;
  double eta_min_;
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

}  // namespace ember::optim
