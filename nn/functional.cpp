// PLACEHOLDER: replaced by the nn functional implementation.
#include "nn/functional.hpp"
namespace ember::nn::functional {
#define EMBER_TODO(name) throw Error(std::string(name) + ": not implemented yet")
Tensor batch_norm(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const BatchNormOptions&) { EMBER_TODO("batch_norm"); }
Tensor layer_norm(const Tensor&, const Dims&, const Tensor&, const Tensor&, const LayerNormOptions&) { EMBER_TODO("layer_norm"); }
Tensor dropout(const Tensor&, const DropoutOptions&) { EMBER_TODO("dropout"); }
Tensor softmax(const Tensor&, int64_t) { EMBER_TODO("softmax"); }
Tensor log_softmax(const Tensor&, int64_t) { EMBER_TODO("log_softmax"); }
Tensor relu(const Tensor&) { EMBER_TODO("relu"); }
Tensor gelu(const Tensor&, const std::string&) { EMBER_TODO("gelu"); }
Tensor silu(const Tensor&) { EMBER_TODO("silu"); }
Tensor sigmoid(const Tensor&) { EMBER_TODO("sigmoid"); }
Tensor tanh(const Tensor&) { EMBER_TODO("tanh"); }
Tensor cross_entropy(const Tensor&, const Tensor&, const CrossEntropyOptions&) { EMBER_TODO("cross_entropy"); }
Tensor nll_loss(const Tensor&, const Tensor&, const NllLossOptions&) { EMBER_TODO("nll_loss"); }
Tensor mse_loss(const Tensor&, const Tensor&, const MseLossOptions&) { EMBER_TODO("mse_loss"); }
Tensor binary_cross_entropy_with_logits(const Tensor&, const Tensor&, const BceWithLogitsOptions&) { EMBER_TODO("bce_with_logits"); }
Tensor embedding(const Tensor&, const Tensor&, const EmbeddingOptions&) { EMBER_TODO("embedding"); }
}  // namespace ember::nn::functional
