// ember::nn::functional: the functional neural-network ops, with options structs as PyTorch's
// keyword arguments: conv2d(x, w, b, {.stride = 2, .padding = 1}).
#pragma once

#include <array>
#include <optional>
#include <string>

#include "runtime/op.hpp"
#include "runtime/ops.hpp"

namespace ember::nn::functional {

/// A pair of ints that also takes a single int: {.padding = 1} or {.padding = {1, 2}}.
struct Pair {
  int64_t h = 0, w = 0;
  Pair() = default;
  Pair(int64_t v) : h(v), w(v) {}  // NOLINT: implicit
  Pair(int64_t a, int64_t b) : h(a), w(b) {}
};

/// y = x W^T + b (weight [out, in], bias [out] or undefined).
Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias = {});

struct Conv2dOptions {
  Pair stride = 1, padding = 0, dilation = 1;
  int64_t groups = 1;
};
/// input [N, C, H, W] (or [C, H, W]), weight [O, C/groups, kh, kw], bias [O] or undefined.
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias = {},
              const Conv2dOptions& o = {});

struct Conv1dOptions {
  int64_t stride = 1, padding = 0, dilation = 1, groups = 1;
};
/// input [N, C, L] (or [C, L]), weight [O, C/groups, k], bias [O] or undefined; conv2d over the
/// [N, C, 1, L] view.
Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias = {},
              const Conv1dOptions& o = {});

struct ConvTranspose2dOptions {
  Pair stride = 1, padding = 0, output_padding = 0;
  int64_t groups = 1;
  Pair dilation = 1;
};
/// The adjoint of conv2d (its gradient with respect to the input): input [N, C, H, W] (or
/// [C, H, W]), weight [C, O/groups, kh, kw], bias [O] or undefined; output size
/// (H - 1) stride - 2 padding + dilation (kh - 1) + output_padding + 1.
Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const Tensor& bias = {},
                        const ConvTranspose2dOptions& o = {});

struct MaxPool2dOptions {
  std::optional<Pair> stride{};  ///< defaults to the kernel size
  Pair padding = 0, dilation = 1;
  bool ceil_mode = false;
};
Tensor max_pool2d(const Tensor& input, Pair kernel_size, const MaxPool2dOptions& o = {});
/// max_pool2d and the flat (h*w) argmax of each window.
ValuesIndices max_pool2d_with_indices(const Tensor& input, Pair kernel_size,
                                      const MaxPool2dOptions& o = {});

struct AvgPool2dOptions {
  std::optional<Pair> stride{};
  Pair padding = 0;
  bool ceil_mode = false, count_include_pad = true;
  std::optional<int64_t> divisor_override{};
};
Tensor avg_pool2d(const Tensor& input, Pair kernel_size, const AvgPool2dOptions& o = {});
Tensor adaptive_avg_pool2d(const Tensor& input, Pair output_size);

struct BatchNormOptions {
  bool training = false;
  double momentum = 0.1, eps = 1e-5;
};
/// Normalises over every dim but 1. In training, batch statistics are used and running_mean /
/// running_var (if defined) are updated in place with momentum and the unbiased variance.
Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight = {}, const Tensor& bias = {},
                  const BatchNormOptions& o = {});

struct LayerNormOptions {
  double eps = 1e-5;
};
Tensor layer_norm(const Tensor& input, const Dims& normalized_shape, const Tensor& weight = {},
                  const Tensor& bias = {}, const LayerNormOptions& o = {});

struct GroupNormOptions {
  double eps = 1e-5;
};
/// Normalises input [N, C, *] over each of num_groups groups of C / num_groups channels (and
/// all of *), then scales and shifts per channel by weight and bias [C] (each optional).
Tensor group_norm(const Tensor& input, int64_t num_groups, const Tensor& weight = {},
                  const Tensor& bias = {}, const GroupNormOptions& o = {});

struct DropoutOptions {
  double p = 0.5;
  bool training = true;
};
Tensor dropout(const Tensor& input, const DropoutOptions& o = {});

Tensor softmax(const Tensor& input, int64_t dim);
Tensor log_softmax(const Tensor& input, int64_t dim);
Tensor relu(const Tensor& input);
Tensor gelu(const Tensor& input, const std::string& approximate = "none");
Tensor silu(const Tensor& input);
Tensor sigmoid(const Tensor& input);
Tensor tanh(const Tensor& input);
Tensor leaky_relu(const Tensor& input, double negative_slope = 0.01);
Tensor elu(const Tensor& input, double alpha = 1.0);
Tensor hardtanh(const Tensor& input, double min_val = -1.0, double max_val = 1.0);
Tensor mish(const Tensor& input);
Tensor hardswish(const Tensor& input);

enum class PadMode { Constant, Reflect, Replicate, Circular };
struct PadOptions {
  PadMode mode = PadMode::Constant;
  double value = 0;  ///< Constant mode's fill
};
/// F.pad: `padding` holds (left, right) pairs from the last dim backwards ({1, 1, 2, 0}: the last
/// dim by 1 and 1, the one before by 2 and 0). Constant mode pads any dims (negative amounts
/// crop); reflect, replicate and circular pad the last 1-3 dims of a 2-5-D input.
Tensor pad(const Tensor& input, const Dims& padding, const PadOptions& o = {});

