// The libtorch twin of examples/char_transformer: the same model (token and position
// embeddings, pre-norm blocks of causal self-attention and a GELU MLP, final LayerNorm, linear
// head), written in libtorch ops because 1.13's C++ TransformerEncoderLayer has no norm_first
// or batch_first; it starts from ember's initial weights (--init, a .safetensors file that
// `char_transformer --save-init` writes), reads the same batches (examples/common/fortunes.hpp)
// and follows the same schedule, so the two loss curves are comparable:
//
//   char_transformer --save-init init.safetensors
//   OMP_WAIT_POLICY=passive peer_char_transformer --init init.safetensors
//
// (On a machine busy with other work, libtorch's spinning OpenMP threads took 5.5 s a step
// instead of 0.38 s; passive waiting keeps them comparable.) Seed 0, the default 2 x 60 steps:
// both print train losses 3.0140, 2.6274 and validation losses 2.6662, 2.5984.
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "../../examples/common/fortunes.hpp"

namespace {

struct Args {
  int64_t epochs = 2, steps = 60, batch = 32, context = 64, heads = 4, threads = 2;
  uint64_t seed = 0;
  double lr = 3e-3;
  std::string data = "/usr/share/games/fortunes", init;
};

// A float32 .safetensors file: an 8-byte little-endian header size, a JSON header naming each
// tensor's dtype, shape and byte range, then the data.
std::map<std::string, torch::Tensor> read_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), 8);
  std::string header(n, '\0');
  in.read(header.data(), static_cast<std::streamsize>(n));
  std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::map<std::string, torch::Tensor> out;
  nlohmann::json j = nlohmann::json::parse(header);
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string name = it.key();
    const nlohmann::json& v = it.value();
    if (name == "__metadata__") continue;
    if (v["dtype"].get<std::string>() != "F32") throw std::runtime_error(name + ": expected F32");
    std::vector<int64_t> shape = v["shape"].get<std::vector<int64_t>>();
    auto begin = v["data_offsets"][0].get<size_t>(), end = v["data_offsets"][1].get<size_t>();
    torch::Tensor t = torch::empty(shape, torch::kFloat32);
    if (static_cast<size_t>(t.numel()) * 4 != end - begin)
      throw std::runtime_error(name + ": size does not match its shape");
    std::memcpy(t.data_ptr<float>(), body.data() + begin, end - begin);
    out[name] = t.requires_grad_();
  }
  return out;
}

struct Model {
  std::map<std::string, torch::Tensor> p;
  int64_t heads, blocks = 0;
  torch::Tensor mask;

  Model(std::map<std::string, torch::Tensor> params, int64_t h, int64_t context)
      : p(std::move(params)), heads(h) {
    while (p.count("blocks." + std::to_string(blocks) + ".linear1.weight")) ++blocks;
    mask = torch::full({context, context}, -INFINITY).triu(1);
  }
  torch::Tensor& at(const std::string& k) {
    auto it = p.find(k);
    if (it == p.end()) throw std::runtime_error("missing weight " + k);
    return it->second;
  }
  torch::Tensor forward(const torch::Tensor& ids) {
    const int64_t B = ids.size(0), T = ids.size(1);
    torch::Tensor h = at("tok.weight").index_select(0, ids.reshape({-1})).view({B, T, -1}) +
                      at("pos.weight").narrow(0, 0, T);
    const int64_t C = h.size(2), hd = C / heads;
    for (int64_t i = 0; i < blocks; ++i) {
      std::string b = "blocks." + std::to_string(i) + ".";
      auto ln = [&](const torch::Tensor& x, const std::string& n) {
        return torch::layer_norm(x, {C}, at(b + n + ".weight"), at(b + n + ".bias"));
      };
      torch::Tensor a = ln(h, "norm1");
      auto qkv =
          torch::linear(a, at(b + "self_attn.in_proj_weight"), at(b + "self_attn.in_proj_bias"))
              .chunk(3, -1);
      auto heads_of = [&](const torch::Tensor& x) {
        return x.view({B, T, heads, hd}).transpose(1, 2);
      };
      torch::Tensor s = torch::matmul(heads_of(qkv[0]), heads_of(qkv[1]).transpose(-2, -1)) /
                            std::sqrt(static_cast<double>(hd)) +
                        mask.narrow(0, 0, T).narrow(1, 0, T);
      torch::Tensor o =
          torch::matmul(torch::softmax(s, -1), heads_of(qkv[2])).transpose(1, 2).reshape({B, T, C});
      h = h +
          torch::linear(o, at(b + "self_attn.out_proj.weight"), at(b + "self_attn.out_proj.bias"));
      torch::Tensor f = torch::gelu(
          torch::linear(ln(h, "norm2"), at(b + "linear1.weight"), at(b + "linear1.bias")));
      h = h + torch::linear(f, at(b + "linear2.weight"), at(b + "linear2.bias"));
    }
    h = torch::layer_norm(h, {C}, at("norm.weight"), at("norm.bias"));
    return torch::linear(h, at("head.weight"), at("head.bias"));
  }
};

