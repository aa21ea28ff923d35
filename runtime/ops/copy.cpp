// Conversions and copies: to(dtype), clone, copy_, fill_; and the creation functions.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "runtime/ops/loops.hpp"
#include "runtime/shape.hpp"

namespace ember {
namespace {

// Elements of type T (of the elements' size) from src to dst, of the same sizes, when one of
// them runs along another dim than the other (a transpose: x.t().contiguous(), a permute): one
// element at a time, one side moves through memory with a large stride, a cache line and a TLB
// entry per element (50 ms for a 2048 x 2048 float transpose, against 0.7 ms for a memcpy of
// it). In tiles of 32 x 32 both sides stay in L1. False when it is not such a copy.
template <class T>
bool copy_transposed(const Tensor& dst, const Tensor& src) {
  const int64_t nd = dst.dim();
  const Dims& size = dst.sizes();
  const Dims &ds = dst.strides(), &ss = src.strides();
  int64_t da = -1, sb = -1;  // the dims along which dst and src are dense
  for (int64_t d = 0; d < nd; ++d) {
    if (size[d] == 1) continue;
    if (da < 0 && ds[d] == 1) da = d;
    if (sb < 0 && ss[d] == 1) sb = d;
  }
  // Tiles may be partial: a side of 4 already keeps the other side's pages to a few TLB entries
  // (a [16, 4096] block of a transposed 4096 x 4096 float tensor, one page per element in the
  // plain loop: 70 ms, tiled: 0.1 ms).
  constexpr int64_t kTile = 32, kMinSide = 4;
  if (da < 0 || sb < 0 || da == sb || size[da] < kMinSide || size[sb] < kMinSide) return false;
  Dims rest;  // the other dims, outermost first
  int64_t outer = 1;
  for (int64_t d = 0; d < nd; ++d)
    if (d != da && d != sb && size[d] > 1) {
      rest.push_back(d);
      outer *= size[d];
    }
  const int64_t na = size[da], nb = size[sb];
  const int64_t tiles_a = (na + kTile - 1) / kTile, tiles_b = (nb + kTile - 1) / kTile;
  T* dp = static_cast<T*>(dst.raw_data());
  const T* sp = static_cast<const T*>(src.raw_data());
  const int64_t dst_b = ds[sb], src_a = ss[da];
  parallel_for(0, outer * tiles_a * tiles_b, 16, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      int64_t o = t / (tiles_a * tiles_b), in_plane = t % (tiles_a * tiles_b);
      int64_t doff = 0, soff = 0;
      for (size_t r = rest.size(); r-- > 0;) {
        const int64_t d = rest[r];
        doff += (o % size[d]) * ds[d];
        soff += (o % size[d]) * ss[d];
        o /= size[d];
      }
      const int64_t a0 = in_plane / tiles_b * kTile, b0 = in_plane % tiles_b * kTile;
      const int64_t a1 = std::min(na, a0 + kTile), b1 = std::min(nb, b0 + kTile);
      for (int64_t b = b0; b < b1; ++b) {
        T* drow = dp + doff + b * dst_b;
        const T* scol = sp + soff + b;
        for (int64_t a = a0; a < a1; ++a) drow[a] = scol[a * src_a];
      }
    }
  });
  return true;
}

// dst[...] = src[...] converted, src broadcast to dst's shape; dst may have any strides.
void copy_into(const Tensor& dst, const Tensor& src) {
  if (dst.dtype() == src.dtype() && dst.sizes() == src.sizes() && dst.numel() >= 4096) {
    bool done = false;
    switch (dst.element_size()) {
      case 1:
        done = copy_transposed<uint8_t>(dst, src);
        break;
      case 2:
        done = copy_transposed<uint16_t>(dst, src);
        break;
      case 4:
        done = copy_transposed<uint32_t>(dst, src);
        break;
      case 8:
        done = copy_transposed<uint64_t>(dst, src);
        break;
      default:
        break;
    }
    if (done) return;
  }
  visit_dtype(dst.dtype(), [&](auto d) {
    using D = decltype(d);
    visit_dtype(src.dtype(), [&](auto s) {
      using S = decltype(s);
      loops::for_each<D, S>(dst, {&src}, [](S v) { return static_cast<D>(v); });
    });
  });
}

