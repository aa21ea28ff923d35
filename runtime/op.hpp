// The one Op enum and the attribute structs ops carry: what the dispatcher, autograd and the JIT
// all speak.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <variant>

#include "runtime/dims.hpp"
#include "runtime/dtype.hpp"
#include "runtime/op_table.hpp"

namespace ember {

/// Every op, in the order of the op table (runtime/op_table.hpp), where each is documented.
enum class Op : uint16_t {
#define EMBER_OP_ENUM(O, ...) O,
  EMBER_OPS(EMBER_OP_ENUM)
#undef EMBER_OP_ENUM
      NumOps
};

enum class OpFamily : uint8_t {
  Unary,
  Binary,
  Ternary,
  Convert,
  Copy,
  Reduce,
  View,
  Gather,
  Linalg,
  NN,
  Backward
};
/// How a JIT region treats an op (see runtime/op_table.hpp).
enum class JitPolicy : uint8_t { Fuse, Reduce, Row, Library, Meta, Decompose, Break };
/// Which input an op writes in place.
enum class Writes : uint8_t { None, First, Out };

/// An op's row of the op table.
struct OpTraits {
  const char* name;  ///< as PyTorch spells it ("add", "conv2d", ...)
  OpFamily family;
  JitPolicy jit;
  Writes writes;
};

namespace detail {
inline constexpr OpTraits kOpTraits[] = {
#define EMBER_OP_TRAITS(O, name, family, jit, writes, def) \
  {name, OpFamily::family, JitPolicy::jit, Writes::writes},
    EMBER_OPS(EMBER_OP_TRAITS)
#undef EMBER_OP_TRAITS
};
static_assert(std::size(kOpTraits) == static_cast<size_t>(Op::NumOps));
}  // namespace detail

constexpr const OpTraits& op_traits(Op op) { return detail::kOpTraits[static_cast<size_t>(op)]; }
/// The op's name as PyTorch spells it ("add", "conv2d", ...).
constexpr const char* op_name(Op op) { return op < Op::NumOps ? op_traits(op).name : "?"; }

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
/// The options of an activation with options, in the order its dsl definition takes them:
/// leaky_relu {negative_slope}, elu {alpha}, hardtanh {min_val, max_val}.
struct ActivationAttrs {
  double p = 0, q = 0;
};
/// sort (dim, descending, stable), argsort and topk (k, largest as descending, sorted).
struct SortAttrs {
  int64_t dim = -1;
  bool descending = false, stable = false;
  int64_t k = -1;  ///< topk: how many; -1 for sort (all)
};
struct EmbeddingAttrs {
  std::optional<int64_t> padding_idx{};
};

using Attrs =
    std::variant<std::monostate, ReduceAttrs, ShapeAttrs, SliceAttrs, SelectAttrs, DimAttrs,
                 DTypeAttrs, ClampAttrs, ConvAttrs, PoolAttrs, NormAttrs, DropoutAttrs, LossAttrs,
                 EmbeddingAttrs, GeluAttrs, ActivationAttrs, SortAttrs>;

}  // namespace ember
