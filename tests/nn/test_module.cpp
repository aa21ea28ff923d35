// nn::Module: reflection, registration, modes, conversion, state_dict, printing, containers.
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <type_traits>

#include "support/reference.hpp"

using namespace ember;

// ---- the modules of DESIGN.md, written exactly as there ----

struct Power : nn::Module<Power> {
  double exponent;
  explicit Power(double e) : exponent(e) {}
  Tensor forward(const Tensor& in) { return pow(in, exponent); }
};

struct Block : nn::Module<Block> {
  nn::Conv2d conv1, conv2;
  nn::BatchNorm2d bn1, bn2;
  explicit Block(int64_t c)
      : conv1(c, c, 3, {.padding = 1}), conv2(c, c, 3, {.padding = 1}), bn1(c), bn2(c) {}
  Tensor forward(const Tensor& x) { return relu(x + bn2(conv2(relu(bn1(conv1(x)))))); }
};
EMBER_MODULE(Block, conv1, bn1, conv2, bn2);

// A Block inside a Sequential inside a struct, with plain members listed (and ignored) too.
struct Net : nn::Module<Net> {
  nn::Conv2d stem;
  double scale = 2.0;
  Tensor plain = zeros({3});
  nn::Sequential body;
  nn::Linear head;
  int count = 0;
  Net() : stem(1, 2, 3, {.padding = 1}), body(Block(2), nn::ReLU(), Block(2)), head(8, 3) {}
  Tensor forward(const Tensor& x) { return head(body(stem(x)).flatten(1)); }
};
EMBER_MODULE(Net, stem, scale, plain, body, head, count);

// Vectors of modules and parameters, plus members registered at run time.
struct Mixed : nn::Module<Mixed> {
  std::vector<nn::Linear> layers;
  nn::Parameter gain;
  nn::Buffer steps;
  std::vector<nn::Parameter> extras;
  Tensor dynamic_weight;
  Mixed() : gain(ones({2})), steps(zeros({}, kInt64)) {
    layers.emplace_back(2, 3);
    layers.emplace_back(3, 2, nn::LinearOptions{.bias = false});
    extras.emplace_back(zeros({1}));
    dynamic_weight = register_parameter("dyn", full({2, 2}, 0.5));
    register_buffer("mask", ones({2}, kBool));
    register_module("tail", nn::Linear(2, 1));
  }
};
EMBER_MODULE(Mixed, layers, gain, steps, extras);

