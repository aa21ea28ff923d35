// scaled_dot_product_attention written from ember ops (matmul, where, softmax, dropout), so
// autograd, gradcheck and the JIT's tracer see ordinary ops; PyTorch 2's math path does the same.
#include <cmath>

#include "nn/functional.hpp"

namespace ember::nn::functional {

namespace {

// keep[i][j] = j <= i over [L, S] (the lower triangle with the diagonal, as tril(ones)).
Tensor causal_keep(int64_t l, int64_t s) {
  return arange(l, kInt64).unsqueeze(1) >= arange(s, kInt64).unsqueeze(0);
}

}  // namespace

Tensor generate_square_subsequent_mask(int64_t sz, DType dtype) {
  EMBER_CHECK(sz >= 0, ValueError,
              "generate_square_subsequent_mask: size must be non-negative, got ", sz);
  EMBER_CHECK(is_floating(dtype), DTypeError,
              "generate_square_subsequent_mask: expected a floating dtype, got ",
              dtype_name(dtype));
  return where(causal_keep(sz, sz), scalar_tensor(0.0, dtype), scalar_tensor(-INFINITY, dtype));
}

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const Tensor& attn_mask, double dropout_p, bool is_causal,
                                    std::optional<double> scale) {
  const char* op = "scaled_dot_product_attention";
  EMBER_CHECK(q.defined() && k.defined() && v.defined(), Error, op,
              ": query, key and value must be defined");
  EMBER_CHECK(q.dim() >= 2 && k.dim() >= 2 && v.dim() >= 2, ShapeError, op,
              ": expected query, key and value with at least 2 dims, got query ", q.sizes(),
              ", key ", k.sizes(), ", value ", v.sizes());
  EMBER_CHECK(q.dtype() == k.dtype() && q.dtype() == v.dtype(), DTypeError, op,
              ": expected query, key, and value to have the same dtype, but got query.dtype: ",
              dtype_name(q.dtype()), " key.dtype: ", dtype_name(k.dtype()),
              " and value.dtype: ", dtype_name(v.dtype()), " instead.");
  EMBER_CHECK(is_floating(q.dtype()), DTypeError, op, ": expected floating query, got ",
              dtype_name(q.dtype()));
  EMBER_CHECK(q.size(-1) == k.size(-1), ShapeError, op, ": query's embedding size (", q.size(-1),
              ") must match key's (", k.size(-1), "); query ", q.sizes(), ", key ", k.sizes());
  EMBER_CHECK(k.size(-2) == v.size(-2), ShapeError, op, ": key's sequence length (", k.size(-2),
              ") must match value's (", v.size(-2), "); key ", k.sizes(), ", value ", v.sizes());
  EMBER_CHECK(dropout_p >= 0 && dropout_p <= 1, ValueError, op,
              ": dropout probability has to be between 0 and 1, but got ", dropout_p);
  EMBER_CHECK(!(is_causal && attn_mask.defined()), ValueError, op,
              ": explicit attn_mask should not be set when is_causal=True");
  if (attn_mask.defined())
    EMBER_CHECK(attn_mask.dtype() == kBool || attn_mask.dtype() == q.dtype(), DTypeError, op,
                ": expected attn_mask dtype to be bool or to match query dtype (",
                dtype_name(q.dtype()), "), got ", dtype_name(attn_mask.dtype()));
  const int64_t l = q.size(-2), s = k.size(-2);
  double sc = scale.value_or(1.0 / std::sqrt(static_cast<double>(q.size(-1))));
  Tensor scores = matmul(q, k.transpose(-2, -1)) * sc;
  if (attn_mask.defined()) {
    // The mask broadcasts to the scores [..., L, S] (the result must keep their shape).
    const Dims& want = scores.sizes();
    const Dims& m = attn_mask.sizes();
    bool fits = m.size() <= want.size();
    for (size_t i = 1; fits && i <= m.size(); ++i)
      fits = m[m.size() - i] == 1 || m[m.size() - i] == want[want.size() - i];
    EMBER_CHECK(fits, ShapeError, op, ": attn_mask of shape ", m,
                " does not broadcast to the attention scores' shape ", want);
    if (attn_mask.dtype() == kBool)
      scores = where(attn_mask, scores, scalar_tensor(-INFINITY, q.dtype()));
    else
      scores = scores + attn_mask;
  } else if (is_causal) {
    scores = where(causal_keep(l, s), scores, scalar_tensor(-INFINITY, q.dtype()));
  }
  Tensor w = ember::softmax(scores, -1);
  if (dropout_p > 0) w = dropout(w, {.p = dropout_p, .training = true});
  return matmul(w, v);
}

}  // namespace ember::nn::functional
