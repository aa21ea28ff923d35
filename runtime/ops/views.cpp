// View ops: new sizes/strides/offset over the same storage, no copy.
#include "runtime/dispatch.hpp"
#include "runtime/ops.hpp"
#include "runtime/shape.hpp"

namespace ember {
namespace {

TensorList view_kernel(std::span<const Tensor> in, const Attrs& attrs) {
  const Tensor& a = in[0];
  const Dims& sizes = std::get<ShapeAttrs>(attrs).sizes;
  auto strides = view_strides(a.sizes(), a.strides(), sizes);
  EMBER_CHECK(strides, ShapeError, "view: size ", sizes,
              " is not compatible with input tensor's size ", a.sizes(), " and stride ",
              a.strides(),
              " (at least one dimension spans across two contiguous subspaces); "
              "use reshape instead");
  return {make_view(a, sizes, *strides, a.storage_offset())};
}

TensorList expand_kernel(std::span<const Tensor> in, const Attrs& attrs) {
  const Tensor& a = in[0];
  const Dims& sizes = std::get<ShapeAttrs>(attrs).sizes;
  EMBER_CHECK(sizes.size() >= a.sizes().size(), ShapeError,
              "expand: the number of sizes provided (", sizes.size(),
              ") must be greater or equal to the number of dimensions in the tensor (", a.dim(),
              ")");
  size_t off = sizes.size() - a.sizes().size();
  Dims out_sizes(sizes.size()), out_strides(sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (i < off) {
      EMBER_CHECK(sizes[i] >= 0, ShapeError, "expand: the expanded size of the tensor (", sizes[i],
                  ") isn't allowed in a leading, non-existing dimension ", i);
      out_sizes[i] = sizes[i];
      out_strides[i] = 0;
      continue;
    }
    int64_t have = a.sizes()[i - off], want = sizes[i] == -1 ? have : sizes[i];
    EMBER_CHECK(want >= 0, ValueError, "expand: invalid size ", sizes[i], " at dimension ", i,
                ".  Target sizes: ", sizes, ".  Tensor sizes: ", a.sizes());
    EMBER_CHECK(have == want || have == 1, ShapeError, "expand: the expanded size of the tensor (",
                want, ") must match the existing size (", have, ") at non-singleton dimension ", i,
                ".  Target sizes: ", sizes, ".  Tensor sizes: ", a.sizes());
    out_sizes[i] = want;
    out_strides[i] = have == want ? a.strides()[i - off] : 0;
  }
  return {make_view(a, out_sizes, out_strides, a.storage_offset())};
}

TensorList permute_kernel(std::span<const Tensor> in, const Attrs& attrs) {
  const Tensor& a = in[0];
  const Dims& perm = std::get<ShapeAttrs>(attrs).sizes;
  Dims sizes(perm.size()), strides(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) {
    sizes[i] = a.sizes()[perm[i]];
    strides[i] = a.strides()[perm[i]];
  }
  return {make_view(a, sizes, strides, a.storage_offset())};
}

TensorList slice_kernel(std::span<const Tensor> in, const Attrs& attrs) {
  const Tensor& a = in[0];
  const auto& s = std::get<SliceAttrs>(attrs);
  Dims sizes = a.sizes(), strides = a.strides();
  int64_t len = s.end > s.start ? (s.end - s.start + s.step - 1) / s.step : 0;
  int64_t offset = a.storage_offset() + s.start * strides[s.dim];
  sizes[s.dim] = len;
  strides[s.dim] *= s.step;
  return {make_view(a, sizes, strides, offset)};
}

TensorList select_kernel(std::span<const Tensor> in, const Attrs& attrs) {
  const Tensor& a = in[0];
  const auto& s = std::get<SelectAttrs>(attrs);
  Dims sizes = a.sizes(), strides = a.strides();
  int64_t offset = a.storage_offset() + s.index * strides[s.dim];
  sizes.erase(s.dim);
  strides.erase(s.dim);
  return {make_view(a, sizes, strides, offset)};
}

}  // namespace

namespace detail {
void register_view_kernels() {
  register_kernel(Op::View, view_kernel);
  register_kernel(Op::Expand, expand_kernel);
  register_kernel(Op::Permute, permute_kernel);
  register_kernel(Op::Slice, slice_kernel);
  register_kernel(Op::Select, select_kernel);
}
}  // namespace detail

Tensor view(const Tensor& a, const Dims& sizes) {
  return dispatch1(Op::View, {a}, ShapeAttrs{infer_size(sizes, a.numel(), "view")});
}

Tensor reshape(const Tensor& a, const Dims& sizes) {
  Dims s = infer_size(sizes, a.numel(), "reshape");
  if (view_strides(a.sizes(), a.strides(), s)) return dispatch1(Op::View, {a}, ShapeAttrs{s});
  return dispatch1(Op::View, {a.clone()}, ShapeAttrs{s});
}

Tensor flatten(const Tensor& a, int64_t start_dim, int64_t end_dim) {
  if (a.dim() == 0) return reshape(a, {1});
  int64_t s = wrap_dim(start_dim, a.dim(), "flatten"), e = wrap_dim(end_dim, a.dim(), "flatten");
  EMBER_CHECK(s <= e, ValueError, "flatten: start_dim (", start_dim,
              ") cannot come after end_dim (", end_dim, ")");
  Dims sizes;
  for (int64_t d = 0; d < s; ++d) sizes.push_back(a.sizes()[d]);
  int64_t n = 1;
  for (int64_t d = s; d <= e; ++d) n *= a.sizes()[d];
  sizes.push_back(n);
  for (int64_t d = e + 1; d < a.dim(); ++d) sizes.push_back(a.sizes()[d]);
  return reshape(a, sizes);
}

Tensor squeeze(const Tensor& a) {
  Dims sizes;
  for (int64_t s : a.sizes())
    if (s != 1) sizes.push_back(s);
  return dispatch1(Op::View, {a}, ShapeAttrs{sizes});
}

Tensor squeeze(const Tensor& a, int64_t dim) {
  int64_t d = wrap_dim(dim, a.dim(), "squeeze");
  if (a.dim() == 0 || a.sizes()[d] != 1) return dispatch1(Op::View, {a}, ShapeAttrs{a.sizes()});
  Dims sizes = a.sizes();
  sizes.erase(d);
  return dispatch1(Op::View, {a}, ShapeAttrs{sizes});
}

Tensor unsqueeze(const Tensor& a, int64_t dim) {
  int64_t d = wrap_dim(dim, a.dim() + 1, "unsqueeze");
  Dims sizes = a.sizes();
  sizes.insert(d, 1);
  return dispatch1(Op::View, {a}, ShapeAttrs{sizes});
}

Tensor permute(const Tensor& a, const Dims& perm) {
  EMBER_CHECK(static_cast<int64_t>(perm.size()) == a.dim(), ShapeError,
              "permute: number of dims in the permutation (", perm.size(),
              ") doesn't match the number of dims of the tensor (", a.dim(), ")");
  Dims p;
  std::vector<bool> seen(perm.size(), false);
  for (int64_t d : perm) {
    int64_t w = wrap_dim(d, a.dim(), "permute");
    EMBER_CHECK(!seen[w], ValueError, "permute: repeated dim ", d, " in permutation ", perm);
    seen[w] = true;
    p.push_back(w);
  }
  return dispatch1(Op::Permute, {a}, ShapeAttrs{p});
}

Tensor transpose(const Tensor& a, int64_t d0, int64_t d1) {
  int64_t x = wrap_dim(d0, a.dim(), "transpose"), y = wrap_dim(d1, a.dim(), "transpose");
  if (a.dim() == 0) return dispatch1(Op::View, {a}, ShapeAttrs{{}});
  Dims p;
  for (int64_t i = 0; i < a.dim(); ++i) p.push_back(i);
  std::swap(p[x], p[y]);
  return dispatch1(Op::Permute, {a}, ShapeAttrs{p});
}

Tensor t(const Tensor& a) {
  EMBER_CHECK(a.dim() <= 2, ShapeError, "t: expects a tensor with <= 2 dimensions, but self is ",
              a.dim(), "D");
  return a.dim() < 2 ? transpose(a, 0, 0) : transpose(a, 0, 1);
}

Tensor expand(const Tensor& a, const Dims& sizes) {
  return dispatch1(Op::Expand, {a}, ShapeAttrs{sizes});
}

Tensor slice(const Tensor& a, int64_t dim, int64_t start, int64_t end, int64_t step) {
  EMBER_CHECK(a.dim() > 0, IndexError, "slice: cannot be applied to a 0-dim tensor");
  EMBER_CHECK(step > 0, ValueError, "slice: step must be positive, got ", step);
  int64_t d = wrap_dim(dim, a.dim(), "slice");
  int64_t n = a.sizes()[d];
  // Python slice semantics: negative bounds count from the end, out-of-range bounds clamp.
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  return dispatch1(Op::Slice, {a}, SliceAttrs{d, start, end, step});
}

Tensor narrow(const Tensor& a, int64_t dim, int64_t start, int64_t length) {
  EMBER_CHECK(a.dim() > 0, IndexError, "narrow: cannot be applied to a 0-dim tensor");
  int64_t d = wrap_dim(dim, a.dim(), "narrow");
  int64_t n = a.sizes()[d];
  if (start < 0) start += n;
  EMBER_CHECK(start >= 0 && start <= n, IndexError, "narrow: start (", start,
              ") out of range for dimension ", d, " of size ", n);
  EMBER_CHECK(length >= 0 && start + length <= n, IndexError, "narrow: start (", start,
              ") + length (", length, ") exceeds dimension size (", n, ")");
  return dispatch1(Op::Slice, {a}, SliceAttrs{d, start, start + length, 1});
}

Tensor select(const Tensor& a, int64_t dim, int64_t index) {
  EMBER_CHECK(a.dim() > 0, IndexError, "select: cannot be applied to a 0-dim tensor");
  int64_t d = wrap_dim(dim, a.dim(), "select");
  int64_t n = a.sizes()[d];
  EMBER_CHECK(index >= -n && index < n, IndexError, "select: index ", index,
              " out of range for tensor of size ", a.sizes(), " at dimension ", d);
  return dispatch1(Op::Select, {a}, SelectAttrs{d, index < 0 ? index + n : index});
}

}  // namespace ember
