// A small residual network on Fashion-MNIST, built as a hierarchy of modules:
//   ResNet = stem conv -> stages at widths 16, 32, 64 -> global average pool -> linear
//   Stage  = a set of residual blocks at one width (the first one may halve the resolution)
//   Block  = two 3x3 conv + batch norm layers, added to a skip path (a 1x1 conv projection when
//            the width or the resolution changes)
// Trained with SGD (Nesterov momentum 0.9, weight decay 5e-4) under a one-cycle learning-rate
// schedule, on batches of 128 read by two DataLoader workers with random horizontal flips.
//
//   resnet_fashion [--epochs 3] [--batch-size 128] [--lr 0.1] [--threads 2]
//                  [--save resnet.safetensors] [--checkpoint DIR [--resume]] [--jit]
//   mpirun -np 2 resnet_fashion --distributed --threads 1   (data-parallel over 2 processes)
//   resnet_fashion --smoke       (a few batches: what the test suite runs)
//
// bench/peer/peer_resnet_fashion.cpp is the libtorch twin; scripts/train_compare.sh runs both.
#include <ember.hpp>
#include <iostream>
#include <vector>

#include "common/progress.hpp"

using namespace ember;

/// relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)).
struct Block : nn::Module<Block> {
  nn::Conv2d conv1, conv2;
  nn::BatchNorm2d bn1, bn2;
  nn::Sequential shortcut;  // empty (the identity), or a 1x1 conv and batch norm

  Block(int64_t in, int64_t out, int64_t stride)
      : conv1(in, out, 3, {.stride = stride, .padding = 1, .bias = false}),
        conv2(out, out, 3, {.padding = 1, .bias = false}),
        bn1(out),
        bn2(out) {
    if (stride != 1 || in != out)
      shortcut = nn::Sequential(nn::Conv2d(in, out, 1, {.stride = stride, .bias = false}),
                                nn::BatchNorm2d(out));
  }
  Tensor forward(const Tensor& x) { return relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)); }
};
EMBER_MODULE(Block, conv1, bn1, conv2, bn2, shortcut);

/// `depth` blocks at width `out`; the first takes `in` channels at the given stride.
struct Stage : nn::Module<Stage> {
  std::vector<Block> blocks;

  Stage(int64_t in, int64_t out, int64_t depth, int64_t stride) {
    blocks.emplace_back(in, out, stride);
    for (int64_t i = 1; i < depth; ++i) blocks.emplace_back(out, out, 1);
  }
  Tensor forward(Tensor x) {
    for (Block& b : blocks) x = b(x);
    return x;
  }
};
EMBER_MODULE(Stage, blocks);

/// The cascade: each stage after the first doubles the width and halves the resolution.
struct ResNet : nn::Module<ResNet> {
  nn::Conv2d stem;
  nn::BatchNorm2d stem_bn;
  std::vector<Stage> stages;
  nn::AdaptiveAvgPool2d pool{1};
  nn::Linear fc;

  ResNet(const std::vector<int64_t>& widths, int64_t depth, int64_t classes)
      : stem(1, widths.front(), 3, {.padding = 1, .bias = false}),
        stem_bn(widths.front()),
        fc(widths.back(), classes) {
    int64_t in = widths.front();
    for (size_t s = 0; s < widths.size(); ++s) {
      stages.emplace_back(in, widths[s], depth, s == 0 ? 1 : 2);
      in = widths[s];
    }
  }
  Tensor forward(const Tensor& images) {
    Tensor x = relu(stem_bn(stem(images)));
    for (Stage& s : stages) x = s(x);
    return fc(pool(x).flatten(1));
  }
};
EMBER_MODULE(ResNet, stem, stem_bn, stages, pool, fc);

int main(int argc, char** argv) {
  examples::TrainArgs args = examples::parse_args(argc, argv, {.epochs = 3, .lr = 0.1});
  if (args.distributed) distributed::init(&argc, &argv);
  set_num_threads(args.threads);
  manual_seed(args.seed);

  data::Normalize normalize({0.2860}, {0.3530});
  data::FashionMNIST train_raw(data::Split::train), test_raw(data::Split::test);
  size_t train_n = args.smoke ? 3 * static_cast<size_t>(args.batch_size) : train_raw.size();
  size_t test_n = args.smoke ? 2 * static_cast<size_t>(args.batch_size) : test_raw.size();
  examples::Subset train_sub(train_raw, train_n), test_sub(test_raw, test_n);
  data::Transformed train_set(train_sub, {data::RandomHorizontalFlip(), normalize});
  data::Transformed test_set(test_sub, {normalize});
  data::DataLoader train_loader = examples::train_loader(train_set, args);
  data::DataLoader test_loader = examples::test_loader(test_set, args, 500);

  ResNet net({16, 32, 64}, /*depth=*/2, /*classes=*/10);
  if (!args.distributed || distributed::rank() == 0) std::cout << net << "\n";
  optim::SGD opt(net.parameters(),
                 {.lr = args.lr, .momentum = 0.9, .weight_decay = 5e-4, .nesterov = true});
  auto steps = static_cast<int64_t>(train_loader.size());
  optim::OneCycleLR schedule(opt, args.lr, {.epochs = args.epochs, .steps_per_epoch = steps});

  int rc = examples::train(net, opt, schedule, train_loader, test_loader, args, train_n, test_n);
  if (args.distributed) distributed::finalize();
  return rc;
}
