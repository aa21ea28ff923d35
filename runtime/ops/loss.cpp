// Loss kernels: nll_loss (class weights, ignore_index, spatial targets), mse_loss and
// binary_cross_entropy_with_logits (weight, pos_weight), each with none/sum/mean reduction.
#include <array>
#include <cmath>
#include <vector>

#include "runtime/ops/loops.hpp"
#include "runtime/shape.hpp"

namespace ember {
namespace {

// Sums K quantities, term(i, acc) adding element i's share into acc[0..K), over fixed blocks in
// parallel, then the block sums in order: accurate (double) and independent of thread count.
template <size_t K, class F>
std::array<double, K> blocked_sum(int64_t n, F term) {
  constexpr int64_t kBlock = 2048;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<std::array<double, K>> part(static_cast<size_t>(blocks));
  parallel_for(0, blocks, std::max<int64_t>(1, kGrainSize / kBlock), [&](int64_t b, int64_t e) {
    for (int64_t blk = b; blk < e; ++blk) {
      std::array<double, K> acc{};
      const int64_t end = std::min(n, (blk + 1) * kBlock);
      for (int64_t i = blk * kBlock; i < end; ++i) term(i, acc);
      part[blk] = acc;
    }
  });
  std::array<double, K> total{};
  for (const auto& p : part)
    for (size_t k = 0; k < K; ++k) total[k] += p[k];
  return total;
}

// A 0-d tensor of dtype d holding v.
Tensor scalar_of(double v, DType d) {
  Tensor t = make_tensor({}, d);
  visit_dtype(d, [&](auto x) {
    using T = decltype(x);
    *t.data_ptr<T>() = static_cast<T>(v);
  });
  return t;
}

// The reduced loss of an elementwise loss tensor (contiguous), or the tensor itself for None.
Tensor reduce_elementwise(const Tensor& loss, Reduction r) {
  if (r == Reduction::None) return loss;
  const int64_t n = loss.numel();
  double total = visit_dtype(loss.dtype(), [&](auto z) -> double {
    using T = decltype(z);
    const T* p = loss.data_ptr<T>();
    return blocked_sum<1>(
        n, [p](int64_t i, std::array<double, 1>& acc) { acc[0] += static_cast<double>(p[i]); })[0];
  });
  if (r == Reduction::Mean) total /= static_cast<double>(n);  // 0/0: NaN, as PyTorch
  return scalar_of(total, loss.dtype());
}

// True when a tensor of shape `from` broadcasts to exactly `to`.
bool broadcasts_to(const Dims& from, const Dims& to) {
  if (from.size() > to.size()) return false;
  const size_t off = to.size() - from.size();
  for (size_t d = 0; d < from.size(); ++d)
    if (from[d] != 1 && from[d] != to[off + d]) return false;
  return true;
}

DType floating_result(const Tensor& a, const Tensor& b, const char* op) {
  DType d = result_type(a, b);
  EMBER_CHECK(is_floating(d), DTypeError, op, ": expected floating point inputs, got ",
              dtype_name(a.dtype()), " and ", dtype_name(b.dtype()));
  return d;
}

// ---- nll_loss ----

TensorList nll_loss_kernel(std::span<const Tensor> in, const Attrs& attrs) {
  NoGradGuard no_grad;  // casts and copies below are internal, not graph edges
  const auto& a = std::get<LossAttrs>(attrs);
  const Tensor& input = in[0];
  const Tensor& target = in[1];
  const Tensor weight = in.size() > 2 ? in[2] : Tensor();
  EMBER_CHECK(input.defined() && target.defined(), Error, "nll_loss: an input is undefined");
  EMBER_CHECK(is_floating(input.dtype()), DTypeError,
              "nll_loss: expected floating point log-probabilities, got ",
              dtype_name(input.dtype()));
  EMBER_CHECK(target.dtype() == kInt64, DTypeError,
              "nll_loss: expected target of dtype int64 (class indices), got ",
              dtype_name(target.dtype()));
  const int64_t dim = input.dim();
  EMBER_CHECK(dim >= 1, ShapeError,
              "nll_loss: expected input of shape [C], [N, C] or "
              "[N, C, d1, ...], got a 0-d tensor");
  int64_t N = 1, C = 0, S = 1;
  if (dim == 1) {
    C = input.size(0);
    EMBER_CHECK(target.dim() == 0, ShapeError, "nll_loss: an input of shape ", input.sizes(),
                " expects a 0-d target, got target of shape ", target.sizes());
  } else {
    N = input.size(0);
    C = input.size(1);
    Dims expected{N};
    for (int64_t d = 2; d < dim; ++d) {
      expected.push_back(input.size(d));
      S *= input.size(d);
    }
    EMBER_CHECK(target.dim() >= 1 && target.size(0) == N, ShapeError,
                "nll_loss: Expected input batch_size (", N, ") to match target batch_size (",
                target.dim() ? target.size(0) : 0, "), input ", input.sizes(), ", target ",
                target.sizes());
    EMBER_CHECK(target.sizes() == expected, ShapeError, "nll_loss: expected target of shape ",
                expected, " for input of shape ", input.sizes(), ", got ", target.sizes());
  }
  std::vector<double> w;
  if (weight.defined()) {
    EMBER_CHECK(weight.numel() == C, ShapeError,
                "nll_loss: weight tensor should be defined either for all ", C,
                " classes or no classes but got weight tensor of shape: ", weight.sizes());
    EMBER_CHECK(is_floating(weight.dtype()), DTypeError,
                "nll_loss: expected a floating point weight, got ", dtype_name(weight.dtype()));
    w = weight.to_vector<double>();
  }
  Tensor x = input.contiguous(), t = target.contiguous();
  const int64_t* pt = t.data_ptr<int64_t>();
  const int64_t m = N * S;  // number of targets
  const int64_t ignore = a.ignore_index;
  for (int64_t i = 0; i < m; ++i)
    EMBER_CHECK(pt[i] == ignore || (pt[i] >= 0 && pt[i] < C), IndexError, "nll_loss: Target ",
                pt[i], " is out of bounds (expected a class index in [0, ", C, ") for ", C,
                " classes)");
  const double* pw = w.empty() ? nullptr : w.data();
  Tensor out;
  visit_dtype(x.dtype(), [&](auto z) {
    using T = decltype(z);
    if constexpr (std::is_floating_point_v<T>) {
      const T* px = x.data_ptr<T>();
      // Target i = n * S + s picks input[n, t, s].
      auto value = [=](int64_t i) { return px[((i / S) * C + pt[i]) * S + i % S]; };
      if (a.reduction == Reduction::None) {
        out = make_tensor(target.sizes(), x.dtype());
        T* po = out.data_ptr<T>();
        parallel_for(0, m, kGrainSize, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i)
            po[i] = pt[i] == ignore ? T(0) : static_cast<T>(-(pw ? pw[pt[i]] : 1.0) * value(i));
        });
        return;
      }
      auto sums = blocked_sum<2>(m, [&](int64_t i, std::array<double, 2>& acc) {
        if (pt[i] == ignore) return;
        double wi = pw ? pw[pt[i]] : 1.0;
        acc[0] -= wi * static_cast<double>(value(i));
        acc[1] += wi;
      });
      double loss = a.reduction == Reduction::Sum ? sums[0] : sums[0] / sums[1];
      out = scalar_of(loss, x.dtype());
    }
  });
  return {out};
}

