// Tensor: a cheap, ref-counted handle to strided data, as libtorch's.
//
//   manual_seed(0);
//   Tensor x = randn({2, 3});                 // float32
//   Tensor y = (x * 2 + 1).relu().sum(1);     // broadcasting, scalars, reductions
//   Tensor v = x.t().contiguous();            // views share storage; contiguous() copies if needed
//   std::cout << y.sizes() << y.dtype() << y;  // [2] ember.float32 tensor([...])
//   float first = y[0].item<float>();
#pragma once

#include <concepts>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/dims.hpp"
#include "runtime/dtype.hpp"
#include "runtime/error.hpp"
#include "runtime/storage.hpp"

namespace ember {

namespace autograd {
struct Node;
struct AutogradMeta;
}  // namespace autograd

struct TensorImpl;
struct ValuesIndices;

/// One integer dim (any integer type but bool). The reductions take it through a template, so
/// `x.sum(1)` picks the one-dim overload while a braced list (`x.sum({1})`, `x.sum({})`) still
/// means Dims: a braced list never deduces a template parameter.
template <class T>
concept DimIndex = std::integral<T> && !std::same_as<T, bool>;

/// Creation options: `zeros({2, 3}, kInt64)`, `TensorOptions(kFloat64).requires_grad(true)`.
class TensorOptions {
 public:
  TensorOptions() = default;
  TensorOptions(DType d) : dtype_(d), has_dtype_(true) {}  // NOLINT: implicit
  TensorOptions dtype(DType d) const {
    auto o = *this;
    o.dtype_ = d;
    o.has_dtype_ = true;
    return o;
  }
  TensorOptions requires_grad(bool r) const {
    auto o = *this;
    o.requires_grad_ = r;
    return o;
  }
  /// The dtype given, or the default floating dtype.
  DType dtype() const { return has_dtype_ ? dtype_ : default_dtype(); }
  bool has_dtype() const { return has_dtype_; }
  bool requires_grad() const { return requires_grad_; }

 private:
  DType dtype_ = kFloat32;
  bool has_dtype_ = false;
  bool requires_grad_ = false;
};

class Tensor {
 public:
  /// An undefined tensor (as libtorch's default-constructed Tensor).
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}
  Tensor(const Tensor&) = default;
  Tensor(Tensor&&) noexcept = default;
  /// Assignment rebinds a named tensor, so only to lvalues: `t.grad() = Tensor()` would rebind
  /// a copy and change nothing (use set_grad); as in libtorch, it does not compile.
  Tensor& operator=(const Tensor&) & = default;
  Tensor& operator=(Tensor&&) & noexcept = default;
  ~Tensor() = default;

  bool defined() const { return impl_ != nullptr; }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool is_same(const Tensor& o) const { return impl_ == o.impl_; }

  // ---- metadata ----
  const Dims& sizes() const;
  const Dims& strides() const;
  /// Size of dim d; negative d counts from the end.
  int64_t size(int64_t d) const;
  int64_t stride(int64_t d) const;
  int64_t dim() const;
  int64_t numel() const;
  DType dtype() const;
  TensorOptions options() const { return TensorOptions(dtype()); }
  size_t element_size() const;
  int64_t storage_offset() const;
  bool is_contiguous() const;
  bool is_floating_point() const { return is_floating(dtype()); }
  /// True for 0-d tensors made from a C++ number (they do not promote a tensor's dtype).
  bool is_wrapped_number() const;
  const std::shared_ptr<Storage>& storage() const;
  /// Version counter shared with every view of the same storage.
  uint32_t version() const;
  void bump_version() const;

  // ---- data access ----
  /// Pointer to the first element; T must match the dtype.
  template <class T>
  T* data_ptr() const;
  void* raw_data() const;
  /// The single value of a one-element tensor, converted to T.
  template <class T>
  T item() const;
  Scalar item() const;
  /// All elements in row-major order, converted to T.
  template <class T>
  std::vector<T> to_vector() const;

  // ---- autograd fields (the engine lives in runtime/autograd) ----
  bool requires_grad() const;
  const Tensor& requires_grad_(bool r = true) const;
  /// The accumulated gradient (undefined until a backward reaches this tensor).
  Tensor grad() const;
  void set_grad(const Tensor& g) const;
  Tensor& mutable_grad() const;
  const std::shared_ptr<autograd::Node>& grad_fn() const;
  bool is_leaf() const;
  Tensor detach() const;
  const Tensor& retain_grad() const;
  bool retains_grad() const;
  void backward(const Tensor& grad = {}, bool retain_graph = false,
                bool create_graph = false) const;
  /// Calls hook with this tensor's gradient during backward; a defined result replaces it.
  void register_hook(std::function<Tensor(const Tensor&)> hook) const;

  // ---- conversion and copies ----
  Tensor to(DType t) const;
  Tensor clone() const;
  Tensor contiguous() const;
  const Tensor& copy_(const Tensor& src) const;
  const Tensor& fill_(Scalar v) const;
  const Tensor& zero_() const;

