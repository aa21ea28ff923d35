#include "nn/optim/adagrad.hpp"

#include "runtime/ops.hpp"

namespace ember::optim {
namespace {
Hyper to_hyper(const AdagradOptions& o) {
  return {{"lr", o.lr},
          {"lr_decay", o.lr_decay},
          {"weight_decay", o.weight_decay},
          {"initial_accumulator_value", o.initial_accumulator_value},
          {"eps", o.eps},
          {"maximize", o.maximize ? 1.0 : 0.0}};
}
}  // namespace

Adagrad::Adagrad(std::vector<Tensor> params, AdagradOptions o)
    : Adagrad(std::vector<ParamGroup>{{std::move(params)}}, o) {}
Adagrad::Adagrad(std::vector<ParamGroup> groups, AdagradOptions o)
    : Optimizer("Adagrad", to_hyper(o)) {
  init(std::move(groups));
}

void Adagrad::validate(const Hyper& h) const {
  EMBER_CHECK(h.at("lr") >= 0, ValueError, "Adagrad: Invalid learning rate: ", h.at("lr"));
  EMBER_CHECK(h.at("lr_decay") >= 0, ValueError,
              "Adagrad: Invalid lr_decay value: ", h.at("lr_decay"));
  EMBER_CHECK(h.at("weight_decay") >= 0, ValueError,
              "Adagrad: Invalid weight_decay value: ", h.at("weight_decay"));
  EMBER_CHECK(
      h.at("initial_accumulator_value") >= 0, ValueError,
      "Adagrad: Invalid initial_accumulator_value value: ", h.at("initial_accumulator_value"));
  EMBER_CHECK(h.at("eps") >= 0, ValueError, "Adagrad: Invalid epsilon value: ", h.at("eps"));
}

void Adagrad::step_group(ParamGroup& group) {
  const double lr = group.get("lr"), lr_decay = group.get("lr_decay");
  const double weight_decay = group.get("weight_decay"), eps = group.get("eps");
  const double initial = group.get("initial_accumulator_value");
  const bool maximize = group.get("maximize") != 0;
  for (const Tensor& p : group.params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    ParamState& st = state(p);
    // PyTorch fills the sum when the optimizer is made; here on the first step, from the group.
    if (!st.count("sum")) st["sum"] = full_like(p, initial);
    const double step = increment_step(st);
    if (maximize) g = -g;
    if (weight_decay != 0) g = add(g, p, weight_decay);
    const double clr = lr / (1 + (step - 1) * lr_decay);
    const Tensor& sum = st["sum"];
    sum.add_(g * g);
    p.add_(g / (sum.sqrt() + eps), -clr);
  }
}

}  // namespace ember::optim
