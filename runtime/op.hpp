// The one Op enum and the attribute structs ops carry: what the dispatcher, autograd and the JIT
// all speak.
#pragma once

#include <cstdint>
#include <optional>
#include <variant>

#include "runtime/dims.hpp"
#include "runtime/dtype.hpp"

namespace ember {

enum class Op : uint16_t {
  // ---- unary pointwise (one input, same shape out) ----
  Neg,
  Abs,
  Exp,
  Log,
  Log1p,
  Expm1,
  Sqrt,
  Rsqrt,
  Sin,
  Cos,
  Tanh,
  Sigmoid,
  Relu,
  Silu,
  Erf,
  Gelu,  // GeluAttrs
  Sign,
  LogicalNot,
  Clamp,  // Clamp: ClampAttrs
  // ---- binary pointwise (broadcasting; scalars arrive as 0-d wrapped-number tensors) ----
  Add,
  Sub,
  Mul,
  Div,
  Pow,
  Maximum,
  Minimum,
  Eq,
  Ne,
  Lt,
  Le,
  Gt,
  Ge,
  LogicalAnd,
  LogicalOr,
  // ---- ternary pointwise ----
  Where,  // (cond, a, b)
  // ---- conversion and copies ----
  ToDtype,  // DTypeAttrs
  Clone,    // contiguous copy
  Copy_,    // (dst, src): in-place copy with broadcasting and dtype conversion, returns dst
  Fill_,    // (dst, value 0-d): in place
  // ---- reductions (ReduceAttrs; empty dims = all) ----
  Sum,
  Mean,
  Amax,
  Amin,
  Prod,
  Var,
  Std,
  Logsumexp,
  MaxDim,
  MinDim,  // (values, indices), ReduceAttrs with one dim
  Argmax,
  Argmin,  // ReduceAttrs with zero (flattened) or one dim
  // ---- views (share storage) ----
  View,     // ShapeAttrs: sizes (already resolved, no -1)
  Expand,   // ShapeAttrs
  Permute,  // ShapeAttrs: the permutation
  Slice,    // SliceAttrs: dim, start, end, step
  Select,   // SelectAttrs: dim, index
  // ---- gathers and joins ----
  Cat,          // DimAttrs, any number of inputs
  IndexSelect,  // (self, index), DimAttrs
  Gather,       // (self, index), DimAttrs
  // ---- linear algebra ----
  Matmul,  // broadcasting batch dims, 1-d rules as torch.matmul
  // ---- neural-network kernels ----
  Conv2d,             // (input, weight[, bias]), ConvAttrs
  MaxPool2d,          // PoolAttrs; outputs (values, flat h*w argmax indices as int64)
  AvgPool2d,          // PoolAttrs
  AdaptiveAvgPool2d,  // ShapeAttrs: output (h, w)
  // Optional inputs are passed as undefined Tensors.
  BatchNorm,  // (input, weight?, bias?, running_mean?, running_var?), NormAttrs;
              // outputs (out, mean, invstd) of the statistics used; updates running stats
  LayerNorm,  // (input, weight?, bias?), NormAttrs; outputs (out, mean, rstd)
  Dropout,    // DropoutAttrs; outputs (out, mask scaled by 1/(1-p))
  Softmax,
  LogSoftmax,     // DimAttrs
  NllLoss,        // (log_probs, target[, weight]), LossAttrs
  MseLoss,        // LossAttrs
  BceWithLogits,  // (input, target[, weight, pos_weight]), LossAttrs
  Embedding,      // (weight, indices), EmbeddingAttrs
  // ---- backward kernels (rows of the derivative table call them) ----
  ScatterAdd,         // (self, index, src), DimAttrs: self + src added at index along dim
  IndexAdd,           // (self, index, source), DimAttrs: self + source rows added at index
  Conv2dBackward,     // (grad_out, input, weight), ConvAttrs; outputs (grad_input, grad_weight,
                      // grad_bias), undefined where ConvAttrs::output_mask is false
  MaxPool2dBackward,  // (grad_out, input, indices), PoolAttrs
  AvgPool2dBackward,  // (grad_out, input), PoolAttrs
  AdaptiveAvgPool2dBackward,  // (grad_out, input)
  NllLossBackward,            // (grad_out, log_probs, target[, weight]), LossAttrs
  BatchNormBackward,          // (grad_out, input, weight?, mean, invstd), NormAttrs; outputs
                              // (grad_input, grad_weight, grad_bias)
  NumOps
};

/// The op's name as PyTorch spells it ("add", "conv2d", ...).
const char* op_name(Op op);

enum class Reduction : uint8_t { None, Mean, Sum };

struct ReduceAttrs {
  Dims dims;  ///< wrapped (non-negative), sorted; empty means every dim
  bool keepdim = false;
  int64_t correction = 1;  ///< var/std: divide by N - correction
};
struct ShapeAttrs {
  Dims sizes;
};
struct SliceAttrs {
  int64_t dim = 0, start = 0, end = 0, step = 1;
};
struct SelectAttrs {
  int64_t dim = 0, index = 0;
};
struct DimAttrs {
  int64_t dim = 0;
};
struct DTypeAttrs {
  DType dtype = kFloat32;
};
struct ClampAttrs {
  std::optional<double> min{}, max{};
};
struct ConvAttrs {
  int64_t stride[2] = {1, 1}, padding[2] = {0, 0}, dilation[2] = {1, 1}, groups = 1;
  bool output_mask[3] = {true, true, true};  ///< Conv2dBackward: which grads to compute
};
struct PoolAttrs {
  int64_t kernel[2] = {1, 1}, stride[2] = {1, 1}, padding[2] = {0, 0}, dilation[2] = {1, 1};
  bool ceil_mode = false, count_include_pad = true;
  std::optional<int64_t> divisor_override{};
};
struct NormAttrs {
  Dims normalized_shape;  ///< layer_norm
  double eps = 1e-5, momentum = 0.1;
  bool training = false;  ///< batch_norm: use batch statistics and update running ones
};
struct DropoutAttrs {
  double p = 0.5;
  bool training = true;
  uint64_t seed = 0, offset = 0;
};
struct LossAttrs {
  Reduction reduction = Reduction::Mean;
  int64_t ignore_index = -100;
  double label_smoothing = 0.0;
};
struct GeluAttrs {
  bool tanh = false;
};  ///< approximate="tanh"
struct EmbeddingAttrs {
  std::optional<int64_t> padding_idx{};
};

using Attrs = std::variant<std::monostate, ReduceAttrs, ShapeAttrs, SliceAttrs, SelectAttrs,
                           DimAttrs, DTypeAttrs, ClampAttrs, ConvAttrs, PoolAttrs, NormAttrs,
                           DropoutAttrs, LossAttrs, EmbeddingAttrs, GeluAttrs>;

}  // namespace ember
