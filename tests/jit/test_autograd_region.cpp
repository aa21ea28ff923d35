// Regions trace ops on tensors that require grad: the ops are recorded as lazy values and get
// their autograd history from the same hook as eager ops, so a backward inside the region is
// traced too (and fused with the forward and the optimizer step), and a backward after the
// region reads the values the region computed. Every result is compared with the same code run
// eagerly, each case past hot detection and the tier-up (test::CompiledPath, 6 runs).
#include <optional>

#include "ember.hpp"
#include "jit/jit_support.hpp"
#include "support/reference.hpp"

using namespace ember;

namespace {

constexpr int kRuns = 6;  // capture, quick tier (compiled), quick, tier-up, full, replay

void require_same(const Tensor& got, const Tensor& want, const std::string& what,
                  double rtol = 1e-5) {
  INFO(what);
  REQUIRE(got.defined() == want.defined());
  if (!want.defined()) return;
  test::require_close(got, want.sizes(), test::values(want), what, rtol, 1e-6);
}

struct Leaves {
  Tensor w, b, x;
};

Leaves leaves(DType d = kFloat32) {
  Leaves l;
  l.w = test::seeded_randn({8, 5}, 11, d).requires_grad_();
  l.b = test::seeded_randn({5}, 12, d).requires_grad_();
  l.x = test::seeded_randn({7, 8}, 13, d);
  return l;
}

// A forward of broadcasting, a shared parameter (b used twice), an escaping intermediate (h),
// pointwise functions with saved inputs and outputs, and a reduction.
std::pair<Tensor, Tensor> forward(const Leaves& l) {
  Tensor h = tanh(matmul(l.x, l.w) + l.b);
  Tensor loss = (sigmoid(h * 2 - l.b) * h).sum() + (h * h).mean();
  return {loss, h};
}

}  // namespace

TEST_CASE("backward inside a region gives eager's gradients", "[jit][autograd_region]") {
  test::CompiledPath path;
  jit::clear_cache();
  Leaves want = leaves();
  {
    auto [loss, h] = forward(want);
    loss.backward();
  }
  const jit::Stats s0 = jit::stats();
  for (int run = 0; run < kRuns; ++run) {
    Leaves l = leaves();
    Tensor loss;
    {
      jit::Region r("autograd_inside");
      loss = forward(l).first;
      loss.backward();
    }
    test::settle_compiles();
    const std::string what = "run " + std::to_string(run + 1);
    require_same(l.w.grad(), want.w.grad(), what + ", w.grad");
    require_same(l.b.grad(), want.b.grad(), what + ", b.grad");
    REQUIRE_FALSE(l.x.grad().defined());
  }
  const jit::Stats s1 = jit::stats();
  CHECK(s1.fused_graphs > s0.fused_graphs);
  CHECK(s1.fallbacks == s0.fallbacks);
}

TEST_CASE("backward after a region reads the values the region computed",
          "[jit][autograd_region]") {
  test::CompiledPath path;
  jit::clear_cache();
  Leaves want = leaves();
  auto [wl, wh] = forward(want);
  wh.retain_grad();
  wl.backward();
  for (int run = 0; run < kRuns; ++run) {
    Leaves l = leaves();
    Tensor loss, h;
    {
      jit::Region r("autograd_after");
      std::tie(loss, h) = forward(l);
    }
    h.retain_grad();
    loss.backward();
    test::settle_compiles();
    const std::string what = "run " + std::to_string(run + 1);
    require_same(loss, wl, what + ", loss");
    require_same(l.w.grad(), want.w.grad(), what + ", w.grad");
    require_same(l.b.grad(), want.b.grad(), what + ", b.grad");
    require_same(h.grad(), wh.grad(), what + ", h.grad (an intermediate)");
  }
}

