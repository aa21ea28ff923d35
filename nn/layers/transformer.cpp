#include "nn/layers/transformer.hpp"

#include <cmath>

#include "nn/init.hpp"

namespace ember::nn {

namespace {

// PyTorch's _canonical_mask: a bool mask (true = masked out) becomes an additive one of the
// query's dtype (-inf where true, 0 elsewhere); a floating mask is used as it is.
Tensor additive_mask(const Tensor& m, DType dtype, const char* what) {
  if (m.dtype() == kBool)
    return where(m, scalar_tensor(-INFINITY, dtype), scalar_tensor(0.0, dtype));
  EMBER_CHECK(m.dtype() == dtype, DTypeError,
              "MultiheadAttention: only bool and floating types of ", what,
              " are supported, and a floating one must match the query's dtype (",
              dtype_name(dtype), "); got ", dtype_name(m.dtype()));
  return m;
}

// [T, N, E] (or [N, T, E] with batch_first) -> [N, H, T, E / H].
Tensor split_heads(const Tensor& x, int64_t heads, bool batch_first) {
  int64_t e = x.size(2);
  if (batch_first) return x.view({x.size(0), x.size(1), heads, e / heads}).transpose(1, 2);
  return x.view({x.size(0), x.size(1), heads, e / heads}).permute({1, 2, 0, 3});
}

}  // namespace

MultiheadAttention::MultiheadAttention(int64_t e, int64_t h, MultiheadAttentionOptions o)
    : out_proj(e > 0 ? e : 0, e > 0 ? e : 0, {.bias = o.bias}),
      embed_dim(e),
      num_heads(h),
      head_dim(h > 0 ? e / h : 0),
      kdim(o.kdim.value_or(e)),
      vdim(o.vdim.value_or(e)),
      options(o) {
  EMBER_CHECK(e > 0 && h > 0, ValueError, "MultiheadAttention: embed_dim (", e, ") and num_heads (",
              h, ") must be positive");
  EMBER_CHECK(e % h == 0, ValueError, "MultiheadAttention: embed_dim (", e,
              ") must be divisible by num_heads (", h, ")");
  EMBER_CHECK(kdim > 0 && vdim > 0, ValueError, "MultiheadAttention: kdim (", kdim, ") and vdim (",
              vdim, ") must be positive");
  EMBER_CHECK(o.dropout >= 0 && o.dropout <= 1, ValueError,
              "MultiheadAttention: dropout probability has to be between 0 and 1, but got ",
              o.dropout);
  if (kdim == e && vdim == e) {
    in_proj_weight = Parameter(empty({3 * e, e}));
  } else {
    q_proj_weight = Parameter(empty({e, e}));
    k_proj_weight = Parameter(empty({e, kdim}));
    v_proj_weight = Parameter(empty({e, vdim}));
  }
  if (o.bias) in_proj_bias = Parameter(empty({3 * e}));
  if (o.add_bias_kv) {
    bias_k = Parameter(empty({1, 1, e}));
    bias_v = Parameter(empty({1, 1, e}));
  }
  reset_parameters();
}

void MultiheadAttention::reset_parameters() {
  // As PyTorch's _reset_parameters: out_proj.weight keeps Linear's initialisation.
  if (in_proj_weight.defined()) {
    init::xavier_uniform_(in_proj_weight);
  } else {
    init::xavier_uniform_(q_proj_weight);
    init::xavier_uniform_(k_proj_weight);
    init::xavier_uniform_(v_proj_weight);
  }
  if (in_proj_bias.defined()) {
    init::zeros_(in_proj_bias);
    init::zeros_(out_proj.bias);
  }
  if (bias_k.defined()) {
    init::xavier_normal_(bias_k);
    init::xavier_normal_(bias_v);
  }
}

std::tuple<Tensor, Tensor> MultiheadAttention::forward(const Tensor& query, const Tensor& key,
                                                       const Tensor& value,
                                                       const MultiheadAttentionForwardOptions& o) {
  const char* op = "MultiheadAttention";
  EMBER_CHECK(query.defined() && key.defined() && value.defined(), Error, op,
              ": query, key and value must be defined");
  EMBER_CHECK(query.dim() == 2 || query.dim() == 3, ShapeError, op,
              ": query should be unbatched 2D or batched 3D tensor but received ", query.dim(),
              "-D query tensor of shape ", query.sizes());
  const bool batched = query.dim() == 3;
  EMBER_CHECK(key.dim() == query.dim() && value.dim() == query.dim(), ShapeError, op, ": for ",
              batched ? "batched (3-D)" : "unbatched (2-D)",
              " query, expected key and value to be ", query.dim(), "-D but found ", key.dim(),
              "-D and ", value.dim(), "-D tensors");
  EMBER_CHECK(query.size(-1) == embed_dim, ShapeError, op,
              ": was expecting embedding dimension of ", embed_dim, ", but got ", query.size(-1),
              " (query of shape ", query.sizes(), ")");
  EMBER_CHECK(key.size(-1) == kdim, ShapeError, op, ": was expecting key embedding dimension of ",
              kdim, " (kdim), but got ", key.size(-1), " (key of shape ", key.sizes(), ")");
  EMBER_CHECK(value.size(-1) == vdim, ShapeError, op,
              ": was expecting value embedding dimension of ", vdim, " (vdim), but got ",
              value.size(-1), " (value of shape ", value.sizes(), ")");
  // With kdim = vdim this is key.sizes() == value.sizes(), as PyTorch checks then.
  for (int64_t d = 0; d + 1 < key.dim(); ++d)
    EMBER_CHECK(key.size(d) == value.size(d), ShapeError, op, ": key shape ", key.sizes(),
                " does not match value shape ", value.sizes(), " (dim ", d, ")");
  const bool bf = options.batch_first;
  // Unbatched input is a batch of one (dim 1, or 0 with batch_first).
  auto batch = [&](const Tensor& t) { return batched ? t : t.unsqueeze(bf ? 0 : 1); };
  Tensor q = batch(query), k = batch(key), v = batch(value);
  const int64_t n = q.size(bf ? 0 : 1), l = q.size(bf ? 1 : 0), s = k.size(bf ? 1 : 0);
  EMBER_CHECK(k.size(bf ? 0 : 1) == n, ShapeError, op, ": query's batch size (", n,
              ") must match key's (", k.size(bf ? 0 : 1), ")");
  const DType dt = q.dtype();

  // The additive mask over [N, H, L, S], merged from attn_mask and key_padding_mask.
  Tensor mask;
  if (o.attn_mask.defined()) {
    const Tensor& m = o.attn_mask;
    Tensor am = additive_mask(m, dt, "attn_mask");
    if (m.dim() == 2) {
      EMBER_CHECK(m.size(0) == l && m.size(1) == s, ShapeError, op,
                  ": the shape of the 2D attn_mask is ", m.sizes(), ", but should be ", Dims{l, s});
      mask = am;
    } else if (m.dim() == 3) {
      EMBER_CHECK(m.sizes() == (Dims{n * num_heads, l, s}), ShapeError, op,
                  ": the shape of the 3D attn_mask is ", m.sizes(), ", but should be ",
                  Dims{n * num_heads, l, s});
      mask = am.view({n, num_heads, l, s});
    } else {
      throw ShapeError(
          ember::detail::cat(op, ": attn_mask's dimension ", m.dim(), " is not supported"));
    }
  } else {
    EMBER_CHECK(!o.is_causal, ValueError, op,
                ": need attn_mask if specifying the is_causal hint (generate_square_subsequent_"
                "mask makes the causal mask)");
  }
  if (o.key_padding_mask.defined()) {
    const Tensor& m = o.key_padding_mask;
    Dims want = batched ? Dims{n, s} : Dims{s};
    EMBER_CHECK(m.sizes() == want, ShapeError, op, ": expecting key_padding_mask shape of ", want,
                ", but got ", m.sizes());
    Tensor kp = additive_mask(m, dt, "key_padding_mask").view({n, 1, 1, s});
    mask = mask.defined() ? mask + kp : kp;
  }
  // bias_k and the zero key are visible to every query: the mask gets zero columns for them.
  const int64_t extra = (bias_k.defined() ? 1 : 0) + (options.add_zero_attn ? 1 : 0);
  if (mask.defined() && extra > 0) mask = functional::pad(mask, {0, extra});

  // In-projection: one GEMM for self-attention, three over the weight's row blocks otherwise
  // (or over q_proj_weight, k_proj_weight and v_proj_weight when kdim or vdim differ).
  Tensor qp, kp, vp;
  if (in_proj_weight.defined() && query.is_same(key) && key.is_same(value)) {
    std::vector<Tensor> qkv = functional::linear(q, in_proj_weight, in_proj_bias).chunk(3, -1);
    qp = qkv[0], kp = qkv[1], vp = qkv[2];
  } else {
    std::vector<Tensor> w{q_proj_weight, k_proj_weight, v_proj_weight}, b(3);
    if (in_proj_weight.defined()) w = in_proj_weight.chunk(3);
    if (in_proj_bias.defined()) b = in_proj_bias.chunk(3);
    qp = functional::linear(q, w[0], b[0]);
    kp = functional::linear(k, w[1], b[1]);
    vp = functional::linear(v, w[2], b[2]);
  }
  if (bias_k.defined()) {
    // One more key and value along the sequence dim: bias_k, bias_v for every batch element.
    Dims one = bf ? Dims{n, 1, embed_dim} : Dims{1, n, embed_dim};
    kp = cat({kp, bias_k.expand(one)}, bf ? 1 : 0);
    vp = cat({vp, bias_v.expand(one)}, bf ? 1 : 0);
  }
  qp = split_heads(qp, num_heads, bf);
  kp = split_heads(kp, num_heads, bf);
  vp = split_heads(vp, num_heads, bf);
  if (options.add_zero_attn) {
    Tensor zero = zeros({n, num_heads, 1, head_dim}, dt);
    kp = cat({kp, zero}, 2);
    vp = cat({vp, zero}, 2);
  }
  const double p = is_training() ? options.dropout : 0.0;

  Tensor attn, weights;  // attn [N, H, L, hd]
  if (o.need_weights) {
    Tensor scores = matmul(qp, kp.transpose(-2, -1)) * (1.0 / std::sqrt(double(head_dim)));
    if (mask.defined()) scores = scores + mask;
    weights = softmax(scores, -1);
    if (p > 0) weights = functional::dropout(weights, {.p = p, .training = true});
    attn = matmul(weights, vp);
    if (o.average_attn_weights) weights = weights.mean({1});
    if (!batched) weights = weights.squeeze(0);
  } else if (o.is_causal && !o.key_padding_mask.defined() && extra == 0) {
    // As PyTorch: the hint lets attention build the causal mask itself. With added keys the
    // given mask is used: sdpa's causal mask would hide them from the first queries.
    attn = functional::scaled_dot_product_attention(qp, kp, vp, {}, p, true);
  } else {
    attn = functional::scaled_dot_product_attention(qp, kp, vp, mask, p, false);
  }
  // [N, H, L, hd] -> [L, N, E] (or [N, L, E]) -> out_proj.
  Tensor merged = (bf ? attn.transpose(1, 2) : attn.permute({2, 0, 1, 3}))
                      .reshape({bf ? n : l, bf ? l : n, embed_dim});
  Tensor out = out_proj(merged);
  if (!batched) out = out.squeeze(bf ? 0 : 1);
  return {out, weights};
}

std::string MultiheadAttention::extra_repr() const {
  std::string s = ember::detail::cat("embed_dim=", embed_dim, ", num_heads=", num_heads,
                                     ", dropout=", options.dropout);
  if (kdim != embed_dim || vdim != embed_dim)
    s += ember::detail::cat(", kdim=", kdim, ", vdim=", vdim);
  if (options.add_bias_kv) s += ", add_bias_kv=true";
  if (options.add_zero_attn) s += ", add_zero_attn=true";
  return s + ", batch_first=" + (options.batch_first ? "true" : "false");
}

TransformerEncoderLayer::TransformerEncoderLayer(int64_t d_model, int64_t nhead,
                                                 TransformerEncoderLayerOptions o)
    : self_attn(d_model, nhead,
                {.dropout = o.dropout, .bias = o.bias, .batch_first = o.batch_first}),
      linear1(d_model, o.dim_feedforward, {.bias = o.bias}),
      dropout(o.dropout),
      linear2(o.dim_feedforward, d_model, {.bias = o.bias}),
      norm1(d_model, {.eps = o.layer_norm_eps, .bias = o.bias}),
      norm2(d_model, {.eps = o.layer_norm_eps, .bias = o.bias}),
      dropout1(o.dropout),
      dropout2(o.dropout),
      options(o) {
  EMBER_CHECK(o.activation == "relu" || o.activation == "gelu", ValueError,
              "TransformerEncoderLayer: activation should be relu/gelu, not ", o.activation);
}

Tensor TransformerEncoderLayer::self_attention_block(const Tensor& x, const Tensor& mask,
                                                     const Tensor& padding, bool is_causal) {
  auto [out, unused] = self_attn.forward(x, x, x,
                                         {.key_padding_mask = padding,
                                          .need_weights = false,
                                          .attn_mask = mask,
                                          .is_causal = is_causal});
  return dropout1(out);
}

Tensor TransformerEncoderLayer::feed_forward_block(const Tensor& x) {
  Tensor h = linear1(x);
  h = options.activation == "gelu" ? gelu(h) : relu(h);
  return dropout2(linear2(dropout(h)));
}

Tensor TransformerEncoderLayer::forward(const Tensor& src, const Tensor& src_mask,
                                        const Tensor& src_key_padding_mask, bool is_causal) {
  Tensor x = src;
  if (options.norm_first) {
    x = x + self_attention_block(norm1(x), src_mask, src_key_padding_mask, is_causal);
    return x + feed_forward_block(norm2(x));
  }
  x = norm1(x + self_attention_block(x, src_mask, src_key_padding_mask, is_causal));
  return norm2(x + feed_forward_block(x));
}

}  // namespace ember::nn
