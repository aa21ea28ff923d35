// The derivative table, part 2: neural-network ops. Rows that need a dedicated kernel
// (convolution, pooling, nll_loss) call the *Backward ops; the rest are written on Tensors.
#include <array>

#include "runtime/autograd/rows.hpp"
#include "runtime/ops.hpp"
#include "runtime/ops/row_backward.hpp"

namespace ember::autograd {
namespace {

using rows::Ctx;
using rows::row;
using rows::Table;

Tensor in_dtype(const Ctx& c, size_t i, const Tensor& g) {
  if (!c.needs_grad(i) || !g.defined()) return {};
  return g.dtype() == c.input_dtype(i) ? g : g.to(c.input_dtype(i));
}

// Dims of x reduced by batch norm: all but the channel dim 1.
Dims all_but_channel(int64_t ndim) {
  Dims d{0};
  for (int64_t i = 2; i < ndim; ++i) d.push_back(i);
  return d;
}

// Shape [1, C, 1, ...] for broadcasting per-channel values against x.
Dims channel_shape(const Dims& x) {
  Dims s(x.size(), 1);
  s[1] = x[1];
  return s;
}

Tensor reduction_grad(const Tensor& g, const LossAttrs& a, int64_t n) {
  if (a.reduction == Reduction::Mean) return g / static_cast<double>(n);
  return g;
}

void not_differentiable_input(const Ctx& c, size_t i, const char* op, const char* what) {
  // An optional input may be absent (nll_loss without a weight has two operands).
  EMBER_CHECK(i >= c.num_inputs() || !c.needs_grad(i), Error, op,
              ": the derivative with respect to ", what, " is not implemented");
}

}  // namespace

namespace rows {

void fill_nn(Table& t) {
  // conv2d: (grad_input, grad_weight, grad_bias) from the dedicated kernel, only those needed
  // (the image's gradient under a stem conv is never computed)
  row(t, Op::Conv2d, {.save_inputs = true}, [](const Ctx& c, const TensorList& g) -> TensorList {
    ConvAttrs a = std::get<ConvAttrs>(c.attrs());
    a.output_mask[0] = c.needs_grad(0);
    a.output_mask[1] = c.needs_grad(1);
    a.output_mask[2] = c.num_inputs() > 2 && c.needs_grad(2);
    TensorList r = dispatch(Op::Conv2dBackward, {g[0], c.input(0), c.input(1)}, a);
    return {in_dtype(c, 0, r[0]), in_dtype(c, 1, r[1]),
            c.num_inputs() > 2 ? in_dtype(c, 2, r[2]) : Tensor()};
  });
  // max_pool2d: g routed to each window's argmax
  row(t, Op::MaxPool2d, {.save_inputs = true, .save_outputs = true},
      [](const Ctx& c, const TensorList& g) -> TensorList {
        return {dispatch1(Op::MaxPool2dBackward, {g[0], c.input(0), c.output(1)}, c.attrs())};
      });
  // avg_pool2d: g spread evenly over each window
  row(t, Op::AvgPool2d, {.save_inputs = true}, [](const Ctx& c, const TensorList& g) -> TensorList {
    return {dispatch1(Op::AvgPool2dBackward, {g[0], c.input(0)}, c.attrs())};
  });
  row(t, Op::AdaptiveAvgPool2d, {.save_inputs = true},
      [](const Ctx& c, const TensorList& g) -> TensorList {
        return {dispatch1(Op::AdaptiveAvgPool2dBackward, {g[0], c.input(0)}, c.attrs())};
      });
  // batch_norm, training: xh = (x - mean) invstd,
  //   dx = w invstd / N (N g - sum g - xh sum(g xh)), dw = sum(g xh), db = sum g;
  // eval: dx = g w invstd with the running statistics
  row(t, Op::BatchNorm, {.save_inputs = true, .save_outputs = true},
      [](const Ctx& c, const TensorList& g) -> TensorList {
        const auto& a = std::get<NormAttrs>(c.attrs());
        not_differentiable_input(c, 3, "batch_norm", "running_mean");
        not_differentiable_input(c, 4, "batch_norm", "running_var");
        Tensor x = c.input(0), w = c.input(1), gy = g[0];
        const bool recorded = GradMode::is_enabled();
        if (!recorded && !ops_traced()) {  // neither recorded nor traced: the fused kernel
          TensorList r =
              dispatch(Op::BatchNormBackward, {gy, x, w, c.output(1), c.output(2)}, c.attrs());
          return {in_dtype(c, 0, r[0]), in_dtype(c, 1, r[1]),
                  c.num_inputs() > 2 ? in_dtype(c, 2, r[2]) : Tensor(), Tensor(), Tensor()};
        }
        if (!gy.defined()) return {};
        Dims cs = channel_shape(x.sizes()), red = all_but_channel(x.dim());
        Tensor mean = c.output(1).detach(), invstd = c.output(2).detach();
        if (!recorded) {
          // Traced into a JIT graph: the formula below as fused kernels, in float64 as the
          // kernel computes (the gradients are cast to the inputs' dtypes at the end).
          auto wide = [](const Tensor& t) { return t.defined() ? t.to(kFloat64) : t; };
          x = wide(x), w = wide(w), gy = wide(gy), mean = wide(mean), invstd = wide(invstd);
        }
        mean = mean.reshape(cs), invstd = invstd.reshape(cs);
        if (a.training && recorded) {
          // Recorded (create_graph): the batch statistics again, as functions of x, so that the
          // second derivative sees how they move with x (the saved ones are constants).
          mean = x.mean(red, true);
          invstd = rsqrt(var(x, red, true, 0) + a.eps);
        }
        Tensor xh = (x - mean) * invstd;
        Tensor wv = w.defined() ? w.reshape(cs) : Tensor();
        Tensor gx, gw, gb;
        Tensor sg = sum(gy, red, true), sgx = sum(gy * xh, red, true);
        if (c.needs_grad(0)) {
          Tensor scale = wv.defined() ? invstd * wv : invstd;
          if (a.training) {
            double n = static_cast<double>(x.numel() / x.sizes()[1]);
            gx = scale * (gy - sg / n - xh * sgx / n);
          } else {
            gx = gy * scale;
          }
        }
        if (c.needs_grad(1)) gw = sgx.reshape({x.sizes()[1]});
        if (c.num_inputs() > 2 && c.needs_grad(2)) gb = sg.reshape({x.sizes()[1]});
        return {in_dtype(c, 0, gx), in_dtype(c, 1, gw), in_dtype(c, 2, gb), Tensor(), Tensor()};
      });
  // layer_norm over the trailing dims D (M = their size): xh = (x - mean) rstd,
  //   dx = rstd / M (M gw' - sum gw' - xh sum(gw' xh)) with gw' = g w; dw = sum(g xh), db = sum g
  row(t, Op::LayerNorm, {.save_inputs = true, .save_outputs = true},
      [](const Ctx& c, const TensorList& g) -> TensorList {
        const auto& a = std::get<NormAttrs>(c.attrs());
        Tensor x = c.input(0), w = c.input(1), gy = g[0];
        if (!gy.defined()) return {};
        const bool has_bias = c.num_inputs() > 2;
        if (!GradMode::is_enabled() && !ops_traced()) {  // neither recorded nor traced: fused
          auto r = detail::layer_norm_backward(
              gy, x, w, c.output(1), c.output(2), a.normalized_shape,
              {c.needs_grad(0), c.needs_grad(1), has_bias && c.needs_grad(2)});
          return {in_dtype(c, 0, r[0]), in_dtype(c, 1, r[1]), in_dtype(c, 2, r[2])};
        }
        int64_t k = static_cast<int64_t>(a.normalized_shape.size());
        Dims stat_shape = x.sizes();
        Dims inner, outer;
        for (int64_t d = 0; d < x.dim(); ++d) {
          if (d >= x.dim() - k) {
            stat_shape[d] = 1;
            inner.push_back(d);
          } else {
            outer.push_back(d);
          }
        }
        Tensor mean, rstd;
        if (GradMode::is_enabled()) {  // recorded (create_graph): the statistics as functions of x
          mean = x.mean(inner, true);
          rstd = rsqrt(var(x, inner, true, 0) + a.eps);
        } else {  // traced: the forward's, which the region computed anyway
          mean = c.output(1).reshape(stat_shape);
          rstd = c.output(2).reshape(stat_shape);
        }
        Tensor xh = (x - mean) * rstd;
        Tensor gxh = w.defined() ? gy * w : gy;
        Tensor gx, gw, gb;
        if (c.needs_grad(0)) {
          double m = static_cast<double>(product(a.normalized_shape));
          gx = rstd * (gxh - sum(gxh, inner, true) / m - xh * sum(gxh * xh, inner, true) / m);
        }
        if (c.needs_grad(1)) gw = outer.empty() ? gy * xh : sum(gy * xh, outer);
        if (has_bias && c.needs_grad(2)) gb = outer.empty() ? gy : sum(gy, outer);
        return {in_dtype(c, 0, gx), in_dtype(c, 1, gw), in_dtype(c, 2, gb)};
      });
  // dropout: dx = g * mask (the mask holds 0 or 1/(1-p))
  row(t, Op::Dropout, {.save_outputs = true}, [](const Ctx& c, const TensorList& g) -> TensorList {
    if (!g[0].defined()) return {};
    return {in_dtype(c, 0, g[0] * c.output(1).detach())};  // the mask is a constant
  });
  // nll_loss: -w[t] g at each target, from the dedicated kernel
  row(t, Op::NllLoss, {.save_inputs = true}, [](const Ctx& c, const TensorList& g) -> TensorList {
    not_differentiable_input(c, 2, "nll_loss", "weight");
    TensorList in{g[0], c.input(0), c.input(1)};
    if (c.num_inputs() > 2) in.push_back(c.input(2));
    Tensor gi = dispatch(Op::NllLossBackward, std::span<const Tensor>(in), c.attrs())[0];
    TensorList out(c.num_inputs());
    out[0] = in_dtype(c, 0, gi);
    return out;
  });
  // mse_loss: d/dx (x - t)^2 = 2 (x - t), d/dt = -2 (x - t)
  row(t, Op::MseLoss, {.save_inputs = true}, [](const Ctx& c, const TensorList& g) -> TensorList {
    const auto& a = std::get<LossAttrs>(c.attrs());
    Tensor x = c.input(0), y = c.input(1);
    Tensor d = (x - y) * 2;
    Tensor gx = reduction_grad(g[0], a, d.numel()) * d;
    return {in_dtype(c, 0, sum_to(gx, c.input_sizes(0))),
            c.needs_grad(1) ? in_dtype(c, 1, sum_to(-gx, c.input_sizes(1))) : Tensor()};
  });
  // bce_with_logits, l = -w [p t log s(x) + (1 - t) log(1 - s(x))]:
  //   dl/dx = w [(p t + 1 - t) s(x) - p t],  dl/dt = -w [p log s(x) - log(1 - s(x))]
  row(t, Op::BceWithLogits, {.save_inputs = true},
      [](const Ctx& c, const TensorList& g) -> TensorList {
        const auto& a = std::get<LossAttrs>(c.attrs());
        not_differentiable_input(c, 2, "binary_cross_entropy_with_logits", "weight");
        not_differentiable_input(c, 3, "binary_cross_entropy_with_logits", "pos_weight");
        Tensor x = c.input(0), y = c.input(1);
        Tensor w = c.num_inputs() > 2 ? c.input(2) : Tensor();
        Tensor p = c.num_inputs() > 3 ? c.input(3) : Tensor();
        Tensor s = sigmoid(x);
        Tensor pt = p.defined() ? p * y : y;
        int64_t count = product(broadcast_shapes(x.sizes(), y.sizes()));
        Tensor gr = reduction_grad(g[0], a, count);
        Tensor gx, gt;
        if (c.needs_grad(0)) {
          Tensor d = (pt + 1 - y) * s - pt;
          if (w.defined()) d = d * w;
          gx = sum_to(gr * d, c.input_sizes(0));
        }
        if (c.needs_grad(1)) {
          // log s(x) = -softplus(-x), log(1 - s(x)) = -softplus(x), softplus stable
          auto softplus = [](const Tensor& v) { return clamp(v, 0.0) + log1p(exp(-abs(v))); };
          Tensor log_s = -softplus(-x), log_1ms = -softplus(x);
          Tensor d = -((p.defined() ? p * log_s : log_s) - log_1ms);
          if (w.defined()) d = d * w;
          gt = sum_to(gr * d, c.input_sizes(1));
        }
        return {in_dtype(c, 0, gx), in_dtype(c, 1, gt), Tensor(), Tensor()};
      });
  // embedding: rows of g added into a zero weight at their indices (padding_idx gets none)
  row(t, Op::Embedding, {.save_inputs = true}, [](const Ctx& c, const TensorList& g) -> TensorList {
    const auto& a = std::get<EmbeddingAttrs>(c.attrs());
    const Dims& ws = c.input_sizes(0);
    Tensor idx = c.input(1).reshape({-1});
    Tensor rows = g[0].reshape({-1, ws[1]});
    if (a.padding_idx) {
      int64_t pad = *a.padding_idx < 0 ? *a.padding_idx + ws[0] : *a.padding_idx;
      rows = rows * (idx != pad).to(rows.dtype()).unsqueeze(1);
    }
    Tensor z = zeros(ws, g[0].dtype());
    return {in_dtype(c, 0, dispatch1(Op::IndexAdd, {z, idx, rows}, DimAttrs{0})), Tensor()};
  });
  fill_nn_backward(t);
}

// Second derivatives: rows of the backward kernels, recorded when a backward runs with
// create_graph. Each kernel is linear in its incoming gradient, so the gradient's gradient is
// the kernel's adjoint, the forward op itself (as PyTorch's *_double_backward formulas); the
// inputs that only choose where values go (pooling's input, nll_loss's log-probabilities) get
// none, their second derivative being zero almost everywhere.
void fill_nn_backward(Table& t) {
  // (gy, x, w) -> (gx, gw, gb): gx = A_w^T gy and gw = dW(x, gy) are bilinear, gb = sum gy.
  //   d gy = conv2d(ggx, w) + conv2d(x, ggw) + ggb;  d x = A_ggw^T gy;  d w = dW(ggx, gy)
  row(t, Op::Conv2dBackward, {.save_inputs = true},
      [](const Ctx& c, const TensorList& g) -> TensorList {
        ConvAttrs a = std::get<ConvAttrs>(c.attrs());
        Tensor gy = c.input(0), x = c.input(1), w = c.input(2);
        auto defined = [&](size_t i) { return i < g.size() && g[i].defined(); };
        auto kernel = [&](const Tensor& out_grad, const Tensor& in, const Tensor& weight, int k) {
          ConvAttrs b = a;
          for (int i = 0; i < 3; ++i) b.output_mask[i] = i == k;
          return dispatch(Op::Conv2dBackward, {out_grad, in, weight}, b)[static_cast<size_t>(k)];
        };
        // conv2d over x's size: conv_transpose2d with output_padding >= stride calls this
        // kernel with an x larger than gy's conv2d input, whose trailing rows reach no gy.
        auto fit = [&](Tensor t) {
          for (int64_t d = t.dim() - 2; d < t.dim(); ++d)
            if (t.size(d) != gy.size(d)) t = t.narrow(d, 0, gy.size(d));
          return t;
        };
        Tensor ggy, gx, gw;
        if (c.needs_grad(0)) {
          if (defined(0)) ggy = fit(dispatch1(Op::Conv2d, {g[0], w}, a));
          if (defined(1)) {
            Tensor term = fit(dispatch1(Op::Conv2d, {x, g[1]}, a));
            ggy = ggy.defined() ? ggy + term : term;
          }
          if (defined(2)) {
            Dims cs(static_cast<size_t>(gy.dim()), 1);
            cs[gy.dim() == 4 ? 1 : 0] = g[2].numel();
            Tensor term = g[2].reshape(cs).expand(gy.sizes());
            ggy = ggy.defined() ? ggy + term : term.contiguous();
          }
        }
        if (c.needs_grad(1) && defined(1)) gx = kernel(gy, x, g[1], 0);
        if (c.needs_grad(2) && defined(0)) gw = kernel(gy, g[0], w, 1);
        return {in_dtype(c, 0, ggy), in_dtype(c, 1, gx), in_dtype(c, 2, gw)};
      });
  // (gy, x, indices) -> gx, each gradient at its window's argmax: d gy gathers ggx there
  row(t, Op::MaxPool2dBackward, {.save_inputs = true, .inputs_for = [](unsigned) { return 4u; }},
      [](const Ctx& c, const TensorList& g) -> TensorList {
        const Tensor& idx = c.input(2);
        Tensor ggy = g[0].flatten(-2).gather(-1, idx.flatten(-2)).view(idx.sizes());
        return {in_dtype(c, 0, ggy), Tensor(), Tensor()};
      });
  // (gy, x) -> gx, the transpose of average pooling: d gy is the pooling of ggx
  row(t, Op::AvgPool2dBackward, {}, [](const Ctx& c, const TensorList& g) -> TensorList {
    return {in_dtype(c, 0, dispatch1(Op::AvgPool2d, {g[0]}, c.attrs())), Tensor()};
  });
  row(t, Op::AdaptiveAvgPool2dBackward, {}, [](const Ctx& c, const TensorList& g) -> TensorList {
    return {in_dtype(c, 0, dispatch1(Op::AdaptiveAvgPool2d, {g[0]}, c.attrs())), Tensor()};
  });
  // (gy, log_probs, target[, w]) -> L^T gy, nll_loss being the linear map L of log_probs:
  // d gy = nll_loss(ggx)
  row(t, Op::NllLossBackward, {.save_inputs = true, .inputs_for = [](unsigned) { return 12u; }},
      [](const Ctx& c, const TensorList& g) -> TensorList {
        not_differentiable_input(c, 3, "nll_loss_backward", "weight");
        TensorList in{g[0], c.input(2)};
        if (c.num_inputs() > 3) in.push_back(c.input(3));
        Tensor ggy = dispatch(Op::NllLoss, std::span<const Tensor>(in), c.attrs())[0];
        TensorList out(c.num_inputs());
        out[0] = in_dtype(c, 0, ggy.reshape(c.input_sizes(0)));
        return out;
      });
}

}  // namespace rows
}  // namespace ember::autograd
