#include "nn/layers/norm.hpp"

#include <sstream>

#include "nn/init.hpp"
#include "runtime/dispatch.hpp"

namespace ember::nn {

namespace detail {

BatchNormBase::BatchNormBase(const char* name, int64_t n, BatchNormOptions o)
    : num_features(n), options(o) {
  EMBER_CHECK(n > 0, ValueError, name, ": num_features must be positive, got ", n);
  EMBER_CHECK(o.eps >= 0, ValueError, name, ": eps must be non-negative, got ", o.eps);
  if (o.affine) {
    weight = Parameter(empty({n}));
    bias = Parameter(empty({n}));
  }
  if (o.track_running_stats) {
    running_mean = Buffer(zeros({n}));
    running_var = Buffer(ones({n}));
    num_batches_tracked = Buffer(zeros({}, kInt64));
  }
  reset_parameters();
}

void BatchNormBase::reset_running_stats() {
  if (!options.track_running_stats) return;
  init::zeros_(running_mean);
  init::ones_(running_var);
  init::zeros_(num_batches_tracked);
}

void BatchNormBase::reset_parameters() {
  reset_running_stats();
  if (options.affine) {
    init::ones_(weight);
    init::zeros_(bias);
  }
}

Tensor BatchNormBase::run(const char* name, const Tensor& input, bool training) {
  EMBER_CHECK(input.size(1) == num_features, ShapeError, name, ": expected input with ",
              num_features, " channels (dim 1), got input of shape ", input.sizes());
  // As PyTorch's _BatchNorm.forward: count batches, and with momentum = None use a cumulative
  // moving average (factor 1 / batches seen).
  double factor = options.momentum.value_or(0.0);
  if (training && options.track_running_stats) {
    {
      NoGradGuard guard;
      num_batches_tracked.add_(1);
    }
    if (!options.momentum) factor = 1.0 / static_cast<double>(num_batches_tracked.item<int64_t>());
  }
  bool use_batch_stats = training || !running_mean.defined();
  bool pass_running = !training || options.track_running_stats;
  return functional::batch_norm(
      input, pass_running ? running_mean : Tensor(), pass_running ? running_var : Tensor(), weight,
      bias, {.training = use_batch_stats, .momentum = factor, .eps = options.eps});
}

std::string BatchNormBase::repr() const {
  std::ostringstream os;
  os << num_features << ", eps=" << options.eps << ", momentum=";
  if (options.momentum)
    os << *options.momentum;
  else
    os << "None";
  os << ", affine=" << (options.affine ? "true" : "false")
     << ", track_running_stats=" << (options.track_running_stats ? "true" : "false");
  return os.str();
}

}  // namespace detail

BatchNorm1d::BatchNorm1d(int64_t n, BatchNormOptions o) : BatchNormBase("BatchNorm1d", n, o) {}

Tensor BatchNorm1d::forward(const Tensor& input) {
  EMBER_CHECK(input.dim() == 2 || input.dim() == 3, ShapeError,
              "BatchNorm1d: expected 2D or 3D input (got ", input.dim(), "D input of shape ",
              input.sizes(), ")");
  return run("BatchNorm1d", input, is_training());
}

BatchNorm2d::BatchNorm2d(int64_t n, BatchNormOptions o) : BatchNormBase("BatchNorm2d", n, o) {}

Tensor BatchNorm2d::forward(const Tensor& input) {
  EMBER_CHECK(input.dim() == 4, ShapeError, "BatchNorm2d: expected 4D input (got ", input.dim(),
              "D input of shape ", input.sizes(), ")");
  return run("BatchNorm2d", input, is_training());
}

LayerNorm::LayerNorm(Dims shape, LayerNormOptions o)
    : normalized_shape(std::move(shape)), options(o) {
  for (int64_t s : normalized_shape)
    EMBER_CHECK(s > 0, ValueError, "LayerNorm: normalized_shape ", normalized_shape,
                " must hold positive sizes");
  if (o.elementwise_affine) {
    weight = Parameter(ones(normalized_shape));
    if (o.bias) bias = Parameter(zeros(normalized_shape));
  }
}

Tensor LayerNorm::forward(const Tensor& input) {
  return functional::layer_norm(input, normalized_shape, weight, bias, {.eps = options.eps});
}

std::string LayerNorm::extra_repr() const {
  std::ostringstream os;
  os << normalized_shape << ", eps=" << options.eps
     << ", elementwise_affine=" << (options.elementwise_affine ? "true" : "false");
  return os.str();
}

GroupNorm::GroupNorm(int64_t groups, int64_t channels, GroupNormOptions o)
    : num_groups(groups), num_channels(channels), options(o) {
  EMBER_CHECK(groups > 0 && channels > 0, ValueError, "GroupNorm: num_groups (", groups,
              ") and num_channels (", channels, ") must be positive");
  EMBER_CHECK(channels % groups == 0, ValueError,
              "GroupNorm: num_channels must be divisible by num_groups (got num_channels=",
              channels, ", num_groups=", groups, ")");
  if (o.affine) {
    weight = Parameter(ones({channels}));
    bias = Parameter(zeros({channels}));
  }
}

Tensor GroupNorm::forward(const Tensor& input) {
  EMBER_CHECK(input.defined() && input.dim() >= 2 && input.size(1) == num_channels, ShapeError,
              "GroupNorm: expected input [N, ", num_channels, ", *], got ",
              input.defined() ? input.sizes() : Dims{});
  return functional::group_norm(input, num_groups, weight, bias, {.eps = options.eps});
}

std::string GroupNorm::extra_repr() const {
  std::ostringstream os;
  os << num_groups << ", " << num_channels << ", eps=" << options.eps
     << ", affine=" << (options.affine ? "true" : "false");
  return os.str();
}

}  // namespace ember::nn
