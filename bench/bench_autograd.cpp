// The autograd engine's own costs on tiny tensors, where the arithmetic is a few nanoseconds and
// what is measured is node creation in the dispatcher hook, saved tensors, the engine's
// bookkeeping per backward and the gradient accumulation into leaves. The same-run comparison
// against libtorch (and the MLP training step) is in bench/peer/peer_autograd.cpp.
//
//   ./bench_autograd --benchmark_min_time=0.3 --benchmark_repetitions=5
#include <benchmark/benchmark.h>

#include "ember.hpp"

namespace {

ember::Tensor leaf(int64_t n) {
  ember::Tensor t = ember::randn({n});
  t.requires_grad_(true);
  return t;
}

// c = a + b on 8 floats with requires_grad: kernel + one recorded node (saves nothing).
void BM_add8_grad(benchmark::State& state) {
  ember::Tensor a = leaf(8), b = leaf(8);
  for (auto _ : state) {
    ember::Tensor c = a + b;
    benchmark::DoNotOptimize(c.raw_data());
  }
}

// c = a * b: the node also saves both inputs (SavedTensor with its version).
void BM_mul8_grad(benchmark::State& state) {
  ember::Tensor a = leaf(8), b = leaf(8);
  for (auto _ : state) {
    ember::Tensor c = a * b;
    benchmark::DoNotOptimize(c.raw_data());
  }
}

// c = a * 0.5: the wrapped 0-d scalar is an input that needs no gradient.
void BM_mul_scalar8_grad(benchmark::State& state) {
  ember::Tensor a = leaf(8);
  for (auto _ : state) {
    ember::Tensor c = a * 0.5;
    benchmark::DoNotOptimize(c.raw_data());
  }
}

// The same add in NoGradGuard: the dispatcher's cost without recording, for the difference.
void BM_add8_nograd(benchmark::State& state) {
  ember::Tensor a = leaf(8), b = leaf(8);
  ember::NoGradGuard g;
  for (auto _ : state) {
    ember::Tensor c = a + b;
    benchmark::DoNotOptimize(c.raw_data());
  }
}

// (a + b).sum().backward(): the smallest full round trip (3 nodes, 2 leaves).
void BM_add8_backward(benchmark::State& state) {
  ember::Tensor a = leaf(8), b = leaf(8);
  for (auto _ : state) {
    a.set_grad({});
    b.set_grad({});
    (a + b).sum().backward();
    benchmark::DoNotOptimize(a.grad().raw_data());
  }
}

// The peer's 10-op chain, forward + backward (grads reset to none each time).
ember::Tensor chain10(const ember::Tensor& x, const ember::Tensor& w, const ember::Tensor& b) {
  ember::Tensor y = x * w + b;
  y = y.tanh() * x;
  y = y.sigmoid() - b;
  y = (y * 0.5).exp();
  y = (y * w).sin();
  return y.sum();
}

void BM_chain10_forward(benchmark::State& state) {
  ember::Tensor x = leaf(8), w = leaf(8), b = leaf(8);
  for (auto _ : state) {
    ember::Tensor loss = chain10(x, w, b);
    benchmark::DoNotOptimize(loss.raw_data());
  }
}

void BM_chain10_forward_backward(benchmark::State& state) {
  ember::Tensor x = leaf(8), w = leaf(8), b = leaf(8);
  for (auto _ : state) {
    for (const ember::Tensor* t : {&x, &w, &b}) t->set_grad({});
    chain10(x, w, b).backward();
    benchmark::DoNotOptimize(x.grad().raw_data());
  }
}

// Gradients accumulating into existing .grad (no reset): the in-place add_ path of the leaves.
void BM_chain10_accumulate(benchmark::State& state) {
  ember::Tensor x = leaf(8), w = leaf(8), b = leaf(8);
  for (auto _ : state) {
    chain10(x, w, b).backward();
    benchmark::DoNotOptimize(x.grad().raw_data());
  }
}

// A deep graph: 100 adds in a row, then backward (the engine's per-node cost dominates).
void BM_deep100_backward(benchmark::State& state) {
  ember::Tensor x = leaf(8);
  for (auto _ : state) {
    x.set_grad({});
    ember::Tensor y = x;
    for (int i = 0; i < 100; ++i) y = y + x;
    y.sum().backward();
    benchmark::DoNotOptimize(x.grad().raw_data());
  }
  state.SetItemsProcessed(state.iterations() * 100);
}

BENCHMARK(BM_add8_grad);
BENCHMARK(BM_mul8_grad);
BENCHMARK(BM_mul_scalar8_grad);
BENCHMARK(BM_add8_nograd);
BENCHMARK(BM_add8_backward);
BENCHMARK(BM_chain10_forward);
BENCHMARK(BM_chain10_forward_backward);
BENCHMARK(BM_chain10_accumulate);
BENCHMARK(BM_deep100_backward);

}  // namespace
