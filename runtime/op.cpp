#include "runtime/op.hpp"

namespace ember {

const char* op_name(Op op) {
  switch (op) {
    case Op::Neg: return "neg";
    case Op::Abs: return "abs";
    case Op::Exp: return "exp";
    case Op::Log: return "log";
    case Op::Log1p: return "log1p";
    case Op::Expm1: return "expm1";
    case Op::Sqrt: return "sqrt";
    case Op::Rsqrt: return "rsqrt";
    case Op::Sin: return "sin";
    case Op::Cos: return "cos";
    case Op::Tanh: return "tanh";
    case Op::Sigmoid: return "sigmoid";
    case Op::Relu: return "relu";
    case Op::Silu: return "silu";
    case Op::Erf: return "erf";
    case Op::Gelu: return "gelu";
    case Op::Sign: return "sign";
    case Op::LogicalNot: return "logical_not";
    case Op::Clamp: return "clamp";
    case Op::Add: return "add";
    case Op::Sub: return "sub";
    case Op::Mul: return "mul";
    case Op::Div: return "div";
    case Op::Pow: return "pow";
    case Op::Maximum: return "maximum";
    case Op::Minimum: return "minimum";
    case Op::Eq: return "eq";
    case Op::Ne: return "ne";
    case Op::Lt: return "lt";
    case Op::Le: return "le";
    case Op::Gt: return "gt";
    case Op::Ge: return "ge";
    case Op::LogicalAnd: return "logical_and";
    case Op::LogicalOr: return "logical_or";
    case Op::Where: return "where";
    case Op::ToDtype: return "to";
    case Op::Clone: return "clone";
    case Op::Copy_: return "copy_";
    case Op::Fill_: return "fill_";
    case Op::Sum: return "sum";
    case Op::Mean: return "mean";
    case Op::Amax: return "amax";
    case Op::Amin: return "amin";
    case Op::Prod: return "prod";
    case Op::Var: return "var";
    case Op::Std: return "std";
    case Op::Logsumexp: return "logsumexp";
    case Op::MaxDim: return "max";
    case Op::MinDim: return "min";
    case Op::Argmax: return "argmax";
    case Op::Argmin: return "argmin";
    case Op::View: return "view";
    case Op::Expand: return "expand";
    case Op::Permute: return "permute";
    case Op::Slice: return "slice";
    case Op::Select: return "select";
    case Op::Cat: return "cat";
    case Op::IndexSelect: return "index_select";
    case Op::Gather: return "gather";
    case Op::Matmul: return "matmul";
    case Op::Conv2d: return "conv2d";
    case Op::MaxPool2d: return "max_pool2d";
    case Op::AvgPool2d: return "avg_pool2d";
    case Op::AdaptiveAvgPool2d: return "adaptive_avg_pool2d";
    case Op::BatchNorm: return "batch_norm";
    case Op::LayerNorm: return "layer_norm";
    case Op::Dropout: return "dropout";
    case Op::Softmax: return "softmax";
    case Op::LogSoftmax: return "log_softmax";
    case Op::NllLoss: return "nll_loss";
    case Op::MseLoss: return "mse_loss";
    case Op::BceWithLogits: return "binary_cross_entropy_with_logits";
    case Op::Embedding: return "embedding";
    case Op::ScatterAdd: return "scatter_add";
    case Op::IndexAdd: return "index_add";
    case Op::Conv2dBackward: return "conv2d_backward";
    case Op::MaxPool2dBackward: return "max_pool2d_backward";
    case Op::AvgPool2dBackward: return "avg_pool2d_backward";
    case Op::AdaptiveAvgPool2dBackward: return "adaptive_avg_pool2d_backward";
    case Op::NllLossBackward: return "nll_loss_backward";
    case Op::BatchNormBackward: return "batch_norm_backward";
    case Op::NumOps: break;
  }
  return "?";
}

}  // namespace ember
