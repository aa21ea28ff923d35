// conv2d at resnet_fashion's shapes (batch 128, 28x28 Fashion-MNIST, widths 16/32/64), 2
// threads: ember's conv2d (on oneDNN when ember is built with it, else im2col + OpenBLAS sgemm),
// ember forced onto im2col, and raw oneDNN (libdnnl, when found) in the same binary, on the same
// data.
//
// Per shape (named by channels, kernel, stride, input size; counter `per_step` = how many convs
// of that shape one training step runs):
//   fwd/<shape>/ember         nn::functional::conv2d
//   bwd/<shape>/ember         Op::Conv2dBackward with the output mask autograd passes: grad_weight,
//                             and grad_input except for the stem (the convs have no bias)
//   fwd|bwd/<shape>/ember_im2col  the same on ember's im2col path (EMBER_CONV=im2col), when
//                             ember has oneDNN
//   fwd|bwd/<shape>/ember_whole   ember on oneDNN with the batch run whole on an OpenMP team of 2
//                             (by default it is cut into one chunk per ember thread, each run
//                             single-threaded on ember's pool)
//   fwd/<shape>/dnnl          convolution_forward (algorithm auto) on tensors already in the
//                             primitive's preferred (blocked) layouts, converted once outside the
//                             loop
//   fwd/<shape>/dnnl_reorder  the same from and to NCHW/OIHW each call: input and weight
//                             reorders, the convolution, the output reordered back to NCHW
//   bwd/<shape>/dnnl          backward data + backward weights on blocked tensors (backward
//                             weights only for the stem, as libtorch skips the image's gradient)
//   bwd/<shape>/dnnl_reorder  the same from NCHW grad_out, input and OIHW weight to NCHW
//                             grad_input and OIHW grad_weight, every reorder in the loop
//   fwd|bwd/<shape>/dnnl_nchw activations kept NCHW (oneDNN's implementation for plain layouts,
//                             no activation reorders), weights reordered each call
// The label names oneDNN's implementations; `rel_err` = max |result - im2col| / max |im2col|.
// step/ember, step/ember_whole, step/ember_im2col and step/dnnl* run every convolution of one
// training step (forward in network order, then backward in reverse): the time per iteration is
// the step's total, counters `fwd_ms` and `bwd_ms` split it. step/ember_chunks alternates the
// step with oneDNN's batch chunks of the default size and with one chunk per thread (counters
// `chunked_ms`, `per_thread_ms` and the medians of the per-pair ratios `ratio_wall`, `ratio_cpu`).
//
//   ./bench_conv --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ember.hpp"
#include "peer/interleave.hpp"
#include "runtime/ops/conv_dnnl.hpp"

#ifdef EMBER_HAVE_DNNL
#include <omp.h>

#include <dnnl.hpp>
#endif