struct InterpolateOptions {
  Dims size{};                         ///< the output's spatial sizes (one for all, or each)
  std::vector<double> scale_factor{};  ///< or the factors (output size floor(in * factor))
  std::string mode = "nearest";        ///< nearest, linear (3-D), bilinear (4-D), trilinear (5-D)
  bool align_corners = false;          ///< linear modes only
};
/// F.interpolate on (N, C, d1[, d2[, d3]]) inputs, with PyTorch's source coordinates.
Tensor interpolate(const Tensor& input, const InterpolateOptions& o);

struct CrossEntropyOptions {
  Tensor weight{};  ///< per-class weights, or undefined
  int64_t ignore_index = -100;
  Reduction reduction = Reduction::Mean;
  double label_smoothing = 0.0;
};
/// input [N, C] (or [N, C, d...]) logits; target [N] class indices (int64), or class
/// probabilities of input's shape.
Tensor cross_entropy(const Tensor& input, const Tensor& target, const CrossEntropyOptions& o = {});

struct NllLossOptions {
  Tensor weight{};
  int64_t ignore_index = -100;
  Reduction reduction = Reduction::Mean;
};
Tensor nll_loss(const Tensor& input, const Tensor& target, const NllLossOptions& o = {});

struct MseLossOptions {
  Reduction reduction = Reduction::Mean;
};
Tensor mse_loss(const Tensor& input, const Tensor& target, const MseLossOptions& o = {});

struct BceWithLogitsOptions {
  Tensor weight{}, pos_weight{};
  Reduction reduction = Reduction::Mean;
};
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        const BceWithLogitsOptions& o = {});

struct L1LossOptions {
  Reduction reduction = Reduction::Mean;
};
/// |input - target| (broadcast), reduced.
Tensor l1_loss(const Tensor& input, const Tensor& target, const L1LossOptions& o = {});

struct SmoothL1LossOptions {
  Reduction reduction = Reduction::Mean;
  double beta = 1.0;  ///< >= 0; 0 gives l1_loss
};
/// 0.5 z^2 / beta where z = |input - target| < beta, else z - 0.5 beta; reduced.
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, const SmoothL1LossOptions& o = {});

struct HuberLossOptions {
  Reduction reduction = Reduction::Mean;
  double delta = 1.0;  ///< > 0
};
/// 0.5 z^2 where z = |input - target| < delta, else delta (z - 0.5 delta); reduced.
Tensor huber_loss(const Tensor& input, const Tensor& target, const HuberLossOptions& o = {});

/// kl_div's reduction: Reduction's three, or batchmean (the sum divided by input.size(0), the
/// one that matches the math of KL divergence). `{.reduction = Reduction::Sum}` and
/// `{.reduction = KLDivReduction::BatchMean}` both work.
struct KLDivReduction {
  enum Kind : uint8_t { None, BatchMean, Sum, Mean };
  Kind kind = Mean;
  KLDivReduction(Kind k) : kind(k) {}  // NOLINT: implicit
  KLDivReduction(Reduction r)          // NOLINT: implicit
      : kind(r == Reduction::None  ? None
             : r == Reduction::Sum ? Sum
                                   : Mean) {}
};
struct KLDivOptions {
  KLDivReduction reduction = KLDivReduction::Mean;
  bool log_target = false;  ///< target holds log-probabilities
};
/// Pointwise KL divergence of log-probabilities input against target (broadcast):
/// target (log target - input), 0 where target is 0; exp(target) (target - input) with
/// log_target. Reduced; "mean" averages over every element, as PyTorch's.
Tensor kl_div(const Tensor& input, const Tensor& target, const KLDivOptions& o = {});

struct BceOptions {
  Tensor weight{};  ///< rescales each element's loss (broadcast to the input)
  Reduction reduction = Reduction::Mean;
};
/// -weight (target log(input) + (1 - target) log(1 - input)) for probabilities input in [0, 1]
/// and target of input's shape; each log is clamped at -100, as PyTorch's.
Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const BceOptions& o = {});

struct EmbeddingOptions {
  std::optional<int64_t> padding_idx{};
};
/// Rows of weight [num, dim] picked by int64 indices of any shape: result indices.shape + [dim].
Tensor embedding(const Tensor& indices, const Tensor& weight, const EmbeddingOptions& o = {});

/// Attention as PyTorch 2's torch.nn.functional.scaled_dot_product_attention:
/// softmax(q k^T * scale + bias) v over query [..., L, E], key [..., S, E], value [..., S, Ev]
/// (leading dims broadcast). attn_mask broadcasts to [..., L, S]: a bool mask keeps the
/// positions where it is true, a floating mask is added. is_causal masks out key j > query i
/// (then attn_mask must be undefined). dropout_p drops attention weights (always, as PyTorch's
/// function: pass 0 in eval). scale defaults to 1 / sqrt(E). Fully masked rows give NaN.
Tensor scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                    const Tensor& attn_mask = {}, double dropout_p = 0.0,
                                    bool is_causal = false,
                                    std::optional<double> scale = std::nullopt);

/// The additive causal mask [sz, sz] of dtype: 0 on and below the diagonal, -inf above (as
/// nn.Transformer.generate_square_subsequent_mask).
Tensor generate_square_subsequent_mask(int64_t sz, DType dtype = kFloat32);

}  // namespace ember::nn::functional
