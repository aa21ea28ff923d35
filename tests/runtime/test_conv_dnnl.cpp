// float32 conv2d on oneDNN (runtime/ops/conv_dnnl.cpp) against the im2col + GEMM path
// (itself checked against double loops in test_conv.cpp): forward, grad_input, grad_weight and
// grad_bias on seeded random geometries, whole and split into batch chunks over ember's threads,
// the output mask, and the primitive cache's eviction.
#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <sstream>

#if EMBER_HAVE_DNNL
#include <omp.h>
#endif

#include "nn/functional.hpp"
#include "runtime/ops/conv_dnnl.hpp"
#include "support/reference.hpp"

using namespace ember;
namespace F = ember::nn::functional;
using detail::ConvBackend;

namespace {

// Runs a scope on one backend, then restores the previous one.
struct BackendScope {
  ConvBackend prev = detail::conv_backend();
  explicit BackendScope(ConvBackend b) { detail::set_conv_backend(b); }
  ~BackendScope() { detail::set_conv_backend(prev); }
  BackendScope(const BackendScope&) = delete;
  BackendScope& operator=(const BackendScope&) = delete;
};

// Runs a scope on n ember threads, then restores the previous count.
struct ThreadsScope {
  int prev = get_num_threads();
  explicit ThreadsScope(int n) { set_num_threads(n); }
  ~ThreadsScope() { set_num_threads(prev); }
  ThreadsScope(const ThreadsScope&) = delete;
  ThreadsScope& operator=(const ThreadsScope&) = delete;
};

// Whether oneDNN runs a batch of n in chunks on ember's threads: two images per thread at least.
bool splits(int64_t n) {
  const int k = get_num_threads();
  return k > 1 && n >= 2 * k;
}

struct Geometry {
  Dims x, w;  // input [N, C, H, W], weight [O, C/groups, kh, kw]
  F::Pair stride, padding, dilation;
  int64_t groups;
  bool bias, noncontiguous;

  ConvAttrs attrs(bool grad_input = true, bool grad_weight = true, bool grad_bias = true) const {
    ConvAttrs a;
    a.stride[0] = stride.h, a.stride[1] = stride.w;
    a.padding[0] = padding.h, a.padding[1] = padding.w;
    a.dilation[0] = dilation.h, a.dilation[1] = dilation.w;
    a.groups = groups;
    a.output_mask[0] = grad_input;
    a.output_mask[1] = grad_weight;
    a.output_mask[2] = grad_bias;
    return a;
  }
  F::Conv2dOptions options() const { return {stride, padding, dilation, groups}; }
  Dims out_sizes() const {
    return {x[0], w[0], (x[2] + 2 * padding.h - dilation.h * (w[2] - 1) - 1) / stride.h + 1,
            (x[3] + 2 * padding.w - dilation.w * (w[3] - 1) - 1) / stride.w + 1};
  }
  std::string describe(uint64_t seed) const {
    std::ostringstream os;
    os << "seed " << seed << ": input " << x << (noncontiguous ? " (non-contiguous)" : "")
       << " weight " << w << " stride " << stride.h << "x" << stride.w << " padding " << padding.h
       << "x" << padding.w << " dilation " << dilation.h << "x" << dilation.w << " groups "
       << groups << (bias ? " bias" : " no bias");
    return os.str();
  }
};

// A random geometry: stride 1/2, padding 0/1/2, dilation 1/2 (each mostly square), groups
// 1/2/depthwise, kernel 1/3/5 (sometimes 3x1 or 1x5), batch 1/3, bias on/off, input contiguous
// or not.
Geometry random_geometry(std::mt19937_64& rng) {
  auto pick = [&](std::initializer_list<int64_t> v) {
    return *(v.begin() + std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng));
  };
  auto pair = [&](std::initializer_list<int64_t> v) {
    const int64_t h = pick(v);
    return pick({0, 0, 1}) ? F::Pair(h, pick(v)) : F::Pair(h);
  };
  Geometry g{};
  const F::Pair k = pair({1, 3, 5});
  g.stride = pair({1, 2});
  g.padding = pair({0, 1, 2});
  g.dilation = pair({1, 2});
  const int64_t group_kind = pick({0, 1, 2});  // 1, 2, depthwise
  const int64_t cg = group_kind == 2 ? 1 : group_kind == 1 ? pick({1, 2, 3}) : pick({1, 3, 4, 6});
  const int64_t groups = group_kind == 0 ? 1 : group_kind == 1 ? 2 : pick({3, 4});
  const int64_t og = pick({1, 2, 3});
  g.groups = groups;
  g.bias = pick({0, 1});
  g.noncontiguous = pick({0, 1});
  // Large enough for the dilated kernel to fit the padded input.
  const int64_t h = std::max(g.dilation.h * (k.h - 1) + 1 - 2 * g.padding.h, pick({5, 6, 7, 9}));
  const int64_t w = std::max(g.dilation.w * (k.w - 1) + 1 - 2 * g.padding.w, pick({5, 8, 10}));
  g.x = {pick({1, 3}), cg * groups, h, w};
  g.w = {og * groups, cg, k.h, k.w};
  return g;
}

