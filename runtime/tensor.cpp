#include "runtime/tensor.hpp"

#include <cstdlib>
#include <iostream>

#include "runtime/allocator.hpp"
#include "runtime/autograd/node.hpp"
#include "runtime/ops.hpp"

namespace ember {

// ---- small shared pieces: dtype names, Dims printing, internal errors ----

const char* dtype_name(DType t) {
  switch (t) {
    case DType::Float32:
      return "float32";
    case DType::Float64:
      return "float64";
    case DType::Int64:
      return "int64";
    case DType::Bool:
      return "bool";
  }
  return "?";
}

std::ostream& operator<<(std::ostream& os, DType t) { return os << "ember." << dtype_name(t); }

namespace {
DType g_default_dtype = kFloat32;
}
DType default_dtype() { return g_default_dtype; }
void set_default_dtype(DType t) {
  EMBER_CHECK(is_floating(t), DTypeError, "set_default_dtype: expected a floating dtype, got ",
              dtype_name(t));
  g_default_dtype = t;
}

std::ostream& operator<<(std::ostream& os, const Dims& d) {
  os << '[';
  for (size_t i = 0; i < d.size(); ++i) os << (i ? ", " : "") << d[i];
  return os << ']';
}

namespace detail {
void internal_failure(const char* file, int line, const char* cond, const std::string& msg) {
  std::string what =
      cat("ember internal error at ", file, ":", line, ": ", cond, msg.empty() ? "" : " - ", msg);
  throw InternalError(what);
}
}  // namespace detail

// ---- storage ----

namespace {
PendingHook g_pending_hook = nullptr;
}
void set_pending_hook(PendingHook h) { g_pending_hook = h; }
void detail::resolve_pending(Storage& s) {
  if (g_pending_hook) g_pending_hook(s);
}

Storage::~Storage() {
  if (deleter)
    deleter(data);
  else
    memory::deallocate(data, nbytes);
}

std::shared_ptr<Storage> Storage::allocate(size_t nbytes) {
  auto s = std::make_shared<Storage>();
  s->data = memory::allocate(nbytes);
  s->nbytes = nbytes;
  return s;
}

std::shared_ptr<Storage> Storage::wrap(void* data, size_t nbytes,
                                       std::function<void(void*)> deleter) {
  auto s = std::make_shared<Storage>();
  s->data = data;
  s->nbytes = nbytes;
  s->deleter = deleter ? std::move(deleter) : [](void*) {};
  return s;
}

// ---- impl ----

TensorImpl::~TensorImpl() {
  if (grad_fn) autograd::release_node(std::move(grad_fn));
}

void TensorImpl::refresh() {
  numel = checked_product(sizes);
  EMBER_CHECK(numel >= 0, ValueError, "view: sizes ", sizes,
              " hold more elements than fit a 64-bit count");
  bool c = true;
  int64_t expected = 1;
  for (size_t i = sizes.size(); i-- > 0;) {
    if (sizes[i] == 1) continue;
    if (strides[i] != expected) {
      c = false;
      break;
    }
    expected *= sizes[i];
  }
  contiguous = c || numel == 0;
}

Dims contiguous_strides(const Dims& sizes) {
  Dims s(sizes.size());
  uint64_t acc = 1;  // wraps only for sizes whose tensor is refused (checked_numel)
  for (size_t i = sizes.size(); i-- > 0;) {
    s[i] = static_cast<int64_t>(acc);
    acc *= static_cast<uint64_t>(std::max<int64_t>(sizes[i], 1));
  }
  return s;
}

int64_t checked_numel(const Dims& sizes, DType dtype, const char* op) {
  const char* sep = op ? ": " : "";
  if (!op) op = "";
  for (int64_t s : sizes)
    EMBER_CHECK(s >= 0, ValueError, op, sep, "negative dimension ", s, " in sizes ", sizes);
  int64_t n = checked_product(sizes);
  uint64_t bytes = 0;
  EMBER_CHECK(
      n >= 0 && !__builtin_mul_overflow(static_cast<uint64_t>(n), element_size(dtype), &bytes),
      ValueError, op, sep, "a tensor of sizes ", sizes, " and dtype ", dtype_name(dtype),
      " is too large: its ", n >= 0 ? "byte count" : "element count", " overflows 64 bits");
  return n;
}

Tensor make_tensor(const Dims& sizes, DType dtype) {
  auto impl = std::make_shared<TensorImpl>();
  impl->numel = checked_numel(sizes, dtype, nullptr);  // creation ops check first, by name
  impl->sizes = sizes;
  impl->strides = contiguous_strides(sizes);
  impl->dtype = dtype;
  impl->contiguous = true;
  impl->storage = Storage::allocate(static_cast<size_t>(impl->numel) * element_size(dtype));
  return Tensor(std::move(impl));
}

Tensor make_view(const Tensor& base, Dims sizes, Dims strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.impl()->storage;
  impl->sizes = std::move(sizes);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = base.impl()->dtype;
  impl->is_view = true;
  impl->refresh();
  return Tensor(std::move(impl));
}

// ---- Tensor metadata ----

namespace {
const TensorImpl& checked(const Tensor& t, const char* what) {
  EMBER_CHECK(t.defined(), Error, what, ": the tensor is undefined");
  return *t.impl();
}
int64_t wrap_dim(int64_t d, int64_t ndim, const char* op) {
  int64_t n = std::max<int64_t>(ndim, 1);
  EMBER_CHECK(d >= -n && d < n, IndexError, op,
              ": dimension out of range (expected to be in range of [", -n, ", ", n - 1,
              "], but got ", d, ")");
  return d < 0 ? d + n : d;
}
}  // namespace

const Dims& Tensor::sizes() const { return checked(*this, "sizes").sizes; }
const Dims& Tensor::strides() const { return checked(*this, "strides").strides; }
int64_t Tensor::size(int64_t d) const {
  const auto& s = checked(*this, "size").sizes;
  EMBER_CHECK(!s.empty(), IndexError, "size: dimension specified as ", d,
              " but tensor has no dimensions");
  return s[wrap_dim(d, s.size(), "size")];
}
int64_t Tensor::stride(int64_t d) const {
  const auto& s = checked(*this, "stride").strides;
  EMBER_CHECK(!s.empty(), IndexError, "stride: dimension specified as ", d,
              " but tensor has no dimensions");
  return s[wrap_dim(d, s.size(), "stride")];
}
int64_t Tensor::dim() const { return static_cast<int64_t>(checked(*this, "dim").sizes.size()); }
int64_t Tensor::numel() const { return checked(*this, "numel").numel; }
DType Tensor::dtype() const { return checked(*this, "dtype").dtype; }
size_t Tensor::element_size() const { return ember::element_size(dtype()); }
int64_t Tensor::storage_offset() const { return checked(*this, "storage_offset").offset; }
bool Tensor::is_contiguous() const { return checked(*this, "is_contiguous").contiguous; }
bool Tensor::is_wrapped_number() const { return defined() && impl_->wrapped_number; }
const std::shared_ptr<Storage>& Tensor::storage() const {
  return checked(*this, "storage").storage;
}
uint32_t Tensor::version() const { return checked(*this, "version").storage->version.load(); }
void Tensor::bump_version() const { checked(*this, "bump_version").storage->version.fetch_add(1); }
void* Tensor::raw_data() const { return checked(*this, "raw_data").data(); }

Scalar Tensor::item() const {
  const auto& impl = checked(*this, "item");
  EMBER_CHECK(impl.numel == 1, ValueError, "item: a Tensor with ", impl.numel,
              " elements cannot be converted to Scalar");
  return visit_dtype(impl.dtype, [&](auto v) -> Scalar {
    using T = decltype(v);
    return Scalar(*reinterpret_cast<const T*>(impl.data()));
  });
}

template <class T>
T Tensor::item() const {
  return item().to<T>();
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  checked(*this, "to_vector");
  Tensor c = contiguous();
  std::vector<T> out(static_cast<size_t>(c.numel()));
  visit_dtype(c.dtype(), [&](auto v) {
    using S = decltype(v);
    const S* p = reinterpret_cast<const S*>(c.impl()->data());
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<T>(p[i]);
  });
  return out;
}

#define EMBER_INSTANTIATE(T)          \
  template T Tensor::item<T>() const; \
  template std::vector<T> Tensor::to_vector<T>() const;
EMBER_INSTANTIATE(float)
EMBER_INSTANTIATE(double)
EMBER_INSTANTIATE(int64_t)
EMBER_INSTANTIATE(bool)
EMBER_INSTANTIATE(int)
#undef EMBER_INSTANTIATE

// ---- autograd fields (the engine is in runtime/autograd) ----

bool Tensor::requires_grad() const { return defined() && impl_->requires_grad; }

const Tensor& Tensor::requires_grad_(bool r) const {
  const auto& impl = checked(*this, "requires_grad_");
  EMBER_CHECK(!r || is_floating(impl.dtype), DTypeError,
              "requires_grad_: only tensors of floating point dtype can require gradients, got ",
              dtype_name(impl.dtype));
  EMBER_CHECK(impl.grad_fn == nullptr || r, Error,
              "requires_grad_: you can only change requires_grad flags of leaf variables");
  impl_->requires_grad = r;
  return *this;
}
Tensor Tensor::grad() const { return checked(*this, "grad").grad; }
void Tensor::set_grad(const Tensor& g) const {
  checked(*this, "set_grad");
  impl_->grad = g;
}
Tensor& Tensor::mutable_grad() const {
  checked(*this, "mutable_grad");
  return impl_->grad;
}
const std::shared_ptr<autograd::Node>& Tensor::grad_fn() const {
  return checked(*this, "grad_fn").grad_fn;
}
bool Tensor::is_leaf() const { return checked(*this, "is_leaf").grad_fn == nullptr; }
bool Tensor::retains_grad() const { return defined() && impl_->retains_grad; }

Tensor Tensor::detach() const {
  const auto& impl = checked(*this, "detach");
  Tensor v = make_view(*this, impl.sizes, impl.strides, impl.offset);
  v.impl()->is_view = impl.is_view;
  return v;
}

}  // namespace ember
