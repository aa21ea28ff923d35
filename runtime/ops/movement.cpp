// Gathers and joins: cat, index_select, gather (kernels); stack, split, chunk, unbind (views and
// cats built on them).
#include <cstring>

#include "runtime/ops/loops.hpp"
#include "runtime/shape.hpp"

namespace ember {
namespace {

// dst[...] = src[...] converted to dst's dtype; both any strides, same sizes. No dispatch: this
// runs inside kernels, where nested ops must not reach the autograd or trace hooks.
void convert_into(const Tensor& dst, const Tensor& src) {
  visit_dtype(dst.dtype(), [&](auto d) {
    using D = decltype(d);
    visit_dtype(src.dtype(), [&](auto s) {
      using S = decltype(s);
      loops::for_each<D, S>(dst, {&src}, [](S v) { return static_cast<D>(v); });
    });
  });
}

// t itself when contiguous, else a contiguous copy made without dispatch.
Tensor dense(const Tensor& t) {
  if (t.is_contiguous()) return t;
  Tensor out = make_tensor(t.sizes(), t.dtype());
  convert_into(out, t);
  return out;
}

// Copies `bytes` bytes, split over the pool when large (cat along dim 0 is one big memcpy).
void parallel_memcpy(char* dst, const char* src, int64_t bytes) {
  constexpr int64_t kChunk = int64_t{1} << 16;
  parallel_for(0, (bytes + kChunk - 1) / kChunk, 4, [&](int64_t b, int64_t e) {
    int64_t lo = b * kChunk, hi = std::min(bytes, e * kChunk);
    std::memcpy(dst + lo, src + lo, static_cast<size_t>(hi - lo));
  });
}

// PyTorch's legacy rule: a 1-d tensor of shape [0] is skipped by cat whatever the other shapes.
bool cat_skipped(const Tensor& t) { return t.dim() == 1 && t.sizes()[0] == 0; }

TensorList cat_kernel(std::span<const Tensor> in, const Attrs& attrs) {
  int64_t dim = std::get<DimAttrs>(attrs).dim;
  EMBER_CHECK(!in.empty(), ValueError, "cat: expected a non-empty list of Tensors");
  int64_t ref = -1;
  for (size_t i = 0; i < in.size(); ++i) {
    EMBER_CHECK(in[i].defined(), ValueError, "cat: tensor number ", i, " in the list is undefined");
    EMBER_CHECK(in[i].dim() > 0, ShapeError, "cat: zero-dimensional tensor (at position ", i,
                ") cannot be concatenated");
    if (ref < 0 && !cat_skipped(in[i])) ref = static_cast<int64_t>(i);
  }
  DType dtype = result_type(in);
  if (ref < 0) return {make_tensor({0}, dtype)};

  const Dims& rs = in[ref].sizes();
  int64_t nd = static_cast<int64_t>(rs.size());
  EMBER_CHECK(dim >= 0 && dim < nd, IndexError,
              "cat: dimension out of range (expected to be in "
              "range of [",
              -nd, ", ", nd - 1, "], but got ", dim, ")");
  Dims out_sizes = rs;
  out_sizes[dim] = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    if (cat_skipped(in[i])) continue;
    const Dims& s = in[i].sizes();
    EMBER_CHECK(static_cast<int64_t>(s.size()) == nd, ShapeError,
                "cat: tensors must have same number of dimensions: got ", nd, " and ", s.size(),
                " (tensor number ", ref, " has shape ", rs, ", tensor number ", i, " has shape ", s,
                ")");
    for (int64_t d = 0; d < nd; ++d)
      EMBER_CHECK(d == dim || s[d] == rs[d], ShapeError,
                  "cat: sizes of tensors must match except in dimension ", dim, ". Expected size ",
                  rs[d], " but got size ", s[d], " for tensor number ", i,
                  " in the list at dimension ", d, " (shapes ", rs, " and ", s, ")");
    out_sizes[dim] += s[dim];
  }

  Tensor out = make_tensor(out_sizes, dtype);
  if (out.numel() == 0) return {out};
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= out_sizes[d];
  for (int64_t d = dim + 1; d < nd; ++d) inner *= out_sizes[d];
  const int64_t es = static_cast<int64_t>(element_size(dtype));
  const int64_t row_bytes = out_sizes[dim] * inner * es;  // one outer row of the output

