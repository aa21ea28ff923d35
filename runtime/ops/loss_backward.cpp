// nll_loss backward: -w[t] * g at each target position, zero elsewhere.
#include "runtime/ops/loops.hpp"
#include "runtime/shape.hpp"

namespace ember {
namespace {

// (grad_out, log_probs [N, C, d...] or [C], target [N, d...] or [], weight [C]?), LossAttrs.
TensorList nll_loss_backward_kernel(std::span<const Tensor> in, const Attrs& attrs) {
  const auto& a = std::get<LossAttrs>(attrs);
  const Tensor& x = in[1];
  Tensor target = in[2].contiguous();
  Tensor weight = in.size() > 3 && in[3].defined() ? cast(in[3], kFloat64).contiguous() : Tensor();
  bool unbatched = x.dim() == 1;
  int64_t n = unbatched ? 1 : x.size(0), c = unbatched ? x.size(0) : x.size(1);
  int64_t inner = unbatched ? 1 : x.numel() / std::max<int64_t>(n * c, 1);
  Tensor gi = zeros(x.sizes(), x.dtype());
  const int64_t* t = target.data_ptr<int64_t>();
  const double* w = weight.defined() ? weight.data_ptr<double>() : nullptr;
  int64_t count = n * inner;
  double total = 0;
  for (int64_t i = 0; i < count; ++i)
    if (t[i] != a.ignore_index) total += w ? w[t[i]] : 1.0;
  Tensor g = cast(in[0], kFloat64).contiguous();
  const double* gp = g.data_ptr<double>();
  visit_dtype(x.dtype(), [&](auto v) {
    using T = decltype(v);
    if constexpr (std::is_floating_point_v<T>) {
      T* o = gi.data_ptr<T>();
      for (int64_t i = 0; i < count; ++i) {
        int64_t cls = t[i];
        if (cls == a.ignore_index) continue;
        double scale = a.reduction == Reduction::None  ? gp[i]
                       : a.reduction == Reduction::Sum ? gp[0]
                                                       : gp[0] / total;
        int64_t img = i / inner, pos = i % inner;
        o[(img * c + cls) * inner + pos] = static_cast<T>(-(w ? w[cls] : 1.0) * scale);
      }
    }
  });
  return {gi};
}

}  // namespace

namespace detail {
void register_loss_backward_kernels() {
  register_kernel(Op::NllLossBackward, nll_loss_backward_kernel);
}
}  // namespace detail

}  // namespace ember
