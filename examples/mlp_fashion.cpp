// A multilayer perceptron on Fashion-MNIST: Flatten, Linear 784-256, ReLU, Linear 256-10,
// trained with SGD (momentum 0.9, learning rate 0.05 annealed to 0 along a half cosine), on
// batches of 128 read by two DataLoader workers.
//
//   mlp_fashion [--epochs 3] [--batch-size 128] [--lr 0.05] [--threads 2]
//               [--save mlp.safetensors] [--checkpoint DIR [--resume]] [--jit]
//   mpirun -np 2 mlp_fashion --distributed --threads 1   (data-parallel over 2 processes)
//   mlp_fashion --smoke          (a few batches: what the test suite runs)
//
// Reaches about 0.88 test accuracy in 3 epochs. bench/peer/peer_mlp_fashion.cpp is the libtorch
// twin; scripts/train_compare.sh runs both.
#include <ember.hpp>
#include <iostream>

#include "common/progress.hpp"

using namespace ember;

int main(int argc, char** argv) {
  examples::TrainArgs args = examples::parse_args(argc, argv, {.epochs = 3, .lr = 0.05});
  if (args.distributed) distributed::init(&argc, &argv);
  set_num_threads(args.threads);
  manual_seed(args.seed);

  // Normalize with Fashion-MNIST's training-set mean and standard deviation.
  data::Normalize normalize({0.2860}, {0.3530});
  data::FashionMNIST train_raw(data::Split::train), test_raw(data::Split::test);
  size_t train_n = args.smoke ? 4 * static_cast<size_t>(args.batch_size) : train_raw.size();
  size_t test_n = args.smoke ? 2 * static_cast<size_t>(args.batch_size) : test_raw.size();
  examples::Subset train_sub(train_raw, train_n), test_sub(test_raw, test_n);
  data::Transformed train_set(train_sub, {normalize});
  data::Transformed test_set(test_sub, {normalize});
  data::DataLoader train_loader = examples::train_loader(train_set, args);
  data::DataLoader test_loader = examples::test_loader(test_set, args, 1000);

  auto net = nn::Sequential(nn::Flatten(), nn::Linear(784, 256), nn::ReLU(), nn::Linear(256, 10));
  if (!args.distributed || distributed::rank() == 0) std::cout << net << "\n";
  optim::SGD opt(net.parameters(), {.lr = args.lr, .momentum = 0.9});
  // The learning rate decays to 0 along a half cosine over all batches of the run.
  auto steps = static_cast<int64_t>(train_loader.size());
  optim::CosineAnnealingLR schedule(opt, args.epochs * steps);

  int rc = examples::train(net, opt, schedule, train_loader, test_loader, args, train_n, test_n);
  if (args.distributed) distributed::finalize();
  return rc;
}
