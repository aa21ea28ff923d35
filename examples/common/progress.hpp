// Shared by the Fashion-MNIST trainers (mlp_fashion, resnet_fashion): command-line options, a
// subset of a dataset for --smoke runs, a progress bar on a terminal (plain lines in a log),
// timing, test accuracy and the training loop. Header-only: every examples/*.cpp is a program of
// its own.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ember.hpp>
#include <filesystem>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

namespace examples {

/// What a trainer's command line sets; a trainer fills in its defaults before parsing.
struct TrainArgs {
  int64_t epochs = 3;
  int64_t batch_size = 128;
  int threads = 2;
  int64_t workers = 2;  ///< DataLoader worker threads
  double lr = 0.05;
  uint64_t seed = 0;
  bool smoke = false;        ///< a few batches of one epoch, as the test suite runs it
  std::string save{};        ///< write the trained weights to this .safetensors file
  bool distributed = false;  ///< one rank of an `mpirun -np N` job (DDP + DistributedSampler)
  std::string checkpoint{};  ///< save model, optimizer, schedule, rng, epoch here each epoch
  bool resume = false;       ///< start from the checkpoint in `checkpoint`
  bool jit = false;          ///< each training step in a jit::Region (fused), profiled
};

[[noreturn]] inline void usage(const char* prog, const TrainArgs& d, int code) {
  std::ostream& os = code == 0 ? std::cout : std::cerr;
  os << "usage: " << prog << " [options]\n"
     << "  --epochs N        training epochs (default " << d.epochs << ")\n"
     << "  --batch-size N    images per batch (default " << d.batch_size << ")\n"
     << "  --lr X            learning rate (default " << d.lr << ")\n"
     << "  --threads N       compute threads (default " << d.threads << ")\n"
     << "  --workers N       data loader worker threads (default " << d.workers << ")\n"
     << "  --seed N          seed of weights, shuffling and augmentation (default " << d.seed
     << ")\n"
     << "  --save PATH       save the trained weights as .safetensors\n"
     << "  --smoke           a few batches of one epoch on a small subset (a quick test)\n"
     << "  --distributed     train data-parallel: run under mpirun -np N\n"
     << "  --checkpoint DIR  save a checkpoint to DIR after every epoch\n"
     << "  --resume          continue from the checkpoint in --checkpoint DIR\n"
     << "  --jit             run each training step (forward, loss, backward, optimizer) in a\n"
     << "                    jit::Region: fused kernels; prints the JIT profiler's table\n"
     << "Data: $EMBER_FASHION_MNIST or /usr/share/datasets/fashion-mnist "
        "(apt-get install dataset-fashion-mnist).\n";
  std::exit(code);
}

/// Parses the options above over the defaults d; a bad option prints the usage and exits 2.
inline TrainArgs parse_args(int argc, char** argv, TrainArgs d) {
  TrainArgs a = d;
  auto value = [&](int& i) -> std::string {
    if (i + 1 >= argc) {
      std::cerr << argv[0] << ": " << argv[i] << " needs a value\n";
      usage(argv[0], d, 2);
    }
    return argv[++i];
  };
  // The integer after option i, at least min.
  auto integer = [&](int& i, int64_t min) -> int64_t {
    const char* name = argv[i];
    std::string s = value(i);
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0' || v < min) {
      std::cerr << argv[0] << ": " << name << " expects an integer >= " << min << ", got '" << s
                << "'\n";
      usage(argv[0], d, 2);
    }
    return v;
  };
  for (int i = 1; i < argc; ++i) {
    std::string o = argv[i];
    if (o == "--epochs")
      a.epochs = integer(i, 1);
    else if (o == "--batch-size")
      a.batch_size = integer(i, 1);
    else if (o == "--threads")
      a.threads = static_cast<int>(integer(i, 1));
    else if (o == "--workers")
      a.workers = integer(i, 0);
    else if (o == "--seed")
      a.seed = static_cast<uint64_t>(integer(i, 0));
    else if (o == "--save")
      a.save = value(i);
    else if (o == "--smoke")
      a.smoke = true;
    else if (o == "--distributed")
      a.distributed = true;
    else if (o == "--checkpoint")
      a.checkpoint = value(i);
    else if (o == "--resume")
      a.resume = true;
    else if (o == "--jit")
      a.jit = true;
    else if (o == "--lr") {
      std::string s = value(i);
      char* end = nullptr;
      a.lr = std::strtod(s.c_str(), &end);
      if (s.empty() || *end != '\0' || !(a.lr > 0)) {
        std::cerr << argv[0] << ": --lr expects a positive number, got '" << s << "'\n";
        usage(argv[0], d, 2);
      }
    } else if (o == "--help" || o == "-h") {
      usage(argv[0], d, 0);
    } else {
      std::cerr << argv[0] << ": unknown option '" << o << "'\n";
      usage(argv[0], d, 2);
    }
  }
  if (a.smoke) a.epochs = 1;
  if (a.resume && a.checkpoint.empty()) {
    std::cerr << argv[0] << ": --resume needs --checkpoint DIR\n";
    usage(argv[0], d, 2);
  }
  return a;
}

