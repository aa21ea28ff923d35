// Pooling backward kernels: route or spread each output gradient back over its window.
#include <cmath>

#include "runtime/ops/loops.hpp"
#include "runtime/shape.hpp"

namespace ember {
namespace {

// Leading dims (N, C or just C) flattened to planes of h x w.
struct Planes {
  int64_t count, h, w, oh, ow;
};

Planes planes_of(const Tensor& input, const Tensor& grad_out) {
  int64_t d = input.dim();
  return {input.numel() / std::max<int64_t>(input.size(-2) * input.size(-1), 1) *
              (input.numel() == 0 ? 0 : 1),
          input.size(d - 2), input.size(d - 1), grad_out.size(-2), grad_out.size(-1)};
}

template <class F>
TensorList per_plane(const Tensor& grad_out, const Tensor& input, F&& body) {
  Tensor gy = cast(grad_out, input.dtype()).contiguous();
  Tensor gi = zeros(input.sizes(), input.dtype());
  Planes p = planes_of(input, gy);
  if (p.count == 0) return {gi};
  visit_dtype(input.dtype(), [&](auto v) {
    using T = decltype(v);
    if constexpr (std::is_floating_point_v<T>) {
      const T* g = gy.data_ptr<T>();
      T* o = gi.data_ptr<T>();
      parallel_for(0, p.count, 1, [&](int64_t b, int64_t e) {
        for (int64_t q = b; q < e; ++q) body(g + q * p.oh * p.ow, o + q * p.h * p.w, q, p);
      });
    }
  });
  return {gi};
}

// (grad_out, input, indices): each gradient goes to its window's argmax (flat h*w index).
TensorList max_pool_backward_kernel(std::span<const Tensor> in, const Attrs&) {
  Tensor idx = in[2].contiguous();
  const int64_t* ip = idx.data_ptr<int64_t>();
  return per_plane(in[0], in[1], [&](const auto* g, auto* o, int64_t q, const Planes& p) {
    const int64_t* qi = ip + q * p.oh * p.ow;
    for (int64_t k = 0; k < p.oh * p.ow; ++k) o[qi[k]] += g[k];
  });
}

// (grad_out, input): each gradient spread over its window with the forward's divisor.
TensorList avg_pool_backward_kernel(std::span<const Tensor> in, const Attrs& attrs) {
  const auto& a = std::get<PoolAttrs>(attrs);
  return per_plane(in[0], in[1], [&](const auto* g, auto* o, int64_t, const Planes& p) {
    using T = std::remove_const_t<std::remove_pointer_t<decltype(g)>>;
    for (int64_t y = 0; y < p.oh; ++y)
      for (int64_t x = 0; x < p.ow; ++x) {
        int64_t y0 = y * a.stride[0] - a.padding[0], x0 = x * a.stride[1] - a.padding[1];
        int64_t y1 = std::min(y0 + a.kernel[0], p.h + a.padding[0]);
        int64_t x1 = std::min(x0 + a.kernel[1], p.w + a.padding[1]);
        int64_t pool = (y1 - y0) * (x1 - x0);
        y0 = std::max<int64_t>(y0, 0);
        x0 = std::max<int64_t>(x0, 0);
        y1 = std::min(y1, p.h);
        x1 = std::min(x1, p.w);
        if (y0 >= y1 || x0 >= x1) continue;
        int64_t div = a.divisor_override    ? *a.divisor_override
                      : a.count_include_pad ? pool
                                            : (y1 - y0) * (x1 - x0);
        T share = g[y * p.ow + x] / static_cast<T>(div);
        for (int64_t iy = y0; iy < y1; ++iy)
          for (int64_t ix = x0; ix < x1; ++ix) o[iy * p.w + ix] += share;
      }
  });
}

// (grad_out, input): windows [floor(i*H/oh), ceil((i+1)*H/oh)) as the forward.
TensorList adaptive_avg_pool_backward_kernel(std::span<const Tensor> in, const Attrs&) {
  return per_plane(in[0], in[1], [&](const auto* g, auto* o, int64_t, const Planes& p) {
    using T = std::remove_const_t<std::remove_pointer_t<decltype(g)>>;
    for (int64_t y = 0; y < p.oh; ++y) {
      int64_t y0 = y * p.h / p.oh, y1 = ((y + 1) * p.h + p.oh - 1) / p.oh;
      for (int64_t x = 0; x < p.ow; ++x) {
        int64_t x0 = x * p.w / p.ow, x1 = ((x + 1) * p.w + p.ow - 1) / p.ow;
        T share = g[y * p.ow + x] / static_cast<T>((y1 - y0) * (x1 - x0));
        for (int64_t iy = y0; iy < y1; ++iy)
          for (int64_t ix = x0; ix < x1; ++ix) o[iy * p.w + ix] += share;
      }
    }
  });
}

}  // namespace

namespace detail {
void register_pool_backward_kernels() {
  register_kernel(Op::MaxPool2dBackward, max_pool_backward_kernel);
  register_kernel(Op::AvgPool2dBackward, avg_pool_backward_kernel);
  register_kernel(Op::AdaptiveAvgPool2dBackward, adaptive_avg_pool_backward_kernel);
}
}  // namespace detail

}  // namespace ember
