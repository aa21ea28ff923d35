// libtorch twin of examples/mlp_fashion.cpp: the same model (Flatten, Linear 784-256, ReLU,
// Linear 256-10, PyTorch's default init), SGD lr 0.05 momentum 0.9 with the learning rate
// annealed to 0 along a half cosine over all batches (CosineAnnealingLR), batch 128 reshuffled
// every epoch (last batch kept), Normalize(0.2860, 0.3530), 2 threads, reading the same IDX .gz
// files with zlib. Prints the same lines as the ember trainer, for scripts/train_compare.sh.
//
//   peer_mlp_fashion [--epochs 3] [--batch-size 128] [--lr 0.05] [--threads 2] [--smoke]
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

using peer::load;
using peer::seconds_since;

int main(int argc, char** argv) {
  int64_t epochs = 3, batch = 128;
  int threads = 2;
  double lr = 0.05;
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
    train_x = train_x.narrow(0, 0, 4 * batch), train_y = train_y.narrow(0, 0, 4 * batch);
    test_x = test_x.narrow(0, 0, 2 * batch), test_y = test_y.narrow(0, 0, 2 * batch);
  }
  train_x = (train_x - 0.2860) / 0.3530;
  test_x = (test_x - 0.2860) / 0.3530;
  int64_t n = train_x.size(0);

  torch::nn::Sequential net(torch::nn::Flatten(), torch::nn::Linear(784, 256), torch::nn::ReLU(),
                            torch::nn::Linear(256, 10));
  torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(lr).momentum(0.9));
  std::cout << "libtorch " << TORCH_VERSION << ", " << threads << " threads, training on " << n
            << " images, batch " << batch << "\n";

  int64_t total_steps = epochs * ((n + batch - 1) / batch), step_num = 0;
  double train_seconds = 0, acc = 0;
  for (int64_t epoch = 1; epoch <= epochs; ++epoch) {
    auto t0 = std::chrono::steady_clock::now();
    torch::Tensor perm = torch::randperm(n, torch::kInt64);
    double loss_sum = 0;
    for (int64_t b = 0; b < n; b += batch) {
      torch::Tensor idx = perm.narrow(0, b, std::min(batch, n - b));
      torch::Tensor x = train_x.index_select(0, idx), y = train_y.index_select(0, idx);
      torch::Tensor loss = torch::nn::functional::cross_entropy(net->forward(x), y);
      opt.zero_grad();
      loss.backward();
      opt.step();
      // CosineAnnealingLR(T_max = total_steps, eta_min = 0), stepped per batch.
      ++step_num;
      static_cast<torch::optim::SGDOptions&>(opt.param_groups()[0].options())
          .lr(lr * (1 + std::cos(M_PI * double(step_num) / double(total_steps))) / 2);
      loss_sum += loss.item<float>() * double(idx.size(0));
    }
    double s = seconds_since(t0);
    train_seconds += s;
    {
      torch::NoGradGuard no_grad;
      net->eval();
      int64_t correct = 0;
      for (int64_t b = 0; b < test_x.size(0); b += 1000) {
        int64_t m = std::min<int64_t>(1000, test_x.size(0) - b);
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
