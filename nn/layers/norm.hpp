// Normalisation layers: BatchNorm1d, BatchNorm2d, LayerNorm, GroupNorm.
#pragma once

#include <optional>

#include "nn/functional.hpp"
#include "nn/module.hpp"

namespace ember::nn {

struct BatchNormOptions {
  double eps = 1e-5;
  /// Weight of the new batch statistic in the running ones; nullopt for a cumulative average.
  std::optional<double> momentum = 0.1;
  bool affine = true;               ///< learn weight (ones) and bias (zeros)
  bool track_running_stats = true;  ///< keep running_mean / running_var for eval mode
};

namespace detail {
/// The state and step shared by BatchNorm1d and BatchNorm2d (PyTorch's _BatchNorm).
struct BatchNormBase {
  Parameter weight, bias;
  Buffer running_mean, running_var, num_batches_tracked;
  int64_t num_features = 0;
  BatchNormOptions options;

  BatchNormBase(const char* name, int64_t num_features, BatchNormOptions options);
  /// Resets running_mean to 0, running_var to 1 and num_batches_tracked to 0.
  void reset_running_stats();
  /// reset_running_stats() and weight = 1, bias = 0.
  void reset_parameters();

 protected:
  Tensor run(const char* name, const Tensor& input, bool training);
  std::string repr() const;
};
}  // namespace detail

/// Batch normalisation over [N, C] or [N, C, L] input, per channel C.
struct BatchNorm1d : Module<BatchNorm1d>, detail::BatchNormBase {
  explicit BatchNorm1d(int64_t num_features, BatchNormOptions options = {});
  Tensor forward(const Tensor& input);
  std::string extra_repr() const override { return repr(); }
};

/// Batch normalisation over [N, C, H, W] input, per channel C.
struct BatchNorm2d : Module<BatchNorm2d>, detail::BatchNormBase {
  explicit BatchNorm2d(int64_t num_features, BatchNormOptions options = {});
  Tensor forward(const Tensor& input);
  std::string extra_repr() const override { return repr(); }
};

struct LayerNormOptions {
  double eps = 1e-5;
  bool elementwise_affine = true;  ///< learn weight (ones) of normalized_shape
  bool bias = true;                ///< with elementwise_affine, also learn bias (zeros)
};

/// Normalises over the trailing dims given by normalized_shape.
struct LayerNorm : Module<LayerNorm> {
  Parameter weight, bias;
  Dims normalized_shape;
  LayerNormOptions options;

  explicit LayerNorm(Dims normalized_shape, LayerNormOptions options = {});
  explicit LayerNorm(int64_t normalized_size, LayerNormOptions options = {})
      : LayerNorm(Dims{normalized_size}, options) {}
  Tensor forward(const Tensor& input);
  std::string extra_repr() const override;
};

struct GroupNormOptions {
  double eps = 1e-5;
  bool affine = true;  ///< learn weight (ones) and bias (zeros) per channel
};

/// Normalises [N, C, *] input over groups of C / num_groups channels (Wu & He), as
/// torch.nn.GroupNorm.
struct GroupNorm : Module<GroupNorm> {
  Parameter weight, bias;
  int64_t num_groups, num_channels;
  GroupNormOptions options;

  GroupNorm(int64_t num_groups, int64_t num_channels, GroupNormOptions options = {});
  Tensor forward(const Tensor& input);
  std::string extra_repr() const override;
};

}  // namespace ember::nn

EMBER_MODULE(ember::nn::BatchNorm1d, weight, bias, running_mean, running_var, num_batches_tracked);
EMBER_MODULE(ember::nn::BatchNorm2d, weight, bias, running_mean, running_var, num_batches_tracked);
EMBER_MODULE(ember::nn::LayerNorm, weight, bias);
EMBER_MODULE(ember::nn::GroupNorm, weight, bias);