// ---- mse_loss ----

TensorList mse_loss_kernel(std::span<const Tensor> in, const Attrs& attrs) {
  NoGradGuard no_grad;  // casts and copies below are internal, not graph edges
  const auto& a = std::get<LossAttrs>(attrs);
  EMBER_CHECK(in[0].defined() && in[1].defined(), Error, "mse_loss: an input is undefined");
  DType dt = floating_result(in[0], in[1], "mse_loss");
  Dims shape = broadcast_shapes(in[0].sizes(), in[1].sizes(), "mse_loss");
  Tensor x = cast(in[0], dt), y = cast(in[1], dt);
  Tensor loss = make_tensor(shape, dt);
  visit_dtype(dt, [&](auto z) {
    using T = decltype(z);
    if constexpr (std::is_floating_point_v<T>)
      loops::for_each<T, T, T>(loss, {&x, &y}, [](T u, T v) {
        T d = u - v;
        return d * d;
      });
  });
  return {reduce_elementwise(loss, a.reduction)};
}

// ---- binary_cross_entropy_with_logits ----

TensorList bce_with_logits_kernel(std::span<const Tensor> in, const Attrs& attrs) {
  NoGradGuard no_grad;  // casts and copies below are internal, not graph edges
  const auto& a = std::get<LossAttrs>(attrs);
  const Tensor& input = in[0];
  const Tensor& target = in[1];
  const Tensor weight = in.size() > 2 ? in[2] : Tensor();
  const Tensor pos_weight = in.size() > 3 ? in[3] : Tensor();
  const char* name = "binary_cross_entropy_with_logits";
  EMBER_CHECK(input.defined() && target.defined(), Error, name, ": an input is undefined");
  EMBER_CHECK(target.sizes() == input.sizes(), ValueError, name, ": Target size (", target.sizes(),
              ") must be the same as input size (", input.sizes(), ")");
  DType dt = floating_result(input, target, name);
  const Dims& shape = input.sizes();
  Tensor extra[2];
  for (int k = 0; k < 2; ++k) {
    const Tensor& t = k == 0 ? weight : pos_weight;
    const char* what = k == 0 ? "weight" : "pos_weight";
    if (!t.defined()) {
      extra[k] = scalar_of(1.0, dt);
      continue;
    }
    EMBER_CHECK(is_floating(t.dtype()), DTypeError, name, ": expected a floating point ", what,
                ", got ", dtype_name(t.dtype()));
    EMBER_CHECK(broadcasts_to(t.sizes(), shape), ShapeError, name, ": ", what, " of shape ",
                t.sizes(), " cannot be broadcast to the input's shape ", shape);
    extra[k] = cast(t, dt);
  }
  Tensor x = cast(input, dt), y = cast(target, dt);
  Tensor loss = make_tensor(shape, dt);
  visit_dtype(dt, [&](auto z) {
    using T = decltype(z);
    if constexpr (std::is_floating_point_v<T>) {
      // (1 - y) x + (1 + (pw - 1) y) (log1p(exp(-|x|)) + max(-x, 0)): never exp of a positive.
      loops::for_each<T, T, T, T, T>(
          loss, {&x, &y, &extra[0], &extra[1]},
          [](T u, T v, T w, T pw) {
            T log_weight = T(1) + (pw - T(1)) * v;
            T softplus = std::log1p(std::exp(-std::abs(u))) + std::max(-u, T(0));
            return ((T(1) - v) * u + log_weight * softplus) * w;
          },
          4096);
    }
  });
  return {reduce_elementwise(loss, a.reduction)};
}

}  // namespace

namespace detail {
void register_loss_kernels() {
  register_kernel(Op::NllLoss, nll_loss_kernel);
  register_kernel(Op::MseLoss, mse_loss_kernel);
  register_kernel(Op::BceWithLogits, bce_with_logits_kernel);
}
}  // namespace detail

}  // namespace ember