TEST_CASE("gradients accumulate over regions as eagerly", "[jit][autograd_region]") {
  test::CompiledPath path;
  jit::clear_cache();
  Leaves want = leaves();
  for (int i = 0; i < 3; ++i) forward(want).first.backward();
  Leaves l = leaves();
  for (int run = 0; run < 3 * kRuns; ++run) {
    if (run % 3 == 0) {
      l.w.set_grad(Tensor());
      l.b.set_grad(Tensor());
    }
    {
      jit::Region r("autograd_accumulate");
      forward(l).first.backward();
    }
    test::settle_compiles();
    if (run % 3 == 2) {
      require_same(l.w.grad(), want.w.grad(), "after run " + std::to_string(run + 1));
      require_same(l.b.grad(), want.b.grad(), "after run " + std::to_string(run + 1));
    }
  }
}

TEST_CASE("autograd::grad inside a region in float64 matches eager", "[jit][autograd_region]") {
  test::CompiledPath path;
  jit::clear_cache();
  Leaves want = leaves(kFloat64);
  auto wl = forward(want).first;
  std::vector<Tensor> wg = autograd::grad({wl}, {want.w, want.b});
  for (int run = 0; run < kRuns; ++run) {
    Leaves l = leaves(kFloat64);
    std::vector<Tensor> g;
    {
      jit::Region r("autograd_grad");
      g = autograd::grad({forward(l).first}, {l.w, l.b});
    }
    test::settle_compiles();
    require_same(g[0], wg[0], "d/dw, run " + std::to_string(run + 1), 1e-12);
    require_same(g[1], wg[1], "d/db, run " + std::to_string(run + 1), 1e-12);
  }
}

// Also the first test of a fresh process under ctest: traced ops were once the process's first
// ops, before the autograd hook was installed, and got no history (gradients of zero).
TEST_CASE("gradcheck through a region", "[jit][autograd_region]") {
  test::CompiledPath path(1, 2);  // compiled from the first run: gradcheck's runs are fused
  jit::clear_cache();
  Leaves l = leaves(kFloat64);
  auto fn = [&](const std::vector<Tensor>& in) {
    jit::Region r("autograd_gradcheck");
    Leaves m{in[0], in[1], l.x};
    return forward(m).first;
  };
  autograd::GradcheckResult res = gradcheck(fn, {l.w, l.b});
  INFO(res.report);
  CHECK(res.ok);
}

TEST_CASE("autograd's errors inside a region are eager's", "[jit][autograd_region]") {
  test::CompiledPath path;
  jit::clear_cache();
  for (int run = 0; run < kRuns; ++run) {
    Leaves l = leaves();
    INFO("run " << run + 1);
    {  // an in-place write to a leaf that requires grad is refused before anything changes
      jit::Region r("autograd_errors_leaf");
      Tensor before = l.w.detach().clone();
      CHECK_THROWS_WITH(l.w.add_(1.0), Catch::Contains("a leaf Variable that requires grad"));
      require_same(l.w.detach(), before, "w unchanged");
    }
    {  // a saved tensor written after it was saved: the backward names the version mismatch
      std::optional<jit::Region> r(std::in_place, "autograd_errors_version");
      Tensor h = l.x.matmul(l.w);
      Tensor y = h * h;  // saves h
      Tensor loss = y.sum();
      h.mul_(2.0);
      std::string got;
      try {
        loss.backward();
      } catch (const Error& e) {
        got = e.what();
      }
      r.reset();
      Tensor eh = l.x.matmul(l.w), ey = eh * eh, eloss = ey.sum();
      eh.mul_(2.0);
      std::string want;
      try {
        eloss.backward();
      } catch (const Error& e) {
        want = e.what();
      }
      REQUIRE_FALSE(want.empty());
      CHECK(got == want);
    }
    test::settle_compiles();
  }
}

