#include "nn/optim/optimizer.hpp"

#include <cmath>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "nn/serialize.hpp"
#include "runtime/dispatch.hpp"
#include "runtime/ops.hpp"

namespace ember::optim {

double ParamGroup::lr() const { return get("lr"); }

double ParamGroup::get(const std::string& key) const {
  auto it = options.find(key);
  EMBER_CHECK(it != options.end(), ValueError, "param group has no hyper-parameter '", key, "'");
  return it->second;
}

Optimizer::Optimizer(std::string name, Hyper defaults)
    : name_(std::move(name)), defaults_(std::move(defaults)) {}

void Optimizer::init(std::vector<ParamGroup> groups) {
  validate(defaults_);
  size_t total = 0;
  for (const auto& g : groups) total += g.params.size();
  EMBER_CHECK(total > 0, ValueError, name_, ": optimizer got an empty parameter list");
  for (auto& g : groups) add_param_group(std::move(g));
}

void Optimizer::add_param_group(ParamGroup group) {
  size_t index = groups_.size();
  for (const auto& [key, value] : group.options) {
    (void)value;
    if (defaults_.count(key)) continue;
    std::string known;
    for (const auto& d : defaults_) known += (known.empty() ? "" : ", ") + d.first;
    EMBER_CHECK(false, ValueError, name_, ": unknown hyper-parameter '", key,
                "' in parameter group ", index, " (known: ", known, ")");
  }
  for (const auto& [key, value] : defaults_) group.options.emplace(key, value);
  validate(group.options);
  EMBER_CHECK(!group.params.empty(), ValueError, name_, ": parameter group ", index,
              " has no parameters");
  std::unordered_set<const TensorImpl*> seen;
  for (const auto& g : groups_)
    for (const auto& p : g.params) seen.insert(p.impl());
  for (size_t i = 0; i < group.params.size(); ++i) {
    const Tensor& p = group.params[i];
    EMBER_CHECK(p.defined(), ValueError, name_, ": parameter ", i, " of group ", index,
                " is an undefined tensor");
    EMBER_CHECK(p.is_leaf(), ValueError, name_, ": can't optimize a non-leaf Tensor (parameter ", i,
                " of group ", index, ")");
    EMBER_CHECK(p.is_floating_point(), DTypeError, name_, ": parameter ", i, " of group ", index,
                " is ", dtype_name(p.dtype()), "; only floating tensors can be optimized");
    EMBER_CHECK(seen.insert(p.impl()).second, ValueError, name_,
                ": some parameters appear in more than one parameter group (parameter ", i,
                " of group ", index, ")");
  }
  groups_.push_back(std::move(group));
}

void Optimizer::zero_grad(bool set_to_none) {
  NoGradGuard no_grad;
  for (auto& g : groups_) {
    for (const Tensor& p : g.params) {
      if (!p.grad().defined()) continue;
      if (set_to_none) {
        p.set_grad(Tensor());
        continue;
      }
      Tensor grad = p.grad();
      if (grad.grad_fn()) grad = grad.detach();  // a create_graph gradient: cut it from its graph
      grad.zero_();
      p.set_grad(grad);
    }
  }
}

Tensor Optimizer::step(const std::function<Tensor()>& closure) {
  Tensor loss;
  if (closure) {
    EnableGradGuard grad_on;
    loss = closure();
  }
  NoGradGuard no_grad;
  for (auto& g : groups_) step_group(g);
  return loss;
}

ParamState& Optimizer::state(const Tensor& p) { return state_[p.impl()]; }

double Optimizer::increment_step(ParamState& st) {
  auto it = st.find("step");
  if (it == st.end()) {
    // Written through memory, not by an op: inside a jit::Region a fill would be traced, and
    // reading it back below would then run the region's graph so far (a split per parameter).
    Tensor step = empty({}, kFloat32);
    *step.data_ptr<float>() = 0;
    it = st.emplace("step", step).first;
  }
  // A host-side counter, as PyTorch's non-capturable path reads step_t.item().
  float* v = it->second.data_ptr<float>();
  *v += 1;
  return *v;
}

OptimizerStateDict Optimizer::state_dict() const {
  OptimizerStateDict sd;
  int64_t index = 0;
  for (const auto& g : groups_) {
    GroupState gs{g.options, {}};
    for (const Tensor& p : g.params) {
      auto it = state_.find(p.impl());
      if (it != state_.end())
        for (const auto& [name, t] : it->second) sd.state[std::to_string(index) + "." + name] = t;
      gs.params.push_back(index++);
    }
    sd.param_groups.push_back(std::move(gs));
  }
  return sd;
}

void Optimizer::load_state_dict(const OptimizerStateDict& sd) {
  EMBER_CHECK(sd.param_groups.size() == groups_.size(), ValueError, name_,
              ".load_state_dict: loaded state dict has ", sd.param_groups.size(),
              " parameter groups but the optimizer has ", groups_.size());
  // Map saved parameter indices to this optimizer's parameters, checking the layout first.
  std::map<int64_t, const Tensor*> by_index;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const auto& saved = sd.param_groups[gi];
    EMBER_CHECK(saved.params.size() == groups_[gi].params.size(), ValueError, name_,
                ".load_state_dict: loaded state dict contains a parameter group that doesn't "
                "match the size of optimizer's group (group ",
                gi, ": ", saved.params.size(), " vs ", groups_[gi].params.size(), " parameters)");
    for (size_t i = 0; i < saved.params.size(); ++i)
      by_index[saved.params[i]] = &groups_[gi].params[i];
  }
  std::unordered_map<const TensorImpl*, ParamState> loaded;
  for (const auto& [key, t] : sd.state) {
    size_t dot = key.find('.');
    EMBER_CHECK(dot != std::string::npos && dot > 0, ValueError, name_,
                ".load_state_dict: bad state key '", key, "' (expected '<param index>.<name>')");
    int64_t index = -1;
    try {
      index = std::stoll(key.substr(0, dot));
    } catch (const std::exception&) {
    }
    auto it = by_index.find(index);
    EMBER_CHECK(it != by_index.end(), ValueError, name_, ".load_state_dict: state key '", key,
                "' names no parameter of the optimizer");
    const Tensor& p = *it->second;
    std::string name = key.substr(dot + 1);
    EMBER_CHECK(t.defined(), ValueError, name_, ".load_state_dict: state '", key,
                "' is an undefined tensor");
    NoGradGuard no_grad;
    if (name == "step") {
      EMBER_CHECK(t.numel() == 1, ShapeError, name_, ".load_state_dict: state '", key,
                  "' should hold one value, got ", t.numel());
      loaded[p.impl()][name] = scalar_tensor(t.item<double>(), kFloat32);
      continue;
    }
    EMBER_CHECK(t.sizes() == p.sizes(), ShapeError, name_, ".load_state_dict: state '", key,
                "' has shape ", t.sizes(), " but its parameter has shape ", p.sizes());
    loaded[p.impl()][name] = t.to(p.dtype()).clone();
  }
  for (size_t gi = 0; gi < groups_.size(); ++gi) groups_[gi].options = sd.param_groups[gi].options;
  state_ = std::move(loaded);
}

