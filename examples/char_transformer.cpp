// A small decoder-only character model trained on the English prose of Debian's `fortunes`
// package: token and position embeddings, 4 pre-norm blocks of causal self-attention and a GELU
// MLP (nn::TransformerEncoderLayer with norm_first and a causal mask), a final LayerNorm and a
// linear head; AdamW with a linear warm-up then a cosine decay (LambdaLR), gradient clipping,
// validation loss per epoch and a few lines of sampled text at the end.
//
//   char_transformer [--epochs 2] [--steps 60] [--batch-size 32] [--context 64] [--width 128]
//                    [--lr 0.003] [--jit] [--threads 2] [--seed 0] [--sample 240]
//                    [--data /usr/share/games/fortunes] [--save model.safetensors]
//                    [--save-init init.safetensors]   (the initial weights, for the twin)
//   char_transformer --smoke     (a few steps: what the test suite runs)
//
// The files are split by name: every 8th file (sorted) is validation text. Batches are windows
// drawn by a std::mt19937_64 from --seed (examples/common/fortunes.hpp), so the libtorch twin,
// bench/peer/peer_char_transformer, reads the same ones.
// apt-get install fortunes (scripts/setup.sh does).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ember.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "common/fortunes.hpp"
#include "common/progress.hpp"

using namespace ember;
namespace F = ember::nn::functional;

using examples::Corpus;
using examples::encode;

namespace {

struct Args {
  int64_t epochs = 2, steps = 60, batch = 32, context = 64, width = 128, layers = 4, heads = 4;
  int64_t sample = 240, threads = 2;
  uint64_t seed = 0;
  double lr = 3e-3;
  bool jit = false, smoke = false;
  std::string data = "/usr/share/games/fortunes", save, save_init;
};

[[noreturn]] void usage(const char* prog, int code) {
  Args d;
  (code ? std::cerr : std::cout)
      << "usage: " << prog << " [options]\n"
      << "  --epochs N       epochs (default " << d.epochs << ")\n"
      << "  --steps N        optimizer steps per epoch (default " << d.steps << ")\n"
      << "  --batch-size N   windows per step (default " << d.batch << ")\n"
      << "  --context N      characters per window (default " << d.context << ")\n"
      << "  --width N        model width (default " << d.width << "; 4 heads, 4 blocks)\n"
      << "  --lr X           peak learning rate (default " << d.lr << ")\n"
      << "  --jit            run each training step in a jit::Region\n"
      << "  --threads N      compute threads (default " << d.threads << ")\n"
      << "  --seed N         seed of weights and batches (default " << d.seed << ")\n"
      << "  --sample N       characters to sample at the end (default " << d.sample << ")\n"
      << "  --data DIR       the fortunes directory (default " << d.data << ")\n"
      << "  --save PATH      save the trained weights as .safetensors\n"
      << "  --save-init PATH save the initial weights (for the libtorch twin's --init)\n"
      << "  --smoke          a few steps of one epoch (a quick test)\n";
  std::exit(code);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string o = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(argv[0], 2);
      return argv[++i];
    };
    auto integer = [&](int64_t min) {
      std::string s = value();
      char* end = nullptr;
      long long v = std::strtoll(s.c_str(), &end, 10);
      if (s.empty() || *end || v < min) {
        std::cerr << argv[0] << ": " << o << " expects an integer >= " << min << "\n";
        usage(argv[0], 2);
      }
      return static_cast<int64_t>(v);
    };
    if (o == "--epochs")
      a.epochs = integer(1);
    else if (o == "--steps")
      a.steps = integer(1);
    else if (o == "--batch-size")
      a.batch = integer(1);
    else if (o == "--context")
      a.context = integer(2);
    else if (o == "--width")
      a.width = integer(4);
    else if (o == "--threads")
      a.threads = integer(1);
    else if (o == "--seed")
      a.seed = static_cast<uint64_t>(integer(0));
    else if (o == "--sample")
      a.sample = integer(0);
    else if (o == "--data")
      a.data = value();
    else if (o == "--save")
      a.save = value();
    else if (o == "--save-init")
      a.save_init = value();
    else if (o == "--jit")
      a.jit = true;
    else if (o == "--smoke")
      a.smoke = true;
    else if (o == "--lr") {
      std::string s = value();
      a.lr = std::strtod(s.c_str(), nullptr);
      if (!(a.lr > 0)) usage(argv[0], 2);
    } else if (o == "--help" || o == "-h")
      usage(argv[0], 0);
    else {
      std::cerr << argv[0] << ": unknown option '" << o << "'\n";
      usage(argv[0], 2);
    }
  }
  if (a.width % a.heads) {
    std::cerr << argv[0] << ": --width must be a multiple of " << a.heads << "\n";
    usage(argv[0], 2);
  }
  if (a.smoke) a.epochs = 1, a.steps = 4, a.sample = 60;
  return a;
}