  // Inputs already dense in the output dtype are block copies: per outer row, each input
  // contributes one contiguous run of size[dim] * inner elements. The rest go through the
  // strided converting loop into a view of their slot in the output.
  struct Block {
    const char* src;
    int64_t dst_off, bytes;
  };
  std::vector<Block> blocks;
  int64_t fast_bytes = 0, at = 0;
  for (const Tensor& t : in) {
    if (cat_skipped(t)) continue;
    int64_t len = t.sizes()[dim];
    if (t.numel() > 0) {
      if (t.is_contiguous() && t.dtype() == dtype) {
        blocks.push_back(
            {static_cast<const char*>(t.raw_data()), at * inner * es, len * inner * es});
        fast_bytes += t.numel() * es;
      } else {
        Tensor slot = make_view(out, t.sizes(), out.strides(), out.storage_offset() + at * inner);
        convert_into(slot, t);
      }
    }
    at += len;
  }
  if (blocks.empty()) return {out};
  char* dst = static_cast<char*>(out.raw_data());
  auto copy_rows = [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o)
      for (const Block& blk : blocks)
        std::memcpy(dst + o * row_bytes + blk.dst_off, blk.src + o * blk.bytes,
                    static_cast<size_t>(blk.bytes));
  };
  constexpr int64_t kSerialBytes = int64_t{1} << 18;
  if (fast_bytes <= kSerialBytes || get_num_threads() == 1) {
    copy_rows(0, outer);
  } else if (outer >= 4 * get_num_threads()) {
    int64_t per_row = std::max<int64_t>(fast_bytes / outer, 1);
    parallel_for(0, outer, std::max<int64_t>(1, (int64_t{1} << 16) / per_row), copy_rows);
  } else {
    // Few long rows (cat along dim 0): split each block copy instead.
    for (int64_t o = 0; o < outer; ++o)
      for (const Block& blk : blocks)
        parallel_memcpy(dst + o * row_bytes + blk.dst_off, blk.src + o * blk.bytes, blk.bytes);
  }
  return {out};
}

void check_index_dtype(const Tensor& index, const char* op) {
  EMBER_CHECK(index.defined(), ValueError, op, ": the index tensor is undefined");
  EMBER_CHECK(index.dtype() == kInt64, DTypeError, op, ": expected dtype int64 for index, got ",
              dtype_name(index.dtype()));
}

TensorList index_select_kernel(std::span<const Tensor> in, const Attrs& attrs) {
  const Tensor& self = in[0];
  const Tensor& index = in[1];
  int64_t dim = std::get<DimAttrs>(attrs).dim;
  check_index_dtype(index, "index_select");
  EMBER_CHECK(index.dim() <= 1, ShapeError,
              "index_select: index is supposed to be a vector, "
              "got an index of shape ",
              index.sizes());
  int64_t nd = std::max<int64_t>(self.dim(), 1);
  EMBER_CHECK(dim >= 0 && dim < nd, IndexError,
              "index_select: dimension out of range (expected "
              "to be in range of [",
              -nd, ", ", nd - 1, "], but got ", dim, ")");
  const int64_t k = index.numel();
  const int64_t n = self.dim() == 0 ? 1 : self.sizes()[dim];
  const int64_t* ip = index.data_ptr<int64_t>();
  const int64_t istride = index.dim() == 0 ? 0 : index.strides()[0];
  for (int64_t j = 0; j < k; ++j) {
    int64_t v = ip[j * istride];
    EMBER_CHECK(v >= 0 && v < n, IndexError, "index_select: index ", v,
                " is out of range for dimension ", dim, " with size ", n, " (input shape ",
                self.sizes(), ")");
  }
  if (self.dim() == 0) {
    EMBER_CHECK(k == 1, ShapeError,
                "index_select: the index into a 0-d tensor must hold "
                "exactly one element, got ",
                k);
    Tensor out = make_tensor({}, self.dtype());
    convert_into(out, self);
    return {out};
  }

  Dims out_sizes = self.sizes();
  out_sizes[dim] = k;
  Tensor out = make_tensor(out_sizes, self.dtype());
  if (out.numel() == 0) return {out};
  Tensor src = dense(self);
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= out_sizes[d];
  for (int64_t d = dim + 1; d < self.dim(); ++d) inner *= out_sizes[d];
  visit_dtype(self.dtype(), [&](auto x) {
    using T = decltype(x);
    const T* sp = src.data_ptr<T>();
    T* op = out.data_ptr<T>();
    // One output row = inner elements copied from row idx[j] of outer slice o.
    auto rows = [&](int64_t b, int64_t e) {
      int64_t o = b / k, j = b % k;
      for (int64_t r = b; r < e; ++r) {
        const T* s = sp + (o * n + ip[j * istride]) * inner;
        T* d = op + r * inner;
        if (inner == 1) {
          *d = *s;
        } else {
          std::memcpy(d, s, static_cast<size_t>(inner) * sizeof(T));
        }
        if (++j == k) {
          j = 0;
          ++o;
        }
      }
    };
    parallel_for(0, outer * k, std::max<int64_t>(1, kGrainSize / inner), rows);
  });
  return {out};
}

