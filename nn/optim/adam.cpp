#include "nn/optim/adam.hpp"

#include <cmath>

#include "runtime/ops.hpp"

namespace ember::optim {
namespace {
Hyper to_hyper(const AdamOptions& o) {
  return {{"lr", o.lr},
          {"beta1", o.betas.first},
          {"beta2", o.betas.second},
          {"eps", o.eps},
          {"weight_decay", o.weight_decay},
          {"amsgrad", o.amsgrad ? 1.0 : 0.0},
          {"maximize", o.maximize ? 1.0 : 0.0}};
}
AdamOptions from_adamw(const AdamWOptions& o) {
  return {.lr = o.lr,
          .betas = o.betas,
          .eps = o.eps,
          .weight_decay = o.weight_decay,
          .amsgrad = o.amsgrad,
          .maximize = o.maximize};
}
}  // namespace

Adam::Adam(std::vector<Tensor> params, AdamOptions o)
    : Adam("Adam", std::vector<ParamGroup>{{std::move(params)}}, o, false) {}
Adam::Adam(std::vector<ParamGroup> groups, AdamOptions o)
    : Adam("Adam", std::move(groups), o, false) {}
Adam::Adam(const char* name, std::vector<ParamGroup> groups, const AdamOptions& o, bool decoupled)
    : Optimizer(name, to_hyper(o)), decoupled_(decoupled) {
  init(std::move(groups));
}

AdamW::AdamW(std::vector<Tensor> params, AdamWOptions o)
    : Adam("AdamW", std::vector<ParamGroup>{{std::move(params)}}, from_adamw(o), true) {}
AdamW::AdamW(std::vector<ParamGroup> groups, AdamWOptions o)
    : Adam("AdamW", std::move(groups), from_adamw(o), true) {}

void Adam::validate(const Hyper& h) const {
  const std::string& n = name();
  EMBER_CHECK(h.at("lr") >= 0, ValueError, n, ": Invalid learning rate: ", h.at("lr"));
  EMBER_CHECK(h.at("eps") >= 0, ValueError, n, ": Invalid epsilon value: ", h.at("eps"));
  EMBER_CHECK(h.at("beta1") >= 0 && h.at("beta1") < 1, ValueError, n,
              ": Invalid beta parameter at index 0: ", h.at("beta1"));
  EMBER_CHECK(h.at("beta2") >= 0 && h.at("beta2") < 1, ValueError, n,
              ": Invalid beta parameter at index 1: ", h.at("beta2"));
  EMBER_CHECK(h.at("weight_decay") >= 0, ValueError, n,
              ": Invalid weight_decay value: ", h.at("weight_decay"));
}

void Adam::step_group(ParamGroup& group) {
  const double lr = group.get("lr"), beta1 = group.get("beta1"), beta2 = group.get("beta2");
  const double eps = group.get("eps"), weight_decay = group.get("weight_decay");
  const bool amsgrad = group.get("amsgrad") != 0, maximize = group.get("maximize") != 0;
  for (const Tensor& p : group.params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    ParamState& st = state(p);
    if (!st.count("exp_avg")) {
      st["exp_avg"] = zeros_like(p);
      st["exp_avg_sq"] = zeros_like(p);
    }
    if (amsgrad && !st.count("max_exp_avg_sq")) st["max_exp_avg_sq"] = zeros_like(p);
    const double step = increment_step(st);
    if (maximize) g = -g;
    if (weight_decay != 0) {
      if (decoupled_)
        p.mul_(1 - lr * weight_decay);
      else
        g = add(g, p, weight_decay);
    }
    const Tensor& exp_avg = st["exp_avg"];
    const Tensor& exp_avg_sq = st["exp_avg_sq"];
    exp_avg.copy_(add(exp_avg * beta1, g, 1 - beta1));
    exp_avg_sq.copy_(add(exp_avg_sq * beta2, g * g, 1 - beta2));
    Tensor second = exp_avg_sq;
    if (amsgrad) {
      const Tensor& max_sq = st["max_exp_avg_sq"];
      max_sq.copy_(maximum(max_sq, exp_avg_sq));
      second = max_sq;
    }
    const double bias_correction1 = 1 - std::pow(beta1, step);
    const double bias_correction2 = 1 - std::pow(beta2, step);
    const double step_size = lr / bias_correction1;
    Tensor denom = second.sqrt() / std::sqrt(bias_correction2) + eps;
    p.add_(exp_avg / denom, -step_size);
  }
}

}  // namespace ember::optim
