// nn::functional wrappers for linear, conv2d and pooling: options structs -> attrs -> dispatch.
#include "nn/conv_attrs.hpp"
#include "nn/functional.hpp"
#include "runtime/dispatch.hpp"

namespace ember::nn::functional {

namespace {

PoolAttrs pool_attrs(Pair kernel, const std::optional<Pair>& stride, Pair padding, Pair dilation,
                     bool ceil_mode) {
  Pair s = stride.value_or(kernel);
  PoolAttrs a;
  a.kernel[0] = kernel.h;
  a.kernel[1] = kernel.w;
  a.stride[0] = s.h;
  a.stride[1] = s.w;
  a.padding[0] = padding.h;
  a.padding[1] = padding.w;
  a.dilation[0] = dilation.h;
  a.dilation[1] = dilation.w;
  a.ceil_mode = ceil_mode;
  return a;
}

PoolAttrs max_attrs(Pair kernel, const MaxPool2dOptions& o) {
  return pool_attrs(kernel, o.stride, o.padding, o.dilation, o.ceil_mode);
}

}  // namespace

Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias) {
  EMBER_CHECK(input.defined() && weight.defined(), Error,
              "linear: input and weight must be defined");
  // weight^T is a view: BLAS reads it through its trans flag, no copy.
  Tensor out = dispatch1(Op::Matmul, {input, weight.t()});
  return bias.defined() ? out + bias : out;
}

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias,
              const Conv2dOptions& o) {
  const ConvAttrs a = detail::conv_attrs(o);
  if (!bias.defined()) return dispatch1(Op::Conv2d, {input, weight}, a);
  return dispatch1(Op::Conv2d, {input, weight, bias}, a);
}

Tensor max_pool2d(const Tensor& input, Pair kernel_size, const MaxPool2dOptions& o) {
  return dispatch1(Op::MaxPool2d, {input}, max_attrs(kernel_size, o));
}

ValuesIndices max_pool2d_with_indices(const Tensor& input, Pair kernel_size,
                                      const MaxPool2dOptions& o) {
  TensorList r = dispatch(Op::MaxPool2d, {input}, max_attrs(kernel_size, o));
  return {r[0], r[1]};
}

Tensor avg_pool2d(const Tensor& input, Pair kernel_size, const AvgPool2dOptions& o) {
  PoolAttrs a = pool_attrs(kernel_size, o.stride, o.padding, 1, o.ceil_mode);
  a.count_include_pad = o.count_include_pad;
  a.divisor_override = o.divisor_override;
  return dispatch1(Op::AvgPool2d, {input}, a);
}

Tensor adaptive_avg_pool2d(const Tensor& input, Pair output_size) {
  return dispatch1(Op::AdaptiveAvgPool2d, {input}, ShapeAttrs{{output_size.h, output_size.w}});
}

}  // namespace ember::nn::functional
