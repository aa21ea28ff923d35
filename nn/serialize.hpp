// StateDict (an ordered name -> Tensor map) and the .safetensors format, so weights move
// between ember and PyTorch:
//
//   nn::save_safetensors("net.safetensors", net.state_dict());
//   nn::StateDict sd = nn::load_safetensors("net.safetensors");   // keys in file order
//   net.load_state_dict(sd);
//
// The format: an 8-byte little-endian header length n, n bytes of JSON
// {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
//  "__metadata__": {"key": "value"}}, then the raw little-endian data the offsets index into.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "runtime/tensor.hpp"

namespace ember::nn {

/// Names to tensors, in insertion order, with lookup by name.
class StateDict {
 public:
  using Item = std::pair<std::string, Tensor>;

  StateDict() = default;
  StateDict(std::initializer_list<Item> items);

  /// Adds key, or replaces the tensor of an existing key (keeping its position).
  void insert(std::string key, Tensor value);
  /// Removes key; returns false when it was absent.
  bool erase(std::string_view key);
  bool contains(std::string_view key) const { return find(key) != nullptr; }
  /// The tensor of key, or nullptr.
  const Tensor* find(std::string_view key) const;
  /// The tensor of key; IndexError naming the key when it is absent.
  const Tensor& at(std::string_view key) const;
  const Tensor& operator[](std::string_view key) const { return at(key); }
  std::vector<std::string> keys() const;

  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

 private:
  std::vector<Item> items_;
  std::unordered_map<std::string, size_t> index_;
};

/// Free-form string pairs stored under "__metadata__".
using Metadata = std::map<std::string, std::string>;

/// The complete .safetensors bytes for tensors (any strides; written contiguous, in order).
std::string serialize_safetensors(const StateDict& tensors, const Metadata& metadata = {});
/// Parses .safetensors bytes; `source` names them in errors. Tensors come in data order. A
/// malformed buffer is an ember::Error saying what is wrong, never a crash.
StateDict deserialize_safetensors(std::string_view bytes, std::string_view source = "<memory>",
                                  Metadata* metadata = nullptr);

/// Writes tensors (and optional metadata) to path as .safetensors, atomically: a failed save
/// leaves the previous file whole (runtime/file_io.hpp).
void save_safetensors(const std::string& path, const StateDict& tensors,
                      const Metadata& metadata = {});
/// Reads a .safetensors file; errors name the file and the problem (a directory, a missing or
/// malformed file: ember::Error, never a crash).
StateDict load_safetensors(const std::string& path, Metadata* metadata = nullptr);

}  // namespace ember::nn