TEST_CASE("a training step in a region records forward, backward and update as one graph",
          "[jit][autograd_region]") {
  for (bool classify : {false, true}) {
    INFO((classify ? "cross_entropy" : "mse_loss"));
    test::CompiledPath path;
    jit::clear_cache();
    manual_seed(0);
    auto net = nn::Sequential(nn::Linear(6, 16), nn::Tanh(), nn::Linear(16, 3));
    optim::SGD opt(net.parameters(), {.lr = 0.05, .momentum = 0.9});
    const Tensor x = test::seeded_randn({32, 6}, 101), y = test::seeded_randn({32, 3}, 102);
    const Tensor labels = randint(0, 3, {32});
    jit::Stats before = jit::stats();
    for (int run = 0; run < kRuns; ++run) {
      before = jit::stats();
      jit::Region r("autograd_step");
      Tensor out = net(x);
      Tensor loss =
          classify ? nn::functional::cross_entropy(out, labels) : nn::functional::mse_loss(out, y);
      opt.zero_grad();
      loss.backward();
      opt.step();
    }
    test::settle_compiles();
    const jit::Stats after = jit::stats();
    // The last step: one graph, run fused, no op of it eager.
    CHECK(after.graphs - before.graphs == 1);
    CHECK(after.fused_graphs - before.fused_graphs == 1);
    CHECK(after.graph_breaks - before.graph_breaks == 0);
  }
}

// layer_norm, var and std are recorded as their decompositions (jit/trace/decompose.cpp): row
// means and pointwise work the fuser joins with the ops around them, with gradients from the
// ops' own rows. Values and gradients of x, weight and bias against eager, in float32 and
// float64, and the step is one graph.
TEST_CASE("layer_norm and var in a region: eager's values and gradients, no graph break",
          "[jit][autograd_region]") {
  for (DType d : {kFloat32, kFloat64}) {
    INFO(dtype_name(d));
    test::CompiledPath path;
    jit::clear_cache();
    auto make = [&] {
      return std::vector<Tensor>{test::seeded_randn({6, 3, 10}, 21, d).requires_grad_(),
                                 test::seeded_randn({3, 10}, 22, d).requires_grad_(),
                                 test::seeded_randn({3, 10}, 23, d).requires_grad_()};
    };
    auto run = [](const std::vector<Tensor>& in) {
      Tensor y = nn::functional::layer_norm(in[0] * 3 + 1, {3, 10}, in[1], in[2]);
      Tensor loss = (gelu(y) * y).sum() + var(y, {2}).sum() + ember::std(in[0], {0, 2}).mean();
      loss.backward();
      return std::vector<Tensor>{y, loss};
    };
    std::vector<Tensor> want_in = make();
    std::vector<Tensor> want = run(want_in);
    const double rtol = d == kFloat32 ? 1e-4 : 1e-10;
    for (int r = 0; r < kRuns; ++r) {
      std::vector<Tensor> in = make(), got;
      const jit::Stats before = jit::stats();
      {
        jit::Region region("layer_norm_step");
        got = run(in);
      }
      test::settle_compiles();
      const jit::Stats after = jit::stats();
      const std::string what = "run " + std::to_string(r + 1);
      CHECK(after.graphs - before.graphs == 1);
      CHECK(after.graph_breaks == before.graph_breaks);
      require_same(got[0], want[0], what + ", y", rtol);
      require_same(got[1], want[1], what + ", loss", rtol);
      for (size_t i = 0; i < in.size(); ++i)
        require_same(in[i].grad(), want_in[i].grad(), what + ", grad " + std::to_string(i), rtol);
    }
  }
}

TEST_CASE("gradcheck of layer_norm through a region", "[jit][autograd_region]") {
  test::CompiledPath path(1, 2);
  jit::clear_cache();
  Tensor x = test::seeded_randn({4, 6}, 31, kFloat64).requires_grad_();
  Tensor w = test::seeded_randn({6}, 32, kFloat64).requires_grad_();
  Tensor b = test::seeded_randn({6}, 33, kFloat64).requires_grad_();
  auto fn = [](const std::vector<Tensor>& in) {
    jit::Region r("layer_norm_gradcheck");
    return nn::functional::layer_norm(in[0], {6}, in[1], in[2]);
  };
  autograd::GradcheckResult res = gradcheck(fn, {x, w, b});
  INFO(res.report);
  CHECK(res.ok);
}

