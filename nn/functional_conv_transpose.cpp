// conv1d (conv2d over a [N, C, 1, L] view) and conv_transpose2d: the adjoint of conv2d, computed
// by conv2d's input-gradient kernel (Op::Conv2dBackward) and differentiated as an
// autograd::Function whose backward is conv2d itself (for the input) and conv2d's
// weight-gradient kernel (for the weight).
#include <string>

#include "nn/conv_attrs.hpp"
#include "nn/functional.hpp"
#include "runtime/autograd/function.hpp"
#include "runtime/dispatch.hpp"

namespace ember::nn::functional {

namespace {

std::string pair_str(Pair p) { return ember::detail::cat("(", p.h, ", ", p.w, ")"); }

ConvAttrs conv_attrs(const ConvTranspose2dOptions& o, bool in, bool w) {
  ConvAttrs a = detail::conv_attrs(o);
  a.output_mask[0] = in;
  a.output_mask[1] = w;
  a.output_mask[2] = false;
  return a;
}

// conv_transpose2d(x, w) = A_w^T x, where A_w is conv2d with weight w over an input shaped as
// the result. Its gradients: d/dx = A_w g = conv2d(g, w); d/dw <A_w^T x, g> = d/dw <x, A_w g>,
// conv2d's weight gradient with g as the input and x as the output's gradient.
struct ConvTranspose2dFunction : autograd::Function<ConvTranspose2dFunction> {
  static constexpr const char* name = "ConvTranspose2d";
  static Tensor forward(autograd::Context& ctx, const Tensor& x, const Tensor& w,
                        const Dims& out_sizes, const ConvTranspose2dOptions& o) {
    ctx.save_for_backward({x, w});
    ctx.saved_data["options"] = o;
    // The kernel reads only the sizes and dtype of its "input" operand when asked for the
    // input gradient alone; empty() allocates without filling.
    Tensor shape = empty(out_sizes, x.dtype());
    return dispatch(Op::Conv2dBackward, {x, shape, w}, conv_attrs(o, true, false))[0];
  }
  static TensorList backward(autograd::Context& ctx, const TensorList& g) {
    TensorList s = ctx.saved();
    auto o = std::any_cast<ConvTranspose2dOptions>(ctx.saved_data["options"]);
    Tensor gx, gw;
    if (ctx.needs_input_grad(0)) {
      gx = conv2d(
          g[0], s[1], {},
          {.stride = o.stride, .padding = o.padding, .dilation = o.dilation, .groups = o.groups});
      // With output_padding >= stride (legal when below the dilation) conv2d sees trailing rows
      // or columns that no input element reached: its result is larger than x by those.
      if (gx.size(2) != s[0].size(2)) gx = gx.narrow(2, 0, s[0].size(2));
      if (gx.size(3) != s[0].size(3)) gx = gx.narrow(3, 0, s[0].size(3));
    }
    if (ctx.needs_input_grad(1))
      gw = dispatch(Op::Conv2dBackward, {s[0], g[0], s[1]}, conv_attrs(o, false, true))[1];
    return {gx, gw};
  }
};

}  // namespace

Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias,
              const Conv1dOptions& o) {
  EMBER_CHECK(input.defined() && (input.dim() == 2 || input.dim() == 3), ShapeError,
              "conv1d: Expected 2D (unbatched) or 3D (batched) input to conv1d, but got input of "
              "size: ",
              input.defined() ? input.sizes() : Dims{});
  EMBER_CHECK(weight.defined() && weight.dim() == 3, ShapeError,
              "conv1d: expected a 3D weight [out_channels, in_channels / groups, kernel], got ",
              weight.defined() ? weight.sizes() : Dims{});
  Tensor y = conv2d(input.unsqueeze(-2), weight.unsqueeze(2), bias,
                    {.stride = {1, o.stride},
                     .padding = {0, o.padding},
                     .dilation = {1, o.dilation},
                     .groups = o.groups});
  return y.squeeze(-2);
}

Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const Tensor& bias,
                        const ConvTranspose2dOptions& o) {
  const char* op = "conv_transpose2d";
  EMBER_CHECK(input.defined() && (input.dim() == 3 || input.dim() == 4), ShapeError, op,
              ": Expected 3D (unbatched) or 4D (batched) input, but got input of size: ",
              input.defined() ? input.sizes() : Dims{});
  EMBER_CHECK(weight.defined() && weight.dim() == 4, ShapeError, op,
              ": expected a 4D weight [in_channels, out_channels / groups, kh, kw], got ",
              weight.defined() ? weight.sizes() : Dims{});
  EMBER_CHECK(is_floating(input.dtype()) && input.dtype() == weight.dtype(), DTypeError, op,
              ": expected floating input and weight of one dtype, got ", dtype_name(input.dtype()),
              " and ", dtype_name(weight.dtype()));
  EMBER_CHECK(o.groups > 0, ValueError, op, ": groups must be positive, got ", o.groups);
  EMBER_CHECK(o.stride.h > 0 && o.stride.w > 0 && o.dilation.h > 0 && o.dilation.w > 0, ValueError,
              op, ": stride ", pair_str(o.stride), " and dilation ", pair_str(o.dilation),
              " must be positive");
  EMBER_CHECK(o.padding.h >= 0 && o.padding.w >= 0, ValueError, op,
              ": padding must be non-negative, got ", pair_str(o.padding));
  EMBER_CHECK((o.output_padding.h >= 0 && o.output_padding.w >= 0) &&
                  (o.output_padding.h < o.stride.h || o.output_padding.h < o.dilation.h) &&
                  (o.output_padding.w < o.stride.w || o.output_padding.w < o.dilation.w),
              ValueError, op,
              ": output padding must be smaller than either stride or dilation, but got "
              "output_padding ",
              pair_str(o.output_padding), ", stride ", pair_str(o.stride), ", dilation ",
              pair_str(o.dilation));
  const bool batched = input.dim() == 4;
  Tensor x = batched ? input : input.unsqueeze(0);
  const int64_t cin = weight.size(0), cout = weight.size(1) * o.groups;
  EMBER_CHECK(cin % o.groups == 0, ShapeError, op, ": weight's first dim (", cin,
              ") must be divisible by groups (", o.groups, ")");
  EMBER_CHECK(x.size(1) == cin, ShapeError, op, ": Given transposed=1, weight of size ",
              weight.sizes(), ", expected input", x.sizes(), " to have ", cin,
              " channels, but got ", x.size(1), " channels instead");
  EMBER_CHECK(!bias.defined() || bias.sizes() == Dims{cout}, ShapeError, op,
              ": expected bias of shape [", cout, "], got ", bias.sizes());
  auto out_size = [&](int64_t in, int64_t s, int64_t p, int64_t d, int64_t k, int64_t op_) {
    return (in - 1) * s - 2 * p + d * (k - 1) + op_ + 1;
  };
  const int64_t oh = out_size(x.size(2), o.stride.h, o.padding.h, o.dilation.h, weight.size(2),
                              o.output_padding.h);
  const int64_t ow = out_size(x.size(3), o.stride.w, o.padding.w, o.dilation.w, weight.size(3),
                              o.output_padding.w);
  EMBER_CHECK(oh > 0 && ow > 0, ShapeError, op, ": input of size ", input.sizes(), " with weight ",
              weight.sizes(), " gives a non-positive output size (", oh, ", ", ow, ")");
  Tensor y = ConvTranspose2dFunction::apply(x, weight, Dims{x.size(0), cout, oh, ow}, o);
  if (bias.defined()) y = y + bias.view({1, cout, 1, 1});
  return batched ? y : y.squeeze(0);
}

}  // namespace ember::nn::functional
