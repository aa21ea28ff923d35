#include "nn/module.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <ostream>
#include <sstream>
#include <typeinfo>
#include <unordered_set>

#include "runtime/dispatch.hpp"
#include "runtime/ops.hpp"

namespace ember::nn {

Parameter::Parameter(const Tensor& t, bool requires_grad)
    : Tensor(t.defined() ? t.detach() : Tensor()) {
  if (defined()) requires_grad_(requires_grad);
}

Buffer::Buffer(const Tensor& t) : Tensor(t.defined() ? t.detach() : Tensor()) {}

namespace {

// Points a tensor at src's data and metadata: PyTorch's `param.data = src`, so every handle to
// the parameter (an optimizer's, a user's) follows the change.
void replace_data(const Tensor& t, const Tensor& src) {
  TensorImpl* d = t.impl();
  const TensorImpl* s = src.impl();
  d->storage = s->storage;
  d->sizes = s->sizes;
  d->strides = s->strides;
  d->offset = s->offset;
  d->dtype = s->dtype;
  d->is_view = false;
  d->refresh();
}

std::string join_name(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

// Own parameters or buffers (defined ones), then each child's, depth first; each tensor once.
void collect_tensors(const ModuleBase& m, const std::string& prefix, bool buffers, bool recurse,
                     bool dedupe, std::unordered_set<const TensorImpl*>& seen, NamedTensors& out) {
  ModuleMembers mem = m.members();
  for (const auto& [name, t] : buffers ? mem.buffers : mem.parameters) {
    if (!t->defined()) continue;
    if (dedupe && !seen.insert(t->impl()).second) continue;
    out.emplace_back(join_name(prefix, name), *t);
  }
  if (!recurse) return;
  for (const auto& [name, child] : mem.modules)
    collect_tensors(*child, join_name(prefix, name), buffers, true, dedupe, seen, out);
}

NamedTensors named_tensors(const ModuleBase& m, bool buffers, bool recurse) {
  std::unordered_set<const TensorImpl*> seen;
  NamedTensors out;
  collect_tensors(m, "", buffers, recurse, true, seen, out);
  return out;
}

std::vector<Tensor> values_of(const NamedTensors& named) {
  std::vector<Tensor> v;
  v.reserve(named.size());
  for (const auto& nt : named) v.push_back(nt.second);
  return v;
}

void collect_modules(ModuleBase& m, const std::string& prefix,
                     std::unordered_set<const ModuleBase*>& seen,
                     std::vector<std::pair<std::string, ModuleBase*>>& out) {
  if (!seen.insert(&m).second) return;
  out.emplace_back(prefix, &m);
  for (const auto& [name, child] : m.members().modules)
    collect_modules(*child, join_name(prefix, name), seen, out);
}

// state_dict keeps every path, as PyTorch's: a shared module or tied weight appears under each
// name it is reachable by.
void collect_state(const ModuleBase& m, const std::string& prefix, StateDict& out) {
  ModuleMembers mem = m.members();
  for (const auto& [name, t] : mem.parameters)
    if (t->defined()) out.insert(join_name(prefix, name), *t);
  for (const auto& [name, t] : mem.buffers)
    if (t->defined()) out.insert(join_name(prefix, name), *t);
  for (const auto& [name, child] : mem.modules) collect_state(*child, join_name(prefix, name), out);
}

std::string quoted_list(const std::vector<std::string>& keys) {
  std::string s;
  for (size_t i = 0; i < keys.size(); ++i) s += (i ? ", \"" : "\"") + keys[i] + "\"";
  return s;
}

std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n), out;
  int count = 0;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    if (count && count % 3 == 0 && *it != '-') out.insert(out.begin(), ',');
    out.insert(out.begin(), *it);
    ++count;
  }
  return out;
}

}  // namespace

// ---- traversal ----

ModuleMembers ModuleBase::members() const {
  ModuleMembers out;
  // Reflection hands out references to members; a const module's tensors are handles whose
  // data is mutable anyway, so the cast only lets one walker serve const and non-const callers.
  auto* self = const_cast<ModuleBase*>(this);
  self->reflect_members(out);
  for (auto& [name, t] : self->registered_parameters_) out.parameters.emplace_back(name, &t);
  for (auto& [name, t] : self->registered_buffers_) out.buffers.emplace_back(name, &t);
  for (auto& [name, m] : self->registered_modules_) out.modules.emplace_back(name, m.get());
  return out;
}