// The guards of a training region: what a step does depends on grad mode, train/eval mode, which
// inputs require grad and whether .grad is defined yet. A region sees each as a different traced
// graph (the trace records what ran), so a kernel compiled for one is never reused for another.
// The configurations interleave in one region, each past hot detection and the tier-up, and
// every step gives eager's values, gradients and parameter updates.
TEST_CASE("toggling grad mode, train/eval, requires_grad and .grad never reuses a stale kernel",
          "[jit][autograd_region]") {
  test::CompiledPath path;
  jit::clear_cache();
  struct Model {
    nn::Sequential net = nn::Sequential(nn::Linear(6, 8), nn::LayerNorm(8), nn::Dropout(0.25),
                                        nn::GELU(), nn::Linear(8, 3));
  };
  manual_seed(3);
  Model eager, fused;
  fused.net.load_state_dict(eager.net.state_dict());
  const Tensor x = test::seeded_randn({5, 6}, 201), y = test::seeded_randn({5, 3}, 202);
  enum Config { Train, TrainAccumulate, Eval, NoGrad, FrozenFirst, NumConfigs };
  // One step of configuration c on model m; returns the loss and every parameter's gradient.
  auto step = [&](Model& m, Config c, bool region) {
    std::optional<jit::Region> r;
    m.net.train(c != Eval);
    auto params = m.net.parameters();
    params[0].requires_grad_(c != FrozenFirst);
    if (c != TrainAccumulate)
      for (Tensor& p : params) p.set_grad(Tensor());
    manual_seed(7);  // dropout draws the same mask eagerly and in the region
    if (region) r.emplace("guards");
    std::vector<Tensor> out;
    {
      std::optional<NoGradGuard> no_grad;
      if (c == NoGrad || c == Eval) no_grad.emplace();
      Tensor loss = nn::functional::mse_loss(m.net(x), y);
      if (!no_grad) loss.backward();
      out.push_back(loss);
    }
    r.reset();
    for (Tensor& p : params) out.push_back(p.grad().defined() ? p.grad().clone() : Tensor());
    params[0].requires_grad_(true);
    return out;
  };
  for (int round = 0; round < kRuns; ++round)
    for (int c = 0; c < NumConfigs; ++c) {
      std::vector<Tensor> want = step(eager, Config(c), false);
      std::vector<Tensor> got = step(fused, Config(c), true);
      test::settle_compiles();
      REQUIRE(got.size() == want.size());
      for (size_t i = 0; i < got.size(); ++i)
        require_same(got[i], want[i],
                     "round " + std::to_string(round) + ", config " + std::to_string(c) +
                         ", result " + std::to_string(i),
                     1e-4);
    }
}

// cat, embedding and the index ops are library calls inside the graph: a step that uses them
// (and their gradients: index_add, scatter_add, slices of the gradient) is one graph, reading new
// index values every run (indices are graph inputs, not part of the signature).
TEST_CASE("embedding, cat and index ops in a region: new indices each run, eager's gradients",
          "[jit][autograd_region]") {
  namespace F = nn::functional;
  test::CompiledPath path;
  jit::clear_cache();
  auto make = [] {
    return std::vector<Tensor>{test::seeded_randn({7, 4}, 31).requires_grad_(),
                               test::seeded_randn({5, 3}, 32).requires_grad_(),
                               test::seeded_randn({6, 3}, 33).requires_grad_()};
  };
  // Each run its own indices, the same shapes.
  auto indices = [](int run) {
    manual_seed(static_cast<uint64_t>(100 + run));
    return std::vector<Tensor>{randint(0, 7, {2, 5}), randint(0, 5, {4}), randint(0, 3, {6, 2}),
                               randint(0, 6, {3})};
  };
  auto step = [](const std::vector<Tensor>& in, const std::vector<Tensor>& idx) {
    Tensor e = F::embedding(idx[0], in[0]);                             // [2, 5, 4]
    Tensor s = in[1].index_select(0, idx[1]);                           // [4, 3]
    Tensor g = in[2].gather(1, idx[2]);                                 // [6, 2]
    Tensor a = index_add(in[2] * 2, 0, idx[3], in[1].narrow(0, 0, 3));  // [6, 3]
    Tensor c = cat({s, a.narrow(0, 0, 2) * 0.5}, 0);                    // [6, 3]
    Tensor loss = (gelu(e) * e).sum() + (c * c).sum() + (g * s.sum()).mean() + tanh(a).sum();
    loss.backward();
    return std::vector<Tensor>{e, c, g, loss};
  };
  for (int r = 0; r < kRuns; ++r) {
    std::vector<Tensor> idx = indices(r);
    std::vector<Tensor> want_in = make(), in = make(), got;
    std::vector<Tensor> want = step(want_in, idx);
    const jit::Stats before = jit::stats();
    {
      jit::Region region("index_step");
      got = step(in, idx);
    }
    test::settle_compiles();
    const jit::Stats after = jit::stats();
    const std::string what = "run " + std::to_string(r + 1);
    CHECK(after.graphs - before.graphs == 1);
    CHECK(after.graph_breaks == before.graph_breaks);
    if (r >= 2) CHECK(after.fused_graphs - before.fused_graphs == 1);
    for (size_t i = 0; i < got.size(); ++i)
      require_same(got[i], want[i], what + ", result " + std::to_string(i), 1e-5);
    for (size_t i = 0; i < in.size(); ++i)
      require_same(in[i].grad(), want_in[i].grad(), what + ", grad " + std::to_string(i), 1e-5);
  }
}