TensorList to_dtype_kernel(std::span<const Tensor> in, const Attrs& attrs) {
  Tensor out = make_tensor(in[0].sizes(), std::get<DTypeAttrs>(attrs).dtype);
  copy_into(out, in[0]);
  return {out};
}

TensorList clone_kernel(std::span<const Tensor> in, const Attrs&) {
  Tensor out = make_tensor(in[0].sizes(), in[0].dtype());
  if (in[0].is_contiguous()) {
    std::memcpy(out.raw_data(), in[0].raw_data(), out.numel() * out.element_size());
  } else {
    copy_into(out, in[0]);
  }
  return {out};
}

TensorList copy_kernel(std::span<const Tensor> in, const Attrs&) {
  const Tensor& dst = in[0];
  const Tensor& src = in[1];
  broadcast_shapes(dst.sizes(), src.sizes(), "copy_");
  EMBER_CHECK(broadcast_shapes(dst.sizes(), src.sizes(), "copy_") == dst.sizes(), ShapeError,
              "copy_: source of shape ", src.sizes(), " cannot be broadcast to destination ",
              dst.sizes());
  // A source overlapping the destination (x.copy_(x.t())) is read through a private copy.
  Tensor s = src;
  if (src.storage() == dst.storage() && !src.is_same(dst)) s = src.clone();
  copy_into(dst, s);
  dst.bump_version();
  return {dst};
}

TensorList fill_kernel(std::span<const Tensor> in, const Attrs&) {
  const Tensor& dst = in[0];
  EMBER_CHECK(in[1].numel() == 1, ValueError,
              "fill_: only supports 0-dimension value tensor but got tensor with ", in[1].dim(),
              " dimensions");
  Scalar v = in[1].item();
  visit_dtype(dst.dtype(), [&](auto d) {
    using D = decltype(d);
    D value = v.to<D>();
    if (dst.is_contiguous()) {
      D* p = dst.data_ptr<D>();
      int64_t n = dst.numel();
      parallel_for(0, n, kGrainSize, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) p[i] = value;
      });
    } else {
      loops::for_each<D>(dst, {}, [value]() { return value; });
    }
  });
  dst.bump_version();
  return {dst};
}

}  // namespace

namespace detail {
void register_copy_kernels() {
  register_kernel(Op::ToDtype, to_dtype_kernel);
  register_kernel(Op::Clone, clone_kernel);
  register_kernel(Op::Copy_, copy_kernel);
  register_kernel(Op::Fill_, fill_kernel);
}
}  // namespace detail

// ---- Tensor methods for conversion and copies ----

Tensor Tensor::to(DType t) const {
  if (dtype() == t) return *this;
  return dispatch1(Op::ToDtype, {*this}, DTypeAttrs{t});
}
Tensor Tensor::clone() const { return dispatch1(Op::Clone, {*this}); }
Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }
Tensor contiguous(const Tensor& a) { return a.contiguous(); }
namespace {
// In-place writes that autograd cannot follow are refused before any data changes.
void check_inplace(const Tensor& self, const Tensor& src, const char* op) {
  EMBER_CHECK(self.defined(), Error, op, ": the tensor is undefined");
  if (!GradMode::is_enabled()) return;
  EMBER_CHECK(!(self.requires_grad() && self.is_leaf()), Error, op,
              ": a leaf Variable that requires grad is being used in an in-place operation.");
  EMBER_CHECK(!(self.impl()->is_view && (self.requires_grad() || src.requires_grad())), Error, op,
              ": in-place operation on a view of a tensor that requires grad is not supported; "
              "write into a clone() instead");
}
}  // namespace

const Tensor& Tensor::copy_(const Tensor& src) const {
  EMBER_CHECK(src.defined(), Error, "copy_: the source tensor is undefined");
  check_inplace(*this, src, "copy_");
  dispatch(Op::Copy_, {*this, src});
  return *this;
}
const Tensor& Tensor::fill_(Scalar v) const {
  check_inplace(*this, Tensor(), "fill_");
  dispatch(Op::Fill_, {*this, wrapped_scalar(v)});
  return *this;
}
const Tensor& Tensor::zero_() const { return fill_(0); }

// ---- creation ----

Tensor empty(const Dims& sizes, TensorOptions o) {
  checked_numel(sizes, o.dtype(), "empty");
  Tensor t = make_tensor(sizes, o.dtype());
  if (o.requires_grad()) t.requires_grad_();
  return t;
}

