#include "nn/layers/embedding.hpp"

#include "nn/init.hpp"
#include "runtime/dispatch.hpp"

namespace ember::nn {

Embedding::Embedding(int64_t num, int64_t dim, EmbeddingOptions o)
    : num_embeddings(num), embedding_dim(dim) {
  EMBER_CHECK(num >= 0 && dim >= 0, ValueError, "Embedding: num_embeddings (", num,
              ") and embedding_dim (", dim, ") must be non-negative");
  if (o.padding_idx) {
    int64_t p = *o.padding_idx;
    EMBER_CHECK(p >= -num && p < num, IndexError, "Embedding: padding_idx ", p,
                " must be within num_embeddings (", num, ")");
    padding_idx = p < 0 ? p + num : p;
  }
  weight = Parameter(empty({num, dim}));
  reset_parameters();
}

void Embedding::reset_parameters() {
  init::normal_(weight);
  if (padding_idx) {
    NoGradGuard guard;
    weight.select(0, *padding_idx).zero_();
  }
}

Tensor Embedding::forward(const Tensor& indices) {
  return functional::embedding(indices, weight, {.padding_idx = padding_idx});
}

std::string Embedding::extra_repr() const {
  std::string s = ember::detail::cat(num_embeddings, ", ", embedding_dim);
  if (padding_idx) s += ember::detail::cat(", padding_idx=", *padding_idx);
  return s;
}

}  // namespace ember::nn