namespace {

constexpr int64_t kBatch = 128;
constexpr int kThreads = 2;

struct Shape {
  const char* name;
  int64_t c, o, k, stride, pad, h;  // square images and kernels
  int per_step;                     // convs of this shape in one forward pass
  bool grad_input;                  // whether training needs the input's gradient
  int64_t oh() const { return (h + 2 * pad - k) / stride + 1; }
};

// Stem 1->16; stage 1: two blocks of two 16->16 convs; stages 2 and 3: a first block with a
// stride-2 3x3 conv, a stride-2 1x1 projection and a stride-1 3x3 conv, then a block of two.
constexpr Shape kShapes[] = {
    {"stem_1to16_3x3_28", 1, 16, 3, 1, 1, 28, 1, false},
    {"16to16_3x3_28", 16, 16, 3, 1, 1, 28, 4, true},
    {"16to32_3x3_s2_28", 16, 32, 3, 2, 1, 28, 1, true},
    {"16to32_1x1_s2_28", 16, 32, 1, 2, 0, 28, 1, true},
    {"32to32_3x3_14", 32, 32, 3, 1, 1, 14, 3, true},
    {"32to64_3x3_s2_14", 32, 64, 3, 2, 1, 14, 1, true},
    {"32to64_1x1_s2_14", 32, 64, 1, 2, 0, 14, 1, true},
    {"64to64_3x3_7", 64, 64, 3, 1, 1, 7, 3, true},
};
constexpr int kNumShapes = int(std::size(kShapes));

// Network order of the forward pass (indices into kShapes); backward runs it in reverse.
constexpr int kStepOrder[] = {0, 1, 1, 1, 1, 2, 4, 3, 4, 4, 5, 7, 6, 7, 7};

// What autograd asks of Conv2dBackward in resnet_fashion: no bias, no image gradient.
ember::ConvAttrs attrs(const Shape& s) {
  ember::ConvAttrs a;
  a.stride[0] = a.stride[1] = s.stride;
  a.padding[0] = a.padding[1] = s.pad;
  a.output_mask[0] = s.grad_input;
  a.output_mask[2] = false;
  return a;
}

using ember::detail::ConvBackend;

// Runs a scope on one of ember's conv2d backends.
struct BackendScope {
  ConvBackend prev = ember::detail::conv_backend();
  explicit BackendScope(ConvBackend b) { ember::detail::set_conv_backend(b); }
  ~BackendScope() { ember::detail::set_conv_backend(prev); }
};

// How ember runs a conv: as configured (oneDNN in batch chunks when built with it), oneDNN on the
// whole batch, or im2col.
enum class Path { configured, whole, im2col };

// Sets up ember's conv2d for one benchmark's path, restoring the defaults at the end.
struct PathScope {
  std::optional<BackendScope> backend;
  explicit PathScope(Path p) {
    if (p == Path::im2col) backend.emplace(ConvBackend::im2col);
    if (p == Path::whole) ember::detail::set_dnnl_batch_split(false);
  }
  ~PathScope() { ember::detail::set_dnnl_batch_split(true); }
};

ember::Tensor ember_fwd(const Shape& s, const ember::Tensor& x, const ember::Tensor& w) {
  return ember::nn::functional::conv2d(x, w, {}, {.stride = s.stride, .padding = s.pad});
}

ember::TensorList ember_bwd(const Shape& s, const ember::Tensor& gy, const ember::Tensor& x,
                            const ember::Tensor& w) {
  return ember::dispatch(ember::Op::Conv2dBackward, {gy, x, w}, attrs(s));
}

// Input, weight and grad_out of one shape, with the im2col path's results as the reference.
struct Data {
  ember::Tensor x, w, gy, y, gx, gw;
  explicit Data(const Shape& s) {
    ember::manual_seed(uint64_t(s.c * 1000 + s.o * 10 + s.k + s.stride));
    x = ember::randn({kBatch, s.c, s.h, s.h});
    w = ember::randn({s.o, s.c, s.k, s.k}) * (1.0 / std::sqrt(double(s.c * s.k * s.k)));
    gy = ember::randn({kBatch, s.o, s.oh(), s.oh()});
    BackendScope im2col(ConvBackend::im2col);
    y = ember_fwd(s, x, w);
    ember::TensorList r = ember_bwd(s, gy, x, w);
    gx = r[0];
    gw = r[1];
  }
};

Data& data(int i) {
  static std::vector<std::unique_ptr<Data>> all(kNumShapes);
  if (!all[i]) all[i] = std::make_unique<Data>(kShapes[i]);
  return *all[i];
}

ember::Tensor ember_fwd(const Shape& s, const Data& d) { return ember_fwd(s, d.x, d.w); }
ember::TensorList ember_bwd(const Shape& s, const Data& d) { return ember_bwd(s, d.gy, d.x, d.w); }

void set_counters(benchmark::State& state, const Shape& s) {
  state.counters["per_step"] = s.per_step;
}

// max |a - ref| / max |ref|
float rel_diff(const ember::Tensor& a, const ember::Tensor& ref) {
  const float* p = a.data_ptr<float>();
  const float* q = ref.data_ptr<float>();
  float m = 0, scale = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    m = std::max(m, std::fabs(p[i] - q[i]));
    scale = std::max(scale, std::fabs(q[i]));
  }
  return scale > 0 ? m / scale : m;
}

