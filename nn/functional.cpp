// nn::functional: normalisation, dropout, activations, losses and embedding as PyTorch's
// torch.nn.functional, each a thin layer over the dispatcher (or composed of tensor ops).
#include "nn/functional.hpp"

#include <cmath>

#include "runtime/dispatch.hpp"
#include "runtime/random.hpp"

namespace ember::nn::functional {

Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, const BatchNormOptions& o) {
  NormAttrs attrs;
  attrs.eps = o.eps;
  attrs.momentum = o.momentum;
  attrs.training = o.training;
  return dispatch(Op::BatchNorm, {input, weight, bias, running_mean, running_var}, attrs)[0];
}

Tensor layer_norm(const Tensor& input, const Dims& normalized_shape, const Tensor& weight,
                  const Tensor& bias, const LayerNormOptions& o) {
  NormAttrs attrs;
  attrs.normalized_shape = normalized_shape;
  attrs.eps = o.eps;
  return dispatch(Op::LayerNorm, {input, weight, bias}, attrs)[0];
}

Tensor group_norm(const Tensor& input, int64_t num_groups, const Tensor& weight, const Tensor& bias,
                  const GroupNormOptions& o) {
  EMBER_CHECK(input.defined() && input.dim() >= 2, ShapeError,
              "group_norm: expected input with at least 2 dims [N, C, *], got ",
              input.defined() ? input.sizes() : Dims{});
  EMBER_CHECK(num_groups > 0, ValueError, "group_norm: num_groups must be positive, got ",
              num_groups);
  const int64_t n = input.size(0), c = input.size(1);
  EMBER_CHECK(c % num_groups == 0, ShapeError,
              "group_norm: Expected number of channels in input to be divisible by num_groups, "
              "but got input of shape ",
              input.sizes(), " and num_groups=", num_groups);
  Dims per_channel(static_cast<size_t>(input.dim()), 1);
  per_channel[1] = c;
  for (const Tensor* t : {&weight, &bias})
    EMBER_CHECK(!t->defined() || t->sizes() == Dims{c}, ShapeError,
                "group_norm: expected weight and bias of shape [", c, "], got ", t->sizes());
  // Statistics over each group (biased variance, as PyTorch's), from ops autograd knows.
  Tensor x = input.reshape({n, num_groups, -1});
  Tensor mean = x.mean({2}, true);
  Tensor y = ((x - mean) * rsqrt(var(x, Dims{2}, true, 0) + o.eps)).reshape(input.sizes());
  if (weight.defined()) y = y * weight.view(per_channel);
  if (bias.defined()) y = y + bias.view(per_channel);
  return y;
}

Tensor dropout(const Tensor& input, const DropoutOptions& o) {
  EMBER_CHECK(o.p >= 0 && o.p <= 1, ValueError,
              "dropout: dropout probability has to be between 0 and 1, but got ", o.p);
  EMBER_CHECK(input.defined(), Error, "dropout: the input tensor is undefined");
  if (!o.training) return input;
  // The counters are reserved here, so the mask depends on the seed alone (not on threads) and
  // a replay of the op (autograd, JIT) sees the same mask.
  random::Stream s = random::next_stream(static_cast<uint64_t>(input.numel()));
  DropoutAttrs attrs{.p = o.p, .training = true, .seed = s.seed, .offset = s.offset};
  return dispatch(Op::Dropout, {input}, attrs)[0];
}

Tensor softmax(const Tensor& input, int64_t dim) { return ember::softmax(input, dim); }
Tensor log_softmax(const Tensor& input, int64_t dim) { return ember::log_softmax(input, dim); }
Tensor relu(const Tensor& input) { return ember::relu(input); }
Tensor gelu(const Tensor& input, const std::string& approximate) {
  return ember::gelu(input, approximate);
}
Tensor silu(const Tensor& input) { return ember::silu(input); }
Tensor leaky_relu(const Tensor& input, double negative_slope) {
  return ember::leaky_relu(input, negative_slope);
}
Tensor elu(const Tensor& input, double alpha) { return ember::elu(input, alpha); }
Tensor hardtanh(const Tensor& input, double min_val, double max_val) {
  return ember::hardtanh(input, min_val, max_val);
}
Tensor mish(const Tensor& input) { return ember::mish(input); }
Tensor hardswish(const Tensor& input) { return ember::hardswish(input); }
Tensor sigmoid(const Tensor& input) { return ember::sigmoid(input); }
Tensor tanh(const Tensor& input) { return ember::tanh(input); }