TEST_CASE("an index out of range in a region throws at the op, as eagerly",
          "[jit][autograd_region]") {
  namespace F = nn::functional;
  test::CompiledPath path;
  Tensor w = test::seeded_randn({5, 3}, 41);
  for (int r = 0; r < kRuns; ++r) {  // the last runs with the region's kernels compiled
    const bool bad = r == kRuns - 1;
    Tensor ids = tensor(std::vector<int64_t>{1, 4, 0}), wrong = tensor(std::vector<int64_t>{1, 5});
    Tensor y;
    {
      jit::Region region("index_error");
      y = F::embedding(ids, w) * 2;
      if (bad) {  // the error where the op is called; the region's other work is kept
        CHECK_THROWS_WITH(F::embedding(wrong, w),
                          Catch::Contains("embedding") && Catch::Contains("out of range"));
        CHECK_THROWS_WITH(w.index_select(0, wrong), Catch::Contains("index_select"));
      }
    }
    test::settle_compiles();
    test::require_close(y.select(1, 0), {3},
                        {2 * test::at(w, {1, 0}), 2 * test::at(w, {4, 0}), 2 * test::at(w, {0, 0})},
                        "y", 1e-6);
  }
}

// An op the JIT does not handle (an int64 comparison) on data the region has not touched runs
// eagerly without breaking the graph: causal attention is one graph.
TEST_CASE("an untraced op on data outside the trace is no graph break", "[jit][autograd_region]") {
  namespace F = nn::functional;
  test::CompiledPath path;
  Tensor q = test::seeded_randn({2, 5, 4}, 51).requires_grad_();
  Tensor want = F::scaled_dot_product_attention(q * 2, q, q, {}, 0.0, true);
  want.sum().backward();
  Tensor want_grad = q.grad();
  for (int r = 0; r < kRuns; ++r) {
    q.set_grad({});
    const jit::Stats before = jit::stats();
    Tensor y;
    {
      jit::Region region("causal");
      y = F::scaled_dot_product_attention(q * 2, q, q, {}, 0.0, true);
      y.sum().backward();
    }
    test::settle_compiles();
    const jit::Stats after = jit::stats();
    CHECK(after.graphs - before.graphs == 1);
    CHECK(after.graph_breaks == before.graph_breaks);
    require_same(y, want, "run " + std::to_string(r + 1) + ", y");
    require_same(q.grad(), want_grad, "run " + std::to_string(r + 1) + ", grad");
  }
  // The same op on a value of the trace still breaks the graph (it needs the value).
  const jit::Stats before = jit::stats();
  {
    jit::Region region("lazy_compare");
    Tensor i = arange(4, kInt64);
    Tensor m = (q.sum({2}) > 0).to(kInt64) + i.narrow(0, 0, 1);
  }
  CHECK(jit::stats().graph_breaks > before.graph_breaks);
}

