// RMSprop (optionally centered, with momentum): torch.optim.RMSprop.
#pragma once

#include "nn/optim/optimizer.hpp"

namespace ember::optim {

struct RMSpropOptions {
  double lr = 1e-2;
  double alpha = 0.99;
  double eps = 1e-8;
  double weight_decay = 0;
  double momentum = 0;
  bool centered = false;
  bool maximize = false;
};

/// g = grad (+ weight_decay * p);  s = alpha s + (1 - alpha) g^2;  centered: a = alpha a +
/// (1 - alpha) g and avg = sqrt(s - a^2) + eps, else avg = sqrt(s) + eps; with momentum:
/// buf = momentum buf + g / avg, p -= lr buf; else p -= lr g / avg.
/// Group keys: lr, alpha, eps, weight_decay, momentum, centered, maximize.
class RMSprop : public Optimizer {
 public:
  RMSprop(std::vector<Tensor> params, RMSpropOptions o = {});
  RMSprop(std::vector<ParamGroup> groups, RMSpropOptions o = {});

 protected:
  void step_group(ParamGroup& group) override;
  void validate(const Hyper& h) const override;
};

}  // namespace ember::optim