namespace {

std::vector<std::string> names_of(const nn::NamedTensors& named) {
  std::vector<std::string> n;
  for (const auto& [k, v] : named) n.push_back(k);
  return n;
}

std::vector<std::string> block_params(const std::string& p) {
  std::vector<std::string> out;
  for (const char* m : {"conv1", "bn1", "conv2", "bn2"})
    for (const char* t : {"weight", "bias"}) out.push_back(p + m + "." + t);
  return out;
}

// Every byte of a and b equal (dtype, sizes and data).
bool bit_equal(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || !(a.sizes() == b.sizes())) return false;
  Tensor ca = a.contiguous(), cb = b.contiguous();
  return std::memcmp(ca.raw_data(), cb.raw_data(), ca.numel() * ca.element_size()) == 0;
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("ember_module_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

}  // namespace

TEST_CASE("Power from DESIGN.md works as written", "[module]") {
  Power cube(3);
  Tensor x = test::seeded_randn({100}, 1);
  Tensor out = cube(x);
  std::vector<double> xs = test::values(x), expected;
  for (double v : xs) expected.push_back(v * v * v);
  test::require_close(out, {100}, expected, "cube(x)", 1e-5, 1e-6);
  CHECK(cube.parameters().empty());
  CHECK(cube.state_dict().empty());
  CHECK(cube.children().empty());
  CHECK(cube.type_name() == "Power");
}

TEST_CASE("reflection finds exactly the right dotted names", "[module]") {
  Net net;
  std::vector<std::string> expected = {"stem.weight", "stem.bias"};
  for (const auto& n : block_params("body.0.")) expected.push_back(n);
  for (const auto& n : block_params("body.2.")) expected.push_back(n);
  expected.push_back("head.weight");
  expected.push_back("head.bias");
  CHECK(names_of(net.named_parameters()) == expected);
  CHECK(net.parameters().size() == expected.size());

  std::vector<std::string> buffers;
  for (const char* b : {"body.0.bn1", "body.0.bn2", "body.2.bn1", "body.2.bn2"})
    for (const char* t : {"running_mean", "running_var", "num_batches_tracked"})
      buffers.push_back(std::string(b) + "." + t);
  CHECK(names_of(net.named_buffers()) == buffers);

  // state_dict: each module's parameters, then its buffers, then its children (PyTorch order).
  std::vector<std::string> keys = {"stem.weight", "stem.bias"};
  for (const char* blk : {"body.0.", "body.2."}) {
    for (const char* m : {"conv1", "bn1", "conv2", "bn2"}) {
      std::string p = std::string(blk) + m + ".";
      keys.push_back(p + "weight");
      keys.push_back(p + "bias");
      if (m[0] == 'b')
        for (const char* t : {"running_mean", "running_var", "num_batches_tracked"})
          keys.push_back(p + t);
    }
  }
  keys.push_back("head.weight");
  keys.push_back("head.bias");
  CHECK(net.state_dict().keys() == keys);

  std::vector<std::string> modules;
  for (const auto& [name, m] : net.named_modules()) modules.push_back(name + ":" + m->type_name());
  CHECK(modules ==
        std::vector<std::string>{":Net", "stem:Conv2d", "body:Sequential", "body.0:Block",
                                 "body.0.conv1:Conv2d", "body.0.bn1:BatchNorm2d",
                                 "body.0.conv2:Conv2d", "body.0.bn2:BatchNorm2d", "body.1:ReLU",
                                 "body.2:Block", "body.2.conv1:Conv2d", "body.2.bn1:BatchNorm2d",
                                 "body.2.conv2:Conv2d", "body.2.bn2:BatchNorm2d", "head:Linear"});
  CHECK(net.children().size() == 3);
  CHECK(net.modules().size() == 15);
  CHECK(net.named_parameters(false).empty());  // Net holds no parameter itself

  CHECK(net.named_parameters()[0].second.sizes() == Dims{2, 1, 3, 3});
  CHECK(net.named_parameters()[0].second.requires_grad());
  CHECK(net.named_parameters()[0].second.is_same(net.stem.weight));
}

TEST_CASE("vectors of modules and registered members are found in order", "[module]") {
  Mixed m;
  CHECK(names_of(m.named_parameters()) ==
        std::vector<std::string>{"gain", "extras.0", "dyn", "layers.0.weight", "layers.0.bias",
                                 "layers.1.weight", "tail.weight", "tail.bias"});
  CHECK(names_of(m.named_buffers()) == std::vector<std::string>{"steps", "mask"});
  CHECK(m.state_dict().keys() ==
        std::vector<std::string>{"gain", "extras.0", "dyn", "steps", "mask", "layers.0.weight",
                                 "layers.0.bias", "layers.1.weight", "tail.weight", "tail.bias"});
  // The registered parameter is the tensor the module holds: writes through one show in both.
  CHECK(m.named_parameters()[2].second.is_same(m.dynamic_weight));
  CHECK(m.dynamic_weight.requires_grad());
  CHECK_FALSE(m.named_buffers()[1].second.requires_grad());
}

TEST_CASE("registration rejects bad and duplicate names", "[module][error]") {
  Mixed m;
  CHECK_THROWS_WITH(m.register_parameter("gain", zeros({1})),
                    Catch::Contains("attribute 'gain' already exists in Mixed"));
  CHECK_THROWS_WITH(m.register_buffer("dyn", zeros({1})),
                    Catch::Contains("attribute 'dyn' already exists"));
  CHECK_THROWS_WITH(m.register_module("tail", nn::ReLU()),
                    Catch::Contains("register_module: attribute 'tail' already exists"));
  CHECK_THROWS_WITH(m.register_parameter("a.b", zeros({1})),
                    Catch::Contains("name 'a.b' must not contain '.'"));
  CHECK_THROWS_WITH(m.register_buffer("", zeros({1})), Catch::Contains("must not be empty"));
  CHECK_THROWS_WITH(m.register_module("x", std::shared_ptr<nn::Linear>()),
                    Catch::Contains("module 'x' is null"));
  // A parameter may be absent (as None in PyTorch): registered but skipped everywhere.
  m.register_parameter("none", Tensor());
  CHECK(m.parameters().size() == 8);
}

TEST_CASE("modules move but do not copy", "[module]") {
  STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<nn::Linear>);
  STATIC_REQUIRE_FALSE(std::is_copy_assignable_v<Block>);
  STATIC_REQUIRE(std::is_move_constructible_v<Block>);
  STATIC_REQUIRE(std::is_move_constructible_v<nn::Sequential>);
  Block a(2);
  Tensor w = a.conv1.weight;
  Block b = std::move(a);
  CHECK(names_of(b.named_parameters()) == block_params(""));
  CHECK(b.conv1.weight.is_same(w));
}