  // ---- in place (bump the version counter) ----
  const Tensor& add_(const Tensor& o, Scalar alpha = 1) const;
  const Tensor& sub_(const Tensor& o, Scalar alpha = 1) const;
  const Tensor& mul_(const Tensor& o) const;
  const Tensor& div_(const Tensor& o) const;
  const Tensor& add_(Scalar o) const;
  const Tensor& sub_(Scalar o) const;
  const Tensor& mul_(Scalar o) const;
  const Tensor& div_(Scalar o) const;
  const Tensor& clamp_(std::optional<double> min, std::optional<double> max = std::nullopt) const;
  const Tensor& operator+=(const Tensor& o) const { return add_(o); }
  const Tensor& operator-=(const Tensor& o) const { return sub_(o); }
  const Tensor& operator*=(const Tensor& o) const { return mul_(o); }
  const Tensor& operator/=(const Tensor& o) const { return div_(o); }
  const Tensor& operator+=(Scalar o) const { return add_(o); }
  const Tensor& operator-=(Scalar o) const { return sub_(o); }
  const Tensor& operator*=(Scalar o) const { return mul_(o); }
  const Tensor& operator/=(Scalar o) const { return div_(o); }

  // ---- views and movement ----
  Tensor view(const Dims& sizes) const;
  Tensor reshape(const Dims& sizes) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor squeeze() const;
  Tensor squeeze(int64_t d) const;
  Tensor unsqueeze(int64_t d) const;
  Tensor transpose(int64_t a, int64_t b) const;
  Tensor t() const;
  Tensor permute(const Dims& perm) const;
  Tensor expand(const Dims& sizes) const;
  Tensor expand_as(const Tensor& o) const;
  Tensor narrow(int64_t d, int64_t start, int64_t length) const;
  Tensor select(int64_t d, int64_t index) const;
  Tensor slice(int64_t d, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor index_select(int64_t d, const Tensor& index) const;
  Tensor gather(int64_t d, const Tensor& index) const;
  std::vector<Tensor> split(int64_t split_size, int64_t d = 0) const;
  std::vector<Tensor> chunk(int64_t chunks, int64_t d = 0) const;
  /// x[i]: select(0, i).
  Tensor operator[](int64_t i) const { return select(0, i); }

  // ---- math (free functions in ops.hpp are the full surface) ----
  Tensor neg() const;
  Tensor abs() const;
  Tensor exp() const;
  Tensor log() const;
  Tensor sqrt() const;
  Tensor rsqrt() const;
  Tensor sin() const;
  Tensor cos() const;
  Tensor tanh() const;
  Tensor sigmoid() const;
  Tensor relu() const;
  Tensor gelu() const;
  Tensor silu() const;
  Tensor erf() const;
  Tensor pow(const Tensor& e) const;
  Tensor pow(Scalar e) const;
  Tensor clamp(std::optional<double> min, std::optional<double> max = std::nullopt) const;
  Tensor matmul(const Tensor& o) const;
  Tensor mm(const Tensor& o) const;
  Tensor softmax(int64_t d) const;
  Tensor log_softmax(int64_t d) const;

  // ---- reductions (a list of dims, or one integer dim: x.sum({0, 1}), x.sum(1, true)) ----
  Tensor sum() const;
  Tensor sum(const Dims& dims, bool keepdim = false) const;
  template <DimIndex I>
  Tensor sum(I dim, bool keepdim = false) const {
    return sum(Dims{static_cast<int64_t>(dim)}, keepdim);
  }
  Tensor mean() const;
  Tensor mean(const Dims& dims, bool keepdim = false) const;
  template <DimIndex I>
  Tensor mean(I dim, bool keepdim = false) const {
    return mean(Dims{static_cast<int64_t>(dim)}, keepdim);
  }
  Tensor prod() const;
  Tensor prod(const Dims& dims, bool keepdim = false) const;
  template <DimIndex I>
  Tensor prod(I dim, bool keepdim = false) const {
    return prod(Dims{static_cast<int64_t>(dim)}, keepdim);
  }
  Tensor amax(const Dims& dims = {}, bool keepdim = false) const;
  template <DimIndex I>
  Tensor amax(I dim, bool keepdim = false) const {
    return amax(Dims{static_cast<int64_t>(dim)}, keepdim);
  }
  Tensor amin(const Dims& dims = {}, bool keepdim = false) const;
  template <DimIndex I>
  Tensor amin(I dim, bool keepdim = false) const {
    return amin(Dims{static_cast<int64_t>(dim)}, keepdim);
  }
  Tensor max() const;
  /// Max along one dim with the index of the first maximum (torch.max(x, dim)).
  ValuesIndices max(int64_t d, bool keepdim = false) const;
  Tensor min() const;
  ValuesIndices min(int64_t d, bool keepdim = false) const;
  Tensor argmax() const;
  Tensor argmax(int64_t d, bool keepdim = false) const;
  Tensor argmin() const;
  Tensor argmin(int64_t d, bool keepdim = false) const;
  Tensor var(const Dims& dims = {}, bool keepdim = false, int64_t correction = 1) const;
  template <DimIndex I>
  Tensor var(I dim, bool keepdim = false, int64_t correction = 1) const {
    return var(Dims{static_cast<int64_t>(dim)}, keepdim, correction);
  }
  Tensor std(const Dims& dims = {}, bool keepdim = false, int64_t correction = 1) const;
  template <DimIndex I>
  Tensor std(I dim, bool keepdim = false, int64_t correction = 1) const {
    return std(Dims{static_cast<int64_t>(dim)}, keepdim, correction);
  }
  Tensor logsumexp(const Dims& dims, bool keepdim = false) const;
  template <DimIndex I>
  Tensor logsumexp(I dim, bool keepdim = false) const {
    return logsumexp(Dims{static_cast<int64_t>(dim)}, keepdim);
  }

  // ---- masks, indices, sorting, scans, rearrangements (free functions in ops.hpp) ----
  Tensor masked_fill(const Tensor& mask, Scalar value) const;
  /// In place; the mask broadcasts to this tensor's shape (ShapeError if it would grow it).
  const Tensor& masked_fill_(const Tensor& mask, Scalar value) const;
  const Tensor& index_add_(int64_t dim, const Tensor& index, const Tensor& source,
                           Scalar alpha = 1) const;
  const Tensor& scatter_add_(int64_t dim, const Tensor& index, const Tensor& src) const;
  const Tensor& scatter_(int64_t dim, const Tensor& index, const Tensor& src) const;
  const Tensor& index_put_(const std::vector<Tensor>& indices, const Tensor& values,
                           bool accumulate = false) const;
  Tensor cumsum(int64_t dim) const;
  Tensor cumprod(int64_t dim) const;
  ValuesIndices sort(int64_t dim = -1, bool descending = false, bool stable = false) const;
  Tensor argsort(int64_t dim = -1, bool descending = false, bool stable = false) const;
  ValuesIndices topk(int64_t k, int64_t dim = -1, bool largest = true, bool sorted = true) const;
  Tensor flip(const Dims& dims) const;
  Tensor roll(const Dims& shifts, const Dims& dims = {}) const;
  Tensor repeat(const Dims& repeats) const;
  Tensor tile(const Dims& reps) const;
  Tensor tril(int64_t diagonal = 0) const;
  Tensor triu(int64_t diagonal = 0) const;

 private:
  std::shared_ptr<TensorImpl> impl_;
};

/// A reduction along one dim that also returns where its values came from (max, min).
struct ValuesIndices {
  Tensor values, indices;
};

/// The data behind a Tensor handle. Views share `storage`; offsets and strides are in elements.
struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Dims sizes, strides;
  int64_t offset = 0;
  int64_t numel = 0;
  DType dtype = kFloat32;
  bool contiguous = true;
  bool wrapped_number = false;
  bool is_view = false;  ///< made by a view op: in-place writes with autograd are refused
  // autograd
  bool requires_grad = false;
  bool retains_grad = false;
  uint32_t output_nr = 0;  ///< which output of grad_fn this tensor is
  std::shared_ptr<autograd::Node> grad_fn;
  Tensor grad;
  std::shared_ptr<autograd::AutogradMeta> autograd;  ///< hooks and other rarely used state

