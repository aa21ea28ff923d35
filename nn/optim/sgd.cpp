#include "nn/optim/sgd.hpp"

#include "runtime/ops.hpp"

namespace ember::optim {
namespace {
Hyper to_hyper(const SGDOptions& o) {
  return {{"lr", o.lr},
          {"momentum", o.momentum},
          {"dampening", o.dampening},
          {"weight_decay", o.weight_decay},
          {"nesterov", o.nesterov ? 1.0 : 0.0},
          {"maximize", o.maximize ? 1.0 : 0.0}};
}
}  // namespace

SGD::SGD(std::vector<Tensor> params, SGDOptions o)
    : SGD(std::vector<ParamGroup>{{std::move(params)}}, o) {}

SGD::SGD(std::vector<ParamGroup> groups, SGDOptions o) : Optimizer("SGD", to_hyper(o)) {
  init(std::move(groups));
}

void SGD::validate(const Hyper& h) const {
  EMBER_CHECK(h.at("lr") >= 0, ValueError, "SGD: Invalid learning rate: ", h.at("lr"));
  EMBER_CHECK(h.at("momentum") >= 0, ValueError, "SGD: Invalid momentum value: ", h.at("momentum"));
  EMBER_CHECK(h.at("weight_decay") >= 0, ValueError,
              "SGD: Invalid weight_decay value: ", h.at("weight_decay"));
  EMBER_CHECK(h.at("nesterov") == 0 || (h.at("momentum") > 0 && h.at("dampening") == 0), ValueError,
              "SGD: Nesterov momentum requires a momentum and zero dampening");
}

void SGD::step_group(ParamGroup& group) {
  const double lr = group.get("lr"), momentum = group.get("momentum");
  const double dampening = group.get("dampening"), weight_decay = group.get("weight_decay");
  const bool nesterov = group.get("nesterov") != 0, maximize = group.get("maximize") != 0;
  for (const Tensor& p : group.params) {
    const Tensor grad = p.grad();
    if (!grad.defined()) continue;
    Tensor d = grad;
    if (maximize) d = -d;
    if (weight_decay != 0) d = add(d, p, weight_decay);
    if (momentum != 0) {
      ParamState& st = state(p);
      auto it = st.find("momentum_buffer");
      if (it == st.end()) {
        // The buffer starts as the first gradient; a temporary d can be kept as it is.
        it = st.emplace("momentum_buffer", d.is_same(grad) ? d.clone() : d).first;
      } else {
        it->second.mul_(momentum).add_(d, 1 - dampening);  // in place, as torch.optim.SGD
      }
      d = nesterov ? add(d, it->second, momentum) : it->second;
    }
    p.add_(d, -lr);
  }
}

}  // namespace ember::optim