// Widths where oneDNN takes blocked layouts (channels in multiples of 8 and 16): resnet_fashion's
// kinds of layer, small images.
const std::vector<Geometry> kWideGeometries = {
    {{2, 1, 12, 12}, {16, 1, 3, 3}, 1, 1, 1, 1, true, false},  // stem
    {{2, 16, 9, 9}, {16, 16, 3, 3}, 1, 1, 1, 1, false, false},
    {{3, 16, 10, 10}, {32, 16, 3, 3}, 2, 1, 1, 1, false, true},
    {{2, 16, 10, 10}, {32, 16, 1, 1}, 2, 0, 1, 1, true, false},  // projection
    {{1, 32, 7, 7}, {32, 16, 3, 3}, 1, 1, 2, 2, true, false},
    {{2, 16, 8, 8}, {16, 1, 3, 3}, 1, 1, 1, 16, true, true},  // depthwise
    {{2, 24, 6, 11}, {40, 24, 5, 5}, 1, 2, 1, 1, true, false},
};

// max |a - ref| <= tol * max(1, max |ref|), with ref's values (from im2col) as the expectation.
void require_matches(const Tensor& actual, const Tensor& ref, const std::string& what) {
  REQUIRE(actual.defined());
  std::vector<double> expected = test::values(ref);
  double scale = 1;
  for (double v : expected) scale = std::max(scale, std::fabs(v));
  test::require_close(actual, ref.sizes(), expected, what, 0, 2e-5 * scale);
}

// oneDNN calls of one forward and backward: the backward of an ungrouped conv with fewer than 4
// input channels (a first layer) stays on im2col, where it is faster.
uint64_t dnnl_calls(const Geometry& g) { return g.groups == 1 && g.x[1] < 4 ? 1 : 2; }

// Forward and the three gradients through both backends must agree.
void check_geometry(const Geometry& g, uint64_t seed) {
  const std::string what = g.describe(seed);
  Tensor x = test::seeded_randn(g.x, seed);
  if (g.noncontiguous) x = test::noncontiguous(x);
  Tensor w = test::seeded_randn(g.w, seed + 1);
  Tensor b = g.bias ? test::seeded_randn({g.w[0]}, seed + 2) : Tensor();
  Tensor gy = test::seeded_randn(g.out_sizes(), seed + 3);
  auto run = [&](ConvBackend backend) {
    BackendScope scope(backend);
    TensorList r{F::conv2d(x, w, b, g.options())};
    for (const Tensor& t : dispatch(Op::Conv2dBackward, {gy, x, w}, g.attrs())) r.push_back(t);
    return r;
  };
  TensorList ref = run(ConvBackend::im2col);
  const uint64_t calls = detail::dnnl_conv_calls(), split = detail::dnnl_split_calls();
  TensorList got = run(ConvBackend::dnnl);
  INFO(what << " on " << get_num_threads() << " threads");
  CHECK(detail::dnnl_conv_calls() == calls + dnnl_calls(g));
  CHECK(detail::dnnl_split_calls() == split + (splits(g.x[0]) ? dnnl_calls(g) : 0));
  require_matches(got[0], ref[0], what + ": output");
  require_matches(got[1], ref[1], what + ": grad_input");
  require_matches(got[2], ref[2], what + ": grad_weight");
  require_matches(got[3], ref[3], what + ": grad_bias");
}

}  // namespace