  TensorImpl() = default;
  TensorImpl(const TensorImpl&) = default;
  TensorImpl& operator=(const TensorImpl&) = default;
  /// Hands grad_fn to autograd::release_node: dropping a long graph never recurses deeply.
  ~TensorImpl();

  /// Recomputes numel and the contiguity flag after sizes/strides change.
  void refresh();
  char* data() const {
    if (storage->pending) [[unlikely]]
      detail::resolve_pending(*storage);
    return static_cast<char*>(storage->data) + offset * element_size(dtype);
  }
};

/// A fresh contiguous tensor of the given sizes, uninitialised.
Tensor make_tensor(const Dims& sizes, DType dtype);
/// The element count of sizes; ValueError naming op (when not null) and the sizes when one is
/// negative or the element or byte count overflows 64 bits.
int64_t checked_numel(const Dims& sizes, DType dtype, const char* op);
/// A view of `base`'s storage with new sizes, strides and offset (no checks).
Tensor make_view(const Tensor& base, Dims sizes, Dims strides, int64_t offset);
/// Contiguous row-major strides for `sizes`.
Dims contiguous_strides(const Dims& sizes);

template <class T>
T* Tensor::data_ptr() const {
  EMBER_CHECK(defined(), Error, "data_ptr: the tensor is undefined");
  EMBER_CHECK(dtype_of_v<T> == impl_->dtype, DTypeError, "data_ptr: expected ",
              dtype_name(dtype_of_v<T>), " but the tensor holds ", dtype_name(impl_->dtype));
  return reinterpret_cast<T*>(impl_->data());
}

/// Prints like PyTorch: tensor([[1., 2.], [3., 4.]]), summarised past 1000 elements.
std::ostream& operator<<(std::ostream& os, const Tensor& t);
/// The printed form as a string.
std::string to_string(const Tensor& t);

}  // namespace ember