std::vector<Tensor> ModuleBase::parameters(bool recurse) const {
  return values_of(named_tensors(*this, false, recurse));
}
NamedTensors ModuleBase::named_parameters(bool recurse) const {
  return named_tensors(*this, false, recurse);
}
std::vector<Tensor> ModuleBase::buffers(bool recurse) const {
  return values_of(named_tensors(*this, true, recurse));
}
NamedTensors ModuleBase::named_buffers(bool recurse) const {
  return named_tensors(*this, true, recurse);
}

std::vector<std::pair<std::string, ModuleBase*>> ModuleBase::named_children() {
  std::vector<std::pair<std::string, ModuleBase*>> out;
  std::unordered_set<const ModuleBase*> seen;
  for (const auto& [name, m] : members().modules)
    if (seen.insert(m).second) out.emplace_back(name, m);
  return out;
}
std::vector<ModuleBase*> ModuleBase::children() {
  std::vector<ModuleBase*> out;
  for (const auto& nm : named_children()) out.push_back(nm.second);
  return out;
}
std::vector<std::pair<std::string, ModuleBase*>> ModuleBase::named_modules() {
  std::vector<std::pair<std::string, ModuleBase*>> out;
  std::unordered_set<const ModuleBase*> seen;
  collect_modules(*this, "", seen, out);
  return out;
}
std::vector<ModuleBase*> ModuleBase::modules() {
  std::vector<ModuleBase*> out;
  for (const auto& nm : named_modules()) out.push_back(nm.second);
  return out;
}

void ModuleBase::apply(const std::function<void(ModuleBase&)>& fn) {
  for (ModuleBase* c : children()) c->apply(fn);
  fn(*this);
}

int64_t ModuleBase::num_parameters(bool trainable_only) const {
  int64_t n = 0;
  for (const Tensor& p : parameters())
    if (!trainable_only || p.requires_grad()) n += p.numel();
  return n;
}

// ---- modes and conversion ----

void ModuleBase::train(bool on) {
  training_ = on;
  for (ModuleBase* c : children()) c->train(on);
}

void ModuleBase::zero_grad(bool set_to_none) {
  NoGradGuard guard;
  for (const Tensor& p : parameters()) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    if (set_to_none) {
      p.set_grad(Tensor());
      continue;
    }
    if (g.grad_fn()) {  // a grad built with create_graph: cut it from its graph first
      g = g.detach();
      p.set_grad(g);
    }
    g.zero_();
  }
}

void ModuleBase::to(DType dtype) {
  EMBER_CHECK(is_floating(dtype), DTypeError,
              "Module.to: only floating point dtypes are accepted, got ", dtype_name(dtype));
  NoGradGuard guard;
  std::vector<Tensor> all = parameters();
  for (const Tensor& b : buffers()) all.push_back(b);
  for (const Tensor& t : all) {
    if (!t.is_floating_point() || t.dtype() == dtype) continue;
    replace_data(t, t.to(dtype));
    Tensor g = t.grad();
    if (g.defined() && g.is_floating_point()) t.set_grad(g.to(dtype));
  }
}

// ---- state ----

StateDict ModuleBase::state_dict() const {
  StateDict out;
  collect_state(*this, "", out);
  return out;
}

LoadResult ModuleBase::load_state_dict(const StateDict& dict, bool strict) {
  StateDict own = state_dict();
  LoadResult result;
  std::vector<std::string> mismatches;
  for (const auto& [key, dst] : own) {
    const Tensor* src = dict.find(key);
    if (!src) {
      result.missing_keys.push_back(key);
    } else if (!src->defined()) {
      mismatches.push_back("the value for " + key + " is an undefined tensor");
    } else if (!(src->sizes() == dst.sizes())) {
      std::ostringstream os;
      os << "size mismatch for " << key << ": copying a param with shape " << src->sizes()
         << " from checkpoint, the shape in current model is " << dst.sizes() << ".";
      mismatches.push_back(os.str());
    }
  }
  for (const auto& item : dict)
    if (!own.contains(item.first)) result.unexpected_keys.push_back(item.first);

  bool key_errors = strict && (!result.missing_keys.empty() || !result.unexpected_keys.empty());
  if (key_errors || !mismatches.empty()) {
    std::string msg = "Error(s) in loading state_dict for " + type_name() + ":";
    if (strict && !result.missing_keys.empty())
      msg += "\n\tMissing key(s) in state_dict: " + quoted_list(result.missing_keys) + ".";
    if (strict && !result.unexpected_keys.empty())
      msg += "\n\tUnexpected key(s) in state_dict: " + quoted_list(result.unexpected_keys) + ".";
    for (const auto& m : mismatches) msg += "\n\t" + m;
    throw Error(msg);
  }
  NoGradGuard guard;
  for (const auto& [key, dst] : own)
    if (const Tensor* src = dict.find(key)) dst.copy_(*src);
  return result;
}