namespace {
Tensor filled(const Dims& sizes, Scalar value, TensorOptions o, const char* op) {
  DType d = o.has_dtype() ? o.dtype() : (value.is_floating() ? default_dtype() : value.kind());
  checked_numel(sizes, d, op);
  Tensor t = make_tensor(sizes, d);
  {
    NoGradGuard g;
    t.fill_(value);
  }
  if (o.requires_grad()) t.requires_grad_();
  return t;
}
}  // namespace

Tensor full(const Dims& sizes, Scalar value, TensorOptions o) {
  return filled(sizes, value, o, "full");
}
Tensor zeros(const Dims& sizes, TensorOptions o) {
  return filled(sizes, 0, o.dtype(o.dtype()), "zeros");
}
Tensor ones(const Dims& sizes, TensorOptions o) {
  return filled(sizes, 1, o.dtype(o.dtype()), "ones");
}

Tensor scalar_tensor(Scalar v, TensorOptions o) { return full({}, v, o); }

Tensor wrapped_scalar(Scalar v) {
  DType d = v.kind();  // float64 for floating values: a wrapped double keeps full precision
  Tensor t = make_tensor({}, d);
  visit_dtype(d, [&](auto x) {
    using T = decltype(x);
    *t.data_ptr<T>() = v.to<T>();
  });
  t.impl()->wrapped_number = true;
  return t;
}

namespace {
template <class T>
Tensor from_values(const T* values, int64_t n, const Dims& sizes, DType d) {
  Dims s = sizes.empty() ? Dims{n} : sizes;
  EMBER_CHECK(product(s) == n, ShapeError, "tensor: ", n, " values do not fill shape ", s);
  Tensor t = make_tensor(s, d);
  visit_dtype(d, [&](auto x) {
    using D = decltype(x);
    D* p = t.data_ptr<D>();
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<D>(values[i]);
  });
  return t;
}
}  // namespace

Tensor tensor(std::initializer_list<Scalar> values, TensorOptions o) {
  std::vector<double> v;
  for (const Scalar& x : values) v.push_back(x.to_double());
  Tensor t = from_values(v.data(), static_cast<int64_t>(v.size()), {}, o.dtype());
  if (o.requires_grad()) t.requires_grad_();
  return t;
}

Tensor tensor(std::initializer_list<std::initializer_list<double>> values, TensorOptions o) {
  std::vector<double> flat;
  int64_t cols = values.size() ? static_cast<int64_t>(values.begin()->size()) : 0;
  for (const auto& row : values) {
    EMBER_CHECK(static_cast<int64_t>(row.size()) == cols, ShapeError,
                "tensor: expected rows of length ", cols, " but got one of length ", row.size());
    flat.insert(flat.end(), row.begin(), row.end());
  }
  Tensor t = from_values(flat.data(), static_cast<int64_t>(flat.size()),
                         {static_cast<int64_t>(values.size()), cols}, o.dtype());
  if (o.requires_grad()) t.requires_grad_();
  return t;
}

Tensor tensor(const std::vector<float>& v, const Dims& sizes) {
  return from_values(v.data(), static_cast<int64_t>(v.size()), sizes, kFloat32);
}
Tensor tensor(const std::vector<double>& v, const Dims& sizes) {
  return from_values(v.data(), static_cast<int64_t>(v.size()), sizes, kFloat64);
}
Tensor tensor(const std::vector<int64_t>& v, const Dims& sizes) {
  return from_values(v.data(), static_cast<int64_t>(v.size()), sizes, kInt64);
}

Tensor arange(Scalar end, TensorOptions o) { return arange(0, end, 1, o); }

Tensor arange(Scalar start, Scalar end, Scalar step, TensorOptions o) {
  bool fl = start.is_floating() || end.is_floating() || step.is_floating();
  DType d = o.has_dtype() ? o.dtype() : (fl ? default_dtype() : kInt64);
  double s = start.to_double(), e = end.to_double(), st = step.to_double();
  EMBER_CHECK(st != 0, ValueError, "arange: step must be nonzero");
  EMBER_CHECK((st > 0 && e >= s) || (st < 0 && e <= s), ValueError,
              "arange: upper bound and larger bound inconsistent with step sign (start ", s,
              ", end ", e, ", step ", st, ")");
  // Checked before the cast: a double past int64's range converts to garbage (UB).
  double count = std::ceil((e - s) / st);
  EMBER_CHECK(count < 9.2e18, ValueError, "arange: start ", s, ", end ", e, " and step ", st,
              " make ", count, " elements, more than a tensor can hold");
  auto n = static_cast<int64_t>(count);
  checked_numel({n}, d, "arange");
  Tensor t = make_tensor({n}, d);
  visit_dtype(d, [&](auto x) {
    using D = decltype(x);
    D* p = t.data_ptr<D>();
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<D>(s + st * static_cast<double>(i));
  });
  if (o.requires_grad()) t.requires_grad_();
  return t;
}

