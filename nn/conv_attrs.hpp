// The ConvAttrs of a conv2d-like call from its options (Conv2dOptions, ConvTranspose2dOptions:
// stride, padding, dilation, groups). Internal to nn/functional_conv*.cpp.
#pragma once

#include "runtime/op.hpp"

namespace ember::nn::functional::detail {

template <class Options>
ConvAttrs conv_attrs(const Options& o) {
  ConvAttrs a;
  a.stride[0] = o.stride.h;
  a.stride[1] = o.stride.w;
  a.padding[0] = o.padding.h;
  a.padding[1] = o.padding.w;
  a.dilation[0] = o.dilation.h;
  a.dilation[1] = o.dilation.w;
  a.groups = o.groups;
  return a;
}

}  // namespace ember::nn::functional::detail