TEST_CASE("conv2d on oneDNN matches im2col on random geometries", "[conv][dnnl]") {
  if (!detail::dnnl_available()) {
    WARN("ember was built without oneDNN: nothing to compare");
    return;
  }
  std::mt19937_64 rng(20240611);
  std::set<int64_t> strides, paddings, dilations, kernels, batches, group_kinds;
  std::set<bool> biases, layouts;
  int asymmetric = 0, backward_on_dnnl = 0;
  for (uint64_t i = 0; i < 40; ++i) {
    Geometry g = random_geometry(rng);
    check_geometry(g, 1000 + 10 * i);
    strides.insert(g.stride.h), paddings.insert(g.padding.h), dilations.insert(g.dilation.h);
    kernels.insert(g.w[2]), batches.insert(g.x[0]), biases.insert(g.bias);
    asymmetric += g.stride.h != g.stride.w || g.padding.h != g.padding.w ||
                  g.dilation.h != g.dilation.w || g.w[2] != g.w[3];
    layouts.insert(g.noncontiguous);
    backward_on_dnnl += dnnl_calls(g) == 2;
    group_kinds.insert(g.groups == 1 ? 0 : g.w[1] == 1 ? 2 : 1);
  }
  // The seed covers every value of every parameter.
  CHECK(strides.size() == 2);
  CHECK(paddings.size() == 3);
  CHECK(dilations.size() == 2);
  CHECK(kernels.size() == 3);
  CHECK(batches.size() == 2);
  CHECK(group_kinds.size() == 3);
  CHECK(biases.size() == 2);
  CHECK(layouts.size() == 2);
  CHECK(asymmetric >= 5);
  CHECK(backward_on_dnnl >= 25);
}

TEST_CASE("conv2d on oneDNN matches im2col at blocked-layout widths", "[conv][dnnl]") {
  if (!detail::dnnl_available()) {
    WARN("ember was built without oneDNN: nothing to compare");
    return;
  }
  for (size_t i = 0; i < kWideGeometries.size(); ++i) check_geometry(kWideGeometries[i], 50 + i);
}

TEST_CASE("conv2d on oneDNN splits a batch over ember's threads", "[conv][dnnl]") {
  if (!detail::dnnl_available()) {
    WARN("ember was built without oneDNN: nothing to compare");
    return;
  }
  ThreadsScope threads(2);
  // Batches of 4 and 6 split evenly, 5 and 7 not; 3 runs whole (fewer than 2 images a thread).
  std::mt19937_64 rng(20240612);
  std::set<int64_t> batches;
  for (uint64_t i = 0; i < 16; ++i) {
    Geometry g = random_geometry(rng);
    g.x[0] = 4 + static_cast<int64_t>(i % 4);
    batches.insert(g.x[0]);
    check_geometry(g, 3000 + 10 * i);
  }
  CHECK(batches.size() == 4);
  for (size_t i = 0; i < kWideGeometries.size(); ++i) {
    for (int64_t n : {3, 4, 9}) {
      Geometry g = kWideGeometries[i];
      g.x[0] = n;
      check_geometry(g, 4000 + 10 * i + n);
    }
  }
  {
    INFO("chunks of one image's activations: several chunks a thread, weight gradients summed");
    struct SmallChunks {
      size_t saved = detail::dnnl_chunk_bytes();
      SmallChunks() { detail::set_dnnl_chunk_bytes(1); }
      ~SmallChunks() { detail::set_dnnl_chunk_bytes(saved); }
    } small;
    for (size_t i = 0; i < kWideGeometries.size(); ++i)
      for (int64_t n : {5, 9}) {
        Geometry g = kWideGeometries[i];
        g.x[0] = n;
        const uint64_t calls = detail::dnnl_split_calls(), chunks = detail::dnnl_split_chunks();
        check_geometry(g, 4300 + 10 * i + n);
        // 2 threads, n / 2 chunks each: every image is over the chunk size.
        const uint64_t per_call = 2 * static_cast<uint64_t>(n / 2);
        CHECK(detail::dnnl_split_chunks() - chunks ==
              (detail::dnnl_split_calls() - calls) * per_call);
      }
  }
#if EMBER_HAVE_DNNL
  {
    INFO("the caller's OpenMP team size is left as it was");
    omp_set_num_threads(3);
    Geometry g = kWideGeometries[2];
    g.x[0] = 6;
    check_geometry(g, 4400);
    CHECK(omp_get_max_threads() == 3);
    omp_set_num_threads(get_num_threads());
  }
#endif
  {
    INFO("one thread runs the batch whole");
    ThreadsScope one(1);
    Geometry g = kWideGeometries[2];
    g.x[0] = 6;
    check_geometry(g, 4100);
  }
  {
    INFO("with the split off, the batch runs whole on OpenMP's threads");
    struct SplitOff {
      SplitOff() { detail::set_dnnl_batch_split(false); }
      ~SplitOff() { detail::set_dnnl_batch_split(true); }
    } off;
    Geometry g = kWideGeometries[2];
    g.x[0] = 6;
    const uint64_t split = detail::dnnl_split_calls(), calls = detail::dnnl_conv_calls();
    Tensor x = test::seeded_randn(g.x, 4200), w = test::seeded_randn(g.w, 4201);
    Tensor whole;
    {
      BackendScope dnnl(ConvBackend::dnnl);
      whole = F::conv2d(x, w, {}, g.options());
    }
    CHECK(detail::dnnl_conv_calls() == calls + 1);
    CHECK(detail::dnnl_split_calls() == split);
    BackendScope im2col(ConvBackend::im2col);
    require_matches(whole, F::conv2d(x, w, {}, g.options()), "whole batch on 2 threads");
  }
}