TEST_CASE("train and eval reach every descendant", "[module]") {
  Net net;
  for (nn::ModuleBase* m : net.modules()) CHECK(m->is_training());
  net.eval();
  for (nn::ModuleBase* m : net.modules()) CHECK_FALSE(m->is_training());
  net.body.train();
  CHECK_FALSE(net.is_training());
  CHECK_FALSE(net.head.is_training());
  CHECK(net.body.at<Block>(2).bn2.is_training());
  net.train(true);
  for (nn::ModuleBase* m : net.modules()) CHECK(m->is_training());
}

TEST_CASE("zero_grad clears or zeroes the gradients", "[module]") {
  nn::Linear lin(3, 2);
  (lin.weight * 3.0).backward(ones({2, 3}));
  (lin.bias * 2.0).backward(ones({2}));
  test::require_close(lin.weight.grad(), {2, 3}, std::vector<double>(6, 3.0), "weight.grad");
  Tensor g = lin.weight.grad();
  lin.zero_grad(false);
  CHECK(lin.weight.grad().is_same(g));  // zeroed in place
  test::require_close(lin.weight.grad(), {2, 3}, std::vector<double>(6, 0.0), "zeroed grad");
  test::require_close(lin.bias.grad(), {2}, {0.0, 0.0}, "zeroed bias grad");
  lin.zero_grad();
  CHECK_FALSE(lin.weight.grad().defined());
  CHECK_FALSE(lin.bias.grad().defined());
  lin.zero_grad();  // nothing to clear: no error
}

TEST_CASE("to(kFloat64) converts floating tensors in place", "[module]") {
  Net net;
  std::vector<double> before = test::values(net.head.weight);
  Tensor handle = net.head.weight;  // as an optimizer would hold it
  net.head.weight.set_grad(ones({3, 8}));
  net.to(kFloat64);
  for (const auto& [name, p] : net.named_parameters()) {
    INFO(name);
    CHECK(p.dtype() == kFloat64);
    CHECK(p.requires_grad());
  }
  for (const auto& [name, b] : net.named_buffers()) {
    INFO(name);
    CHECK(b.dtype() == (name.ends_with("num_batches_tracked") ? kInt64 : kFloat64));
  }
  CHECK(handle.dtype() == kFloat64);
  CHECK(net.head.weight.grad().dtype() == kFloat64);
  CHECK(test::values(handle) == before);  // float -> double is exact
  net.to(kFloat32);
  CHECK(test::values(net.head.weight) == before);
  CHECK(net.body.at<Block>(0).bn1.running_var.dtype() == kFloat32);
  CHECK_THROWS_WITH(net.to(kInt64),
                    Catch::Contains("only floating point dtypes are accepted, got int64"));
}

