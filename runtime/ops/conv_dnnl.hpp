// Internal to the conv2d kernels (ops/conv.cpp, ops/conv_backward.cpp): which backend a float32
// conv2d runs on, and the oneDNN one (ops/conv_dnnl.cpp). Built without oneDNN (no
// EMBER_HAVE_DNNL), everything runs on im2col + GEMM and the dnnl_* functions decline.
#pragma once

#include <optional>

#include "runtime/dispatch.hpp"
#include "runtime/ops/conv_im2col.hpp"

namespace ember::detail {

enum class ConvBackend { im2col, dnnl };

/// True when ember was built with oneDNN (EMBER_HAVE_DNNL).
bool dnnl_available();
/// The backend of float32 conv2d: oneDNN when built with it, unless EMBER_CONV=im2col (read once).
ConvBackend conv_backend();
/// Overrides conv_backend() for the whole process (tests, A/B runs); dnnl needs a oneDNN build.
void set_conv_backend(ConvBackend b);
/// True when a conv2d (its forward, or its backward) of this dtype and geometry goes to oneDNN:
/// float32, nothing empty, and not the backward of a few-channel ungrouped conv (see the .cpp).
bool conv_uses_dnnl(DType dtype, const ConvGeom& g, bool backward);
/// Forward and backward calls oneDNN has run so far (tests check which path ran).
uint64_t dnnl_conv_calls();
/// Those of them that ran their batch in chunks on ember's threads (see ops/conv_dnnl.cpp).
uint64_t dnnl_split_calls();
/// The chunks those calls ran in.
uint64_t dnnl_split_chunks();
/// Whether a batch of at least two images per ember thread is split into one chunk per thread
/// (default on); off, every batch runs whole on an OpenMP team (tests, A/B runs).
void set_dnnl_batch_split(bool on);
/// Input and output activation bytes a chunk of a split batch holds (at least one image; default
/// half the L2 cache); 0 makes one chunk per thread (tests, A/B runs).
void set_dnnl_chunk_bytes(size_t bytes);
/// The chunk size in force.
size_t dnnl_chunk_bytes();

/// out [N, O, OH, OW] = conv(x, w) + b on oneDNN; x, w, b (optional) contiguous float32, out
/// contiguous. False, with out untouched, when oneDNN has no optimised implementation for g.
bool dnnl_conv2d_forward(const ConvGeom& g, const Tensor& x, const Tensor& w, const Tensor& b,
                         const Tensor& out);
/// (grad_input, grad_weight, grad_bias) on oneDNN, each only where mask is true (undefined
/// elsewhere); gy, x, w contiguous float32. nullopt when oneDNN has no optimised implementation.
std::optional<TensorList> dnnl_conv2d_backward(const ConvGeom& g, const Tensor& gy, const Tensor& x,
                                               const Tensor& w, const bool mask[3]);

}  // namespace ember::detail