/// The training loader: shuffled, over this rank's shard when --distributed.
template <class D>
ember::data::DataLoader train_loader(D& dataset, const TrainArgs& a) {
  ember::data::DataLoaderOptions o{
      .batch_size = a.batch_size, .num_workers = a.workers, .seed = a.seed};
  if (!a.distributed) {
    o.shuffle = true;
    return ember::data::DataLoader(dataset, o);
  }
  auto shard = std::make_shared<ember::data::DistributedSampler>(
      dataset.size(), ember::data::DistributedSamplerOptions{.shuffle = true, .seed = a.seed});
  return ember::data::DataLoader(dataset, shard, o);
}

/// The test loader: in order, over this rank's shard when --distributed (the accuracy is then
/// all-reduced; the shards are padded to equal size, so up to N-1 images count twice).
template <class D>
ember::data::DataLoader test_loader(D& dataset, const TrainArgs& a, int64_t batch) {
  ember::data::DataLoaderOptions o{.batch_size = batch, .num_workers = a.workers};
  if (!a.distributed) return ember::data::DataLoader(dataset, o);
  auto shard = std::make_shared<ember::data::DistributedSampler>(
      dataset.size(), ember::data::DistributedSamplerOptions{.shuffle = false});
  return ember::data::DataLoader(dataset, shard, o);
}

/// The first n examples of a dataset (held by reference: keep it alive).
template <class D>
class Subset {
 public:
  Subset(D& base, size_t n) : base_(base), n_(std::min(n, static_cast<size_t>(base.size()))) {}
  ember::data::Example get(size_t i) { return base_.get(i); }
  size_t size() const { return n_; }

 private:
  D& base_;
  size_t n_;
};

/// "1:02:03", "4:05" or "6.7s".
/// --jit's report: the JIT's counts since `before`, then the profiler's table.
inline void report_jit(ember::jit::Profiler& profiler, const ember::jit::Stats& before) {
  profiler.stop();
  const ember::jit::Stats s = ember::jit::stats();
  std::printf("jit: %lld graphs (%lld fused), %lld graph breaks, %lld kernels compiled\n",
              static_cast<long long>(s.graphs - before.graphs),
              static_cast<long long>(s.fused_graphs - before.fused_graphs),
              static_cast<long long>(s.graph_breaks - before.graph_breaks),
              static_cast<long long>(s.kernels_compiled - before.kernels_compiled));
  profiler.report(std::cout);
}

inline std::string format_seconds(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  if (s < 60) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1fs", s);
    return buf;
  }
  auto t = static_cast<int64_t>(s + 0.5);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(t / 3600),
                  static_cast<long long>(t / 60 % 60), static_cast<long long>(t % 60));
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(t / 60),
                  static_cast<long long>(t % 60));
  return buf;
}

/// Wall-clock seconds since construction (or the last reset).
class Timer {
 public:
  Timer() : start_(std::chrono::steady_clock::now()) {}
  void reset() { start_ = std::chrono::steady_clock::now(); }
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

/// Progress of one epoch: a redrawn bar on a terminal, a line every tenth of the epoch
/// otherwise. Shows epoch, batch/total, mean loss so far, images/s and ETA.
class Progress {
 public:
  /// quiet: count but print nothing (the ranks other than 0 of a distributed run); unit names
  /// what step() counts in the rate ("img/s").
  Progress(int64_t epoch, int64_t epochs, int64_t total_batches, bool quiet = false,
           const char* unit = "img")
      : epoch_(epoch),
        epochs_(epochs),
        total_(total_batches),
        tty_(isatty(STDOUT_FILENO) != 0),
        quiet_(quiet),
        unit_(unit) {}