namespace {

LossAttrs loss_attrs(Reduction r) {
  LossAttrs a;
  a.reduction = r;
  return a;
}

// weight [C] viewed to broadcast along the class dim of an input with `ndim` dims.
Tensor class_view(const Tensor& weight, int64_t ndim, int64_t class_dim) {
  Dims shape(static_cast<size_t>(ndim), 1);
  shape[class_dim] = weight.numel();
  return weight.reshape(shape);
}

// Cross entropy against class probabilities of the input's shape (PyTorch's
// cross_entropy_loss_prob_target): mean divides by the number of samples, not by weights.
Tensor cross_entropy_prob(const Tensor& logp, const Tensor& target, int64_t class_dim,
                          const CrossEntropyOptions& o) {
  const int64_t C = logp.size(class_dim);
  EMBER_CHECK(is_floating(target.dtype()), DTypeError,
              "cross_entropy: Expected floating point type for target with class probabilities, "
              "got ",
              dtype_name(target.dtype()));
  EMBER_CHECK(o.ignore_index < 0, ValueError,
              "cross_entropy: ignore_index is not supported for floating point target");
  Tensor t = target;
  if (o.label_smoothing > 0) t = t * (1 - o.label_smoothing) + o.label_smoothing / double(C);
  Tensor prod = logp * t;
  if (o.weight.defined()) prod = prod * class_view(o.weight, logp.dim(), class_dim);
  Tensor loss = -sum(prod, {class_dim});
  switch (o.reduction) {
    case Reduction::None:
      return loss;
    case Reduction::Sum:
      return sum(loss);
    case Reduction::Mean:
      break;
  }
  // 0/0 gives NaN for an empty batch, as PyTorch.
  return sum(loss) / double(C ? logp.numel() / C : 0);
}

}  // namespace

Tensor cross_entropy(const Tensor& input, const Tensor& target, const CrossEntropyOptions& o) {
  EMBER_CHECK(input.defined() && target.defined(), Error, "cross_entropy: an input is undefined");
  EMBER_CHECK(input.dim() >= 1, ShapeError,
              "cross_entropy: expected input of shape [C], [N, C] or [N, C, d1, ...], got a 0-d "
              "tensor");
  EMBER_CHECK(
      o.label_smoothing >= 0 && o.label_smoothing <= 1, ValueError,
      "cross_entropy: label_smoothing must be between 0.0 and 1.0. Got: ", o.label_smoothing);
  const int64_t class_dim = input.dim() == 1 ? 0 : 1;
  const int64_t C = input.size(class_dim);
  if (o.weight.defined())
    EMBER_CHECK(o.weight.numel() == C, ShapeError,
                "cross_entropy: weight tensor should be defined either for all ", C,
                " classes or no classes but got weight tensor of shape: ", o.weight.sizes());
  Tensor logp = ember::log_softmax(input, class_dim);
  if (target.sizes() == input.sizes()) return cross_entropy_prob(logp, target, class_dim, o);

  Tensor nll = nll_loss(logp, target, {o.weight, o.ignore_index, o.reduction});
  if (o.label_smoothing <= 0) return nll;
  // PyTorch's cross_entropy_loss_label_smoothing: the smoothing term is the (weighted) sum of
  // -log p over classes, zero at ignored targets, and for mean divided by the same total
  // target weight nll_loss divides by.
  Tensor smooth = o.weight.defined()
                      ? -sum(logp * class_view(o.weight, logp.dim(), class_dim), {class_dim})
                      : -sum(logp, {class_dim});
  Tensor ignored = target == Scalar(o.ignore_index);
  smooth = where(ignored, zeros_like(smooth), smooth);
  Tensor ret;
  switch (o.reduction) {
    case Reduction::None:
      ret = smooth;
      break;
    case Reduction::Sum:
      ret = sum(smooth);
      break;
    case Reduction::Mean: {
      // Sum of weight[target] over kept targets (their count without weights): nll_loss of an
      // all -1 input computes exactly that, with the same target checks.
      Tensor total =
          nll_loss(full_like(logp, -1.0), target, {o.weight, o.ignore_index, Reduction::Sum});
      ret = sum(smooth) / total;
      break;
    }
  }
  return nll * (1 - o.label_smoothing) + ret * (o.label_smoothing / double(C));
}

Tensor nll_loss(const Tensor& input, const Tensor& target, const NllLossOptions& o) {
  LossAttrs attrs;
  attrs.reduction = o.reduction;
  attrs.ignore_index = o.ignore_index;
  // Without a weight, two operands: an absent one would keep a jit::Region from tracing it.
  if (!o.weight.defined()) return dispatch(Op::NllLoss, {input, target}, attrs)[0];
  return dispatch(Op::NllLoss, {input, target, o.weight}, attrs)[0];
}

Tensor mse_loss(const Tensor& input, const Tensor& target, const MseLossOptions& o) {
  return dispatch(Op::MseLoss, {input, target}, loss_attrs(o.reduction))[0];
}

Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        const BceWithLogitsOptions& o) {
  return dispatch(Op::BceWithLogits, {input, target, o.weight, o.pos_weight},
                  loss_attrs(o.reduction))[0];
}

Tensor embedding(const Tensor& indices, const Tensor& weight, const EmbeddingOptions& o) {
  EMBER_CHECK(weight.defined() && indices.defined(), Error, "embedding: an input is undefined");
  EMBER_CHECK(weight.dim() == 2, ShapeError,
              "embedding: 'weight' must be 2-D [num_embeddings, embedding_dim], got shape ",
              weight.sizes());
  std::optional<int64_t> pad = o.padding_idx;
  const int64_t num = weight.size(0);
  if (pad) {
    EMBER_CHECK(*pad < num && *pad >= -num, IndexError,
                "embedding: padding_idx must be within num_embeddings (", num, "), got ", *pad);
    if (*pad < 0) *pad += num;
  }
  return dispatch(Op::Embedding, {weight, indices}, EmbeddingAttrs{pad})[0];
}

}  // namespace ember::nn::functional