TensorList gather_kernel(std::span<const Tensor> in, const Attrs& attrs) {
  const Tensor& self = in[0];
  const Tensor& index = in[1];
  int64_t dim = std::get<DimAttrs>(attrs).dim;
  check_index_dtype(index, "gather");
  // As in PyTorch, a 0-d tensor counts as one dim of size 1 here.
  auto nonempty = [](const Dims& d, int64_t fill) { return d.empty() ? Dims{fill} : d; };
  const Dims ss = nonempty(self.sizes(), 1), st = nonempty(self.strides(), 1);
  const Dims is = nonempty(index.sizes(), 1), it = nonempty(index.strides(), 1);
  const int64_t nd = static_cast<int64_t>(ss.size());
  EMBER_CHECK(static_cast<int64_t>(is.size()) == nd, ShapeError,
              "gather: index tensor must have "
              "the same number of dimensions as input tensor (index shape ",
              index.sizes(), ", input shape ", self.sizes(), ")");
  EMBER_CHECK(dim >= 0 && dim < nd, IndexError,
              "gather: dimension out of range (expected to be "
              "in range of [",
              -nd, ", ", nd - 1, "], but got ", dim, ")");
  Tensor out = make_tensor(index.sizes(), self.dtype());
  if (out.numel() == 0) return {out};
  for (int64_t d = 0; d < nd; ++d)
    EMBER_CHECK(d == dim || is[d] <= ss[d], ShapeError,
                "gather: size does not match at "
                "dimension ",
                d, ": expected index ", index.sizes(), " to be no larger than self ", self.sizes(),
                " apart from dimension ", dim);

  const int64_t n = ss[dim], sdim = st[dim];
  const int64_t last = nd - 1, len = is[last];
  const int64_t rows = out.numel() / len;
  const int64_t* ip = index.data_ptr<int64_t>();
  visit_dtype(self.dtype(), [&](auto x) {
    using T = decltype(x);
    const T* sp = self.data_ptr<T>();
    T* op = out.data_ptr<T>();
    // Rows run over every index dim but the last; the last dim is the inner loop.
    auto body = [&](int64_t b, int64_t e) {
      Dims ctr(static_cast<size_t>(last), 0);
      int64_t rem = b;
      for (int64_t d = last - 1; d >= 0; --d) {
        ctr[d] = rem % is[d];
        rem /= is[d];
      }
      for (int64_t r = b; r < e; ++r) {
        int64_t ioff = 0, soff = 0;
        for (int64_t d = 0; d < last; ++d) {
          ioff += ctr[d] * it[d];
          if (d != dim) soff += ctr[d] * st[d];
        }
        const int64_t* irow = ip + ioff;
        const int64_t istep = it[last], sstep = last == dim ? 0 : st[last];
        T* orow = op + r * len;
        for (int64_t j = 0; j < len; ++j) {
          int64_t v = irow[j * istep];
          EMBER_CHECK(v >= 0 && v < n, IndexError, "gather: index ", v,
                      " is out of bounds for dimension ", dim, " with size ", n);
          orow[j] = sp[soff + j * sstep + v * sdim];
        }
        for (int64_t d = last - 1; d >= 0; --d) {
          if (++ctr[d] < is[d]) break;
          ctr[d] = 0;
        }
      }
    };
    parallel_for(0, rows, std::max<int64_t>(1, (kGrainSize / 2) / len), body);
  });
  return {out};
}

}  // namespace

namespace detail {
void register_movement_kernels() {
  register_kernel(Op::Cat, cat_kernel);
  register_kernel(Op::IndexSelect, index_select_kernel);
  register_kernel(Op::Gather, gather_kernel);
}
}  // namespace detail

Tensor index_select(const Tensor& a, int64_t dim, const Tensor& index) {
  return dispatch1(Op::IndexSelect, {a, index}, DimAttrs{wrap_dim(dim, a.dim(), "index_select")});
}

