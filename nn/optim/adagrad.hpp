// Adagrad: torch.optim.Adagrad.
#pragma once

#include "nn/optim/optimizer.hpp"

namespace ember::optim {

struct AdagradOptions {
  double lr = 1e-2;
  double lr_decay = 0;
  double weight_decay = 0;
  double initial_accumulator_value = 0;
  double eps = 1e-10;
  bool maximize = false;
};

/// g = grad (+ weight_decay * p);  clr = lr / (1 + (t - 1) lr_decay);  s += g^2 (s starts at
/// initial_accumulator_value);  p -= clr g / (sqrt(s) + eps). State "sum" and "step".
/// Group keys: lr, lr_decay, weight_decay, initial_accumulator_value, eps, maximize.
class Adagrad : public Optimizer {
 public:
  Adagrad(std::vector<Tensor> params, AdagradOptions o = {});
  Adagrad(std::vector<ParamGroup> groups, AdagradOptions o = {});

 protected:
  void step_group(ParamGroup& group) override;
  void validate(const Hyper& h) const override;
};

}  // namespace ember::optim
