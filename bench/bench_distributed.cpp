// ember::distributed under MPI (issue #17's benchmarks), one thread per rank:
//   - all_reduce/<case>/<MiB>: distributed::all_reduce of 1, 16 and 64 MiB (float32 sum, float32
//     mean, int64 sum, and a float32 transposed view, reduced through a contiguous copy) against
//     a raw MPI_Allreduce (MPI_IN_PLACE, MPI_SUM) of a contiguous buffer of the same bytes,
//     alternated in one loop (which one goes first swaps every iteration). The time reported is
//     ember's; counters: ember_ms and raw_ms (means), ratio = raw/ember over all iterations,
//     ratio_median = median of the per-pair ratios (target >= 0.9).
//   - ddp_backward/<bucket KiB>: backward of an MLP 784-1024-1024-10 (batch 64, cross_entropy)
//     with DistributedDataParallel against the same backward of an identical net without DDP,
//     alternated; only loss.backward() is timed. Time reported: DDP's; counters plain_ms,
//     ddp_ms, ratio = ddp/plain, ratio_median, buckets (target ratio <= 1.15).
// Every timed call starts after a barrier, so a rank's lag in the untimed work is not counted.
// The ranks must run the same benchmarks the same number of times (collectives match one to
// one): iterations are fixed, not chosen by timing. Only rank 0 prints.
//
//   export OMPI_MCA_btl_vader_single_copy_mechanism=none
//   mpirun --allow-run-as-root --oversubscribe -np 2 build/bench/bench_distributed
#include <benchmark/benchmark.h>
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ember.hpp"

