// Embedding.
#pragma once

#include <optional>

#include "nn/functional.hpp"
#include "nn/module.hpp"

namespace ember::nn {

struct EmbeddingOptions {
  /// This row is initialised to zeros and gets no gradient; negative counts from the end.
  std::optional<int64_t> padding_idx{};
};

/// A lookup table weight [num_embeddings, embedding_dim] ~ N(0, 1), indexed by int64 tensors.
struct Embedding : Module<Embedding> {
  Parameter weight;
  int64_t num_embeddings = 0, embedding_dim = 0;
  std::optional<int64_t> padding_idx;  ///< normalised to [0, num_embeddings)

  Embedding(int64_t num_embeddings, int64_t embedding_dim, EmbeddingOptions options = {});
  /// indices of any shape -> indices.shape + [embedding_dim].
  Tensor forward(const Tensor& indices);
  /// Draws fresh N(0, 1) weights and zeroes the padding row.
  void reset_parameters();
  std::string extra_repr() const override;
};

}  // namespace ember::nn

EMBER_MODULE(ember::nn::Embedding, weight);
