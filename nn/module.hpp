// nn::Module: the base of every layer and network. Calling a module calls its forward();
// EMBER_MODULE lists the members that hold state, and everything else follows from it:
//
//   struct Block : nn::Module<Block> {
//     nn::Conv2d conv1, conv2;  nn::BatchNorm2d bn1, bn2;
//     explicit Block(int64_t c) : conv1(c, c, 3, {.padding = 1}), conv2(c, c, 3, {.padding = 1}),
//                                 bn1(c), bn2(c) {}
//     Tensor forward(const Tensor& x) { return relu(x + bn2(conv2(relu(bn1(conv1(x)))))); }
//   };
//   EMBER_MODULE(Block, conv1, bn1, conv2, bn2);   // names become state_dict keys
//
//   Block b(8);
//   b.named_parameters();   // "conv1.weight", "conv1.bias", "bn1.weight", ...
//   b.eval();  b.to(kFloat64);  b.save("block.safetensors");  std::cout << b;
//
// Reflection (Boost.Hana struct adaptation) finds members that are modules, nn::Parameter or
// nn::Buffer (also std::vector of them, named "name.0", "name.1", ...); other members are plain
// data and ignored. A module without EMBER_MODULE simply has no reflected members. Dynamic
// structures use register_module / register_parameter / register_buffer instead.
//
// Modules are held by value and cannot be copied (a copy would silently share or duplicate
// weights); they can be moved, and containers hold them by std::shared_ptr.
#pragma once

#include <boost/hana/accessors.hpp>
#include <boost/hana/adapt_struct.hpp>
#include <boost/hana/concept/struct.hpp>
#include <boost/hana/first.hpp>
#include <boost/hana/for_each.hpp>
#include <boost/hana/second.hpp>
#include <boost/hana/string.hpp>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "nn/serialize.hpp"
#include "runtime/tensor.hpp"

namespace ember::nn {

/// A tensor a module learns: a leaf that requires grad (unless requires_grad = false).
class Parameter : public Tensor {
 public:
  Parameter() = default;
  /// Shares t's data as a new leaf; an undefined t gives an absent parameter (as None).
  explicit Parameter(const Tensor& t, bool requires_grad = true);
};

/// Module state that is saved but not learnt (running statistics, counters).
class Buffer : public Tensor {
 public:
  Buffer() = default;
  /// Shares t's data as a new leaf without grad; an undefined t gives an absent buffer.
  explicit Buffer(const Tensor& t);
};

class ModuleBase;

/// What one module holds directly, in order: parameters, buffers and child modules.
struct ModuleMembers {
  std::vector<std::pair<std::string, Tensor*>> parameters, buffers;
  std::vector<std::pair<std::string, ModuleBase*>> modules;
};

/// Keys load_state_dict(..., strict = false) did not match (as PyTorch's _IncompatibleKeys).
struct LoadResult {
  std::vector<std::string> missing_keys, unexpected_keys;
};

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

/// The non-template interface of every module: traversal, modes, conversion and state.
class ModuleBase {
 public:
  ModuleBase() = default;
  virtual ~ModuleBase() = default;
  ModuleBase(const ModuleBase&) = delete;
  ModuleBase& operator=(const ModuleBase&) = delete;
  ModuleBase(ModuleBase&&) noexcept = default;
  ModuleBase& operator=(ModuleBase&&) noexcept = default;

