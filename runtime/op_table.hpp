// The one op table (as PyTorch's native_functions.yaml, tinygrad's Ops with its GroupOp sets):
// every op once, with everything the rest of ember needs to know of it. The Op enum, op names,
// the JIT's lists (what it traces, fuses, leaves as a library call, runs eagerly), which input
// an in-place op writes, and which dsl formula defines a pointwise op are all derived from it;
// tests/jit/test_op_table.cpp walks every row through a region against eager code, so an op
// added here without a case there fails. Kernels register per family (runtime/ops/*.cpp) and
// derivative rows live in runtime/autograd/derivatives*.cpp, checked against this table at
// start-up.
//
//   X(Op, "name", family, JIT policy, writes, dsl definition or void)
//
// JIT policy: Fuse (pointwise, inlined into fused kernels), Reduce and Row (fused reductions and
// softmax-like row ops), Library (a library call inside the compiled graph), Meta (a view: runs
// eagerly on metadata, no data touched), Decompose (recorded as the traced ops it is made of:
// jit/trace/decompose.cpp), Break (runs eagerly after the graph so far: a graph break). An op that
// writes is traced as a pure value plus a write of the target's memory (see jit/trace/trace.hpp): a
// write of a whole tensor's memory needs no op of its own; a write through a view becomes a Copy_
// node, a library step of the compiled graph. Writes: None, First (writes its first input: copy_,
// fill_), Out (given an extra last operand, writes the result into it: the fast path of add_ and
// friends).
#pragma once