void ModuleBase::save(const std::string& path) const { save_safetensors(path, state_dict()); }

LoadResult ModuleBase::load(const std::string& path, bool strict) {
  return load_state_dict(load_safetensors(path), strict);
}

// ---- registration ----

void ModuleBase::check_new_name(const char* what, const std::string& name) const {
  EMBER_CHECK(!name.empty(), ValueError, what, ": the name must not be empty");
  EMBER_CHECK(name.find('.') == std::string::npos, ValueError, what, ": name '", name,
              "' must not contain '.'");
  ModuleMembers mem = members();
  auto taken = [&](const auto& list) {
    for (const auto& entry : list)
      if (entry.first == name) return true;
    return false;
  };
  EMBER_CHECK(!taken(mem.parameters) && !taken(mem.buffers) && !taken(mem.modules), ValueError,
              what, ": attribute '", name, "' already exists in ", type_name());
}

Tensor ModuleBase::register_parameter(std::string name, const Tensor& t, bool requires_grad) {
  check_new_name("register_parameter", name);
  Parameter p(t, requires_grad);
  registered_parameters_.emplace_back(std::move(name), p);
  return p;
}

Tensor ModuleBase::register_buffer(std::string name, const Tensor& t) {
  check_new_name("register_buffer", name);
  Buffer b(t);
  registered_buffers_.emplace_back(std::move(name), b);
  return b;
}

void ModuleBase::add_registered_module(std::string name, std::shared_ptr<ModuleBase> m) {
  check_new_name("register_module", name);
  EMBER_CHECK(m != nullptr, ValueError, "register_module: module '", name, "' is null");
  EMBER_CHECK(m.get() != this, ValueError, "register_module: a module cannot contain itself");
  registered_modules_.emplace_back(std::move(name), std::move(m));
}

// ---- printing ----

std::string ModuleBase::type_name() const {
  const char* mangled = typeid(*this).name();
  int status = 0;
  char* demangled = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string full = status == 0 && demangled ? demangled : mangled;
  std::free(demangled);
  // Strip namespaces at template depth 0: "ember::nn::Linear" -> "Linear".
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i < full.size(); ++i) {
    if (full[i] == '<')
      ++depth;
    else if (full[i] == '>')
      --depth;
    else if (depth == 0 && full[i] == ':' && i + 1 < full.size() && full[i + 1] == ':')
      start = i + 2;
  }
  return full.substr(start);
}

namespace {

void print_module(std::ostream& os, const ModuleBase& m, const std::string& indent) {
  ModuleMembers mem = m.members();
  std::string extra = m.extra_repr();
  std::vector<std::pair<std::string, Tensor>> own;
  for (const auto& [name, t] : mem.parameters)
    if (t->defined()) own.emplace_back(name, *t);
  os << m.type_name() << "(";
  if (mem.modules.empty()) {
    os << extra << ")";
    if (!own.empty()) {
      int64_t n = 0;
      os << "  # ";
      for (size_t i = 0; i < own.size(); ++i) {
        os << (i ? ", " : "") << own[i].first << " " << own[i].second.sizes();
        n += own[i].second.numel();
      }
      os << ": " << with_commas(n) << (n == 1 ? " param" : " params");
    }
    return;
  }
  os << "\n";
  if (!extra.empty()) os << indent << "  " << extra << "\n";
  for (const auto& [name, t] : own)
    os << indent << "  (" << name << "): Parameter " << t.sizes() << "\n";
  for (const auto& [name, child] : mem.modules) {
    os << indent << "  (" << name << "): ";
    print_module(os, *child, indent + "  ");
    os << "\n";
  }
  int64_t total = m.num_parameters(), trainable = m.num_parameters(true);
  os << indent << ")  # " << with_commas(total) << " params";
  if (trainable != total) os << " (" << with_commas(trainable) << " trainable)";
}

}  // namespace

std::ostream& operator<<(std::ostream& os, const ModuleBase& m) {
  print_module(os, m, "");
  return os;
}

std::string to_string(const ModuleBase& m) {
  std::ostringstream os;
  os << m;
  return os.str();
}

}  // namespace ember::nn