namespace {

namespace dist = ember::distributed;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// A pair of timings per iteration: `ours` is reported as the benchmark's time.
struct Pairs {
  std::vector<double> ours, theirs;
  double total(const std::vector<double>& v) const {
    double s = 0;
    for (double x : v) s += x;
    return s;
  }
  std::vector<double> ratios(bool theirs_over_ours) const {
    std::vector<double> r;
    for (size_t i = 0; i < ours.size(); ++i)
      r.push_back(theirs_over_ours ? theirs[i] / ours[i] : ours[i] / theirs[i]);
    return r;
  }
  // Times ours() and theirs() once per iteration, which one goes first alternating; ours is
  // the benchmark's time.
  template <class Ours, class Theirs>
  void alternate(benchmark::State& state, Ours&& run_ours, Theirs&& run_theirs) {
    bool ours_first = true;
    for (auto _ : state) {
      double to, tt;
      if (ours_first) {
        to = run_ours();
        tt = run_theirs();
      } else {
        tt = run_theirs();
        to = run_ours();
      }
      ours_first = !ours_first;
      ours.push_back(to);
      theirs.push_back(tt);
      state.SetIterationTime(to);
    }
  }
};

// ---- all_reduce against raw MPI_Allreduce ----

enum class Case { sum_f32, mean_f32, sum_i64, transposed_f32 };

void BM_all_reduce(benchmark::State& state, Case c) {
  const int64_t bytes = state.range(0) << 20;
  const bool i64 = c == Case::sum_i64;
  const int64_t n = bytes / (i64 ? 8 : 4);
  // Zeros: a sum of zeros stays zero, so repeated in-place sums never overflow.
  ember::Tensor t;
  if (c == Case::transposed_f32) {
    int64_t side = 1;
    while (side * side < n) side *= 2;  // 1, 16, 64 MiB of float32: 512², 2048², 4096²
    t = ember::zeros({side, side}).t();
  } else {
    t = ember::zeros({n}, i64 ? ember::kInt64 : ember::kFloat32);
  }
  const ember::DType dtype = i64 ? ember::kInt64 : ember::kFloat32;
  ember::Tensor raw = ember::zeros({n}, dtype);
  const MPI_Datatype mpi_type = i64 ? MPI_INT64_T : MPI_FLOAT;
  const dist::ReduceOp op = c == Case::mean_f32 ? dist::ReduceOp::mean : dist::ReduceOp::sum;

  auto run_ember = [&] {
    dist::barrier();
    auto t0 = Clock::now();
    dist::all_reduce(t, op);
    return seconds_since(t0);
  };
  auto run_raw = [&] {
    dist::barrier();
    auto t0 = Clock::now();
    MPI_Allreduce(MPI_IN_PLACE, raw.raw_data(), static_cast<int>(n), mpi_type, MPI_SUM,
                  MPI_COMM_WORLD);
    return seconds_since(t0);
  };
  run_ember();  // warm-up: first touch of MPI's shared-memory buffers
  run_raw();
  Pairs p;
  p.alternate(state, run_ember, run_raw);
  state.counters["ember_ms"] = 1e3 * p.total(p.ours) / double(p.ours.size());
  state.counters["raw_ms"] = 1e3 * p.total(p.theirs) / double(p.theirs.size());
  state.counters["ratio"] = p.total(p.theirs) / p.total(p.ours);
  state.counters["ratio_median"] = median(p.ratios(true));
  state.SetBytesProcessed(state.iterations() * bytes);
}

// ---- DistributedDataParallel backward against a plain backward ----

constexpr int64_t kBatch = 64, kIn = 784, kHidden = 1024, kClasses = 10;

ember::nn::Sequential mlp() {
  namespace nn = ember::nn;
  ember::manual_seed(0);
  return nn::Sequential(nn::Linear(kIn, kHidden), nn::ReLU(), nn::Linear(kHidden, kHidden),
                        nn::ReLU(), nn::Linear(kHidden, kClasses));
}

// state.range(0): DDP's bucket size in KiB.
void BM_ddp_backward(benchmark::State& state) {
  namespace F = ember::nn::functional;
  auto plain = mlp();
  auto net = mlp();
  dist::DistributedDataParallel ddp(
      net.parameters(), {.bucket_cap_mb = static_cast<double>(state.range(0)) / 1024.0});
  ember::manual_seed(1 + dist::rank());  // each rank its own batch
  ember::Tensor x = ember::randn({kBatch, kIn});
  ember::Tensor y = ember::randint(0, kClasses, {kBatch});

  auto backward = [&](ember::nn::Sequential& m) {
    m.zero_grad();  // to none, as a training loop's zero_grad
    ember::Tensor loss = F::cross_entropy(m(x), y);
    dist::barrier();
    auto t0 = Clock::now();
    loss.backward();
    return seconds_since(t0);
  };
  backward(plain);  // warm-up: the allocator's cache, DDP's first pass
  backward(net);
  Pairs p;
  p.alternate(state, [&] { return backward(net); }, [&] { return backward(plain); });
  state.counters["ddp_ms"] = 1e3 * p.total(p.ours) / double(p.ours.size());
  state.counters["plain_ms"] = 1e3 * p.total(p.theirs) / double(p.theirs.size());
  state.counters["ratio"] = p.total(p.ours) / p.total(p.theirs);
  state.counters["ratio_median"] = median(p.ratios(false));
  state.counters["buckets"] = static_cast<double>(ddp.bucket_indices().size());
}

void register_all() {
  struct Named {
    const char* name;
    Case c;
  };
  for (Named k : {Named{"sum_f32", Case::sum_f32}, Named{"mean_f32", Case::mean_f32},
                  Named{"sum_i64", Case::sum_i64}, Named{"transposed_f32", Case::transposed_f32}})
    // Fixed iterations per size: about 1 s each with 2 ranks on 2 shared cores.
    for (auto [mib, iters] : {std::pair{1, 200}, std::pair{16, 20}, std::pair{64, 8}})
      benchmark::RegisterBenchmark((std::string("all_reduce/") + k.name).c_str(), BM_all_reduce,
                                   k.c)
          ->Arg(mib)
          ->Iterations(iters)
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
  // 4 KiB: 5 buckets (w3+b3, b2, w2, b1, w1: a parameter is never split); 1 MiB: 2 buckets;
  // 25 MiB (the default): 1 bucket, started only when the graph is done.
  benchmark::RegisterBenchmark("ddp_backward", BM_ddp_backward)
      ->Arg(4)
      ->Arg(1024)
      ->Arg(25 * 1024)
      ->Iterations(40)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
}

// Ranks other than 0 run the same benchmarks and report nowhere.
class NullReporter : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>&) override {}
};

}  // namespace

int main(int argc, char** argv) {
  dist::init(&argc, &argv);
  ember::set_num_threads(1);  // the ranks share the machine's cores
  if (dist::rank() != 0) {
    // --benchmark_out=FILE is rank 0's: another rank would open (and truncate) it too.
    int kept = 1;
    for (int i = 1; i < argc; ++i)
      if (!std::string_view(argv[i]).starts_with("--benchmark_out")) argv[kept++] = argv[i];
    argc = kept;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  register_all();
  if (dist::rank() == 0) {
    std::printf("bench_distributed: %d ranks, 1 thread each\n", dist::world_size());
    std::fflush(stdout);
    benchmark::RunSpecifiedBenchmarks();
  } else {
    NullReporter display;  // and no file reporter: --benchmark_out was taken out above
    benchmark::RunSpecifiedBenchmarks(&display);
  }
  dist::finalize();
  return 0;
}