// clang-format off
#define EMBER_OPS(X)                                                                       \
  /* ---- unary pointwise (one input, same shape out) ---- */                              \
  X(Neg, "neg", Unary, Fuse, None, dsl::builtin::neg)                                      \
  X(Abs, "abs", Unary, Fuse, None, dsl::builtin::abs)                                      \
  X(Exp, "exp", Unary, Fuse, None, dsl::builtin::exp)                                      \
  X(Log, "log", Unary, Fuse, None, dsl::builtin::log)                                      \
  X(Log1p, "log1p", Unary, Fuse, None, dsl::builtin::log1p)                                \
  X(Expm1, "expm1", Unary, Fuse, None, dsl::builtin::expm1)                                \
  X(Sqrt, "sqrt", Unary, Fuse, None, dsl::builtin::sqrt)                                   \
  X(Rsqrt, "rsqrt", Unary, Fuse, None, dsl::builtin::rsqrt)                                \
  X(Sin, "sin", Unary, Fuse, None, dsl::builtin::sin)                                      \
  X(Cos, "cos", Unary, Fuse, None, dsl::builtin::cos)                                      \
  X(Tanh, "tanh", Unary, Fuse, None, dsl::builtin::tanh)                                   \
  X(Sigmoid, "sigmoid", Unary, Fuse, None, dsl::builtin::sigmoid)                          \
  X(Relu, "relu", Unary, Fuse, None, dsl::builtin::relu)                                   \
  X(Silu, "silu", Unary, Fuse, None, dsl::builtin::silu)                                   \
  X(Erf, "erf", Unary, Fuse, None, dsl::builtin::erf)                                      \
  X(Gelu, "gelu", Unary, Fuse, None, dsl::builtin::gelu) /* GeluAttrs; tanh: gelu_tanh */  \
  X(Sign, "sign", Unary, Fuse, None, dsl::builtin::sign)                                   \
  X(Softplus, "softplus", Unary, Fuse, None, dsl::builtin::softplus) /* beta 1, threshold 20 */ \
  X(LogicalNot, "logical_not", Unary, Break, None, void)                                   \
  X(Clamp, "clamp", Unary, Fuse, None, void) /* ClampAttrs */                              \
  X(LeakyRelu, "leaky_relu", Unary, Fuse, None, dsl::builtin::leaky_relu) /* ActivationAttrs */ \
  X(Elu, "elu", Unary, Fuse, None, dsl::builtin::elu) /* ActivationAttrs {alpha} */        \
  X(Hardtanh, "hardtanh", Unary, Fuse, None, dsl::builtin::hardtanh) /* {min_val, max_val} */ \
  X(Mish, "mish", Unary, Fuse, None, dsl::builtin::mish)                                   \
  X(Hardswish, "hardswish", Unary, Fuse, None, dsl::builtin::hardswish)                    \
  /* ---- binary pointwise (broadcasting; numbers arrive as 0-d wrapped tensors) ---- */   \
  X(Add, "add", Binary, Fuse, Out, dsl::builtin::add)                                      \
  X(Sub, "sub", Binary, Fuse, Out, dsl::builtin::sub)                                      \
  X(Mul, "mul", Binary, Fuse, Out, dsl::builtin::mul)                                      \
  X(Div, "div", Binary, Fuse, Out, dsl::builtin::div)                                      \
  X(Pow, "pow", Binary, Fuse, None, dsl::builtin::pow)                                     \
  X(Maximum, "maximum", Binary, Fuse, None, dsl::builtin::maximum)                         \
  X(Minimum, "minimum", Binary, Fuse, None, dsl::builtin::minimum)                         \
  X(Eq, "eq", Binary, Fuse, None, void)                                                    \
  X(Ne, "ne", Binary, Fuse, None, void)                                                    \
  X(Lt, "lt", Binary, Fuse, None, void)                                                    \
  X(Le, "le", Binary, Fuse, None, void)                                                    \
  X(Gt, "gt", Binary, Fuse, None, void)                                                    \
  X(Ge, "ge", Binary, Fuse, None, void)                                                    \
  X(LogicalAnd, "logical_and", Binary, Break, None, void)                                  \
  X(LogicalOr, "logical_or", Binary, Break, None, void)                                    \
  /* ---- ternary pointwise ---- */                                                        \
  X(Where, "where", Ternary, Fuse, None, void) /* (cond, a, b) */                          \
  /* ---- conversion and copies ---- */                                                    \
  X(ToDtype, "to", Convert, Fuse, None, void) /* DTypeAttrs */                             \
  X(Clone, "clone", Convert, Decompose, None, void) /* contiguous copy */                      \
  X(Copy_, "copy_", Copy, Library, First, void) /* (dst, src): broadcasts, converts */     \
  X(Fill_, "fill_", Copy, Library, First, void) /* (dst, value 0-d) */                     \
  /* ---- reductions (ReduceAttrs; empty dims = all) ---- */                               \
  X(Sum, "sum", Reduce, Reduce, None, void)                                                \
  X(Mean, "mean", Reduce, Reduce, None, void)                                              \
  X(Amax, "amax", Reduce, Reduce, None, void)                                              \
  X(Amin, "amin", Reduce, Reduce, None, void)                                              \
  X(Prod, "prod", Reduce, Break, None, void)                                               \
  X(Var, "var", Reduce, Decompose, None, void)                                                 \
  X(Std, "std", Reduce, Decompose, None, void)                                                 \
  X(Logsumexp, "logsumexp", Reduce, Break, None, void)                                     \
  X(MaxDim, "max", Reduce, Break, None, void) /* (values, indices), one dim */             \
  X(MinDim, "min", Reduce, Break, None, void)                                              \
  X(Argmax, "argmax", Reduce, Break, None, void) /* no dim (flattened) or one */           \
  X(Argmin, "argmin", Reduce, Break, None, void)                                           \
  /* ---- views (share storage) ---- */                                                    \
  X(View, "view", View, Meta, None, void) /* ShapeAttrs: sizes resolved, no -1 */          \
  X(Expand, "expand", View, Meta, None, void) /* ShapeAttrs */                             \
  X(Permute, "permute", View, Meta, None, void) /* ShapeAttrs: the permutation */          \
  X(Slice, "slice", View, Meta, None, void) /* SliceAttrs */                               \
  X(Select, "select", View, Meta, None, void) /* SelectAttrs */                            \
  /* ---- gathers and joins ---- */                                                        \
  X(Cat, "cat", Gather, Library, None, void) /* DimAttrs, any number of inputs */          \
  X(IndexSelect, "index_select", Gather, Library, None, void) /* (self, index), DimAttrs */ \
  X(Gather, "gather", Gather, Library, None, void) /* (self, index), DimAttrs */           \
  /* ---- sorting, scans, scatter (one dim; graph breaks: no JIT lowering) ---- */       \
  X(Sort, "sort", Gather, Break, None, void) /* SortAttrs; (values, indices) */            \
  X(Topk, "topk", Gather, Break, None, void) /* SortAttrs with k; (values, indices) */     \
  X(Cumsum, "cumsum", Reduce, Break, None, void) /* DimAttrs; ints and bools give int64 */ \
  X(Cumprod, "cumprod", Reduce, Break, None, void) /* DimAttrs */                          \
  X(Scatter, "scatter", Gather, Break, None, void) /* (self, index, src), DimAttrs */      \
  /* ---- linear algebra ---- */                                                           \
  X(Matmul, "matmul", Linalg, Library, None, void) /* batch dims broadcast, as torch's */   \
  /* ---- neural-network kernels (optional inputs passed as undefined Tensors) ---- */     \
  X(Conv2d, "conv2d", NN, Library, None, void) /* (input, weight[, bias]), ConvAttrs */      \
  X(MaxPool2d, "max_pool2d", NN, Library, None, void) /* PoolAttrs; (values, indices) */     \
  X(AvgPool2d, "avg_pool2d", NN, Library, None, void) /* PoolAttrs */                        \
  X(AdaptiveAvgPool2d, "adaptive_avg_pool2d", NN, Library, None, void) /* ShapeAttrs */      \
  /* (input, weight?, bias?, running_mean?, running_var?), NormAttrs; outputs (out, mean, */ \
  /* invstd); updates the running statistics in place */                                   \
  X(BatchNorm, "batch_norm", NN, Decompose, None, void)                                        \
  X(LayerNorm, "layer_norm", NN, Decompose, None, void) /* (in, w?, b?); (out, mean, rstd) */  \
  X(Dropout, "dropout", NN, Library, None, void) /* DropoutAttrs; (out, scaled mask) */      \
  X(Softmax, "softmax", NN, Row, None, void) /* DimAttrs */                                \
  X(LogSoftmax, "log_softmax", NN, Row, None, void) /* DimAttrs */                         \
  X(NllLoss, "nll_loss", NN, Library, None, void) /* (log_probs, target[, w]), LossAttrs */  \
  X(MseLoss, "mse_loss", NN, Library, None, void) /* LossAttrs */                            \
  /* (input, target[, weight, pos_weight]), LossAttrs */                                   \
  X(BceWithLogits, "binary_cross_entropy_with_logits", NN, Break, None, void)              \
  X(Embedding, "embedding", NN, Library, None, void) /* (weight, indices), EmbeddingAttrs */ \
  /* ---- backward kernels (rows of the derivative table call them) ---- */                \
  X(ScatterAdd, "scatter_add", Backward, Library, None, void) /* (self, index, src) */     \
  X(IndexAdd, "index_add", Backward, Library, None, void) /* (self, index, source) */      \
  /* (grad_out, input, weight), ConvAttrs; (grad_input, grad_weight, grad_bias), */        \
  /* undefined where ConvAttrs::output_mask is false */                                    \
  X(Conv2dBackward, "conv2d_backward", Backward, Library, None, void)                        \
  X(MaxPool2dBackward, "max_pool2d_backward", Backward, Library, None, void)                 \
  X(AvgPool2dBackward, "avg_pool2d_backward", Backward, Library, None, void)                 \
  X(AdaptiveAvgPool2dBackward, "adaptive_avg_pool2d_backward", Backward, Library, None, void) \
  X(NllLossBackward, "nll_loss_backward", Backward, Library, None, void)                     \
  /* (grad_out, input, weight?, mean, invstd), NormAttrs; (grad_in, grad_w, grad_b) */     \
  X(BatchNormBackward, "batch_norm_backward", Backward, Break, None, void)
// clang-format on