struct Batch {
  torch::Tensor x, y;
};
Batch make_batch(const examples::Corpus& c, const std::string& text,
                 const std::vector<size_t>& starts, int64_t context) {
  std::vector<int64_t> xs, ys;
  for (size_t s : starts) {
    std::vector<int64_t> ids = examples::encode(c, text, s, static_cast<size_t>(context) + 1);
    xs.insert(xs.end(), ids.begin(), ids.end() - 1);
    ys.insert(ys.end(), ids.begin() + 1, ids.end());
  }
  auto b = static_cast<int64_t>(starts.size());
  return {torch::tensor(xs).view({b, context}), torch::tensor(ys).view({b, context})};
}

torch::Tensor lm_loss(Model& m, const Batch& b) {
  torch::Tensor logits = m.forward(b.x);
  return torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}),
                                              b.y.reshape({-1}));
}

}  // namespace

// OpenBLAS's own (libtorch's set_num_threads leaves the BLAS it calls alone).
extern "C" void openblas_set_num_threads(int);

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string o = argv[i], v = argv[i + 1];
    if (o == "--init")
      a.init = v;
    else if (o == "--epochs")
      a.epochs = std::stoll(v);
    else if (o == "--steps")
      a.steps = std::stoll(v);
    else if (o == "--batch-size")
      a.batch = std::stoll(v);
    else if (o == "--context")
      a.context = std::stoll(v);
    else if (o == "--threads")
      a.threads = std::stoll(v);
    else if (o == "--seed")
      a.seed = std::stoull(v);
    else if (o == "--lr")
      a.lr = std::stod(v);
    else if (o == "--data")
      a.data = v;
    else {
      std::cerr << "unknown option " << o << "\n";
      return 2;
    }
  }
  if (a.init.empty()) {
    std::cerr << "usage: peer_char_transformer --init INIT.safetensors [--epochs N] [--steps N] "
                 "[--batch-size N] [--context N] [--lr X] [--threads N] [--seed N] [--data DIR]\n";
    return 2;
  }
  torch::set_num_threads(static_cast<int>(a.threads));
  openblas_set_num_threads(static_cast<int>(a.threads));
  examples::Corpus corpus = examples::load_corpus(a.data);
  Model model(read_safetensors(a.init), a.heads, a.context);
  std::vector<torch::Tensor> params;
  for (auto& [k, t] : model.p) params.push_back(t);
  torch::optim::AdamW opt(params, torch::optim::AdamWOptions(a.lr).weight_decay(0.01));
  const int64_t total = a.epochs * a.steps;
  auto validation = [&] {
    torch::NoGradGuard ng;
    double sum = 0;
    int64_t n = 0;
    for (const auto& starts : examples::valid_starts(corpus, a.batch, a.context, 16)) {
      sum += lm_loss(model, make_batch(corpus, corpus.valid, starts, a.context)).item<double>();
      ++n;
    }
    return sum / static_cast<double>(n);
  };
  std::printf("libtorch twin: %lld blocks, before training: validation loss %.4f\n",
              static_cast<long long>(model.blocks), validation());
  std::mt19937_64 rng(a.seed);
  int64_t step = 0;
  for (int64_t epoch = 1; epoch <= a.epochs; ++epoch) {
    auto t0 = std::chrono::steady_clock::now();
    double sum = 0;
    for (int64_t s = 0; s < a.steps; ++s, ++step) {
      for (auto& g : opt.param_groups())
        static_cast<torch::optim::AdamWOptions&>(g.options())
            .lr(a.lr * examples::warmup_cosine(step, total));
      Batch b = make_batch(corpus, corpus.train,
                           examples::train_starts(corpus, a.batch, a.context, rng), a.context);
      torch::Tensor loss = lm_loss(model, b);
      opt.zero_grad();
      loss.backward();
      torch::nn::utils::clip_grad_norm_(params, 1.0);
      opt.step();
      sum += loss.item<double>();
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("epoch %lld: train loss %.4f, validation loss %.4f, %.1f s (%.0f ms/step)\n",
                static_cast<long long>(epoch), sum / static_cast<double>(a.steps), validation(),
                secs, 1000 * secs / static_cast<double>(a.steps));
  }
  return 0;
}
