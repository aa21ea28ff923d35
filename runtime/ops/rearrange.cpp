// Rearrangements composed of differentiable ops (as PyTorch's composite ops): flip, roll,
// repeat, tile, tril, triu. Their gradients come from the ops they are made of.
#include "runtime/ops.hpp"
#include "runtime/shape.hpp"

namespace ember {
namespace {

// Row i, column j of the last two dims kept where j - i <= diagonal (tril) or >= (triu).
Tensor triangle(const Tensor& a, int64_t diagonal, bool lower) {
  const char* name = lower ? "tril" : "triu";
  EMBER_CHECK(a.dim() >= 2, ShapeError, name,
              ": input tensor must have at least 2 dimensions, got ", a.sizes());
  Tensor j_minus_i =
      arange(a.size(-1)).unsqueeze(0) - arange(a.size(-2)).unsqueeze(1);  // [rows, cols]
  Tensor keep = lower ? j_minus_i <= diagonal : j_minus_i >= diagonal;
  return where(keep, a, zeros({}, a.dtype()));
}

}  // namespace

Tensor flip(const Tensor& a, const Dims& dims) {
  Tensor out = a;
  for (int64_t d : wrap_dims(dims, a.dim(), "flip")) {  // refuses repeats
    int64_t n = a.size(d);
    out = out.index_select(d, arange(n - 1, -1, -1));
  }
  return dims.empty() ? a.clone() : out;
}

Tensor roll(const Tensor& a, const Dims& shifts, const Dims& dims) {
  EMBER_CHECK(!shifts.empty(), ValueError, "roll: `shifts` required");
  if (dims.empty()) {
    EMBER_CHECK(shifts.size() == 1, ValueError,
                "roll: shifts and dimensions must align. shifts: ", shifts.size(), ", dims: 0");
    return roll(a.flatten(), shifts, {0}).view(a.sizes());
  }
  EMBER_CHECK(shifts.size() == dims.size(), ValueError,
              "roll: shifts and dimensions must align. shifts: ", shifts.size(),
              ", dims: ", dims.size());
  Tensor out = a;
  for (size_t i = 0; i < dims.size(); ++i) {
    int64_t d = wrap_dim(dims[i], a.dim(), "roll");
    int64_t n = a.size(d);
    if (n == 0) continue;
    int64_t s = ((shifts[i] % n) + n) % n;  // elements move s places forward, wrapping round
    if (s == 0) continue;
    out = cat({out.narrow(d, n - s, s), out.narrow(d, 0, n - s)}, d);
  }
  return out.is_same(a) ? a.clone() : out;
}

Tensor repeat(const Tensor& a, const Dims& repeats) {
  const auto nr = static_cast<int64_t>(repeats.size());
  EMBER_CHECK(nr >= a.dim(), ShapeError,
              "repeat: Number of dimensions of repeat dims can not be smaller than number of "
              "dimensions of tensor (repeats ",
              repeats, ", tensor of shape ", a.sizes(), ")");
  for (int64_t r : repeats)
    EMBER_CHECK(r >= 0, ValueError, "repeat: Trying to create tensor with negative dimension ", r,
                ": ", repeats);
  // [s0, s1] repeated [r0, r1]: view as [1, s0, 1, s1], expand to [r0, s0, r1, s1], flatten
  // pairs. The sizes of `a`, with leading 1s for the extra repeat dims.
  Dims sizes(static_cast<size_t>(nr - a.dim()), 1);  // NOLINT: (count, fill)
  for (int64_t s : a.sizes()) sizes.push_back(s);
  Dims pairs, expanded, result;
  for (int64_t i = 0; i < nr; ++i) {
    pairs.push_back(1);
    pairs.push_back(sizes[i]);
    expanded.push_back(repeats[i]);
    expanded.push_back(sizes[i]);
    result.push_back(repeats[i] * sizes[i]);
  }
  return a.reshape(pairs).expand(expanded).reshape(result);
}

Tensor tile(const Tensor& a, const Dims& reps) {
  Dims r = reps;
  while (static_cast<int64_t>(r.size()) < a.dim()) r.insert(0, 1);
  return repeat(a, r);
}

Tensor tril(const Tensor& a, int64_t diagonal) { return triangle(a, diagonal, true); }
Tensor triu(const Tensor& a, int64_t diagonal) { return triangle(a, diagonal, false); }

}  // namespace ember

namespace ember {

Tensor Tensor::masked_fill(const Tensor& mask, Scalar value) const {
  return ember::masked_fill(*this, mask, value);
}
Tensor Tensor::cumsum(int64_t dim) const { return ember::cumsum(*this, dim); }
Tensor Tensor::cumprod(int64_t dim) const { return ember::cumprod(*this, dim); }
ValuesIndices Tensor::sort(int64_t dim, bool descending, bool stable) const {
  return ember::sort(*this, dim, descending, stable);
}
Tensor Tensor::argsort(int64_t dim, bool descending, bool stable) const {
  return ember::argsort(*this, dim, descending, stable);
}
ValuesIndices Tensor::topk(int64_t k, int64_t dim, bool largest, bool sorted) const {
  return ember::topk(*this, k, dim, largest, sorted);
}
Tensor Tensor::flip(const Dims& dims) const { return ember::flip(*this, dims); }
Tensor Tensor::roll(const Dims& shifts, const Dims& dims) const {
  return ember::roll(*this, shifts, dims);
}
Tensor Tensor::repeat(const Dims& repeats) const { return ember::repeat(*this, repeats); }
Tensor Tensor::tile(const Dims& reps) const { return ember::tile(*this, reps); }
Tensor Tensor::tril(int64_t diagonal) const { return ember::tril(*this, diagonal); }
Tensor Tensor::triu(int64_t diagonal) const { return ember::triu(*this, diagonal); }

}  // namespace ember