Tensor gather(const Tensor& a, int64_t dim, const Tensor& index) {
  return dispatch1(Op::Gather, {a, index}, DimAttrs{wrap_dim(dim, a.dim(), "gather")});
}

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  EMBER_CHECK(!tensors.empty(), ValueError, "cat: expected a non-empty list of Tensors");
  // The dim wraps against the first tensor cat does not skip (PyTorch's legacy_cat_wrap_dim);
  // when every tensor is skipped the result is [0] whatever dim says.
  int64_t d = 0;
  for (const Tensor& t : tensors) {
    if (t.defined() && t.dim() > 0 && !cat_skipped(t)) {
      d = wrap_dim(dim, t.dim(), "cat");
      break;
    }
  }
  return dispatch(Op::Cat, std::span<const Tensor>(tensors), DimAttrs{d})[0];
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  EMBER_CHECK(!tensors.empty(), ValueError, "stack: expected a non-empty list of Tensors");
  for (size_t i = 0; i < tensors.size(); ++i)
    EMBER_CHECK(tensors[i].defined(), ValueError, "stack: tensor number ", i, " is undefined");
  for (size_t i = 1; i < tensors.size(); ++i)
    EMBER_CHECK(tensors[i].sizes() == tensors[0].sizes(), ShapeError,
                "stack: expects each tensor to be equal size, but got ", tensors[0].sizes(),
                " at entry 0 and ", tensors[i].sizes(), " at entry ", i);
  int64_t d = wrap_dim(dim, tensors[0].dim() + 1, "stack");
  std::vector<Tensor> parts;
  parts.reserve(tensors.size());
  for (const Tensor& t : tensors) parts.push_back(unsqueeze(t, d));
  return cat(parts, d);
}

std::vector<Tensor> split(const Tensor& a, int64_t split_size, int64_t dim) {
  EMBER_CHECK(a.dim() > 0, ShapeError, "split: expects at least a 1-dimensional tensor");
  EMBER_CHECK(split_size >= 0, ValueError, "split: split_size must be non-negative, got ",
              split_size);
  int64_t d = wrap_dim(dim, a.dim(), "split");
  int64_t n = a.sizes()[d];
  EMBER_CHECK(split_size > 0 || n == 0, ValueError,
              "split: split_size can only be 0 if dimension "
              "size is 0, but got dimension size of ",
              n);
  int64_t parts = split_size == 0 ? 1 : std::max<int64_t>((n + split_size - 1) / split_size, 1);
  std::vector<Tensor> out;
  out.reserve(static_cast<size_t>(parts));
  for (int64_t i = 0; i < parts; ++i) {
    int64_t start = i * split_size;
    out.push_back(narrow(a, d, start, std::min(split_size, n - start)));
  }
  return out;
}

std::vector<Tensor> split(const Tensor& a, const std::vector<int64_t>& sizes, int64_t dim) {
  EMBER_CHECK(a.dim() > 0, ShapeError, "split: expects at least a 1-dimensional tensor");
  int64_t d = wrap_dim(dim, a.dim(), "split");
  int64_t n = a.sizes()[d], total = 0;
  for (int64_t s : sizes) {
    EMBER_CHECK(s >= 0, ValueError,
                "split: split_sizes must be non-negative, got split_sizes=", Dims(sizes));
    total += s;
  }
  EMBER_CHECK(total == n, ShapeError, "split: split_sizes must sum exactly to ", n,
              " (input tensor's size at dimension ", d, "), but got split_sizes=", Dims(sizes));
  std::vector<Tensor> out;
  out.reserve(sizes.size());
  int64_t start = 0;
  for (int64_t s : sizes) {
    out.push_back(narrow(a, d, start, s));
    start += s;
  }
  return out;
}

std::vector<Tensor> chunk(const Tensor& a, int64_t chunks, int64_t dim) {
  EMBER_CHECK(a.dim() > 0, ShapeError, "chunk: expects at least a 1-dimensional tensor");
  EMBER_CHECK(chunks > 0, ValueError, "chunk: expects `chunks` to be greater than 0, got ", chunks);
  int64_t d = wrap_dim(dim, a.dim(), "chunk");
  int64_t n = a.sizes()[d];
  // ceil(n / chunks) per chunk, so fewer than `chunks` may come back; an empty dim still gives
  // `chunks` empty pieces, as PyTorch.
  int64_t size = (n + chunks - 1) / chunks;
  if (size == 0) return split(a, std::vector<int64_t>(static_cast<size_t>(chunks), 0), d);
  return split(a, size, d);
}

std::vector<Tensor> unbind(const Tensor& a, int64_t dim) {
  EMBER_CHECK(a.dim() > 0, IndexError, "unbind: dimension specified as ", dim,
              " but tensor has no dimensions");
  int64_t d = wrap_dim(dim, a.dim(), "unbind");
  std::vector<Tensor> out;
  out.reserve(static_cast<size_t>(a.sizes()[d]));
  for (int64_t i = 0; i < a.sizes()[d]; ++i) out.push_back(select(a, d, i));
  return out;
}

}  // namespace ember
