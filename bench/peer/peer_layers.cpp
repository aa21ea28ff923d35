// ember's attention and LSTM against libtorch (Debian's 1.13, CPU) in one process, both on 2
// threads, forward + backward:
//   - sdpa: batch 16, 4 heads, sequence 256, head 64: ember's scaled_dot_product_attention
//     against the same attention written out in libtorch ops (1.13 has no public SDPA):
//     softmax(q k^T / 8) v, then backward of its sum.
//   - lstm: sequence 64, batch 32, input and hidden 256, one layer: nn::LSTM against
//     torch::nn::LSTM, then backward of the output's sum.
//
//   ./peer_layers --benchmark_min_time=0.3 --benchmark_repetitions=5
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "ember.hpp"

namespace {

constexpr int kThreads = 2;
constexpr int64_t kB = 16, kH = 4, kL = 256, kE = 64;
constexpr int64_t kT = 64, kN = 32, kHidden = 256;

void threads() {
  ember::set_num_threads(kThreads);
  torch::set_num_threads(kThreads);
}

void BM_sdpa_ember(benchmark::State& state) {
  threads();
  ember::manual_seed(0);
  bool causal = state.range(0) != 0;
  ember::Tensor q = ember::randn({kB, kH, kL, kE}).requires_grad_();
  ember::Tensor k = ember::randn({kB, kH, kL, kE}).requires_grad_();
  ember::Tensor v = ember::randn({kB, kH, kL, kE}).requires_grad_();
  for (auto _ : state) {
    ember::Tensor o = ember::nn::functional::scaled_dot_product_attention(q, k, v, {}, 0.0, causal);
    o.sum().backward();
    benchmark::DoNotOptimize(q.grad().raw_data());
    q.grad().zero_();
  }
}

void BM_sdpa_torch(benchmark::State& state) {
  threads();
  torch::manual_seed(0);
  bool causal = state.range(0) != 0;
  torch::Tensor q = torch::randn({kB, kH, kL, kE}).requires_grad_();
  torch::Tensor k = torch::randn({kB, kH, kL, kE}).requires_grad_();
  torch::Tensor v = torch::randn({kB, kH, kL, kE}).requires_grad_();
  torch::Tensor keep = torch::ones({kL, kL}, torch::kBool).tril();
  for (auto _ : state) {
    torch::Tensor s = torch::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(double(kE)));
    if (causal) s = s.masked_fill(keep.logical_not(), -INFINITY);
    torch::Tensor o = torch::matmul(torch::softmax(s, -1), v);
    o.sum().backward();
    benchmark::DoNotOptimize(q.grad().data_ptr());
    q.grad().zero_();
  }
}

void BM_lstm_ember(benchmark::State& state) {
  threads();
  ember::manual_seed(0);
  ember::nn::LSTM lstm(kHidden, kHidden);
  ember::Tensor x = ember::randn({kT, kN, kHidden}).requires_grad_();
  for (auto _ : state) {
    auto [o, s] = lstm(x);
    o.sum().backward();
    benchmark::DoNotOptimize(x.grad().raw_data());
    lstm.zero_grad();
  }
}

void BM_lstm_torch(benchmark::State& state) {
  threads();
  torch::manual_seed(0);
  torch::nn::LSTM lstm(torch::nn::LSTMOptions(kHidden, kHidden));
  torch::Tensor x = torch::randn({kT, kN, kHidden}).requires_grad_();
  for (auto _ : state) {
    auto out = lstm->forward(x);
    std::get<0>(out).sum().backward();
    benchmark::DoNotOptimize(x.grad().data_ptr());
    lstm->zero_grad();
  }
}

}  // namespace

BENCHMARK(BM_sdpa_ember)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_sdpa_torch)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_lstm_ember)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_lstm_torch)->Unit(benchmark::kMillisecond)->UseRealTime();