// Windows of context + 1 characters: inputs are the first context, targets the last.
struct Batch {
  Tensor x, y;
};
Batch make_batch(const Corpus& c, const std::string& text, const std::vector<size_t>& starts,
                 int64_t context) {
  std::vector<int64_t> xs, ys;
  for (size_t s : starts) {
    std::vector<int64_t> ids = encode(c, text, s, static_cast<size_t>(context) + 1);
    xs.insert(xs.end(), ids.begin(), ids.end() - 1);
    ys.insert(ys.end(), ids.begin() + 1, ids.end());
  }
  auto b = static_cast<int64_t>(starts.size());
  return {tensor(xs, {b, context}), tensor(ys, {b, context})};
}

struct CharModel : nn::Module<CharModel> {
  nn::Embedding tok, pos;
  std::vector<nn::TransformerEncoderLayer> blocks;
  nn::LayerNorm norm;
  nn::Linear head;
  Tensor causal;  // the additive mask [context, context]; plain data, not state

  CharModel(int64_t vocab, const Args& a)
      : tok(vocab, a.width), pos(a.context, a.width), norm(a.width), head(a.width, vocab) {
    for (int64_t i = 0; i < a.layers; ++i)
      blocks.emplace_back(a.width, a.heads,
                          nn::TransformerEncoderLayerOptions{.dim_feedforward = 4 * a.width,
                                                             .dropout = 0.0,
                                                             .activation = "gelu",
                                                             .batch_first = true,
                                                             .norm_first = true});
    causal = F::generate_square_subsequent_mask(a.context);
  }
  // ids [B, T] -> logits [B, T, vocab]
  Tensor forward(const Tensor& ids) {
    const int64_t t = ids.size(1);
    Tensor h = tok(ids) + pos(arange(t, kInt64));
    Tensor mask = t == causal.size(0) ? causal : causal.narrow(0, 0, t).narrow(1, 0, t);
    for (auto& b : blocks) h = b(h, mask, {}, true);
    return head(norm(h));
  }
};

}  // namespace

EMBER_MODULE(CharModel, tok, pos, blocks, norm, head);

namespace {

Tensor lm_loss(CharModel& m, const Batch& b) {
  Tensor logits = m(b.x);
  return F::cross_entropy(logits.reshape({-1, logits.size(-1)}), b.y.reshape({-1}));
}

// Mean loss over the validation windows (the same every epoch).
double validation_loss(CharModel& m, const Corpus& c, const Args& a, int64_t batches) {
  NoGradGuard ng;
  m.eval();
  double sum = 0;
  int64_t n = 0;
  for (const std::vector<size_t>& starts : examples::valid_starts(c, a.batch, a.context, batches)) {
    sum += lm_loss(m, make_batch(c, c.valid, starts, a.context)).item<double>();
    ++n;
  }
  m.train();
  return n ? sum / static_cast<double>(n) : NAN;
}

// Continues `prompt` by sampling from softmax(logits / temperature), one character at a time.
std::string sample(CharModel& m, const Corpus& c, const Args& a, const std::string& prompt,
                   int64_t n, std::mt19937_64& rng) {
  NoGradGuard ng;
  m.eval();
  std::string text = prompt;
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int64_t i = 0; i < n; ++i) {
    size_t from = text.size() > static_cast<size_t>(a.context) ? text.size() - a.context : 0;
    std::vector<int64_t> ids = encode(c, text, from, text.size() - from);
    Tensor logits = m(tensor(ids, {1, static_cast<int64_t>(ids.size())}));
    std::vector<float> p = softmax(logits[0][-1] / 0.8, -1).to_vector<float>();
    double r = u(rng), acc = 0;
    size_t k = 0;
    while (k + 1 < p.size() && (acc += p[k]) < r) ++k;
    text += c.chars[k];
  }
  m.train();
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  Args a = parse(argc, argv);
  set_num_threads(static_cast<int>(a.threads));
  manual_seed(a.seed);
  Corpus corpus = examples::load_corpus(a.data);
  std::cout << "fortunes: " << corpus.train.size() << " training characters, "
            << corpus.valid.size() << " validation characters (files";
  for (const auto& f : corpus.valid_files) std::cout << " " << f;
  std::cout << "), vocabulary " << corpus.chars.size() << "\n";