TEST_CASE("conv2d backward computes only the gradients asked for", "[conv][dnnl]") {
  // Batch 6 on 2 threads: in chunks on oneDNN, where the chunks' weight gradients are summed.
  ThreadsScope threads(2);
  Geometry g = kWideGeometries[1];
  g.x[0] = GENERATE(2, 6);
  INFO("batch " << g.x[0]);
  Tensor x = test::seeded_randn(g.x, 7), w = test::seeded_randn(g.w, 8);
  Tensor gy = test::seeded_randn(g.out_sizes(), 9);
  std::vector<ConvBackend> backends{ConvBackend::im2col};
  if (detail::dnnl_available()) backends.push_back(ConvBackend::dnnl);
  TensorList full;
  {
    BackendScope scope(ConvBackend::im2col);
    full = dispatch(Op::Conv2dBackward, {gy, x, w}, g.attrs());
  }
  for (ConvBackend backend : backends) {
    BackendScope scope(backend);
    const std::string name = backend == ConvBackend::dnnl ? "dnnl" : "im2col";
    for (int m = 0; m < 8; ++m) {
      const bool mask[3] = {(m & 1) != 0, (m & 2) != 0, (m & 4) != 0};
      TensorList r = dispatch(Op::Conv2dBackward, {gy, x, w}, g.attrs(mask[0], mask[1], mask[2]));
      REQUIRE(r.size() == 3);
      for (int i = 0; i < 3; ++i) {
        INFO(name << " mask " << m << " output " << i);
        CHECK(r[i].defined() == mask[i]);
        if (mask[i]) require_matches(r[i], full[i], name + " masked gradient");
      }
    }
  }
}

TEST_CASE("conv2d autograd skips the gradient of an input that needs none", "[conv][dnnl]") {
  // Like a stem conv (but wide enough for oneDNN's backward): the image needs no gradient, the
  // weight and bias do.
  const Geometry g = kWideGeometries[3];
  Tensor x = test::seeded_randn(g.x, 20);
  Tensor gy = test::seeded_randn(g.out_sizes(), 21);
  auto grads = [&](ConvBackend backend) {
    BackendScope scope(backend);
    Tensor w = test::seeded_randn(g.w, 22).requires_grad_();
    Tensor b = test::seeded_randn({g.w[0]}, 23).requires_grad_();
    F::conv2d(x, w, b, g.options()).backward(gy);
    return TensorList{w.grad(), b.grad()};
  };
  TensorList ref = grads(ConvBackend::im2col);
  CHECK_FALSE(x.grad().defined());
  if (!detail::dnnl_available()) return;
  const uint64_t calls = detail::dnnl_conv_calls();
  TensorList got = grads(ConvBackend::dnnl);
  CHECK(detail::dnnl_conv_calls() == calls + 2);
  CHECK_FALSE(x.grad().defined());
  require_matches(got[0], ref[0], "weight grad");
  require_matches(got[1], ref[1], "bias grad");
}

TEST_CASE("oneDNN's primitive cache evicts and rebuilds geometries", "[conv][dnnl]") {
  if (!detail::dnnl_available()) {
    CHECK_THROWS_WITH(detail::set_conv_backend(ConvBackend::dnnl),
                      Catch::Contains("built without oneDNN"));
    return;
  }
  BackendScope scope(ConvBackend::dnnl);
  Tensor w = test::seeded_randn({4, 2, 3, 3}, 30);
  // More geometries than the cache holds (128), then the first again.
  for (int64_t size = 3; size <= 36; ++size)
    for (int64_t n : {1, 2, 3, 4})
      F::conv2d(test::seeded_randn({n, 2, size, size}, 31), w, {}, {.padding = 1});
  for (int64_t size : {3, 36}) {
    Tensor x = test::seeded_randn({2, 2, size, size}, 32);
    Tensor got = F::conv2d(x, w, {}, {.padding = 1});
    BackendScope im2col(ConvBackend::im2col);
    require_matches(got, F::conv2d(x, w, {}, {.padding = 1}),
                    "after eviction, size " + std::to_string(size));
  }
}