Tensor linspace(double start, double end, int64_t steps, TensorOptions o) {
  EMBER_CHECK(steps >= 0, ValueError, "linspace: number of steps must be non-negative, got ",
              steps);
  checked_numel({steps}, o.dtype(), "linspace");
  Tensor t = make_tensor({steps}, o.dtype());
  double step = steps > 1 ? (end - start) / static_cast<double>(steps - 1) : 0;
  visit_dtype(o.dtype(), [&](auto x) {
    using D = decltype(x);
    D* p = t.data_ptr<D>();
    // Symmetric fill from both ends, as PyTorch, so the last value is exactly `end`.
    int64_t half = steps / 2;
    if (steps == 1) p[0] = static_cast<D>(start);  // a single step is start, as PyTorch
    for (int64_t i = steps == 1 ? 1 : 0; i < steps; ++i)
      p[i] = static_cast<D>(i < half ? start + step * static_cast<double>(i)
                                     : end - step * static_cast<double>(steps - i - 1));
  });
  if (o.requires_grad()) t.requires_grad_();
  return t;
}

Tensor eye(int64_t n, std::optional<int64_t> m, TensorOptions o) {
  int64_t cols = m.value_or(n);
  EMBER_CHECK(n >= 0 && cols >= 0, ValueError, "eye: n and m must be non-negative, got ", n,
              " and ", cols);
  Tensor t = zeros({n, cols}, o.dtype());
  visit_dtype(o.dtype(), [&](auto x) {
    using D = decltype(x);
    D* p = t.data_ptr<D>();
    for (int64_t i = 0; i < std::min(n, cols); ++i) p[i * cols + i] = static_cast<D>(1);
  });
  if (o.requires_grad()) t.requires_grad_();
  return t;
}

Tensor empty_like(const Tensor& t, std::optional<DType> d) {
  return make_tensor(t.sizes(), d.value_or(t.dtype()));
}
Tensor zeros_like(const Tensor& t, std::optional<DType> d) {
  return zeros(t.sizes(), d.value_or(t.dtype()));
}
Tensor ones_like(const Tensor& t, std::optional<DType> d) {
  return ones(t.sizes(), d.value_or(t.dtype()));
}
Tensor full_like(const Tensor& t, Scalar v, std::optional<DType> d) {
  return full(t.sizes(), v, d.value_or(t.dtype()));
}

Tensor from_blob(void* data, const Dims& sizes, DType dtype) {
  return from_blob(data, sizes, contiguous_strides(sizes), dtype);
}

Tensor from_blob(void* data, const Dims& sizes, const Dims& strides, DType dtype) {
  EMBER_CHECK(sizes.size() == strides.size(), ShapeError, "from_blob: sizes ", sizes,
              " and strides ", strides, " differ in length");
  int64_t numel = checked_numel(sizes, dtype, "from_blob");
  EMBER_CHECK(data != nullptr || numel == 0, ValueError, "from_blob: data is a null pointer for ",
              numel, " elements of sizes ", sizes);
  int64_t extent = numel == 0 ? 0 : 1;
  for (size_t i = 0; i < sizes.size() && extent; ++i) {
    int64_t reach = 0;
    EMBER_CHECK(!__builtin_mul_overflow(sizes[i] - 1, strides[i], &reach) &&
                    !__builtin_add_overflow(extent, reach, &extent),
                ValueError, "from_blob: sizes ", sizes, " and strides ", strides,
                " reach past 64-bit offsets");
  }
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = Storage::wrap(data, static_cast<size_t>(extent) * element_size(dtype), {});
  impl->sizes = sizes;
  impl->strides = strides;
  impl->dtype = dtype;
  impl->refresh();
  return Tensor(std::move(impl));
}

}  // namespace ember
