// Attention layers: MultiheadAttention and TransformerEncoderLayer, with PyTorch's parameter
// names (in_proj_weight, out_proj.weight, self_attn.*, linear1.*, norm1.*) so state_dicts load
// into torch.nn modules and back.
#pragma once

#include <optional>
#include <string>
#include <tuple>

#include "nn/functional.hpp"
#include "nn/layers/dropout.hpp"
#include "nn/layers/linear.hpp"
#include "nn/layers/norm.hpp"
#include "nn/module.hpp"

namespace ember::nn {

struct MultiheadAttentionOptions {
  double dropout = 0.0;  ///< on the attention weights, in training mode
  bool bias = true;      ///< in_proj_bias and out_proj.bias
  /// Learnt bias_k, bias_v [1, 1, E] appended to the projected keys and values (one more key).
  bool add_bias_kv = false;
  /// A zero key and value appended to every head after the split (one more key).
  bool add_zero_attn = false;
  std::optional<int64_t> kdim{};  ///< key features (embed_dim when absent)
  std::optional<int64_t> vdim{};  ///< value features (embed_dim when absent)
  bool batch_first = false;       ///< inputs [N, L, E] instead of [L, N, E]
};

struct MultiheadAttentionForwardOptions {
  /// [N, S] (or [S] unbatched): bool true = ignore that key; a float mask is added.
  Tensor key_padding_mask{};
  bool need_weights = true;  ///< also return the attention weights
  /// [L, S] or [N * num_heads, L, S]: bool true = not allowed to attend; a float mask is added.
  Tensor attn_mask{};
  bool average_attn_weights = true;  ///< weights averaged over heads: [N, L, S]
  /// A hint that attn_mask is the causal mask (which must still be given, as PyTorch's).
  bool is_causal = false;
};

/// Multi-head attention (Vaswani et al.) as torch.nn.MultiheadAttention: in_proj_weight
/// [3E, E] (xavier_uniform_), or with kdim or vdim != E separate q_proj_weight [E, E],
/// k_proj_weight [E, kdim], v_proj_weight [E, vdim]; in_proj_bias [3E] (zeros); bias_k and
/// bias_v [1, 1, E] (xavier_normal_) with add_bias_kv; out_proj a Linear(E, E) with a zero
/// bias. forward returns (output, weights); weights are undefined with need_weights = false.
struct MultiheadAttention : Module<MultiheadAttention> {
  Parameter in_proj_weight;                               ///< kdim = vdim = E only
  Parameter q_proj_weight, k_proj_weight, v_proj_weight;  ///< otherwise
  Parameter in_proj_bias;
  Parameter bias_k, bias_v;  ///< with add_bias_kv
  Linear out_proj;
  int64_t embed_dim, num_heads, head_dim, kdim, vdim;
  MultiheadAttentionOptions options;

  MultiheadAttention(int64_t embed_dim, int64_t num_heads, MultiheadAttentionOptions options = {});
  /// query [L, N, E] (or [N, L, E] with batch_first, or [L, E] unbatched), key [S, N, kdim]
  /// and value [S, N, vdim] likewise. The weights have S + 1 keys with add_bias_kv, S + 2 with
  /// add_zero_attn too (masks are extended to let the query see the added keys).
  std::tuple<Tensor, Tensor> forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                     const MultiheadAttentionForwardOptions& o = {});
  /// forward; spelled out so that `mha(q, k, v, {.need_weights = false})` compiles.
  std::tuple<Tensor, Tensor> operator()(const Tensor& query, const Tensor& key, const Tensor& value,
                                        const MultiheadAttentionForwardOptions& o = {}) {
    return forward(query, key, value, o);
  }
  void reset_parameters();
  std::string extra_repr() const override;
};

struct TransformerEncoderLayerOptions {
  int64_t dim_feedforward = 2048;
  double dropout = 0.1;
  std::string activation = "relu";  ///< "relu" or "gelu"
  double layer_norm_eps = 1e-5;
  bool batch_first = false;
  bool norm_first = false;  ///< pre-norm: x + sa(norm1(x)), then x + ff(norm2(x))
  bool bias = true;         ///< in the linear layers, the attention and the layer norms
};

/// One encoder block as torch.nn.TransformerEncoderLayer: self-attention and a feed-forward
/// network (linear1, activation, dropout, linear2), each with dropout, a residual and a
/// LayerNorm (after it, or before it with norm_first).
struct TransformerEncoderLayer : Module<TransformerEncoderLayer> {
  MultiheadAttention self_attn;
  Linear linear1;
  Dropout dropout;
  Linear linear2;
  LayerNorm norm1, norm2;
  Dropout dropout1, dropout2;
  TransformerEncoderLayerOptions options;

  TransformerEncoderLayer(int64_t d_model, int64_t nhead,
                          TransformerEncoderLayerOptions options = {});
  /// src [S, N, E] (or [N, S, E] with batch_first); masks as MultiheadAttention's.
  Tensor forward(const Tensor& src, const Tensor& src_mask = {},
                 const Tensor& src_key_padding_mask = {}, bool is_causal = false);
  /// forward; spelled out so that `layer(x, mask, {}, true)` compiles.
  Tensor operator()(const Tensor& src, const Tensor& src_mask = {},
                    const Tensor& src_key_padding_mask = {}, bool is_causal = false) {
    return forward(src, src_mask, src_key_padding_mask, is_causal);
  }

 private:
  Tensor self_attention_block(const Tensor& x, const Tensor& mask, const Tensor& padding,
                              bool is_causal);
  Tensor feed_forward_block(const Tensor& x);
};

}  // namespace ember::nn

// PyTorch's registration order (absent parameters are skipped).
EMBER_MODULE(ember::nn::MultiheadAttention, in_proj_weight, q_proj_weight, k_proj_weight,
             v_proj_weight, in_proj_bias, bias_k, bias_v, out_proj);
EMBER_MODULE(ember::nn::TransformerEncoderLayer, self_attn, linear1, dropout, linear2, norm1, norm2,
             dropout1, dropout2);
