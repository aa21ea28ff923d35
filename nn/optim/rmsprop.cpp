#include "nn/optim/rmsprop.hpp"

#include "runtime/ops.hpp"

namespace ember::optim {
namespace {
Hyper to_hyper(const RMSpropOptions& o) {
  return {{"lr", o.lr},
          {"alpha", o.alpha},
          {"eps", o.eps},
          {"weight_decay", o.weight_decay},
          {"momentum", o.momentum},
          {"centered", o.centered ? 1.0 : 0.0},
          {"maximize", o.maximize ? 1.0 : 0.0}};
}
}  // namespace

RMSprop::RMSprop(std::vector<Tensor> params, RMSpropOptions o)
    : RMSprop(std::vector<ParamGroup>{{std::move(params)}}, o) {}
RMSprop::RMSprop(std::vector<ParamGroup> groups, RMSpropOptions o)
    : Optimizer("RMSprop", to_hyper(o)) {
  init(std::move(groups));
}

void RMSprop::validate(const Hyper& h) const {
  EMBER_CHECK(h.at("lr") >= 0, ValueError, "RMSprop: Invalid learning rate: ", h.at("lr"));
  EMBER_CHECK(h.at("eps") >= 0, ValueError, "RMSprop: Invalid epsilon value: ", h.at("eps"));
  EMBER_CHECK(h.at("momentum") >= 0, ValueError,
              "RMSprop: Invalid momentum value: ", h.at("momentum"));
  EMBER_CHECK(h.at("weight_decay") >= 0, ValueError,
              "RMSprop: Invalid weight_decay value: ", h.at("weight_decay"));
  EMBER_CHECK(h.at("alpha") >= 0, ValueError, "RMSprop: Invalid alpha value: ", h.at("alpha"));
}

void RMSprop::step_group(ParamGroup& group) {
  const double lr = group.get("lr"), alpha = group.get("alpha"), eps = group.get("eps");
  const double weight_decay = group.get("weight_decay"), momentum = group.get("momentum");
  const bool centered = group.get("centered") != 0, maximize = group.get("maximize") != 0;
  for (const Tensor& p : group.params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    ParamState& st = state(p);
    if (!st.count("square_avg")) st["square_avg"] = zeros_like(p);
    if (momentum > 0 && !st.count("momentum_buffer")) st["momentum_buffer"] = zeros_like(p);
    if (centered && !st.count("grad_avg")) st["grad_avg"] = zeros_like(p);
    increment_step(st);
    if (maximize) g = -g;
    if (weight_decay != 0) g = add(g, p, weight_decay);
    const Tensor& square_avg = st["square_avg"];
    square_avg.copy_(add(square_avg * alpha, g * g, 1 - alpha));
    Tensor avg;
    if (centered) {
      const Tensor& grad_avg = st["grad_avg"];
      grad_avg.copy_(add(grad_avg * alpha, g, 1 - alpha));
      avg = (square_avg - grad_avg * grad_avg).sqrt() + eps;
    } else {
      avg = square_avg.sqrt() + eps;
    }
    if (momentum > 0) {
      const Tensor& buf = st["momentum_buffer"];
      buf.copy_(buf * momentum + g / avg);
      p.add_(buf, -lr);
    } else {
      p.add_(g / avg, -lr);
    }
  }
}

}  // namespace ember::optim
