// Every op of the op table (runtime/op_table.hpp) through a jit::Region, as the gradcheck table
// walks every op through autograd: each op has a case here (a new op without one fails the first
// test), and each case runs eagerly, then in a region past hot detection, the first compile and
// the tier-up; every run must give eager's outputs, eager's values in the tensors it writes and
// eager's version counters. Ops the table fuses must really have run fused.
#include <functional>
#include <map>

#include "jit/jit_support.hpp"
#include "support/reference.hpp"

using namespace ember;
namespace F = ember::nn::functional;

namespace {

using Tensors = std::vector<Tensor>;
struct Case {
  std::function<Tensors()> make;               // fresh inputs (the same values every call)
  std::function<Tensors(const Tensors&)> run;  // the results to compare (writes included)
};

Tensor rn(const Dims& s, uint64_t seed, DType d = kFloat32) {
  return test::seeded_randn(s, seed, d);
}
// Positive values, for log, sqrt and friends.
Tensor pos(const Dims& s, uint64_t seed) { return test::seeded_randn(s, seed).abs() + 0.5; }
Tensor idx(std::vector<int64_t> v) { return tensor(v); }
// Values with ties between the two (for eq and ne): multiples of 0.5.
Tensor ties(const Dims& s, int mod) {
  std::vector<float> v(static_cast<size_t>(product(s)));
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = 0.5f * static_cast<float>(i % static_cast<size_t>(mod));
  return tensor(v, s);
}

Case unary(Tensor (*f)(const Tensor&), bool positive = false) {
  return {[=] { return Tensors{positive ? pos({5, 7}, 1) : rn({5, 7}, 1)}; },
          [=](const Tensors& in) { return Tensors{f(in[0] * 1.5)}; }};
}
Case binary(Tensor (*f)(const Tensor&, const Tensor&), bool positive = false) {
  return {[=] { return Tensors{positive ? pos({5, 7}, 1) : rn({5, 7}, 1), rn({7}, 2)}; },
          [=](const Tensors& in) { return Tensors{f(in[0], in[1] * 0.5)}; }};
}
// A backward kernel, reached through autograd: the grads of `f`'s inputs.
Case backward(std::function<Tensors()> make, std::function<Tensor(const Tensors&)> f) {
  return {make, [f](const Tensors& in) {
            Tensor loss = f(in);
            loss.backward();
            Tensors grads;
            for (const Tensor& t : in)
              if (t.requires_grad()) grads.push_back(t.grad());
            return grads;
          }};
}
Tensor leaf(Tensor t) { return t.requires_grad_(); }

std::map<Op, Case> cases() {
  std::map<Op, Case> c;
  c[Op::Neg] = unary(neg);
  c[Op::Abs] = unary(abs);
  c[Op::Exp] = unary(exp);
  c[Op::Log] = unary(log, true);
  c[Op::Log1p] = unary(log1p, true);
  c[Op::Expm1] = unary(expm1);
  c[Op::Sqrt] = unary(sqrt, true);
  c[Op::Rsqrt] = unary(rsqrt, true);
  c[Op::Sin] = unary(sin);
  c[Op::Cos] = unary(cos);
  c[Op::Tanh] = unary(tanh);
  c[Op::Sigmoid] = unary(sigmoid);
  c[Op::Relu] = unary(relu);
  c[Op::Silu] = unary(silu);
  c[Op::Erf] = unary(erf);
  c[Op::Gelu] = {[] { return Tensors{rn({5, 7}, 1)}; },
                 [](const Tensors& in) { return Tensors{gelu(in[0]), gelu(in[0] * 2, "tanh")}; }};
  c[Op::Sign] = unary(sign);
  c[Op::Softplus] = {[] { return Tensors{rn({5, 7}, 1)}; },
                     [](const Tensors& in) { return Tensors{softplus(in[0] * 30)}; }};
  c[Op::LogicalNot] = {[] { return Tensors{rn({5, 7}, 1)}; },
                       [](const Tensors& in) { return Tensors{logical_not(in[0] > 0)}; }};
  c[Op::Clamp] = {[] { return Tensors{rn({5, 7}, 1)}; },
                  [](const Tensors& in) {
                    return Tensors{clamp(in[0], -0.5, 0.5), clamp(in[0] * 2, std::nullopt, 1.0)};
                  }};
  c[Op::LeakyRelu] = {[] { return Tensors{rn({5, 7}, 1)}; },
                      [](const Tensors& in) {  // two slopes: two kernels, never one shared
                        return Tensors{leaky_relu(in[0], 0.2), leaky_relu(in[0] * 2, 0.01) + 1};
                      }};
  c[Op::Elu] = {[] { return Tensors{rn({5, 7}, 1)}; },
                [](const Tensors& in) { return Tensors{elu(in[0] * 2, 0.5)}; }};
  c[Op::Hardtanh] = {[] { return Tensors{rn({5, 7}, 1)}; },
                     [](const Tensors& in) {
                       return Tensors{hardtanh(in[0] * 2), hardtanh(in[0], -0.25, 0.5) * 3};
                     }};
  c[Op::Mish] = unary(mish);
  c[Op::Hardswish] = {[] { return Tensors{rn({5, 7}, 1)}; },
                      [](const Tensors& in) { return Tensors{hardswish(in[0] * 4)}; }};
  // add, sub, mul, div: also their in-place forms (the fast path writes a third operand)
  c[Op::Add] = {[] { return Tensors{rn({5, 7}, 1), rn({7}, 2), rn({5, 7}, 3)}; },
                [](const Tensors& in) {
                  in[2].add_(in[0] * 2);
                  in[2] += 1;
                  return Tensors{add(in[0], in[1], 0.25), in[0] + 3, in[2]};
                }};
  c[Op::Sub] = {[] { return Tensors{rn({5, 7}, 1), rn({7}, 2), rn({5, 7}, 3)}; },
                [](const Tensors& in) {
                  in[2].sub_(in[1], 0.5);
                  in[2] -= in[0];
                  return Tensors{sub(in[0], in[1]), 2 - in[0], in[2]};
                }};
  c[Op::Mul] = {[] { return Tensors{rn({5, 7}, 1), rn({7}, 2), rn({5, 7}, 3)}; },
                [](const Tensors& in) {
                  in[2].mul_(in[1]);
                  in[2] *= 0.5;
                  return Tensors{in[0] * in[1], in[2]};
                }};
  c[Op::Div] = {[] { return Tensors{rn({5, 7}, 1), pos({7}, 2), rn({5, 7}, 3)}; },
                [](const Tensors& in) {
                  in[2].div_(in[1]);
                  in[2] /= 4;
                  return Tensors{in[0] / in[1], 1 / in[1], in[2]};
                }};
  c[Op::Pow] = {
      [] { return Tensors{pos({5, 7}, 1), rn({7}, 2)}; },
      [](const Tensors& in) { return Tensors{pow(in[0], in[1]), pow(in[0], 3), pow(2.0, in[1])}; }};
  c[Op::Maximum] = binary(maximum);
  c[Op::Minimum] = binary(minimum);
  c[Op::Eq] = {[] { return Tensors{ties({5, 7}, 3), ties({7}, 2)}; },
               [](const Tensors& in) { return Tensors{eq(in[0], in[1]), in[0] == 0.5}; }};
  c[Op::Ne] = {[] { return Tensors{ties({5, 7}, 3), ties({7}, 2)}; },
               [](const Tensors& in) { return Tensors{ne(in[0], in[1]), in[0] != 0.5}; }};
  c[Op::Lt] = binary(lt);
  c[Op::Le] = binary(le);
  c[Op::Gt] = binary(gt);
  c[Op::Ge] = binary(ge);
  c[Op::LogicalAnd] = {[] { return Tensors{rn({5, 7}, 1), rn({7}, 2)}; },
                       [](const Tensors& in) { return Tensors{(in[0] > 0) && (in[1] > 0)}; }};
  c[Op::LogicalOr] = {[] { return Tensors{rn({5, 7}, 1), rn({7}, 2)}; },
                      [](const Tensors& in) { return Tensors{(in[0] > 0) || (in[1] > 0)}; }};
  c[Op::Where] = {
      [] { return Tensors{rn({5, 7}, 1), rn({7}, 2)}; },
      [](const Tensors& in) { return Tensors{where(in[0] > in[1], in[0], in[1] * 2)}; }};
  c[Op::ToDtype] = {[] { return Tensors{rn({5, 7}, 1), rn({7}, 2, kFloat64)}; },
                    [](const Tensors& in) {
                      return Tensors{(in[0] * 2).to(kFloat64) + in[1], (in[0] > 0).to(kFloat32)};
                    }};
  c[Op::Clone] = {[] { return Tensors{rn({5, 7}, 1)}; },
                  [](const Tensors& in) { return Tensors{(in[0] * 2).t().contiguous()}; }};
  c[Op::Copy_] = {[] { return Tensors{rn({5, 7}, 1), rn({7}, 2, kFloat64), zeros({5, 7})}; },
                  [](const Tensors& in) {
                    Tensor a = in[0] * 1;  // a value of the region, then overwritten
                    a.copy_(in[1]);        // broadcast, converted
                    in[2].copy_(a * 3);
                    in[0].copy_(in[0].t().t() + 1);
                    return Tensors{a, in[2], in[0]};
                  }};
  c[Op::Fill_] = {[] { return Tensors{rn({5, 7}, 1), rn({3}, 2)}; },
                  [](const Tensors& in) {
                    Tensor before = in[0] * 1;
                    in[0].fill_(0.75);
                    in[1].zero_();
                    return Tensors{before, in[0] + in[1].sum(), in[0], in[1]};
                  }};
  c[Op::Sum] = {[] { return Tensors{rn({5, 7}, 1)}; },
                [](const Tensors& in) { return Tensors{sum(in[0] * 2, {1}), sum(in[0])}; }};
  c[Op::Mean] = {[] { return Tensors{rn({5, 7}, 1)}; },
                 [](const Tensors& in) { return Tensors{mean(in[0], {0}, true)}; }};
  c[Op::Amax] = {[] { return Tensors{rn({5, 7}, 1)}; },
                 [](const Tensors& in) { return Tensors{amax(in[0], {1})}; }};
  c[Op::Amin] = {[] { return Tensors{rn({5, 7}, 1)}; },
                 [](const Tensors& in) { return Tensors{amin(exp(in[0]), {0})}; }};
  c[Op::Prod] = {[] { return Tensors{rn({5, 7}, 1)}; },
                 [](const Tensors& in) { return Tensors{prod(in[0] + 1, {1})}; }};
  c[Op::Var] = {[] { return Tensors{rn({5, 7}, 1)}; },
                [](const Tensors& in) { return Tensors{var(in[0] * 2, {1})}; }};
  c[Op::Std] = {[] { return Tensors{rn({5, 7}, 1)}; },
                [](const Tensors& in) { return Tensors{ember::std(in[0], {0}, true, 0)}; }};
  c[Op::Logsumexp] = {[] { return Tensors{rn({5, 7}, 1)}; },
                      [](const Tensors& in) { return Tensors{logsumexp(in[0], {1})}; }};
  c[Op::MaxDim] = {[] { return Tensors{rn({5, 7}, 1)}; },
                   [](const Tensors& in) {
                     auto r = max(in[0] * 2, 1);
                     return Tensors{r.values, r.indices};
                   }};
  c[Op::MinDim] = {[] { return Tensors{rn({5, 7}, 1)}; },
                   [](const Tensors& in) {
                     auto r = min(in[0], 0, true);
                     return Tensors{r.values, r.indices};
                   }};
  c[Op::Argmax] = {[] { return Tensors{rn({5, 7}, 1)}; },
                   [](const Tensors& in) { return Tensors{argmax(in[0] + 1), argmax(in[0], 1)}; }};
  c[Op::Argmin] = {[] { return Tensors{rn({5, 7}, 1)}; },
                   [](const Tensors& in) { return Tensors{argmin(in[0], 0)}; }};
  // views: read, and written through (the base and the other views see the write)
  c[Op::View] = {[] { return Tensors{rn({4, 6}, 1)}; },
                 [](const Tensors& in) {
                   Tensor v = in[0].view({24});
                   v.add_(1);
                   return Tensors{in[0] * 2, v.view({6, 4}) + 0, in[0]};
                 }};
  c[Op::Expand] = {[] { return Tensors{rn({1, 6}, 1)}; },
                   [](const Tensors& in) { return Tensors{in[0].expand({4, 6}) * 2}; }};
  c[Op::Permute] = {[] { return Tensors{rn({4, 6}, 1)}; },
                    [](const Tensors& in) {
                      Tensor y = in[0] * 2;
                      y.t().mul_(3);
                      in[0].t().add_(1);
                      return Tensors{y.permute({1, 0}) + 1, y, in[0]};
                    }};
  c[Op::Slice] = {[] { return Tensors{rn({4, 6}, 1)}; },
                  [](const Tensors& in) {
                    Tensor y = in[0] + 1;
                    y.narrow(1, 2, 3).fill_(0);
                    in[0].slice(0, 1, 4, 2).mul_(-1);
                    return Tensors{y, in[0].slice(1, 0, 6, 2) * 2, in[0]};
                  }};
  c[Op::Select] = {[] { return Tensors{rn({4, 6}, 1)}; },
                   [](const Tensors& in) {
                     in[0][1].add_(10);
                     Tensor row = in[0][2];
                     row.copy_(in[0][1] * 2);
                     return Tensors{in[0], row + 1};
                   }};
  c[Op::Cat] = {[] { return Tensors{rn({2, 3}, 1), rn({4, 3}, 2)}; },
                [](const Tensors& in) { return Tensors{cat({in[0] * 2, in[1]}, 0) + 1}; }};
  c[Op::IndexSelect] = {
      [] { return Tensors{rn({5, 3}, 1), idx({4, 0, 0, 2})}; },
      [](const Tensors& in) { return Tensors{index_select(in[0] * 2, 0, in[1])}; }};
  c[Op::Gather] = {
      [] { return Tensors{rn({3, 4}, 1), tensor(std::vector<int64_t>{0, 3, 1}, {3, 1})}; },
      [](const Tensors& in) { return Tensors{gather(in[0] + 1, 1, in[1])}; }};
  c[Op::Sort] = {[] { return Tensors{rn({4, 6}, 1)}; },
                 [](const Tensors& in) {
                   auto [v, i] = sort(in[0] * 2, 1, true);
                   return Tensors{v + 1, i, argsort(in[0], 0)};
                 }};
  c[Op::Topk] = {[] { return Tensors{rn({4, 6}, 1)}; },
                 [](const Tensors& in) {
                   auto [v, i] = (in[0] + 1).topk(3);
                   return Tensors{v * 2, i};
                 }};
  c[Op::Cumsum] = {[] { return Tensors{rn({4, 6}, 1)}; },
                   [](const Tensors& in) { return Tensors{cumsum(in[0] * 2, 1) + 1}; }};
  c[Op::Cumprod] = {[] { return Tensors{rn({4, 6}, 1)}; },
                    [](const Tensors& in) { return Tensors{cumprod(in[0] + 1, 0) * 2}; }};
  c[Op::Scatter] = {[] { return Tensors{rn({3, 4}, 1), rn({3, 2}, 2)}; },
                    [](const Tensors& in) {
                      Tensor i = tensor(std::vector<int64_t>{0, 3, 2, 2, 1, 0}, {3, 2});
                      return Tensors{scatter(in[0] * 2, 1, i, in[1]) + 1};
                    }};
  c[Op::Matmul] = {[] { return Tensors{rn({5, 7}, 1), rn({7, 3}, 2)}; },
                   [](const Tensors& in) { return Tensors{relu(matmul(in[0] * 2, in[1]) + 1)}; }};
  c[Op::Conv2d] = {[] { return Tensors{rn({2, 3, 6, 6}, 1), rn({4, 3, 3, 3}, 2)}; },
                   [](const Tensors& in) { return Tensors{F::conv2d(in[0] * 2, in[1]) + 1}; }};
  c[Op::MaxPool2d] = {[] { return Tensors{rn({2, 3, 6, 6}, 1)}; },
                      [](const Tensors& in) { return Tensors{F::max_pool2d(in[0] + 1, 2)}; }};
  c[Op::AvgPool2d] = {[] { return Tensors{rn({2, 3, 6, 6}, 1)}; },
                      [](const Tensors& in) { return Tensors{F::avg_pool2d(in[0] * 3, 3)}; }};
  c[Op::AdaptiveAvgPool2d] = {
      [] { return Tensors{rn({2, 3, 6, 6}, 1)}; },
      [](const Tensors& in) { return Tensors{F::adaptive_avg_pool2d(in[0] * 3, {2, 3})}; }};
  c[Op::BatchNorm] = {[] { return Tensors{rn({4, 3, 5}, 1), zeros({3}), ones({3})}; },
                      [](const Tensors& in) {  // training: the running stats are written
                        Tensor y =
                            F::batch_norm(in[0] * 2, in[1], in[2], {}, {}, {.training = true});
                        return Tensors{y + 1, in[1], in[2]};
                      }};
  c[Op::LayerNorm] = {
      [] { return Tensors{rn({4, 6}, 1), rn({6}, 2)}; },
      [](const Tensors& in) { return Tensors{F::layer_norm(in[0] + 1, {6}, in[1])}; }};
  c[Op::Dropout] = {[] { return Tensors{rn({4, 6}, 1)}; },
                    [](const Tensors& in) {
                      manual_seed(5);  // the same draws eagerly and in the region
                      return Tensors{F::dropout(in[0] * 2, {.p = 0.3})};
                    }};
  c[Op::Softmax] = {[] { return Tensors{rn({4, 6}, 1)}; },
                    [](const Tensors& in) { return Tensors{softmax(in[0] * 2, -1)}; }};
  c[Op::LogSoftmax] = {[] { return Tensors{rn({4, 6}, 1)}; },
                       [](const Tensors& in) { return Tensors{log_softmax(in[0], 0)}; }};
  c[Op::NllLoss] = {
      [] { return Tensors{rn({4, 6}, 1), idx({1, 0, 5, 2})}; },
      [](const Tensors& in) { return Tensors{F::nll_loss(log_softmax(in[0], 1), in[1])}; }};
  c[Op::MseLoss] = {[] { return Tensors{rn({4, 6}, 1), rn({4, 6}, 2)}; },
                    [](const Tensors& in) { return Tensors{F::mse_loss(in[0] * 2, in[1])}; }};
  c[Op::BceWithLogits] = {
      [] { return Tensors{rn({4, 6}, 1), rn({4, 6}, 2).sigmoid()}; },
      [](const Tensors& in) { return Tensors{F::binary_cross_entropy_with_logits(in[0], in[1])}; }};
  c[Op::Embedding] = {[] { return Tensors{rn({5, 3}, 1), idx({4, 0, 4, 2})}; },
                      [](const Tensors& in) { return Tensors{F::embedding(in[1], in[0] * 2)}; }};
  c[Op::ScatterAdd] = backward([] { return Tensors{leaf(rn({3, 4}, 1))}; },
                               [](const Tensors& in) {
                                 Tensor i = tensor(std::vector<int64_t>{0, 3, 3}, {3, 1});
                                 return gather(in[0], 1, i).sum();
                               });
  c[Op::IndexAdd] = backward(
      [] { return Tensors{leaf(rn({5, 3}, 1))}; },
      [](const Tensors& in) { return (index_select(in[0], 0, idx({4, 0, 0})) * 2).sum(); });
  c[Op::Conv2dBackward] =
      backward([] { return Tensors{leaf(rn({2, 3, 6, 6}, 1)), leaf(rn({4, 3, 3, 3}, 2))}; },
               [](const Tensors& in) { return F::conv2d(in[0], in[1]).sum(); });
  c[Op::MaxPool2dBackward] =
      backward([] { return Tensors{leaf(rn({2, 3, 6, 6}, 1))}; },
               [](const Tensors& in) { return F::max_pool2d(in[0], 2).sum(); });
  c[Op::AvgPool2dBackward] =
      backward([] { return Tensors{leaf(rn({2, 3, 6, 6}, 1))}; },
               [](const Tensors& in) { return (F::avg_pool2d(in[0], 3) * 2).sum(); });
  c[Op::AdaptiveAvgPool2dBackward] =
      backward([] { return Tensors{leaf(rn({2, 3, 6, 6}, 1))}; },
               [](const Tensors& in) { return F::adaptive_avg_pool2d(in[0], {2, 3}).sum(); });
  c[Op::NllLossBackward] = backward(
      [] { return Tensors{leaf(rn({4, 6}, 1))}; },
      [](const Tensors& in) { return F::nll_loss(log_softmax(in[0], 1), idx({1, 0, 5, 2})); });
  c[Op::BatchNormBackward] = backward(
      [] { return Tensors{leaf(rn({4, 3, 5}, 1)), leaf(ones({3})), leaf(zeros({3}))}; },
      [](const Tensors& in) {
        return (F::batch_norm(in[0], {}, {}, in[1], in[2], {.training = true}) * rn({4, 3, 5}, 3))
            .sum();
      });
  return c;
}

// a and b agree: same sizes and dtype, values within float rounding (exactly for integers and
// bools), NaN where the other has NaN.
void require_same(const Tensor& a, const Tensor& b, const std::string& what) {
  INFO(what);
  REQUIRE(a.defined() == b.defined());
  if (!a.defined()) return;
  REQUIRE(a.sizes() == b.sizes());
  REQUIRE(a.dtype() == b.dtype());
  std::vector<double> x = test::values(a), y = test::values(b);
  for (size_t i = 0; i < x.size(); ++i) {
    INFO("element " << i << ": " << x[i] << " vs eager " << y[i]);
    if (std::isnan(y[i]))
      REQUIRE(std::isnan(x[i]));
    else
      REQUIRE(std::abs(x[i] - y[i]) <= 1e-5 * std::abs(y[i]) + 1e-6);
  }
}

}  // namespace

