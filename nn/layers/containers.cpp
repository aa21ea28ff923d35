#include "nn/layers/containers.hpp"

namespace ember::nn {

namespace {
void check_index(const char* what, size_t i, size_t n) {
  EMBER_CHECK(i < n, IndexError, what, ": index ", i, " is out of range for ", n, " modules");
}
}  // namespace

// ---- Sequential ----

void Sequential::append(std::shared_ptr<ModuleBase> m) {
  register_module(std::to_string(items_.size()), m);
  items_.push_back(std::move(m));
}

Tensor Sequential::forward(const Tensor& input) {
  Tensor x = input;
  for (const auto& call : calls_) x = call(x);
  return x;
}

ModuleBase& Sequential::operator[](size_t i) const { return *ptr(i); }
std::shared_ptr<ModuleBase> Sequential::ptr(size_t i) const {
  check_index("Sequential", i, items_.size());
  return items_[i];
}

// ---- ModuleList ----

void ModuleList::append(std::shared_ptr<ModuleBase> m) {
  register_module(std::to_string(items_.size()), m);
  items_.push_back(std::move(m));
}

ModuleBase& ModuleList::operator[](size_t i) const { return *ptr(i); }
std::shared_ptr<ModuleBase> ModuleList::ptr(size_t i) const {
  check_index("ModuleList", i, items_.size());
  return items_[i];
}

// ---- ModuleDict ----

void ModuleDict::add(const std::string& key, std::shared_ptr<ModuleBase> m) {
  register_module(key, m);  // checks the key is new and has no '.'
  items_.emplace_back(key, std::move(m));
}

bool ModuleDict::contains(const std::string& key) const {
  for (const auto& item : items_)
    if (item.first == key) return true;
  return false;
}

ModuleBase& ModuleDict::operator[](const std::string& key) const { return *ptr(key); }
std::shared_ptr<ModuleBase> ModuleDict::ptr(const std::string& key) const {
  for (const auto& item : items_)
    if (item.first == key) return item.second;
  std::string present;
  for (const auto& item : items_) present += (present.empty() ? "'" : ", '") + item.first + "'";
  throw IndexError("ModuleDict: no module '" + key +
                   "' (keys: " + (present.empty() ? "none" : present) + ")");
}

std::vector<std::string> ModuleDict::keys() const {
  std::vector<std::string> k;
  for (const auto& item : items_) k.push_back(item.first);
  return k;
}

}  // namespace ember::nn