TEST_CASE("state_dict round-trips bit for bit, in memory and through a file", "[module]") {
  manual_seed(1);
  Net a;
  {
    NoGradGuard g;
    Block& blk = a.body.at<Block>(2);
    blk.bn1.running_mean.copy_(randn({2}));
    blk.bn1.running_var.fill_(3.25);
    blk.bn1.num_batches_tracked.fill_(7);
  }
  manual_seed(2);
  Net b, c;
  Tensor b_head = b.head.weight;
  CHECK_FALSE(bit_equal(a.head.weight, b.head.weight));

  nn::LoadResult r = b.load_state_dict(a.state_dict());
  CHECK(r.missing_keys.empty());
  CHECK(r.unexpected_keys.empty());
  CHECK(b.head.weight.is_same(b_head));  // loaded into the existing tensors
  CHECK(b.head.weight.requires_grad());

  std::string path = temp_path("roundtrip.safetensors");
  a.save(path);
  c.load(path);
  std::filesystem::remove(path);
  nn::StateDict sa = a.state_dict(), sb = b.state_dict(), sc = c.state_dict();
  REQUIRE(sa.size() == sc.size());
  for (const auto& [key, t] : sa) {
    INFO(key);
    CHECK(bit_equal(t, sb.at(key)));
    CHECK(bit_equal(t, sc.at(key)));
  }
  CHECK(c.body.at<Block>(2).bn1.num_batches_tracked.item<int64_t>() == 7);
}

TEST_CASE("strict load names missing and unexpected keys and shape mismatches", "[module][error]") {
  manual_seed(3);
  Net net;
  std::vector<double> before = test::values(net.stem.weight);
  nn::StateDict sd = net.state_dict();
  nn::StateDict changed;
  for (const auto& [k, v] : sd) changed.insert(k, zeros_like(v));
  changed.erase("head.bias");
  changed.erase("body.0.bn1.running_var");
  changed.insert("extra.weight", zeros({1}));

  CHECK_THROWS_WITH(net.load_state_dict(changed),
                    Catch::Contains("Error(s) in loading state_dict for Net:") &&
                        Catch::Contains("Missing key(s) in state_dict: \"body.0.bn1.running_var\", "
                                        "\"head.bias\".") &&
                        Catch::Contains("Unexpected key(s) in state_dict: \"extra.weight\"."));
  CHECK(test::values(net.stem.weight) == before);  // nothing was copied

  nn::LoadResult r = net.load_state_dict(changed, false);
  CHECK(r.missing_keys == std::vector<std::string>{"body.0.bn1.running_var", "head.bias"});
  CHECK(r.unexpected_keys == std::vector<std::string>{"extra.weight"});
  test::require_close(net.stem.weight, {2, 1, 3, 3}, std::vector<double>(18, 0.0), "loaded");

  nn::StateDict wrong = sd;
  wrong.insert("head.weight", zeros({3, 4}));
  CHECK_THROWS_WITH(net.load_state_dict(wrong, false),
                    Catch::Contains("size mismatch for head.weight: copying a param with shape "
                                    "[3, 4] from checkpoint, the shape in current model is "
                                    "[3, 8]."));
}

TEST_CASE("printing shows the tree, shapes and parameter counts", "[module]") {
  auto net = nn::Sequential(nn::Flatten(), nn::Linear(784, 256), nn::ReLU(), nn::Linear(256, 10));
  std::string s = nn::to_string(net);
  INFO(s);
  CHECK(s ==
        "Sequential(\n"
        "  (0): Flatten(start_dim=1, end_dim=-1)\n"
        "  (1): Linear(in_features=784, out_features=256, bias=true)  # weight [256, 784], "
        "bias [256]: 200,960 params\n"
        "  (2): ReLU()\n"
        "  (3): Linear(in_features=256, out_features=10, bias=true)  # weight [10, 256], "
        "bias [10]: 2,570 params\n"
        ")  # 203,530 params");
  CHECK(net.num_parameters() == 203530);

  Block blk(4);
  blk.conv2.bias.requires_grad_(false);
  std::string b = nn::to_string(blk);
  INFO(b);
  CHECK_THAT(b, Catch::StartsWith("Block(\n  (conv1): Conv2d(4, 4, kernel_size=(3, 3), "
                                  "stride=(1, 1), padding=(1, 1))  # weight [4, 4, 3, 3], "
                                  "bias [4]: 148 params\n"));
  CHECK_THAT(b, Catch::Contains("(bn1): BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=true, "
                                "track_running_stats=true)  # weight [4], bias [4]: 8 params"));
  CHECK_THAT(b, Catch::EndsWith(")  # 312 params (308 trainable)"));
}