TEST_CASE("the op table test has a case for every op", "[jit][op_table]") {
  std::map<Op, Case> c = cases();
  for (size_t i = 0; i < static_cast<size_t>(Op::NumOps); ++i) {
    INFO("op " << op_name(static_cast<Op>(i)) << " has no case in tests/jit/test_op_table.cpp");
    CHECK(c.count(static_cast<Op>(i)) == 1);
  }
}

TEST_CASE("every op gives eager's values, writes and versions in a region", "[jit][op_table]") {
  test::HotThreshold hot(2);
  test::TierUpRuns tier(2);
  for (const auto& [op, c] : cases()) {
    const std::string name = op_name(op);
    Tensors in = c.make();
    Tensors want = c.run(in);
    std::vector<uint32_t> want_versions;
    for (const Tensor& t : in) want_versions.push_back(t.version());
    const int64_t fused_before = jit::stats().fused_graphs;
    // eager capture, eager (hot), quick tier, quick, full tier, full
    for (int run = 0; run < 6; ++run) {
      Tensors fresh = c.make(), got;
      {
        jit::Region r("op_table_" + name);
        got = c.run(fresh);
      }
      test::settle_compiles();
      REQUIRE(got.size() == want.size());
      for (size_t i = 0; i < got.size(); ++i)
        require_same(got[i], want[i],
                     name + ": result " + std::to_string(i) + ", run " + std::to_string(run));
      for (size_t i = 0; i < fresh.size(); ++i) {
        require_same(
            fresh[i], in[i],
            name + ": input " + std::to_string(i) + " (written?), run " + std::to_string(run));
        INFO(name << ": the version counter of input " << i << ", run " << run);
        CHECK(fresh[i].version() == want_versions[i]);
      }
    }
    if (op_traits(op).jit != JitPolicy::Break && op_traits(op).jit != JitPolicy::Meta) {
      INFO(name << " is traced by the op table's policy, so its region must have run fused");
      CHECK(jit::stats().fused_graphs > fused_before);
    }
  }
}
