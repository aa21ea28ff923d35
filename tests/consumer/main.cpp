// A user's program against the installed package: a dsl kernel (forward and backward, at every
// instruction-set level the CPU has), an nn module and a fused jit::Region, each checked against
// values computed here. Exits non-zero on a mismatch.
#include <cmath>
#include <cstdio>
#include <ember.hpp>
#include <string>

#include "runtime/cpu.hpp"

using namespace ember;

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
  failures += ok ? 0 : 1;
}

double max_diff(const Tensor& a, const Tensor& b) {
  return amax(abs(a.to(kFloat64) - b.to(kFloat64))).item<double>();
}

// The user's formula: built-ins by their public names on sub-formulas.
constexpr auto kernel = dsl::pointwise(
    [](auto x, auto y) { return dsl::gelu(x * 2 + 1) * dsl::sigmoid(y) + dsl::softplus(x); },
    "user_kernel");

// Both derivatives of this one hold numbers diff makes (erf's 2/sqrt(pi)), read past e's own.
constexpr auto two_erf = dsl::pointwise(
    [](auto x, auto y) { return dsl::erf(x * 0.5) * dsl::erf(y * 1.5 + 0.25); }, "two_erf");

void dsl_kernel() {
  Tensor x = randn({3, 1000}).requires_grad_(), y = randn({1000}).requires_grad_();
  // The same formulas in eager ops; the gradients in double.
  Tensor xv = x.detach(), yv = y.detach();
  Tensor want = gelu(xv * 2 + 1) * sigmoid(yv) + softplus(xv);
  Tensor want2 = erf(xv * 0.5) * erf(yv * 1.5 + 0.25);
  Tensor want_gx, want_gy, want2_gy;
  {
    Tensor xd = xv.to(kFloat64).requires_grad_(), yd = yv.to(kFloat64).requires_grad_();
    (gelu(xd * 2 + 1) * sigmoid(yd) + softplus(xd)).sum().backward();
    want_gx = xd.grad();
    want_gy = yd.grad();
    Tensor yd2 = yv.to(kFloat64).requires_grad_();
    (erf(xv.to(kFloat64) * 0.5) * erf(yd2 * 1.5 + 0.25)).sum().backward();
    want2_gy = yd2.grad();
  }
  const cpu::Isa host = cpu::host_isa();
  for (cpu::Isa level : {cpu::Isa::Baseline, cpu::Isa::V3, cpu::Isa::V4}) {
    if (level > host) continue;
    cpu::set_isa(level);
    const std::string at = std::string(" at ") + cpu::isa_name(level);
    x.mutable_grad() = Tensor();
    y.mutable_grad() = Tensor();
    Tensor got = kernel(x, y);
    got.sum().backward();
    check(max_diff(got, want) < 1e-5, "dsl kernel forward" + at);
    check(max_diff(x.grad(), want_gx) < 1e-4, "dsl kernel backward, x" + at);
    check(max_diff(y.grad(), want_gy) < 1e-3, "dsl kernel backward, y" + at);
    // Only y's gradient: the backward for that one input.
    Tensor y2 = yv.clone().requires_grad_();
    Tensor got2 = two_erf(xv, y2);
    got2.sum().backward();
    check(max_diff(got2, want2) < 1e-5, "dsl kernel two_erf forward" + at);
    check(max_diff(y2.grad(), want2_gy) < 1e-3, "dsl kernel two_erf backward, y" + at);
  }
  cpu::set_isa(host);
}

void module() {
  manual_seed(1);
  nn::Linear lin(4, 3);
  Tensor x = randn({2, 4});
  Tensor y = lin(x);
  bool ok = y.sizes() == Dims{2, 3};
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t o = 0; o < 3; ++o) {
      double s = lin.bias[o].item<double>();
      for (int64_t k = 0; k < 4; ++k) s += x[i][k].item<double>() * lin.weight[o][k].item<double>();
      ok = ok && std::abs(s - y[i][o].item<double>()) < 1e-5;
    }
  y.sum().backward();
  ok = ok && lin.weight.grad().defined() && max_diff(lin.bias.grad(), ones({3}) * 2) == 0;
  check(ok, "nn::Linear forward and backward");
}

void region() {
  jit::set_hot_threshold(1);
  jit::set_async_compile(false);
  Tensor x = randn({4096}), w = randn({4096});
  auto eager = [&] { return (gelu(x * 0.75 + 0.25) * sigmoid(w)).sum(); };
  Tensor want = eager();
  const jit::Stats before = jit::stats();
  Tensor got;
  for (int i = 0; i < 3; ++i) {
    jit::Region r("consumer");
    got = eager();
  }
  const jit::Stats after = jit::stats();
  check(!jit::enabled() || after.fused_graphs > before.fused_graphs, "jit::Region fused");
  check(std::abs(got.item<double>() - want.item<double>()) < 1e-3 * std::abs(want.item<double>()),
        "jit::Region value");
}

}  // namespace

int main() {
  std::printf("ember consumer: CPU level %s\n", cpu::isa_name(cpu::host_isa()));
  dsl_kernel();
  module();
  region();
  return failures == 0 ? 0 : 1;
}
