// DType, Scalar, and PyTorch's type-promotion rules.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <type_traits>

namespace ember {

enum class DType : uint8_t { Float32, Float64, Int64, Bool };

inline constexpr DType kFloat32 = DType::Float32;
inline constexpr DType kFloat64 = DType::Float64;
inline constexpr DType kInt64 = DType::Int64;
inline constexpr DType kBool = DType::Bool;
inline constexpr DType kFloat = kFloat32;
inline constexpr DType kDouble = kFloat64;
inline constexpr DType kLong = kInt64;

/// Bytes per element.
constexpr size_t element_size(DType t) {
  switch (t) {
    case DType::Float32:
      return 4;
    case DType::Float64:
      return 8;
    case DType::Int64:
      return 8;
    case DType::Bool:
      return 1;
  }
  return 0;
}
constexpr bool is_floating(DType t) { return t == DType::Float32 || t == DType::Float64; }
constexpr bool is_integral(DType t, bool include_bool = false) {
  return t == DType::Int64 || (include_bool && t == DType::Bool);
}
/// "float32", "float64", "int64", "bool".
const char* dtype_name(DType t);
/// Prints "ember.float32", as PyTorch prints torch.float32.
std::ostream& operator<<(std::ostream& os, DType t);

/// Maps a C++ element type to its DType.
template <class T>
struct dtype_of;
template <>
struct dtype_of<float> {
  static constexpr DType value = kFloat32;
};
template <>
struct dtype_of<double> {
  static constexpr DType value = kFloat64;
};
template <>
struct dtype_of<int64_t> {
  static constexpr DType value = kInt64;
};
template <>
struct dtype_of<bool> {
  static constexpr DType value = kBool;
};
template <class T>
inline constexpr DType dtype_of_v = dtype_of<T>::value;

/// Calls f(T{}) with T the C++ type of t: float, double, int64_t or bool.
template <class F>
decltype(auto) visit_dtype(DType t, F&& f) {
  switch (t) {
    case DType::Float32:
      return f(float{});
    case DType::Float64:
      return f(double{});
    case DType::Int64:
      return f(int64_t{});
    case DType::Bool:
      return f(bool{});
  }
  return f(float{});
}

/// Type category: bool < integral < floating (PyTorch's promotion works on categories first).
constexpr int category(DType t) { return t == DType::Bool ? 0 : t == DType::Int64 ? 1 : 2; }

/// The smallest dtype both a and b convert to without losing their category.
constexpr DType promote(DType a, DType b) {
  if (a == b) return a;
  if (category(a) != category(b)) return category(a) > category(b) ? a : b;
  return element_size(a) >= element_size(b) ? a : b;  // float32 vs float64
}

/// The default floating dtype (float32, as in PyTorch).
DType default_dtype();
void set_default_dtype(DType t);

/// A number that may be an integer, a float or a bool: Python-like scalars in tensor ops.
class Scalar {
 public:
  Scalar() = default;
  template <class T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
  Scalar(T v) : d_(static_cast<double>(v)), kind_(kFloat64) {}  // NOLINT: implicit
  template <class T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  Scalar(T v) : d_(static_cast<double>(v)), i_(static_cast<int64_t>(v)), kind_(kInt64) {}  // NOLINT
  Scalar(bool v) : d_(v), i_(v), kind_(kBool) {}  // NOLINT: implicit

  /// kFloat64 for a floating value, kInt64 for an integer, kBool for a bool.
  DType kind() const { return kind_; }
  bool is_floating() const { return kind_ == kFloat64; }
  double to_double() const { return d_; }
  int64_t to_int() const { return kind_ == kFloat64 ? static_cast<int64_t>(d_) : i_; }
  template <class T>
  T to() const {
    if constexpr (std::is_floating_point_v<T>)
      return static_cast<T>(d_);
    else if constexpr (std::is_same_v<T, bool>)
      return d_ != 0;
    else
      return static_cast<T>(to_int());
  }

 private:
  double d_ = 0;
  int64_t i_ = 0;
  DType kind_ = kInt64;
};

}  // namespace ember
