// libtorch twin of examples/resnet_fashion.cpp: the same network (stem conv 3x3 + BN, stages
// of two residual blocks at widths 16, 32, 64 with stride-2 downsampling and 1x1 projection
// skips, global average pool, linear; PyTorch's default init), SGD with Nesterov momentum 0.9
// and weight decay 5e-4 under a one-cycle schedule (PyTorch's OneCycleLR formulas, stepped per
// batch: libtorch 1.13 has no OneCycleLR), batch 128 reshuffled every epoch (last batch kept),
// random horizontal flips, Normalize(0.2860, 0.3530), 2 threads, reading the same IDX .gz files
// with zlib. Prints the same lines as the ember trainer, for scripts/train_compare.sh.
//
//   peer_resnet_fashion [--epochs 3] [--batch-size 128] [--lr 0.1] [--threads 2] [--smoke]
#include <torch/torch.h>
#include <zlib.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "fashion_mnist_torch.hpp"
#include "resnet_torch.hpp"

using peer::load;
using peer::seconds_since;

namespace {

using peer::resnet::ResNet;

// PyTorch's OneCycleLR (cos annealing, two phases, cycling momentum), stepped per batch.
struct OneCycle {
  double max_lr, initial_lr, min_lr, total;
  double lr = 0, momentum = 0;
  OneCycle(double max_lr, int64_t total_steps)
      : max_lr(max_lr),
        initial_lr(max_lr / 25),
        min_lr(max_lr / 25 / 1e4),
        total(double(total_steps)) {}
  static double anneal(double start, double end, double pct) {
    return end + (start - end) / 2.0 * (std::cos(M_PI * pct) + 1);
  }
  void at(int64_t step_num) {
    double s = double(step_num), end1 = 0.3 * total - 1;
    if (s <= end1) {
      lr = anneal(initial_lr, max_lr, s / end1);
      momentum = anneal(0.95, 0.85, s / end1);
    } else {
      double pct = (s - end1) / (total - 1 - end1);
      lr = anneal(max_lr, min_lr, pct);
      momentum = anneal(0.85, 0.95, pct);
    }
  }
  void apply(torch::optim::SGD& opt) const {
    for (auto& g : opt.param_groups()) {
      auto& o = static_cast<torch::optim::SGDOptions&>(g.options());
      o.lr(lr);
      o.momentum(momentum);
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  int64_t epochs = 3, batch = 128;
  int threads = 2;
  double lr = 0.1;
  bool smoke = false;
  for (int i = 1; i < argc; ++i) {
    std::string o = argv[i];
    auto next = [&] {
      if (i + 1 >= argc) throw std::runtime_error(o + " needs a value");
      return std::string(argv[++i]);
    };
    if (o == "--epochs")
      epochs = std::stoll(next());
    else if (o == "--batch-size")
      batch = std::stoll(next());
    else if (o == "--threads")
      threads = std::stoi(next());
    else if (o == "--lr")
      lr = std::stod(next());
    else if (o == "--smoke")
      smoke = true;
    else {
      std::cerr << "usage: " << argv[0]
                << " [--epochs N] [--batch-size N] [--lr X] [--threads N] [--smoke]\n";
      return 2;
    }
  }
  if (smoke) epochs = 1;
  torch::set_num_threads(threads);
  torch::manual_seed(0);

  auto [train_x, train_y] = load("train");
  auto [test_x, test_y] = load("t10k");
  if (smoke) {
    train_x = train_x.narrow(0, 0, 3 * batch), train_y = train_y.narrow(0, 0, 3 * batch);
    test_x = test_x.narrow(0, 0, 2 * batch), test_y = test_y.narrow(0, 0, 2 * batch);
  }
  train_x = (train_x - 0.2860) / 0.3530;
  test_x = (test_x - 0.2860) / 0.3530;
  int64_t n = train_x.size(0), steps = (n + batch - 1) / batch;

  ResNet net(std::vector<int64_t>{16, 32, 64}, 2, 10);
  torch::optim::SGD opt(
      net->parameters(),
      torch::optim::SGDOptions(lr).momentum(0.9).weight_decay(5e-4).nesterov(true));
  OneCycle schedule(lr, epochs * steps);
  int64_t step_num = 0;
  schedule.at(step_num);
  schedule.apply(opt);
  std::cout << "libtorch " << TORCH_VERSION << ", " << threads << " threads, training on " << n
            << " images, batch " << batch << "\n";

  double train_seconds = 0, acc = 0;
  for (int64_t epoch = 1; epoch <= epochs; ++epoch) {
    auto t0 = std::chrono::steady_clock::now();
    torch::Tensor perm = torch::randperm(n, torch::kInt64);
    double loss_sum = 0;
    for (int64_t b = 0; b < n; b += batch) {
      torch::Tensor idx = perm.narrow(0, b, std::min(batch, n - b));
      torch::Tensor x = train_x.index_select(0, idx), y = train_y.index_select(0, idx);
      torch::Tensor flip = torch::rand({idx.size(0), 1, 1, 1}) < 0.5;
      x = torch::where(flip, x.flip({3}), x);
      torch::Tensor loss = torch::nn::functional::cross_entropy(net->forward(x), y);
      opt.zero_grad();
      loss.backward();
      opt.step();
      schedule.at(++step_num);
      schedule.apply(opt);
      loss_sum += loss.item<float>() * double(idx.size(0));
    }
    double s = seconds_since(t0);
    train_seconds += s;
    {
      torch::NoGradGuard no_grad;
      net->eval();
      int64_t correct = 0;
      for (int64_t b = 0; b < test_x.size(0); b += 500) {
        int64_t m = std::min<int64_t>(500, test_x.size(0) - b);
        torch::Tensor pred = net->forward(test_x.narrow(0, b, m)).argmax(1);
        correct += (pred == test_y.narrow(0, b, m)).sum().item<int64_t>();
      }
      net->train();
      acc = double(correct) / double(test_x.size(0));
    }
    std::printf("epoch %lld: train loss %.4f, test accuracy %.4f, %.1f s\n",
                static_cast<long long>(epoch), loss_sum / double(n), acc, s);
  }
  std::printf("test accuracy %.4f, time per epoch %.1f s (%.0f images/s)\n", acc,
              train_seconds / double(epochs), double(n) * double(epochs) / train_seconds);
  return 0;
}
