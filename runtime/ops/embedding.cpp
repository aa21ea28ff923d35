// Embedding lookup: rows of a [num, dim] weight picked by int64 indices of any shape.
#include <cstring>

#include "runtime/ops/loops.hpp"

namespace ember {
namespace {

TensorList embedding_kernel(std::span<const Tensor> in, const Attrs&) {
  NoGradGuard no_grad;  // the contiguous copies below are internal
  const Tensor& weight = in[0];
  const Tensor& indices = in[1];
  EMBER_CHECK(weight.defined() && indices.defined(), Error, "embedding: an input is undefined");
  EMBER_CHECK(weight.dim() == 2, ShapeError,
              "embedding: 'weight' must be 2-D [num_embeddings, embedding_dim], got shape ",
              weight.sizes());
  EMBER_CHECK(indices.dtype() == kInt64, DTypeError,
              "embedding: expected indices of dtype int64, got ", dtype_name(indices.dtype()));
  const int64_t num = weight.size(0), dim = weight.size(1);
  Tensor idx = indices.contiguous();
  const int64_t* pi = idx.data_ptr<int64_t>();
  const int64_t n = idx.numel();
  for (int64_t i = 0; i < n; ++i)
    EMBER_CHECK(pi[i] >= 0 && pi[i] < num, IndexError, "embedding: index ", pi[i],
                " is out of range for a weight of ", num, " embeddings (num_embeddings = ", num,
                ")");
  Dims out_shape = indices.sizes();
  out_shape.push_back(dim);
  Tensor w = weight.contiguous();
  Tensor out = make_tensor(out_shape, w.dtype());
  const size_t row_bytes = static_cast<size_t>(dim) * w.element_size();
  const char* src = static_cast<const char*>(w.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  if (row_bytes == 0) return {out};
  parallel_for(0, n, std::max<int64_t>(1, kGrainSize / std::max<int64_t>(dim, 1)),
               [&](int64_t b, int64_t e) {
                 for (int64_t i = b; i < e; ++i)
                   std::memcpy(dst + i * row_bytes, src + pi[i] * row_bytes, row_bytes);
               });
  return {out};
}

}  // namespace

namespace detail {
void register_embedding_kernels() { register_kernel(Op::Embedding, embedding_kernel); }
}  // namespace detail

}  // namespace ember
