// PLACEHOLDER: replaced by the conv/pool implementation.
#include "nn/functional.hpp"
namespace ember::nn::functional {
#define EMBER_TODO(name) throw Error(std::string(name) + ": not implemented yet")
Tensor linear(const Tensor&, const Tensor&, const Tensor&) { EMBER_TODO("linear"); }
Tensor conv2d(const Tensor&, const Tensor&, const Tensor&, const Conv2dOptions&) { EMBER_TODO("conv2d"); }
Tensor max_pool2d(const Tensor&, Pair, const MaxPool2dOptions&) { EMBER_TODO("max_pool2d"); }
ValuesIndices max_pool2d_with_indices(const Tensor&, Pair, const MaxPool2dOptions&) { EMBER_TODO("max_pool2d"); }
Tensor avg_pool2d(const Tensor&, Pair, const AvgPool2dOptions&) { EMBER_TODO("avg_pool2d"); }
Tensor adaptive_avg_pool2d(const Tensor&, Pair) { EMBER_TODO("adaptive_avg_pool2d"); }
}  // namespace ember::nn::functional
