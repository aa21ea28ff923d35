// Optimizer: the base of every ember::optim optimizer, as torch.optim.Optimizer.
//
//   optim::SGD opt(net.parameters(), {.lr = 0.05, .momentum = 0.9});
//   optim::Adam adam({{backbone.parameters()}, {head.parameters(), {{"lr", 1e-2}}}}, {.lr = 1e-3});
//   opt.zero_grad();  loss.backward();  opt.step();
//   opt.param_groups()[0].options["lr"] = 0.01;           // what the LR schedulers do
//   auto saved = opt.state_dict();  other.load_state_dict(saved);
//   opt.save("ckpt/optimizer.safetensors");  /* later, same parameters: */  opt.load(...);
//
// Parameters live in groups; each group has its own hyper-parameters by name (PyTorch's
// param_group dict; booleans are 0 or 1). Updates run under NoGradGuard, in place on the
// parameters, with PyTorch's formulas; a parameter whose grad is undefined is skipped.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/tensor.hpp"

namespace ember::optim {

/// Hyper-parameters by name ("lr", "momentum", "beta1", ...).
using Hyper = std::map<std::string, double>;

/// Parameters that share hyper-parameters. On construction `options` holds overrides only; the
/// optimizer fills in its defaults for the rest.
struct ParamGroup {
  std::vector<Tensor> params;
  Hyper options{};

  /// options["lr"].
  double lr() const;
  /// options.at(key), with an error naming the key when it is absent.
  double get(const std::string& key) const;
};

/// Per-parameter state: named tensors ("momentum_buffer", "exp_avg", "step", ...).
using ParamState = std::map<std::string, Tensor>;

/// A parameter group in a state dict: its hyper-parameters and the indices of its parameters
/// (numbered across groups in order, as PyTorch's).
struct GroupState {
  Hyper options;
  std::vector<int64_t> params;
};

/// The optimizer's state as plain data: per-parameter tensors keyed "<param index>.<name>"
/// ("0.momentum_buffer", "3.exp_avg", "3.step") and each group's hyper-parameters.
struct OptimizerStateDict {
  std::map<std::string, Tensor> state;
  std::vector<GroupState> param_groups;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;
  Optimizer(Optimizer&&) = default;
  Optimizer& operator=(Optimizer&&) = default;

  /// Clears every parameter's gradient: undefined when set_to_none, else zero-filled.
  void zero_grad(bool set_to_none = true);
  /// One update of every parameter with a defined grad. A closure, when given, is called first
  /// (with grad mode on) to recompute the loss, which step returns.
  Tensor step(const std::function<Tensor()>& closure = {});

  /// Adds a group; missing hyper-parameters come from the defaults.
  void add_param_group(ParamGroup group);
  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  /// The hyper-parameters given at construction (what groups fall back to).
  const Hyper& defaults() const { return defaults_; }
  /// "SGD", "Adam", ...
  const std::string& name() const { return name_; }

  /// The state of parameter p (created empty on first use).
  ParamState& state(const Tensor& p);
  /// State tensors are shared with the optimizer, as PyTorch's state_dict() returns references.
  OptimizerStateDict state_dict() const;
  /// Loads hyper-parameters and state (deep copies, cast to each parameter's dtype); the group
  /// layout and the state tensors' shapes must match this optimizer's parameters.
  void load_state_dict(const OptimizerStateDict& sd);
  /// Writes state_dict() to path as .safetensors (through nn::save_safetensors): the state
  /// tensors under their keys, the optimizer's name and the groups (hyper-parameters, parameter
  /// indices) as JSON under the metadata key "param_groups". Values are kept exactly.
  void save(const std::string& path) const;
  /// Reads a file written by save() by the same kind of optimizer and loads it
  /// (load_state_dict's checks apply); errors name the file.
  void load(const std::string& path);

 protected:
  /// defaults: every hyper-parameter the optimizer knows, with its default value.
  Optimizer(std::string name, Hyper defaults);
  /// Validates the defaults and adds the groups (derived constructors call it last, since it
  /// calls the virtual validate).
  void init(std::vector<ParamGroup> groups);
  /// Updates the parameters of one group (called under NoGradGuard).
  virtual void step_group(ParamGroup& group) = 0;
  /// Throws ValueError for an out-of-range hyper-parameter (PyTorch's messages).
  virtual void validate(const Hyper& options) const = 0;
  /// Increments p's "step" state (a 0-d float32 tensor, as PyTorch's) and returns the new count.
  double increment_step(ParamState& st);

 private:
  std::string name_;
  Hyper defaults_;
  std::vector<ParamGroup> groups_;
  std::unordered_map<const TensorImpl*, ParamState> state_;
};

}  // namespace ember::optim