void Optimizer::save(const std::string& path) const {
  OptimizerStateDict sd = state_dict();
  nn::StateDict tensors;
  for (const auto& [key, t] : sd.state) tensors.insert(key, t);
  nlohmann::json groups = nlohmann::json::array();
  for (const auto& g : sd.param_groups) {
    nlohmann::json options = nlohmann::json::object();
    for (const auto& [key, value] : g.options) {
      EMBER_CHECK(std::isfinite(value), ValueError, name_, ".save: hyper-parameter '", key, "' is ",
                  value, "; only finite values can be saved");
      options[key] = value;  // nlohmann writes the shortest digits that read back exactly
    }
    groups.push_back({{"options", options}, {"params", g.params}});
  }
  nn::save_safetensors(
      path, tensors,
      {{"format", "ember.optimizer"}, {"optimizer", name_}, {"param_groups", groups.dump()}});
}

void Optimizer::load(const std::string& path) {
  nn::Metadata meta;
  nn::StateDict tensors = nn::load_safetensors(path, &meta);
  auto field = [&](const char* key) -> const std::string& {
    auto it = meta.find(key);
    EMBER_CHECK(it != meta.end(), ValueError, name_, ".load: '", path,
                "' is not an optimizer checkpoint (no '", key, "' in its metadata)");
    return it->second;
  };
  EMBER_CHECK(field("format") == "ember.optimizer", ValueError, name_, ".load: '", path,
              "' is not an optimizer checkpoint (format '", field("format"), "')");
  EMBER_CHECK(field("optimizer") == name_, ValueError, name_, ".load: '", path,
              "' holds the state of ", field("optimizer"), ", not ", name_);
  OptimizerStateDict sd;
  for (const auto& [key, t] : tensors) sd.state[key] = t;
  try {
    for (const auto& g : nlohmann::json::parse(field("param_groups"))) {
      GroupState gs;
      for (const auto& [key, value] : g.at("options").items())
        gs.options[key] = value.get<double>();
      gs.params = g.at("params").get<std::vector<int64_t>>();
      sd.param_groups.push_back(std::move(gs));
    }
  } catch (const nlohmann::json::exception& e) {
    throw ValueError(
        detail::cat(name_, ".load: '", path, "': malformed param_groups metadata: ", e.what()));
  }
  load_state_dict(sd);
}

}  // namespace ember::optim
