// Adam and AdamW (decoupled weight decay): torch.optim.Adam and torch.optim.AdamW.
#pragma once

#include <utility>

#include "nn/optim/optimizer.hpp"

namespace ember::optim {

struct AdamOptions {
  double lr = 1e-3;
  std::pair<double, double> betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 0;
  bool amsgrad = false;
  bool maximize = false;
};

/// As AdamOptions, with PyTorch's AdamW default weight decay.
struct AdamWOptions {
  double lr = 1e-3;
  std::pair<double, double> betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 1e-2;
  bool amsgrad = false;
  bool maximize = false;
};

/// m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  (amsgrad: v_max = max(v_max, v));
/// p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps). Weight decay adds
/// weight_decay * p to g. Group keys: lr, beta1, beta2, eps, weight_decay, amsgrad, maximize.
class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, AdamOptions o = {});
  Adam(std::vector<ParamGroup> groups, AdamOptions o = {});

 protected:
  Adam(const char* name, std::vector<ParamGroup> groups, const AdamOptions& o, bool decoupled);
  void step_group(ParamGroup& group) override;
  void validate(const Hyper& h) const override;

 private:
  bool decoupled_ = false;
};

/// Adam with decoupled weight decay: p *= 1 - lr * weight_decay before the Adam update.
class AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> params, AdamWOptions o = {});
  AdamW(std::vector<ParamGroup> groups, AdamWOptions o = {});
};

}  // namespace ember::optim
