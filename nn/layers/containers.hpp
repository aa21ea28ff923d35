// Containers: Sequential, ModuleList, ModuleDict. They hold modules by std::shared_ptr, take
// them by value (moved in) or as shared_ptr (shared), and name them "0", "1", ... or by key.
//
//   auto net = nn::Sequential(nn::Flatten(), nn::Linear(784, 256), nn::ReLU(),
//                             nn::Linear(256, 10));
//   Tensor logits = net(images);            // "1.weight", "1.bias", "3.weight", "3.bias"
//   nn::Linear& head = net.at<nn::Linear>(3);
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "nn/module.hpp"

namespace ember::nn {

namespace detail {

template <class T>
struct shared_module {
  using type = void;
};
template <class M>
struct shared_module<std::shared_ptr<M>> {
  using type = M;
};

/// The module type an argument of a container stands for (M for M&& or shared_ptr<M>).
template <class A>
using module_of_t =
    std::conditional_t<std::is_void_v<typename shared_module<std::remove_cvref_t<A>>::type>,
                       std::remove_cvref_t<A>,
                       typename shared_module<std::remove_cvref_t<A>>::type>;

template <class A>
concept ModuleArg = std::is_base_of_v<ModuleBase, module_of_t<A>>;

/// Moves a module into a shared_ptr, or passes a shared_ptr through.
template <class A>
std::shared_ptr<module_of_t<A>> to_shared(A&& a) {
  using M = module_of_t<A>;
  if constexpr (std::is_same_v<std::remove_cvref_t<A>, std::shared_ptr<M>>) {
    EMBER_CHECK(a != nullptr, ValueError, "container: a null module was passed");
    return a;
  } else {
    static_assert(!std::is_lvalue_reference_v<A>,
                  "modules cannot be copied: pass std::move(module), a temporary, or a "
                  "std::shared_ptr to share it");
    return std::make_shared<M>(std::move(a));
  }
}

/// Indexing shared by the containers: dynamic_cast with an error naming both types.
template <class M>
M& checked_cast(ModuleBase& m, const std::string& where) {
  auto* p = dynamic_cast<M*>(&m);
  EMBER_CHECK(p != nullptr, ValueError, where, " is a ", m.type_name(), ", not the requested type");
  return *p;
}

}  // namespace detail

/// Runs modules in order, each one's Tensor output feeding the next.
struct Sequential : Module<Sequential> {
  Sequential() = default;
  /// Sequential(nn::Linear(4, 8), nn::ReLU(), shared_block, ...).
  template <detail::ModuleArg... A>
    requires(sizeof...(A) > 0)
  explicit Sequential(A&&... modules) {
    (push_back(std::forward<A>(modules)), ...);
  }

  /// Appends a module (moved in, or shared through a shared_ptr); it must take and return a
  /// Tensor.
  template <detail::ModuleArg A>
  Sequential& push_back(A&& module) {
    using M = detail::module_of_t<A>;
    static_assert(std::is_invocable_r_v<Tensor, M&, const Tensor&>,
                  "Sequential holds modules whose forward takes a Tensor and returns a Tensor");
    std::shared_ptr<M> m = detail::to_shared(std::forward<A>(module));
    calls_.push_back([m](const Tensor& x) -> Tensor { return (*m)(x); });
    append(m);
    return *this;
  }

  Tensor forward(const Tensor& input);

  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  /// The i-th module (IndexError when out of range).
  ModuleBase& operator[](size_t i) const;
  std::shared_ptr<ModuleBase> ptr(size_t i) const;
  /// The i-th module as its own type: net.at<nn::Linear>(1).
  template <class M>
  M& at(size_t i) const {
    return detail::checked_cast<M>((*this)[i], "Sequential: module " + std::to_string(i));
  }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

 private:
  void append(std::shared_ptr<ModuleBase> m);
  std::vector<std::shared_ptr<ModuleBase>> items_;
  std::vector<std::function<Tensor(const Tensor&)>> calls_;
};

/// An indexed list of modules of any types; it has no forward of its own.
struct ModuleList : Module<ModuleList> {
  ModuleList() = default;
  template <detail::ModuleArg... A>
    requires(sizeof...(A) > 0)
  explicit ModuleList(A&&... modules) {
    (push_back(std::forward<A>(modules)), ...);
  }
  /// Appends a module and returns it as its own type.
  template <detail::ModuleArg A>
  std::shared_ptr<detail::module_of_t<A>> push_back(A&& module) {
    auto m = detail::to_shared(std::forward<A>(module));
    append(m);
    return m;
  }

  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  ModuleBase& operator[](size_t i) const;
  std::shared_ptr<ModuleBase> ptr(size_t i) const;
  template <class M>
  M& at(size_t i) const {
    return detail::checked_cast<M>((*this)[i], "ModuleList: module " + std::to_string(i));
  }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

 private:
  void append(std::shared_ptr<ModuleBase> m);
  std::vector<std::shared_ptr<ModuleBase>> items_;
};

/// Modules by name, in insertion order; it has no forward of its own.
struct ModuleDict : Module<ModuleDict> {
  ModuleDict() = default;
  /// Adds a module under key (a new name without '.') and returns it as its own type.
  template <detail::ModuleArg A>
  std::shared_ptr<detail::module_of_t<A>> insert(const std::string& key, A&& module) {
    auto m = detail::to_shared(std::forward<A>(module));
    add(key, m);
    return m;
  }

  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  bool contains(const std::string& key) const;
  /// The module under key (IndexError naming the key and the keys present when absent).
  ModuleBase& operator[](const std::string& key) const;
  std::shared_ptr<ModuleBase> ptr(const std::string& key) const;
  template <class M>
  M& at(const std::string& key) const {
    return detail::checked_cast<M>((*this)[key], "ModuleDict: module '" + key + "'");
  }
  std::vector<std::string> keys() const;
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

 private:
  void add(const std::string& key, std::shared_ptr<ModuleBase> m);
  std::vector<std::pair<std::string, std::shared_ptr<ModuleBase>>> items_;
};

}  // namespace ember::nn
