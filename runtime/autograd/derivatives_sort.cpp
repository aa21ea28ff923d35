// The derivative table: sorting, scans and scatter. g is the output gradient, x the input, y the
// output.
#include "runtime/autograd/rows.hpp"
#include "runtime/shape.hpp"

namespace ember::autograd::rows {
namespace {

// The sum of g from each position to the end of dim: flip(cumsum(flip(g))).
Tensor reverse_cumsum(const Tensor& g, int64_t dim) {
  return flip(cumsum(flip(g, {dim}), dim), {dim});
}

}  // namespace

void fill_sort_scan(Table& t) {
  // sort, topk: each value's gradient goes back to the index it came from
  BackwardFn picked = [](const Ctx& c, const TensorList& g) -> TensorList {
    if (!g[0].defined()) return {Tensor()};
    const Dims& in = c.input_sizes(0);
    if (in.empty()) return {like_input(c, 0, g[0])};
    int64_t d =
        wrap_dim(std::get<SortAttrs>(c.attrs()).dim, static_cast<int64_t>(in.size()), "sort");
    Tensor z = zeros(in, g[0].dtype());
    return {like_input(c, 0, dispatch1(Op::ScatterAdd, {z, c.output(1), g[0]}, DimAttrs{d}))};
  };
  row(t, Op::Sort, {.save_outputs = true}, picked);
  row(t, Op::Topk, {.save_outputs = true}, picked);
  // scatter(self, index, src): self gets g where nothing was written, src gets g at index
  row(t, Op::Scatter, {.save_inputs = true}, [](const Ctx& c, const TensorList& g) -> TensorList {
    int64_t d = std::get<DimAttrs>(c.attrs()).dim;
    Tensor index = c.input(1);
    Tensor gs =
        c.needs_grad(0)
            ? dispatch1(Op::Scatter, {g[0], index, zeros(index.sizes(), g[0].dtype())}, DimAttrs{d})
            : Tensor();
    return {like_input(c, 0, gs), Tensor(),
            c.needs_grad(2) ? like_input(c, 2, gather(g[0], d, index)) : Tensor()};
  });
  // d cumsum: dx_k = sum_{j >= k} g_j
  row(t, Op::Cumsum, {}, [](const Ctx& c, const TensorList& g) -> TensorList {
    if (c.input_sizes(0).empty()) return {like_input(c, 0, g[0])};
    return {like_input(c, 0, reverse_cumsum(g[0], std::get<DimAttrs>(c.attrs()).dim))};
  });
  // d cumprod: dx_k = sum_{j >= k} g_j prod_{i <= j, i != k} x_i. Where x_k != 0 that is
  // sum_{j >= k} g_j y_j / x_k (exact even with zeros elsewhere: both sides drop the same terms).
  // Of the zeros only the first along dim has a gradient (a later one's products all hold the
  // first): sum_{j >= k} g_j y'_j, y' the cumprod with that x_k taken as 1. As PyTorch's
  // cumprod_backward, and differentiable again.
  row(t, Op::Cumprod, {.save_inputs = true, .save_outputs = true},
      [](const Ctx& c, const TensorList& g) -> TensorList {
        if (c.input_sizes(0).empty()) return {like_input(c, 0, g[0])};
        int64_t d = std::get<DimAttrs>(c.attrs()).dim;
        Tensor x = c.input(0).to(g[0].dtype()), y = c.output(0).to(g[0].dtype());
        Tensor is0 = x == 0;
        Tensor one = ones({}, x.dtype());
        Tensor nonzero_part = reverse_cumsum(g[0] * y, d) / where(is0, one, x);
        Tensor first0 = is0 && (cumsum(is0, d) == 1);
        Tensor y1 = cumprod(where(first0, one, x), d);
        Tensor zero_part = reverse_cumsum(g[0] * y1, d);
        return {like_input(
            c, 0, where(is0, where(first0, zero_part, zeros({}, x.dtype())), nonzero_part))};
      });
}

}  // namespace ember::autograd::rows
