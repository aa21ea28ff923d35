// The libtorch twin of examples/resnet_fashion's network, shared by peer_resnet_fashion (the
// trainer) and peer_resnet (its training step against ember's): stem conv 3x3 + batch norm,
// stages of residual blocks with stride-2 downsampling and 1x1 projection skips, global average
// pool, linear; PyTorch's default init. Header-only.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace peer::resnet {

namespace nn = torch::nn;

inline nn::Conv2dOptions conv(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t pad) {
  return nn::Conv2dOptions(in, out, k).stride(stride).padding(pad).bias(false);
}

struct BlockImpl : nn::Module {
  nn::Conv2d conv1{nullptr}, conv2{nullptr};
  nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  nn::Sequential shortcut;

  BlockImpl(int64_t in, int64_t out, int64_t stride)
      : conv1(register_module("conv1", nn::Conv2d(conv(in, out, 3, stride, 1)))),
        conv2(register_module("conv2", nn::Conv2d(conv(out, out, 3, 1, 1)))),
        bn1(register_module("bn1", nn::BatchNorm2d(out))),
        bn2(register_module("bn2", nn::BatchNorm2d(out))) {
    if (stride != 1 || in != out) {
      shortcut->push_back(nn::Conv2d(conv(in, out, 1, stride, 0)));
      shortcut->push_back(nn::BatchNorm2d(out));
    }
    register_module("shortcut", shortcut);
  }
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor skip = shortcut->is_empty() ? x : shortcut->forward(x);
    return torch::relu(bn2(conv2(torch::relu(bn1(conv1(x))))) + skip);
  }
};
TORCH_MODULE(Block);

struct ResNetImpl : nn::Module {
  nn::Conv2d stem{nullptr};
  nn::BatchNorm2d stem_bn{nullptr};
  nn::Sequential stages;
  nn::Linear fc{nullptr};

  ResNetImpl(const std::vector<int64_t>& widths, int64_t depth, int64_t classes)
      : stem(register_module("stem", nn::Conv2d(conv(1, widths.front(), 3, 1, 1)))),
        stem_bn(register_module("stem_bn", nn::BatchNorm2d(widths.front()))),
        fc(register_module("fc", nn::Linear(widths.back(), classes))) {
    int64_t in = widths.front();
    for (size_t s = 0; s < widths.size(); ++s) {
      for (int64_t b = 0; b < depth; ++b)
        stages->push_back(Block(b ? widths[s] : in, widths[s], b == 0 && s > 0 ? 2 : 1));
      in = widths[s];
    }
    register_module("stages", stages);
  }
  torch::Tensor forward(const torch::Tensor& images) {
    torch::Tensor x = torch::relu(stem_bn(stem(images)));
    x = stages->forward(x);
    return fc(torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1));
  }
};
TORCH_MODULE(ResNet);

}  // namespace peer::resnet
