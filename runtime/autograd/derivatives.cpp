// The derivative table, part 1: pointwise, reductions, movement, linear algebra. Each row's math
// is in its comment; g is the output gradient, x/a/b the inputs, y the output.
#include <array>
#include <cmath>

#include "runtime/autograd/rows.hpp"
#include "runtime/ops.hpp"
#include "runtime/ops/row_backward.hpp"
#include "runtime/shape.hpp"

namespace ember::autograd {

Tensor sum_to(const Tensor& g, const Dims& sizes) {
  if (!g.defined() || g.sizes() == sizes) return g;
  int64_t lead = g.dim() - static_cast<int64_t>(sizes.size());
  Dims dims;
  for (int64_t d = 0; d < g.dim(); ++d)
    if (d < lead || (sizes[d - lead] == 1 && g.sizes()[d] != 1)) dims.push_back(d);
  Tensor r = dims.empty() ? g : sum(g, dims, true);
  return r.reshape(sizes);
}

namespace {

using namespace rows;

// Re-inserts reduced dims (as size 1) so a reduced gradient broadcasts against the input.
Tensor unreduce(const Tensor& g, const Ctx& c) {
  const auto& r = std::get<ReduceAttrs>(c.attrs());
  Dims in = c.input_sizes(0);
  if (r.keepdim || in.empty()) return g;
  Tensor out = g;
  if (r.dims.empty()) return g.reshape(Dims(in.size(), 1));
  for (int64_t d : r.dims) out = out.unsqueeze(d);
  return out;
}

int64_t reduced_count(const Ctx& c) {
  const auto& r = std::get<ReduceAttrs>(c.attrs());
  const Dims& in = c.input_sizes(0);
  if (r.dims.empty()) return product(in);
  int64_t n = 1;
  for (int64_t d : r.dims) n *= in[d];
  return n;
}

// What var's and std's rows share: x - mean(x) over the reduced dims (kept, to broadcast
// against x) and the divisor N - correction.
struct Deviation {
  Tensor centered;
  double n;
};
Deviation deviation(const Ctx& c) {
  const auto& r = std::get<ReduceAttrs>(c.attrs());
  Tensor x = c.input(0);
  Tensor mu = x.dim() ? mean(x, r.dims.empty() ? Dims{} : r.dims, true) : x;
  if (r.dims.empty() && x.dim()) mu = mu.reshape(Dims(x.dim(), 1));
  return {x - mu, static_cast<double>(reduced_count(c) - r.correction)};
}

Tensor expand_back(const Tensor& g, const Ctx& c) {
  return unreduce(g, c).expand(c.input_sizes(0));
}

// Adds rows of src into zeros of `sizes` at index along dim (differentiable: index_add).
Tensor index_add_into(const Dims& sizes, DType d, int64_t dim, const Tensor& index,
                      const Tensor& src) {
  return dispatch1(Op::IndexAdd, {zeros(sizes, d), index, src}, DimAttrs{dim});
}

// g placed at [start, start + g.size(dim)) along dim of zeros of `sizes`: a cat of g between
// two expanded zeros (one pass writing the result, no zero-filled buffer). Differentiable, and a
// library call when a region traces it.
Tensor pad_with_zeros(const Tensor& g, const Dims& sizes, int64_t dim, int64_t start) {
  const int64_t n = g.size(dim), after = sizes[static_cast<size_t>(dim)] - start - n;
  if (start == 0 && after == 0) return g;
  Tensor zero = zeros({}, g.dtype());
  std::vector<Tensor> parts;
  auto zeros_of = [&](int64_t len) {
    Dims s = g.sizes();
    s[static_cast<size_t>(dim)] = len;
    return zero.expand(s);
  };
  if (start > 0) parts.push_back(zeros_of(start));
  parts.push_back(g);
  if (after > 0) parts.push_back(zeros_of(after));
  return cat(parts, dim);
}

void fill_reductions(Table& t) {
  // d sum = 1 over the reduced elements
  row(t, Op::Sum, {}, [](const Ctx& c, const TensorList& g) -> TensorList {
    return {like_input(c, 0, expand_back(g[0], c))};
  });
  // d mean = 1/N
  row(t, Op::Mean, {}, [](const Ctx& c, const TensorList& g) -> TensorList {
    return {like_input(c, 0, expand_back(g[0], c) / static_cast<double>(reduced_count(c)))};
  });
  // d prod = prod of the others: y/x without zeros; with one zero, that element gets the
  // product of the rest; with two or more, all zero
  row(t, Op::Prod, {.save_inputs = true, .save_outputs = true},
      [](const Ctx& c, const TensorList& g) -> TensorList {
        const auto& r = std::get<ReduceAttrs>(c.attrs());
        Tensor x = c.input(0), y = unreduce(c.output(0), c), ge = unreduce(g[0], c);
        Tensor is0 = x == 0;
        Dims dims = r.dims;
        if (dims.empty())
          for (int64_t d = 0; d < x.dim(); ++d) dims.push_back(d);
        Tensor zeros_n = x.dim() ? sum(is0, dims, true) : is0.to(kInt64);
        Tensor prod_nz = x.dim() ? prod(where(is0, ones_like(x), x), dims, true) : ones_like(x);
        Tensor safe = where(is0, ones_like(x), x);
        Tensor d =
            where(zeros_n == 0, y / safe, where((zeros_n == 1) && is0, prod_nz, zeros_like(x)));
        return {like_input(c, 0, ge * d)};
      });
  // d amax = [x = max] / count of maxima (the gradient is shared among ties)
  BackwardFn extreme = [](const Ctx& c, const TensorList& g) -> TensorList {
    const auto& r = std::get<ReduceAttrs>(c.attrs());
    Tensor x = c.input(0), y = unreduce(c.output(0), c);
    Tensor m = mask_of(x == y, g[0]);
    Dims dims = r.dims;
    if (dims.empty())
      for (int64_t d = 0; d < x.dim(); ++d) dims.push_back(d);
    Tensor count = x.dim() ? sum(m, dims, true) : m;
    return {like_input(c, 0, unreduce(g[0], c) * m / count)};
  };
  row(t, Op::Amax, {.save_inputs = true, .save_outputs = true}, extreme);
  row(t, Op::Amin, {.save_inputs = true, .save_outputs = true}, extreme);
  // d var = 2 (x - mean) / (N - correction)
  row(t, Op::Var, {.save_inputs = true}, [](const Ctx& c, const TensorList& g) -> TensorList {
    auto [dev, n] = deviation(c);
    return {like_input(c, 0, unreduce(g[0], c) * dev * (2.0 / n))};
  });
  // d std = (x - mean) / ((N - correction) std)
  row(t, Op::Std, {.save_inputs = true, .save_outputs = true},
      [](const Ctx& c, const TensorList& g) -> TensorList {
        auto [dev, n] = deviation(c);
        return {like_input(c, 0, unreduce(g[0], c) * dev / (unreduce(c.output(0), c) * n))};
      });
  // d logsumexp = softmax = e^(x - y)
  row(t, Op::Logsumexp, {.save_inputs = true, .save_outputs = true},
      [](const Ctx& c, const TensorList& g) -> TensorList {
        return {like_input(c, 0, unreduce(g[0], c) * exp(c.input(0) - unreduce(c.output(0), c)))};
      });
  // d max(x, dim) = g at the index of the maximum
  BackwardFn dim_extreme = [](const Ctx& c, const TensorList& g) -> TensorList {
    const auto& r = std::get<ReduceAttrs>(c.attrs());
    if (!g[0].defined()) return {Tensor()};
    Tensor idx = c.output(1), gv = g[0];
    const Dims& in = c.input_sizes(0);
    if (in.empty()) return {like_input(c, 0, gv)};
    int64_t d = r.dims[0];
    if (!r.keepdim) {
      idx = idx.unsqueeze(d);
      gv = gv.unsqueeze(d);
    }
    Tensor z = zeros(in, g[0].dtype());
    return {like_input(c, 0, dispatch1(Op::ScatterAdd, {z, idx, gv}, DimAttrs{d}))};
  };
  row(t, Op::MaxDim, {.save_outputs = true}, dim_extreme);
  row(t, Op::MinDim, {.save_outputs = true}, dim_extreme);
  // softmax: dx = y (g - sum(g y))
  row(t, Op::Softmax, {.save_outputs = true}, [](const Ctx& c, const TensorList& g) -> TensorList {
    int64_t d = std::get<DimAttrs>(c.attrs()).dim;
    Tensor y = c.output(0);
    if (y.dim() == 0) return {like_input(c, 0, zeros_like(g[0]))};
    if (!GradMode::is_enabled() && !ops_traced())  // neither recorded nor traced: fused
      return {like_input(c, 0, detail::softmax_backward(g[0], y, d, false))};
    Tensor gy = g[0] * y;
    return {like_input(c, 0, gy - y * sum(gy, {d}, true))};
  });
  // log_softmax: dx = g - e^y sum(g)
  row(t, Op::LogSoftmax, {.save_outputs = true},
      [](const Ctx& c, const TensorList& g) -> TensorList {
        int64_t d = std::get<DimAttrs>(c.attrs()).dim;
        Tensor y = c.output(0);
        if (y.dim() == 0) return {like_input(c, 0, zeros_like(g[0]))};
        if (!GradMode::is_enabled() && !ops_traced())
          return {like_input(c, 0, detail::softmax_backward(g[0], y, d, true))};
        return {like_input(c, 0, g[0] - exp(y) * sum(g[0], {d}, true))};
      });
}

void fill_movement(Table& t) {
  // view: the gradient reshaped back
  row(t, Op::View, {}, [](const Ctx& c, const TensorList& g) -> TensorList {
    return {g[0].reshape(c.input_sizes(0))};
  });
  // expand: summed over the expanded dims
  row(t, Op::Expand, {},
      [](const Ctx& c, const TensorList& g) -> TensorList { return {like_input(c, 0, g[0])}; });
  // permute: the inverse permutation
  row(t, Op::Permute, {}, [](const Ctx& c, const TensorList& g) -> TensorList {
    const Dims& p = std::get<ShapeAttrs>(c.attrs()).sizes;
    Dims inv(p.size());
    for (size_t i = 0; i < p.size(); ++i) inv[p[i]] = static_cast<int64_t>(i);
    return {g[0].permute(inv)};
  });
  // slice: the gradient placed at the sliced positions of zeros
  // (When the backward is neither recorded nor traced, g is copied into a view of the zeros:
  // index_add would clone them first, a whole extra pass over the input's size, which for q, k
  // and v selected out of one qkv tensor was three.)
  row(t, Op::Slice, {}, [](const Ctx& c, const TensorList& g) -> TensorList {
    const auto& s = std::get<SliceAttrs>(c.attrs());
    if (!GradMode::is_enabled() && !ops_traced()) {
      Tensor z = zeros(c.input_sizes(0), g[0].dtype());
      z.slice(s.dim, s.start, s.end, s.step).copy_(g[0]);
      return {z};
    }
    if (s.step == 1) return {pad_with_zeros(g[0], c.input_sizes(0), s.dim, s.start)};
    Tensor idx = arange(s.start, s.end, s.step);
    return {index_add_into(c.input_sizes(0), g[0].dtype(), s.dim, idx, g[0])};
  });
  // select: the gradient placed at the selected index of zeros
  row(t, Op::Select, {}, [](const Ctx& c, const TensorList& g) -> TensorList {
    const auto& s = std::get<SelectAttrs>(c.attrs());
    if (!GradMode::is_enabled() && !ops_traced()) {
      Tensor z = zeros(c.input_sizes(0), g[0].dtype());
      z.select(s.dim, s.index).copy_(g[0]);
      return {z};
    }
    const int64_t size = c.input_sizes(0)[static_cast<size_t>(s.dim)];
    return {pad_with_zeros(g[0].unsqueeze(s.dim), c.input_sizes(0), s.dim,
                           s.index < 0 ? s.index + size : s.index)};
  });
  // cat: each input gets its slice of the gradient
  row(t, Op::Cat, {}, [](const Ctx& c, const TensorList& g) -> TensorList {
    int64_t d = std::get<DimAttrs>(c.attrs()).dim;
    TensorList out;
    int64_t at = 0;
    for (size_t i = 0; i < c.num_inputs(); ++i) {
      const Dims& s = c.input_sizes(i);
      if (s.size() == 1 && s[0] == 0 && g[0].dim() > 1) {  // skipped legacy empty input
        out.emplace_back();
        continue;
      }
      int64_t n = s[d];
      out.push_back(c.needs_grad(i) ? like_input(c, i, g[0].narrow(d, at, n)) : Tensor());
      at += n;
    }
    return out;
  });
  // index_select: rows added back at their indices
  row(t, Op::IndexSelect, {.save_inputs = true},
      [](const Ctx& c, const TensorList& g) -> TensorList {
        int64_t d = std::get<DimAttrs>(c.attrs()).dim;
        return {index_add_into(c.input_sizes(0), g[0].dtype(), d, c.input(1), g[0]), Tensor()};
      });
  // gather: values added back at their indices
  row(t, Op::Gather, {.save_inputs = true}, [](const Ctx& c, const TensorList& g) -> TensorList {
    int64_t d = std::get<DimAttrs>(c.attrs()).dim;
    Tensor z = zeros(c.input_sizes(0), g[0].dtype());
    return {dispatch1(Op::ScatterAdd, {z, c.input(1), g[0]}, DimAttrs{d}), Tensor()};
  });
  // scatter_add(self, index, src): self gets g, src gets g gathered at index
  row(t, Op::ScatterAdd, {.save_inputs = true},
      [](const Ctx& c, const TensorList& g) -> TensorList {
        int64_t d = std::get<DimAttrs>(c.attrs()).dim;
        return {like_input(c, 0, g[0]), Tensor(),
                c.needs_grad(2) ? gather(g[0], d, c.input(1)) : Tensor()};
      });
  // index_add(self, index, source): self gets g, source gets the indexed rows of g
  row(t, Op::IndexAdd, {.save_inputs = true}, [](const Ctx& c, const TensorList& g) -> TensorList {
    int64_t d = std::get<DimAttrs>(c.attrs()).dim;
    return {like_input(c, 0, g[0]), Tensor(),
            c.needs_grad(2) ? index_select(g[0], d, c.input(1)) : Tensor()};
  });
}

// A matrix (batch of matrices) whose columns are contiguous, as the transpose of a row-major one.
bool column_major(const Tensor& t) {
  return t.dim() >= 2 && t.size(-2) > 1 && t.size(-1) > 1 && t.stride(-2) == 1 &&
         t.stride(-1) >= t.size(-2);
}

void fill_linalg(Table& t) {
  // matmul: da = g b^T, db = a^T g, with 1-d operands promoted and batch dims summed back
  row(t, Op::Matmul, {.save_inputs = true}, [](const Ctx& c, const TensorList& g) -> TensorList {
    Tensor a = c.input(0), b = c.input(1), gy = g[0];
    if (a.dim() == 1 && b.dim() == 1)
      return {c.needs_grad(0) ? like_input(c, 0, gy * b) : Tensor(),
              c.needs_grad(1) ? like_input(c, 1, gy * a) : Tensor()};
    bool a1 = a.dim() == 1, b1 = b.dim() == 1;
    Tensor A = a1 ? a.unsqueeze(0) : a, B = b1 ? b.unsqueeze(-1) : b;
    Tensor G = gy;
    if (a1) G = G.unsqueeze(-2);
    if (b1) G = G.unsqueeze(-1);
    Tensor ga, gb;
    // An operand stored transposed (w.t() in linear) gets its gradient in that layout, computed
    // as (B G^T)^T or (G^T A)^T, as PyTorch's mm_mat1/mat2_backward do: the gradient flowing
    // back through the transpose is then contiguous, and the leaf keeps it without a copy.
    auto tr = [](const Tensor& t) { return t.transpose(-1, -2); };
    if (c.needs_grad(0)) {
      Tensor r = column_major(A) ? tr(matmul(B, tr(G))) : matmul(G, tr(B));
      if (a1) r = r.squeeze(-2);
      ga = like_input(c, 0, r);
    }
    if (c.needs_grad(1)) {
      // A matrix b shared by a batch of a (x @ W^T in a linear layer over [B, T, in]): its
      // gradient sums over the batch, which one GEMM over the batch's rows does, where batched
      // products would each write a whole matrix and sum_to would then add them up.
      Tensor Ab = A, Gb = G;
      if (!b1 && b.dim() == 2 && A.dim() > 2) {
        Ab = A.reshape({-1, A.size(-1)});
        Gb = G.reshape({-1, G.size(-1)});
      }
      Tensor r = column_major(B) ? tr(matmul(tr(Gb), Ab)) : matmul(tr(Ab), Gb);
      if (b1) r = r.squeeze(-1);
      gb = like_input(c, 1, r);
    }
    return {ga, gb};
  });
}

Table build() {
  Table t{};
  rows::fill_pointwise(t);
  fill_reductions(t);
  fill_movement(t);
  fill_linalg(t);
  rows::fill_nn(t);
  rows::fill_sort_scan(t);
  return t;
}

}  // namespace

const Derivative& derivative(Op op) {
  static const Table table = build();
  return table[static_cast<size_t>(op)];
}

}  // namespace ember::autograd