TEST_CASE("Sequential, ModuleList and ModuleDict", "[module]") {
  auto seq = nn::Sequential(nn::ReLU(), nn::Flatten(0, 1), nn::Tanh());
  Tensor x = tensor({{-1.0, 0.5}, {2.0, -3.0}});
  test::require_close(seq(x), {4}, {0.0, std::tanh(0.5), std::tanh(2.0), 0.0}, "seq(x)");
  CHECK(seq.size() == 3);
  CHECK(seq[1].type_name() == "Flatten");
  CHECK(seq.at<nn::Flatten>(1).start_dim == 0);
  CHECK_THROWS_WITH(seq.at<nn::Linear>(0), Catch::Contains("Sequential: module 0 is a ReLU"));
  CHECK_THROWS_WITH(seq[3], Catch::Contains("index 3 is out of range for 3 modules"));
  CHECK(nn::Sequential()(x).is_same(x));

  // A shared module appears under each name in state_dict, once in parameters().
  auto shared = std::make_shared<nn::Linear>(2, 2);
  nn::Sequential tied(shared, nn::ReLU(), shared);
  CHECK(tied.parameters().size() == 2);
  CHECK(tied.state_dict().keys() ==
        std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"});
  tied.push_back(nn::Linear(2, 1));
  CHECK(tied.parameters().size() == 4);

  nn::ModuleList list(nn::Linear(1, 2), Block(2));
  auto added = list.push_back(nn::Linear(2, 3));
  CHECK(added->out_features == 3);
  CHECK(list.size() == 3);
  CHECK(list.at<Block>(1).conv1.in_channels == 2);
  CHECK(names_of(list.named_parameters()).front() == "0.weight");
  CHECK(names_of(list.named_parameters()).back() == "2.bias");

  nn::ModuleDict dict;
  dict.insert("encoder", nn::Linear(4, 2));
  dict.insert("act", nn::GELU());
  CHECK(dict.keys() == std::vector<std::string>{"encoder", "act"});
  CHECK(dict.contains("act"));
  CHECK(dict.at<nn::Linear>("encoder").in_features == 4);
  CHECK(names_of(dict.named_parameters()) ==
        std::vector<std::string>{"encoder.weight", "encoder.bias"});
  CHECK_THROWS_WITH(dict["decoder"],
                    Catch::Contains("no module 'decoder' (keys: 'encoder', 'act')"));
  CHECK_THROWS_WITH(dict.insert("act", nn::ReLU()), Catch::Contains("'act' already exists"));
  CHECK_THROWS_WITH(dict.insert("a.b", nn::ReLU()), Catch::Contains("must not contain '.'"));
}

TEST_CASE("apply visits every module, children first", "[module]") {
  Block blk(2);
  std::vector<std::string> seen;
  blk.apply([&](nn::ModuleBase& m) { seen.push_back(m.type_name()); });
  CHECK(seen ==
        std::vector<std::string>{"Conv2d", "BatchNorm2d", "Conv2d", "BatchNorm2d", "Block"});
  blk.apply([](nn::ModuleBase& m) {
    if (auto* conv = dynamic_cast<nn::Conv2d*>(&m)) nn::init::zeros_(conv->bias);
  });
  test::require_close(blk.conv2.bias, {2}, {0.0, 0.0}, "bias zeroed by apply");
}

TEST_CASE("a residual network from DESIGN.md runs forward", "[module][needs-merge]") {
  manual_seed(0);
  Net net;
  Tensor out = net(randn({2, 1, 2, 2}));
  CHECK(out.sizes() == Dims{2, 3});
  CHECK(net.body.at<Block>(0).bn1.num_batches_tracked.item<int64_t>() == 1);
  auto mlp = nn::Sequential(nn::Flatten(), nn::Linear(784, 256), nn::ReLU(), nn::Linear(256, 10));
  CHECK(mlp(randn({4, 1, 28, 28})).sizes() == Dims{4, 10});
}