  // ---- traversal (parameters and buffers of absent/undefined tensors are skipped) ----
  /// Every parameter of this module and, if recurse, of its descendants (each tensor once).
  std::vector<Tensor> parameters(bool recurse = true) const;
  /// parameters() with dotted names ("block1.conv1.weight").
  NamedTensors named_parameters(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  NamedTensors named_buffers(bool recurse = true) const;
  /// Direct sub-modules.
  std::vector<ModuleBase*> children();
  std::vector<std::pair<std::string, ModuleBase*>> named_children();
  /// This module and all descendants, depth first (each module once).
  std::vector<ModuleBase*> modules();
  /// modules() with dotted names; this module is "".
  std::vector<std::pair<std::string, ModuleBase*>> named_modules();
  /// Everything this module holds directly: reflected members first, then registered ones.
  ModuleMembers members() const;
  /// Calls fn on every descendant, then on this module (as PyTorch's Module.apply).
  void apply(const std::function<void(ModuleBase&)>& fn);
  /// Total number of parameter elements (only those requiring grad if trainable_only).
  int64_t num_parameters(bool trainable_only = false) const;

  // ---- modes and conversion ----
  /// Sets training mode here and in every descendant.
  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  /// Clears parameter gradients: sets them undefined, or zeroes them in place.
  void zero_grad(bool set_to_none = true);
  /// Converts floating-point parameters and buffers (and their grads) to dtype in place: the
  /// tensors keep their identity, so references held elsewhere (an optimizer) see the change.
  void to(DType dtype);

  // ---- state ----
  /// Parameters then buffers of each module, depth first, with dotted keys.
  StateDict state_dict() const;
  /// Copies values from dict (converting dtype). Shape mismatches are always an error; with
  /// strict, missing and unexpected keys are too. Nothing is copied when it throws.
  LoadResult load_state_dict(const StateDict& dict, bool strict = true);
  /// Writes state_dict() to a .safetensors file.
  void save(const std::string& path) const;
  /// Reads a .safetensors file into this module (see load_state_dict).
  LoadResult load(const std::string& path, bool strict = true);

  // ---- dynamic registration (names must be new and contain no '.') ----
  /// Adds a parameter (as a new leaf sharing t's data) and returns it.
  Tensor register_parameter(std::string name, const Tensor& t, bool requires_grad = true);
  /// Adds a buffer and returns it.
  Tensor register_buffer(std::string name, const Tensor& t);
  /// Adds a shared sub-module and returns it.
  template <class M>
  std::shared_ptr<M> register_module(std::string name, std::shared_ptr<M> m) {
    static_assert(std::is_base_of_v<ModuleBase, M>, "register_module: M must be a module");
    add_registered_module(std::move(name), m);
    return m;
  }
  /// Moves a module in as a sub-module and returns a handle to it.
  template <class M>
    requires(std::is_base_of_v<ModuleBase, std::remove_cvref_t<M>> &&
             !std::is_lvalue_reference_v<M>)
  std::shared_ptr<std::remove_cvref_t<M>> register_module(std::string name, M&& m) {
    return register_module(std::move(name),
                           std::make_shared<std::remove_cvref_t<M>>(std::forward<M>(m)));
  }

  // ---- printing ----
  /// The module's class name without namespaces ("Conv2d", "Block").
  virtual std::string type_name() const;
  /// The text inside the parentheses when printed ("in_features=4, out_features=2, bias=true").
  virtual std::string extra_repr() const { return {}; }

 protected:
  /// Adds the members found by reflection; Module<Derived> implements it with Boost.Hana.
  virtual void reflect_members(ModuleMembers&) {}

 private:
  void add_registered_module(std::string name, std::shared_ptr<ModuleBase> m);
  void check_new_name(const char* what, const std::string& name) const;

  NamedTensors registered_parameters_, registered_buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<ModuleBase>>> registered_modules_;
  bool training_ = true;
};

/// Prints the module tree with each module's parameter shapes and the parameter counts.
std::ostream& operator<<(std::ostream& os, const ModuleBase& m);
/// The printed form as a string.
std::string to_string(const ModuleBase& m);

namespace detail {

template <class T>
struct is_std_vector : std::false_type {};
template <class T, class A>
struct is_std_vector<std::vector<T, A>> : std::true_type {};

template <class T>
void add_member(const std::string& name, T& member, ModuleMembers& out) {
  if constexpr (std::is_same_v<T, Parameter>) {
    out.parameters.emplace_back(name, &member);
  } else if constexpr (std::is_same_v<T, Buffer>) {
    out.buffers.emplace_back(name, &member);
  } else if constexpr (std::is_base_of_v<ModuleBase, T>) {
    out.modules.emplace_back(name, &member);
  } else if constexpr (is_std_vector<T>::value) {
    for (size_t i = 0; i < member.size(); ++i)
      add_member(name + "." + std::to_string(i), member[i], out);
  }
  // Anything else (an exponent, a plain Tensor, options) is ordinary data.
}

/// The members of an EMBER_MODULE-adapted object, in the order the macro lists them.
template <class T>
void reflect(T& obj, ModuleMembers& out) {
  namespace hana = boost::hana;
  if constexpr (hana::Struct<T>::value) {
    hana::for_each(hana::accessors<T>(), [&](auto pair) {
      add_member(hana::to<char const*>(hana::first(pair)), hana::second(pair)(obj), out);
    });
  }
}

}  // namespace detail

/// The CRTP base of a module type: `struct Net : nn::Module<Net> { Tensor forward(...); }`.
template <class Derived>
class Module : public ModuleBase {
 public:
  /// Calls Derived::forward with the arguments.
  template <class... A>
    requires requires(Derived& d, A&&... a) { d.forward(std::forward<A>(a)...); }
  decltype(auto) operator()(A&&... args) {
    return static_cast<Derived&>(*this).forward(std::forward<A>(args)...);
  }

 protected:
  void reflect_members(ModuleMembers& out) override {
    detail::reflect(static_cast<Derived&>(*this), out);
  }
};

}  // namespace ember::nn

/// Lists a module type's members that hold state (sub-modules, nn::Parameter, nn::Buffer);
/// their names become state_dict keys. Write it once, at global scope, after the type.
#define EMBER_MODULE(Type, ...)                                   \
  static_assert(std::is_base_of_v<::ember::nn::ModuleBase, Type>, \
                "EMBER_MODULE(" #Type                             \
                ", ...): the type must derive from "              \
                "ember::nn::Module<" #Type ">");                  \
  BOOST_HANA_ADAPT_STRUCT(Type, __VA_ARGS__)