  CharModel model(static_cast<int64_t>(corpus.chars.size()), a);
  std::cout << "model: " << a.layers << " pre-norm blocks, width " << a.width << ", " << a.heads
            << " heads, context " << a.context << ", " << model.num_parameters() << " parameters\n";

  if (!a.save_init.empty()) model.save(a.save_init);
  std::vector<Tensor> params = model.parameters();
  optim::AdamW opt(params, {.lr = a.lr, .weight_decay = 0.01});
  // Linear warm-up over the first 10% of the steps, then a half cosine down to 10% of the peak.
  const int64_t total = a.epochs * a.steps;
  optim::LambdaLR schedule(opt, [=](int64_t s) { return examples::warmup_cosine(s, total); });

  std::mt19937_64 rng(a.seed);
  const int64_t valid_batches = a.smoke ? 2 : 16;
  std::printf("before training: validation loss %.4f (uniform would be %.4f)\n",
              validation_loss(model, corpus, a, valid_batches),
              std::log(static_cast<double>(corpus.chars.size())));
  examples::Timer total_time;
  // --jit: the step is traced into one graph and runs as fused kernels once hot; the profiler
  // times the region's graph runs.
  std::optional<jit::Profiler> profiler;
  const jit::Stats jit_before = jit::stats();
  if (a.jit) profiler.emplace();
  for (int64_t epoch = 1; epoch <= a.epochs; ++epoch) {
    examples::Progress progress(epoch, a.epochs, a.steps, false, "seq");
    for (int64_t s = 0; s < a.steps; ++s) {
      std::vector<size_t> starts = examples::train_starts(corpus, a.batch, a.context, rng);
      Batch b = make_batch(corpus, corpus.train, starts, a.context);
      Tensor loss;
      {
        std::optional<jit::Region> region;
        if (a.jit) region.emplace("char_step");
        loss = lm_loss(model, b);
        opt.zero_grad();
        loss.backward();
        nn::utils::clip_grad_norm_(params, 1.0);
        opt.step();
      }
      schedule.step();
      progress.step(a.batch, loss.item<float>());
    }
    double seconds = progress.finish();
    double vl = validation_loss(model, corpus, a, valid_batches);
    std::printf(
        "epoch %lld: train loss %.4f, validation loss %.4f, lr %.2e, %.1f s (%.0f ms/step)\n",
        static_cast<long long>(epoch), progress.mean_loss(), vl, schedule.get_last_lr()[0], seconds,
        1000 * seconds / static_cast<double>(a.steps));
  }
  std::printf("trained %lld steps in %.1f s\n", static_cast<long long>(total),
              total_time.seconds());
  if (profiler) examples::report_jit(*profiler, jit_before);
  if (a.sample > 0) {
    std::cout << "samples:\n";
    for (const char* prompt : {"The ", "A man ", "Life is "})
      std::cout << "  " << sample(model, corpus, a, prompt, a.sample / 3, rng) << "\n";
  }
  if (!a.save.empty()) {
    model.save(a.save);
    std::cout << "saved " << model.state_dict().size() << " tensors to " << a.save << "\n";
  }
  return 0;
}
