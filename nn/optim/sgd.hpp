// Stochastic gradient descent with momentum, dampening, Nesterov, weight decay: torch.optim.SGD.
#pragma once

#include "nn/optim/optimizer.hpp"

namespace ember::optim {

struct SGDOptions {
  double lr = 1e-3;
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;
  bool maximize = false;
};

/// g = grad (+ weight_decay * p); with momentum, buf = g on the first step, then
/// buf = momentum * buf + (1 - dampening) * g, and g = buf (or g + momentum * buf with
/// nesterov); p -= lr * g. Group keys: lr, momentum, dampening, weight_decay, nesterov, maximize.
class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, SGDOptions o = {});
  SGD(std::vector<ParamGroup> groups, SGDOptions o = {});

 protected:
  void step_group(ParamGroup& group) override;
  void validate(const Hyper& h) const override;
};

}  // namespace ember::optim