  /// Records one finished batch of `images` images (or other units) with mean loss `loss`.
  void step(int64_t images, double loss) {
    ++done_;
    images_ += images;
    loss_sum_ += loss * static_cast<double>(images);
    double now = timer_.seconds();
    if (quiet_) return;
    if (tty_) {
      if (done_ == total_ || now - last_draw_ >= 0.1) {
        last_draw_ = now;
        std::cout << '\r' << line(now, true) << "\033[K" << std::flush;
      }
    } else {
      int64_t every = std::max<int64_t>(1, (total_ + 9) / 10);
      if (done_ % every == 0 || done_ == total_) std::cout << line(now, false) << std::endl;
    }
  }

  /// Ends the bar's line; returns the epoch's seconds.
  double finish() {
    double s = timer_.seconds();
    if (tty_ && !quiet_) std::cout << '\n';
    return s;
  }
  /// Mean training loss over the epoch so far.
  double mean_loss() const { return images_ ? loss_sum_ / static_cast<double>(images_) : NAN; }
  int64_t images() const { return images_; }

 private:
  std::string line(double now, bool bar) const {
    std::ostringstream os;
    os << "epoch " << epoch_ << "/" << epochs_ << " ";
    if (bar) {
      constexpr int kWidth = 28;
      auto filled = total_ ? static_cast<int>(kWidth * done_ / total_) : kWidth;
      os << '[' << std::string(filled, '#') << std::string(kWidth - filled, '.') << "] ";
    }
    double rate = now > 0 ? static_cast<double>(images_) / now : 0;
    double eta =
        done_ ? now / static_cast<double>(done_) * static_cast<double>(total_ - done_) : NAN;
    char buf[160];
    std::snprintf(buf, sizeof buf, "%*lld/%lld  loss %.4f  %.0f %s/s  %s %s",
                  static_cast<int>(std::to_string(total_).size()), static_cast<long long>(done_),
                  static_cast<long long>(total_), mean_loss(), rate, unit_,
                  done_ == total_ ? "took" : "ETA",
                  format_seconds(done_ == total_ ? now : eta).c_str());
    os << buf;
    return os.str();
  }