// Ops that differ only in an attribute the graph's key once ignored (a loss's reduction,
// ignore_index) shared one node: the second loss silently took the first's value.
TEST_CASE("losses that differ only in their options stay apart in a region",
          "[jit][autograd_region]") {
  namespace F = nn::functional;
  test::CompiledPath path;
  Tensor x = test::seeded_randn({4, 3}, 61), y = test::seeded_randn({4, 3}, 62);
  Tensor target = tensor(std::vector<int64_t>{0, 2, 1, 2});
  auto run = [&] {
    Tensor lp = log_softmax(x, 1);
    return std::vector<Tensor>{F::mse_loss(x, y), F::mse_loss(x, y, {.reduction = Reduction::Sum}),
                               F::nll_loss(lp, target),
                               F::nll_loss(lp, target, {.ignore_index = 2}),
                               F::nll_loss(lp, target, {.reduction = Reduction::None})};
  };
  std::vector<Tensor> want = run();
  for (int r = 0; r < kRuns; ++r) {
    std::vector<Tensor> got;
    {
      jit::Region region("two_losses");
      got = run();
    }
    test::settle_compiles();
    for (size_t i = 0; i < got.size(); ++i)
      require_same(got[i], want[i], "run " + std::to_string(r + 1) + ", loss " + std::to_string(i));
  }
}

TEST_CASE("int64 comparisons fuse in a region: an embedding's padding_idx",
          "[jit][autograd_region]") {
  // The backward of an embedding with padding_idx masks the rows of that index (idx != pad): an
  // int64 comparison, which broke the graph. Compared as integers in the kernel, and converted
  // to float where a float operand asks for it.
  test::CompiledPath path;
  manual_seed(3);
  nn::Embedding want_emb(10, 4, {.padding_idx = 0});
  const Tensor weight = want_emb.weight.detach().clone();
  const Tensor idx = tensor(std::vector<int64_t>{0, 3, 5, 0, 2, 9}).reshape({2, 3});
  auto step = [&](nn::Embedding& emb) {
    Tensor y = emb(idx);
    Tensor mask = (idx > 2).to(kFloat32) + (idx != 5).to(kFloat32) * 0.5 + idx.to(kFloat32) * 0.25;
    // Every comparison, int64 against int64 tensors and numbers, and against a float number.
    const Tensor other = tensor(std::vector<int64_t>{1, 3, 7, 0, 4, 9}).reshape({2, 3});
    Tensor more = (idx == 3).to(kFloat32) + (idx <= 4).to(kFloat32) * 2 +
                  (idx >= other).to(kFloat32) * 3 + (idx == other).to(kFloat32) * 5 +
                  (idx < other).to(kFloat32) * 7 + (idx < 3.5).to(kFloat32) * 11;
    Tensor loss = (y * y).sum() + (y.sum({-1}) * mask).sum() + (y.sum({-1}) * more).sum();
    loss.backward();
    return loss;
  };
  Tensor want_loss = step(want_emb);
  const jit::Stats s0 = jit::stats();
  for (int run = 0; run < kRuns; ++run) {
    nn::Embedding emb(10, 4, {.padding_idx = 0});
    {
      NoGradGuard ng;
      emb.weight.copy_(weight);
    }
    Tensor loss;
    {
      jit::Region r("int_compare");
      loss = step(emb);
    }
    test::settle_compiles();
    const std::string what = "run " + std::to_string(run + 1);
    require_same(loss, want_loss, what + ", loss");
    require_same(emb.weight.grad(), want_emb.weight.grad(), what + ", weight.grad");
  }
  const jit::Stats s1 = jit::stats();
  CHECK(s1.graph_breaks == s0.graph_breaks);
  CHECK(s1.fused_graphs - s0.fused_graphs >= kRuns - 1);
}