// ember's conv2d forward or backward (on `backend`, or as configured when nullopt).
void BM_ember(benchmark::State& state, int i, bool backward, Path path) {
  ember::set_num_threads(kThreads);
  PathScope scope(path);
  const Shape& s = kShapes[i];
  float err = 0;
  try {
    Data& d = data(i);
    if (backward) {
      ember::TensorList r = ember_bwd(s, d);
      err = rel_diff(r[1], d.gw);
      if (s.grad_input) err = std::max(err, rel_diff(r[0], d.gx));
    } else {
      err = rel_diff(ember_fwd(s, d), d.y);
    }
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  const Data& d = data(i);
  for (auto _ : state) {
    if (backward) {
      ember::TensorList r = ember_bwd(s, d);
      benchmark::DoNotOptimize(r[1].raw_data());
    } else {
      ember::Tensor y = ember_fwd(s, d);
      benchmark::DoNotOptimize(y.raw_data());
    }
  }
  set_counters(state, s);
  state.counters["rel_err"] = err;
}

double elapsed_ms(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// One training step's convolutions: forward in network order, backward in reverse.
void ember_step(double& fwd, double& bwd) {
  auto t0 = std::chrono::steady_clock::now();
  for (int i : kStepOrder) {
    ember::Tensor y = ember_fwd(kShapes[i], data(i));
    benchmark::DoNotOptimize(y.raw_data());
  }
  fwd += elapsed_ms(t0);
  t0 = std::chrono::steady_clock::now();
  for (int j = int(std::size(kStepOrder)) - 1; j >= 0; --j) {
    int i = kStepOrder[j];
    ember::TensorList r = ember_bwd(kShapes[i], data(i));
    benchmark::DoNotOptimize(r[1].raw_data());
  }
  bwd += elapsed_ms(t0);
}

void BM_step_ember(benchmark::State& state, Path path) {
  ember::set_num_threads(kThreads);
  PathScope scope(path);
  double fwd = 0, bwd = 0;
  try {
    ember_step(fwd, bwd);  // warm-up: creates the data, fills the allocator's cache
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  fwd = bwd = 0;
  for (auto _ : state) ember_step(fwd, bwd);
  state.counters["fwd_ms"] = fwd / double(state.iterations());
  state.counters["bwd_ms"] = bwd / double(state.iterations());
}

// The step with oneDNN's batch chunks of the default size (half the L2 cache) and with one
// chunk per thread, alternated within one loop (counters chunked_ms, per_thread_ms and the
// median of the per-pair ratios chunked / per_thread, wall and process CPU time).
void BM_step_chunks(benchmark::State& state) {
  ember::set_num_threads(kThreads);
  double fwd = 0, bwd = 0;
  const size_t chunk_bytes = ember::detail::dnnl_chunk_bytes();
  ember::detail::set_dnnl_chunk_bytes(0);
  ember_step(fwd, bwd);  // warm-up of both settings
  ember::detail::set_dnnl_chunk_bytes(chunk_bytes);
  ember_step(fwd, bwd);
  peer::Rounds r(2);
  for (auto _ : state) {
    r.time(0, [&] { ember_step(fwd, bwd); });
    ember::detail::set_dnnl_chunk_bytes(0);
    r.time(1, [&] { ember_step(fwd, bwd); });
    ember::detail::set_dnnl_chunk_bytes(chunk_bytes);
  }
  state.counters["chunked_ms"] = peer::median(r.wall[0]);
  state.counters["per_thread_ms"] = peer::median(r.wall[1]);
  state.counters["ratio_wall"] = r.ratio(0, 1);
  state.counters["ratio_cpu"] = r.ratio(0, 1, true);
}

#ifdef EMBER_HAVE_DNNL

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream& stream() {
  static dnnl::stream s(engine());
  return s;
}

// A tensor held in a user layout (NCHW/OIHW, ember's memory) and in a primitive's layout; when
// the two agree, they are the same memory and no reorder runs.
struct Layouts {
  memory user, prim;
  dnnl::reorder to_prim, to_user;
  bool same = true;
  Layouts() = default;
  Layouts(const memory& u, const memory::desc& want, bool input) : user(u) {
    same = want == u.get_desc();
    prim = same ? u : memory(want, engine());
    if (!same) {
      if (input)
        to_prim = dnnl::reorder(user, prim);
      else
        to_user = dnnl::reorder(prim, user);
    }
  }
  void in() {
    if (!same) to_prim.execute(stream(), user, prim);
  }
  void out() {
    if (!same) to_user.execute(stream(), prim, user);
  }
};

// One shape's three primitives, with their tensors in both layouts. The user memories of x, w
// and gy wrap ember's tensors; y, gx and gw are ember tensors written by oneDNN.
struct Conv {
  const Shape& s;
  ember::Tensor y, gx, gw;
  dnnl::convolution_forward fwd;
  dnnl::convolution_backward_data bwd_data;
  dnnl::convolution_backward_weights bwd_weights;
  std::string impl;
  Layouts f_x, f_w, f_y;    // forward
  Layouts d_gy, d_w, d_gx;  // backward data
  Layouts w_x, w_gy, w_gw;  // backward weights

  static memory wrap(const ember::Tensor& t, const memory::dims& dims, tag layout) {
    return memory({dims, dt::f32, layout}, engine(), t.data_ptr<float>());
  }

  // plain: the activations stay NCHW (oneDNN picks an implementation for that layout), only the
  // weights may take a blocked layout.
  Conv(const Shape& sh, const Data& d, bool plain) : s(sh) {
    const int64_t oh = s.oh();
    y = ember::empty({kBatch, s.o, oh, oh});
    gx = ember::empty({kBatch, s.c, s.h, s.h});
    gw = ember::empty({s.o, s.c, s.k, s.k});
    memory::dims xd{kBatch, s.c, s.h, s.h}, wd{s.o, s.c, s.k, s.k}, yd{kBatch, s.o, oh, oh};
    memory::dims strides{s.stride, s.stride}, pad{s.pad, s.pad};
    const tag act = plain ? tag::nchw : tag::any;
    memory::desc xa(xd, dt::f32, act), wa(wd, dt::f32, tag::any), ya(yd, dt::f32, act);
    const auto alg = dnnl::algorithm::convolution_auto;
    dnnl::convolution_forward::primitive_desc fpd(
        {dnnl::prop_kind::forward_training, alg, xa, wa, ya, strides, pad, pad}, engine());
    dnnl::convolution_backward_data::primitive_desc dpd({alg, xa, wa, ya, strides, pad, pad},
                                                        engine(), fpd);
    dnnl::convolution_backward_weights::primitive_desc wpd({alg, xa, wa, ya, strides, pad, pad},
                                                           engine(), fpd);
    fwd = dnnl::convolution_forward(fpd);
    bwd_data = dnnl::convolution_backward_data(dpd);
    bwd_weights = dnnl::convolution_backward_weights(wpd);
    impl = std::string("fwd ") + fpd.impl_info_str() + ", bwd_d " + dpd.impl_info_str() +
           ", bwd_w " + wpd.impl_info_str();
    memory ux = wrap(d.x, xd, tag::nchw), uw = wrap(d.w, wd, tag::oihw);
    memory ugy = wrap(d.gy, yd, tag::nchw);
    f_x = Layouts(ux, fpd.src_desc(), true);
    f_w = Layouts(uw, fpd.weights_desc(), true);
    f_y = Layouts(wrap(y, yd, tag::nchw), fpd.dst_desc(), false);
    d_gy = Layouts(ugy, dpd.diff_dst_desc(), true);
    d_w = Layouts(uw, dpd.weights_desc(), true);
    d_gx = Layouts(wrap(gx, xd, tag::nchw), dpd.diff_src_desc(), false);
    w_x = Layouts(ux, wpd.src_desc(), true);
    w_gy = Layouts(ugy, wpd.diff_dst_desc(), true);
    w_gw = Layouts(wrap(gw, wd, tag::oihw), wpd.diff_weights_desc(), false);
  }

  void forward() {
    fwd.execute(stream(),
                {{DNNL_ARG_SRC, f_x.prim}, {DNNL_ARG_WEIGHTS, f_w.prim}, {DNNL_ARG_DST, f_y.prim}});
  }
  void backward() {
    if (s.grad_input)
      bwd_data.execute(stream(), {{DNNL_ARG_DIFF_DST, d_gy.prim},
                                  {DNNL_ARG_WEIGHTS, d_w.prim},
                                  {DNNL_ARG_DIFF_SRC, d_gx.prim}});
    bwd_weights.execute(stream(), {{DNNL_ARG_SRC, w_x.prim},
                                   {DNNL_ARG_DIFF_DST, w_gy.prim},
                                   {DNNL_ARG_DIFF_WEIGHTS, w_gw.prim}});
  }
  void forward_reorder() {
    f_x.in();
    f_w.in();
    forward();
    f_y.out();
  }
  void backward_reorder() {
    if (s.grad_input) {
      d_gy.in();
      d_w.in();
    }
    w_x.in();
    w_gy.in();
    backward();
    if (s.grad_input) d_gx.out();
    w_gw.out();
  }
  void wait() { stream().wait(); }
};

enum Variant : int { kBlocked = 0, kReorder = 1, kPlain = 2 };

// Blocked and reorder runs share one primitive set; plain runs have their own.
Conv& conv(int i, Variant v) {
  static std::vector<std::unique_ptr<Conv>> all(2 * kNumShapes);
  const bool plain = v == kPlain;
  auto& c = all[plain * kNumShapes + i];
  if (!c) c = std::make_unique<Conv>(kShapes[i], data(i), plain);
  return *c;
}

// Runs oneDNN's version once and returns its largest difference from the im2col results.
float check_forward(int i, Variant v) {
  Conv& c = conv(i, v);
  c.forward_reorder();
  c.wait();
  return rel_diff(c.y, data(i).y);
}

float check_backward(int i, Variant v) {
  Conv& c = conv(i, v);
  c.backward_reorder();
  c.wait();
  float err = rel_diff(c.gw, data(i).gw);
  if (kShapes[i].grad_input) err = std::max(err, rel_diff(c.gx, data(i).gx));
  return err;
}

// Shape i's forward or backward with oneDNN on kThreads OpenMP threads, in the timed loop.
void BM_dnnl(benchmark::State& state, int i, bool backward, Variant v) {
  ember::set_num_threads(kThreads);
  omp_set_num_threads(kThreads);
  float err = 0;
  try {
    err = backward ? check_backward(i, v) : check_forward(i, v);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  Conv& c = conv(i, v);
  // The blocked-layout runs start from tensors converted once, here.
  c.f_x.in(), c.f_w.in(), c.d_gy.in(), c.d_w.in(), c.w_x.in(), c.w_gy.in();
  c.wait();
  for (auto _ : state) {
    if (v == kBlocked)
      backward ? c.backward() : c.forward();
    else
      backward ? c.backward_reorder() : c.forward_reorder();
    c.wait();
  }
  set_counters(state, kShapes[i]);
  state.counters["rel_err"] = err;
  state.SetLabel(c.impl);
}

void BM_step_dnnl(benchmark::State& state, Variant v) {
  ember::set_num_threads(kThreads);
  omp_set_num_threads(kThreads);
  try {
    for (int i = 0; i < kNumShapes; ++i) {
      Conv& c = conv(i, v);
      c.f_x.in(), c.f_w.in(), c.d_gy.in(), c.d_w.in(), c.w_x.in(), c.w_gy.in();
    }
    stream().wait();
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  auto step = [v](double& fwd, double& bwd) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i : kStepOrder) v == kBlocked ? conv(i, v).forward() : conv(i, v).forward_reorder();
    stream().wait();
    fwd += elapsed_ms(t0);
    t0 = std::chrono::steady_clock::now();
    for (int j = int(std::size(kStepOrder)) - 1; j >= 0; --j) {
      int i = kStepOrder[j];
      v == kBlocked ? conv(i, v).backward() : conv(i, v).backward_reorder();
    }
    stream().wait();
    bwd += elapsed_ms(t0);
  };
  double fwd = 0, bwd = 0;
  step(fwd, bwd);  // warm-up
  fwd = bwd = 0;
  for (auto _ : state) step(fwd, bwd);
  state.counters["fwd_ms"] = fwd / double(state.iterations());
  state.counters["bwd_ms"] = bwd / double(state.iterations());
}

#endif  // EMBER_HAVE_DNNL

// Grouped by shape: "fwd/<shape>/ember", "fwd/<shape>/dnnl", ..., then the whole step.
template <class Fn>
void add(const std::string& name, Fn fn) {
  benchmark::RegisterBenchmark(name.c_str(), fn)
      ->MeasureProcessCPUTime()
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
}

int register_all() {
  using benchmark::State;
  for (int i = 0; i < kNumShapes; ++i) {
    const std::string shape = kShapes[i].name;
    for (bool bwd : {false, true}) {
      const std::string pre = (bwd ? "bwd/" : "fwd/") + shape;
      add(pre + "/ember", [i, bwd](State& st) { BM_ember(st, i, bwd, Path::configured); });
      if (ember::detail::dnnl_available()) {
        add(pre + "/ember_whole", [i, bwd](State& st) { BM_ember(st, i, bwd, Path::whole); });
        add(pre + "/ember_im2col", [i, bwd](State& st) { BM_ember(st, i, bwd, Path::im2col); });
      }
#ifdef EMBER_HAVE_DNNL
      add(pre + "/dnnl", [i, bwd](State& st) { BM_dnnl(st, i, bwd, kBlocked); });
      add(pre + "/dnnl_reorder", [i, bwd](State& st) { BM_dnnl(st, i, bwd, kReorder); });
      add(pre + "/dnnl_nchw", [i, bwd](State& st) { BM_dnnl(st, i, bwd, kPlain); });
#endif
    }
  }
  add("step/ember", [](State& st) { BM_step_ember(st, Path::configured); });
  if (ember::detail::dnnl_available()) {
    add("step/ember_whole", [](State& st) { BM_step_ember(st, Path::whole); });
    add("step/ember_im2col", [](State& st) { BM_step_ember(st, Path::im2col); });
    add("step/ember_chunks", BM_step_chunks);
  }
#ifdef EMBER_HAVE_DNNL
  add("step/dnnl", [](State& st) { BM_step_dnnl(st, kBlocked); });
  add("step/dnnl_reorder", [](State& st) { BM_step_dnnl(st, kReorder); });
  add("step/dnnl_nchw", [](State& st) { BM_step_dnnl(st, kPlain); });
#endif
  return 0;
}

const int registered = register_all();

}  // namespace