  int64_t epoch_, epochs_, total_;
  bool tty_, quiet_;
  const char* unit_;
  int64_t done_ = 0, images_ = 0;
  double loss_sum_ = 0, last_draw_ = -1;
  Timer timer_;
};

/// Fraction of correctly classified examples (the model in eval mode, no autograd); leaves
/// the model in training mode.
template <class Model>
double accuracy(Model& model, ember::data::DataLoader& loader) {
  ember::NoGradGuard no_grad;
  model.eval();
  int64_t correct = 0, total = 0;
  for (auto [images, labels] : loader) {
    ember::Tensor pred = model(images).argmax(1);
    correct += (pred == labels).sum().template item<int64_t>();
    total += labels.size(0);
  }
  model.train();
  if (ember::distributed::is_initialized()) {  // every rank read its shard: sum the counts
    ember::Tensor counts = ember::tensor({correct, total});
    ember::distributed::all_reduce(counts);
    correct = counts.to_vector<int64_t>()[0];
    total = counts.to_vector<int64_t>()[1];
  }
  return total ? static_cast<double>(correct) / static_cast<double>(total) : 0.0;
}

/// Writes a checkpoint into dir: the model, the optimizer, and the schedule, the random
/// generator and the next epoch in train_state.safetensors.
template <class Model, class Schedule>
void save_checkpoint(const std::string& dir, const Model& net, const ember::optim::Optimizer& opt,
                     const Schedule& schedule, int64_t next_epoch) {
  std::filesystem::create_directories(dir);
  net.save(dir + "/model.safetensors");
  opt.save(dir + "/optimizer.safetensors");
  ember::nn::StateDict extra = schedule.state_dict();
  extra.insert("rng", ember::get_rng_state());
  extra.insert("epoch", ember::scalar_tensor(next_epoch, ember::kInt64));
  ember::nn::save_safetensors(dir + "/train_state.safetensors", extra);
}

/// Loads a checkpoint written by save_checkpoint; returns the epoch to continue with.
template <class Model, class Schedule>
int64_t load_checkpoint(const std::string& dir, Model& net, ember::optim::Optimizer& opt,
                        Schedule& schedule) {
  net.load(dir + "/model.safetensors");
  opt.load(dir + "/optimizer.safetensors");
  ember::nn::StateDict extra = ember::nn::load_safetensors(dir + "/train_state.safetensors");
  schedule.load_state_dict(extra);
  ember::set_rng_state(extra.at("rng"));
  return extra.at("epoch").template item<int64_t>();
}

/// The trainers' loop: each epoch, cross-entropy steps (with the learning-rate schedule stepped
/// per batch) under a progress bar, then test accuracy; then the summary line that
/// scripts/train_compare.sh reads, and --save.
template <class Model, class Schedule>
int train(Model& net, ember::optim::Optimizer& opt, Schedule& schedule,
          ember::data::DataLoader& train_loader, ember::data::DataLoader& test_loader,
          const TrainArgs& args, size_t train_n, size_t test_n) {
  auto steps = static_cast<int64_t>(train_loader.size());
  const bool lead = !args.distributed || ember::distributed::rank() == 0;
  // --distributed: rank 0's weights everywhere, gradients averaged during backward.
  std::optional<ember::distributed::DistributedDataParallel> ddp;
  if (args.distributed)
    ddp.emplace(net.parameters(),
                ember::distributed::DistributedDataParallelOptions{.buffers = net.buffers()});
  int64_t first = 1;
  if (args.resume) {
    first = load_checkpoint(args.checkpoint, net, opt, schedule) + 1;
    train_loader.set_epoch(first - 1);
    if (lead) std::cout << "resumed from " << args.checkpoint << " at epoch " << first << "\n";
  }
  if (lead)
    std::cout << "training on " << train_n << " images, testing on " << test_n << ", batch "
              << args.batch_size << ", " << args.threads << " threads, " << args.workers
              << " loader workers"
              << (args.distributed
                      ? ", " + std::to_string(ember::distributed::world_size()) + " ranks"
                      : std::string())
              << "\n";
  double train_seconds = 0, acc = 0;
  int64_t trained = 0;
  // --jit: the whole step is traced into one graph and runs as fused kernels once hot (the
  // model, loss and optimizer code unchanged); the profiler times the region's graph runs.
  std::optional<ember::jit::Profiler> profiler;
  const ember::jit::Stats jit_before = ember::jit::stats();
  if (args.jit) profiler.emplace();
  for (int64_t epoch = first; epoch <= args.epochs; ++epoch, ++trained) {
    Progress progress(epoch, args.epochs, steps, !lead);
    for (auto [images, labels] : train_loader) {
      ember::Tensor loss;
      {
        std::optional<ember::jit::Region> region;
        if (args.jit) region.emplace("train_step");
        loss = ember::nn::functional::cross_entropy(net(images), labels);
        opt.zero_grad();
        loss.backward();
        opt.step();
      }
      schedule.step();
      progress.step(images.size(0), loss.template item<float>());
    }
    double seconds = progress.finish();
    train_seconds += seconds;
    acc = accuracy(net, test_loader);
    if (lead)
      std::printf("epoch %lld: train loss %.4f, test accuracy %.4f, %.1f s\n",
                  static_cast<long long>(epoch), progress.mean_loss(), acc, seconds);
    if (lead && !args.checkpoint.empty())
      save_checkpoint(args.checkpoint, net, opt, schedule, epoch);
    if (args.distributed) ember::distributed::barrier();  // the checkpoint is complete
  }
  if (!lead) return 0;
  if (profiler) report_jit(*profiler, jit_before);
  if (trained > 0)
    std::printf("test accuracy %.4f, time per epoch %.1f s (%.0f images/s)\n", acc,
                train_seconds / static_cast<double>(trained),
                static_cast<double>(train_n) * static_cast<double>(trained) / train_seconds);
  if (!args.save.empty()) {
    net.save(args.save);
    std::cout << "saved " << net.state_dict().size() << " tensors to " << args.save << "\n";
  }
  return 0;
}

}  // namespace examples
