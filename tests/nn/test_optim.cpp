// Optimizers and LR schedulers against double-precision references of PyTorch's formulas.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <numbers>

#include "nn/optim/optim.hpp"
#include "support/reference.hpp"

using namespace ember;

namespace {

using Vec = std::vector<double>;
constexpr int kSteps = 3;
const Dims kShape = {2, 3};

// ---- references: one step of each optimizer on flat doubles, PyTorch's single-tensor code ----

struct SGDRef {
  optim::SGDOptions o;
  Vec buf;
  void step(Vec& p, const Vec& g) {
    const bool first = buf.empty();
    if (first) buf.assign(p.size(), 0);
    for (size_t i = 0; i < p.size(); ++i) {
      double d = o.maximize ? -g[i] : g[i];
      if (o.weight_decay != 0) d += o.weight_decay * p[i];
      if (o.momentum != 0) {
        if (first)
          buf[i] = d;  // the buffer starts as the first gradient
        else
          buf[i] = o.momentum * buf[i] + (1 - o.dampening) * d;
        d = o.nesterov ? d + o.momentum * buf[i] : buf[i];
      }
      p[i] -= o.lr * d;
    }
  }
};

struct AdamRef {
  optim::AdamOptions o;
  bool decoupled = false;
  Vec m{}, v{}, vmax{};
  int t = 0;
  void step(Vec& p, const Vec& g) {
    if (m.empty()) m.assign(p.size(), 0), v.assign(p.size(), 0), vmax.assign(p.size(), 0);
    ++t;
    auto [b1, b2] = o.betas;
    for (size_t i = 0; i < p.size(); ++i) {
      double d = o.maximize ? -g[i] : g[i];
      if (decoupled)
        p[i] *= 1 - o.lr * o.weight_decay;
      else
        d += o.weight_decay * p[i];
      m[i] = b1 * m[i] + (1 - b1) * d;
      v[i] = b2 * v[i] + (1 - b2) * d * d;
      vmax[i] = std::max(vmax[i], v[i]);
      double second = o.amsgrad ? vmax[i] : v[i];
      double denom = std::sqrt(second) / std::sqrt(1 - std::pow(b2, t)) + o.eps;
      p[i] -= o.lr / (1 - std::pow(b1, t)) * m[i] / denom;
    }
  }
};

struct RMSpropRef {
  optim::RMSpropOptions o;
  Vec sq, ga, buf;
  void step(Vec& p, const Vec& g) {
    if (sq.empty()) sq.assign(p.size(), 0), ga.assign(p.size(), 0), buf.assign(p.size(), 0);
    for (size_t i = 0; i < p.size(); ++i) {
      double d = o.maximize ? -g[i] : g[i];
      d += o.weight_decay * p[i];
      sq[i] = o.alpha * sq[i] + (1 - o.alpha) * d * d;
      double avg;
      if (o.centered) {
        ga[i] = o.alpha * ga[i] + (1 - o.alpha) * d;
        avg = std::sqrt(sq[i] - ga[i] * ga[i]) + o.eps;
      } else {
        avg = std::sqrt(sq[i]) + o.eps;
      }
      if (o.momentum > 0) {
        buf[i] = o.momentum * buf[i] + d / avg;
        p[i] -= o.lr * buf[i];
      } else {
        p[i] -= o.lr * d / avg;
      }
    }
  }
};

// Runs kSteps steps of `opt` on p with seeded gradients and of `ref` on a double copy,
// comparing after every step.
template <class Ref>
void check_steps(optim::Optimizer& opt, const Tensor& p, Ref ref, const std::string& what,
                 uint64_t seed, bool noncontig_grad = false) {
  Vec expected = test::values(p);
  const double tol = p.dtype() == kFloat64 ? 1e-12 : 2e-5;
  for (int s = 0; s < kSteps; ++s) {
    Tensor g = test::seeded_randn(p.sizes(), seed * 10 + s, p.dtype());
    p.set_grad(noncontig_grad ? test::noncontiguous(g) : g);
    opt.step();
    ref.step(expected, test::values(g));
    test::require_close(p, p.sizes(), expected, what + " step " + std::to_string(s + 1), tol, tol);
  }
}

Tensor param(uint64_t seed, DType d = kFloat64) {
  Tensor p = test::seeded_randn(kShape, seed, d);
  p.requires_grad_();
  return p;
}

}  // namespace

TEST_CASE("SGD matches PyTorch's update over three steps", "[optim]") {
  std::vector<std::pair<std::string, optim::SGDOptions>> cases = {
      {"plain", {.lr = 0.1}},
      {"momentum", {.lr = 0.1, .momentum = 0.9}},
      {"dampening", {.lr = 0.05, .momentum = 0.8, .dampening = 0.3}},
      {"nesterov", {.lr = 0.1, .momentum = 0.9, .nesterov = true}},
      {"weight_decay", {.lr = 0.1, .momentum = 0.5, .weight_decay = 0.01}},
      {"maximize", {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.1, .maximize = true}},
  };
  uint64_t seed = 1;
  for (const auto& [name, o] : cases) {
    for (DType d : {kFloat64, kFloat32}) {
      Tensor p = param(seed, d);
      optim::SGD opt({p}, o);
      check_steps(opt, p, SGDRef{o, {}}, "SGD " + name + " " + dtype_name(d), seed,
                  name == "momentum");
      ++seed;
    }
  }
}

TEST_CASE("Adam and AdamW match PyTorch's update over three steps", "[optim]") {
  std::vector<std::pair<std::string, optim::AdamOptions>> cases = {
      {"default", {.lr = 0.01}},
      {"betas", {.lr = 0.02, .betas = {0.8, 0.9}, .eps = 1e-6}},
      {"weight_decay", {.lr = 0.01, .weight_decay = 0.1}},
      {"amsgrad", {.lr = 0.01, .amsgrad = true}},
      {"maximize", {.lr = 0.01, .weight_decay = 0.05, .maximize = true}},
  };
  uint64_t seed = 100;
  for (const auto& [name, o] : cases) {
    for (DType d : {kFloat64, kFloat32}) {
      Tensor p = param(seed, d);
      optim::Adam opt({p}, o);
      check_steps(opt, p, AdamRef{o, false}, "Adam " + name + " " + dtype_name(d), seed);
      ++seed;
      Tensor q = param(seed, d);
      optim::AdamW optw({q}, {.lr = o.lr,
                              .betas = o.betas,
                              .eps = o.eps,
                              .weight_decay = o.weight_decay == 0 ? 0.01 : o.weight_decay,
                              .amsgrad = o.amsgrad,
                              .maximize = o.maximize});
      optim::AdamOptions wo = o;
      wo.weight_decay = o.weight_decay == 0 ? 0.01 : o.weight_decay;
      check_steps(optw, q, AdamRef{wo, true}, "AdamW " + name + " " + dtype_name(d), seed);
      ++seed;
    }
  }
  // AdamW's default decay is PyTorch's 1e-2.
  Tensor p = param(7);
  optim::AdamW w({p});
  CHECK(w.param_groups()[0].get("weight_decay") == 0.01);
  CHECK(w.name() == "AdamW");
}

TEST_CASE("RMSprop matches PyTorch's update over three steps", "[optim]") {
  std::vector<std::pair<std::string, optim::RMSpropOptions>> cases = {
      {"default", {}},
      {"alpha_eps", {.lr = 0.01, .alpha = 0.9, .eps = 1e-4}},
      {"momentum", {.lr = 0.01, .momentum = 0.9}},
      {"centered", {.lr = 0.01, .centered = true}},
      {"centered_momentum", {.lr = 0.01, .momentum = 0.5, .centered = true}},
      {"weight_decay", {.lr = 0.01, .weight_decay = 0.1}},
      {"maximize", {.lr = 0.01, .momentum = 0.3, .maximize = true}},
  };
  uint64_t seed = 200;
  for (const auto& [name, o] : cases) {
    for (DType d : {kFloat64, kFloat32}) {
      Tensor p = param(seed, d);
      optim::RMSprop opt({p}, o);
      check_steps(opt, p, RMSpropRef{o, {}, {}, {}}, "RMSprop " + name + " " + dtype_name(d), seed);
      ++seed;
    }
  }
}

TEST_CASE("parameter groups use their own hyper-parameters", "[optim]") {
  Tensor a = param(1), b = param(2), c = param(3);
  optim::SGD opt({{{a, b}}, {{c}, {{"lr", 0.01}, {"momentum", 0.5}}}},
                 {.lr = 0.1, .momentum = 0.9});
  REQUIRE(opt.param_groups().size() == 2);
  CHECK(opt.param_groups()[0].lr() == 0.1);
  CHECK(opt.param_groups()[1].lr() == 0.01);
  CHECK(opt.param_groups()[1].get("momentum") == 0.5);
  CHECK(opt.param_groups()[1].get("dampening") == 0);  // filled from the defaults
  SGDRef ra{{.lr = 0.1, .momentum = 0.9}, {}}, rb = ra, rc{{.lr = 0.01, .momentum = 0.5}, {}};
  Vec ea = test::values(a), eb = test::values(b), ec = test::values(c);
  for (int s = 0; s < kSteps; ++s) {
    Tensor ga = test::seeded_randn(kShape, 40 + s, kFloat64);
    Tensor gb = test::seeded_randn(kShape, 50 + s, kFloat64);
    Tensor gc = test::seeded_randn(kShape, 60 + s, kFloat64);
    a.set_grad(ga), b.set_grad(gb), c.set_grad(gc);
    opt.step();
    ra.step(ea, test::values(ga)), rb.step(eb, test::values(gb)), rc.step(ec, test::values(gc));
    test::require_close(a, kShape, ea, "group 0 param a", 1e-12, 1e-12);
    test::require_close(b, kShape, eb, "group 0 param b", 1e-12, 1e-12);
    test::require_close(c, kShape, ec, "group 1 param c", 1e-12, 1e-12);
  }
  // add_param_group later, and a changed lr takes effect on the next step.
  Tensor d = param(4);
  opt.add_param_group({{d}, {{"lr", 1.0}}});
  opt.param_groups()[2].options["lr"] = 0.5;
  Vec before = test::values(d);
  Tensor gd = test::seeded_randn(kShape, 70, kFloat64);
  a.set_grad({}), b.set_grad({}), c.set_grad({});
  d.set_grad(gd);
  opt.step();
  SGDRef rd{{.lr = 0.5, .momentum = 0.9}, {}};
  rd.step(before, test::values(gd));
  test::require_close(d, kShape, before, "added group", 1e-12, 1e-12);
}

TEST_CASE("parameters without a gradient are skipped; zero_grad clears", "[optim]") {
  Tensor a = param(1), b = param(2);
  optim::Adam opt({a, b}, {.lr = 0.1});
  Vec b0 = test::values(b);
  a.set_grad(ones_like(a));
  opt.step();
  test::require_close(b, kShape, b0, "param without grad", 0, 0);
  CHECK(test::values(a) != test::values(param(1)));
  auto sd = opt.state_dict();
  CHECK(sd.state.count("0.exp_avg") == 1);
  CHECK(sd.state.count("1.exp_avg") == 0);  // no state for the skipped parameter

  opt.zero_grad(/*set_to_none=*/false);
  REQUIRE(a.grad().defined());
  test::require_close(a.grad(), kShape, Vec(6, 0.0), "zero_grad(false)", 0, 0);
  CHECK_FALSE(b.grad().defined());
  opt.zero_grad();
  CHECK_FALSE(a.grad().defined());
}

TEST_CASE("an optimizer drives a loss down through autograd", "[optim]") {
  // loss_i = (p_i - t_i)^2, so the gradient 2 (p - t) comes from the autograd engine.
  Tensor target = tensor({1.0, -2.0, 0.5, 3.0});
  for (int which = 0; which < 3; ++which) {
    Tensor p = zeros({4}).requires_grad_();
    std::unique_ptr<optim::Optimizer> opt;
    if (which == 0)
      opt = std::make_unique<optim::SGD>(std::vector<Tensor>{p},
                                         optim::SGDOptions{.lr = 0.1, .momentum = 0.5});
    if (which == 1)
      opt = std::make_unique<optim::Adam>(std::vector<Tensor>{p}, optim::AdamOptions{.lr = 0.1});
    if (which == 2)
      opt = std::make_unique<optim::RMSprop>(std::vector<Tensor>{p},
                                             optim::RMSpropOptions{.lr = 0.03});
    for (int it = 0; it < 300; ++it) {
      opt->zero_grad();
      Tensor diff = p - target;
      Tensor loss = diff * diff;
      loss.backward(ones_like(loss));
      opt->step();
    }
    INFO(opt->name());
    CHECK(p.is_leaf());
    CHECK(p.requires_grad());
    test::require_close(p, {4}, {1.0, -2.0, 0.5, 3.0}, opt->name() + " fit", 0, 0.05);
  }
}

TEST_CASE("step with a closure returns its loss", "[optim]") {
  Tensor p = param(3);
  optim::SGD opt({p}, {.lr = 0.1});
  int calls = 0;
  Tensor loss = opt.step([&] {
    ++calls;
    p.set_grad(ones_like(p));
    return full({}, 2.5);
  });
  CHECK(calls == 1);
  CHECK(loss.item<double>() == 2.5);
}

TEST_CASE("optimizer state_dict round-trips", "[optim]") {
  Tensor a = param(11), b = param(12);
  optim::Adam first({{{a}}, {{b}, {{"lr", 0.02}}}}, {.lr = 0.01, .amsgrad = true});
  for (int s = 0; s < 2; ++s) {
    a.set_grad(test::seeded_randn(kShape, 80 + s, kFloat64));
    b.set_grad(test::seeded_randn(kShape, 90 + s, kFloat64));
    first.step();
  }
  first.param_groups()[1].options["lr"] = 0.03;
  optim::OptimizerStateDict sd = first.state_dict();
  REQUIRE(sd.param_groups.size() == 2);
  CHECK(sd.param_groups[1].params == std::vector<int64_t>{1});
  CHECK(sd.param_groups[1].options.at("lr") == 0.03);
  REQUIRE(sd.state.count("1.max_exp_avg_sq") == 1);
  CHECK(sd.state.at("0.step").item<double>() == 2);

  Tensor a2 = param(13), b2 = param(14);
  optim::Adam second({{{a2}, {}}, {{b2}, {}}}, {.lr = 0.5});
  second.load_state_dict(sd);
  CHECK(second.param_groups()[1].lr() == 0.03);
  {
    NoGradGuard g;
    a2.copy_(a), b2.copy_(b);
  }
  Tensor ga = test::seeded_randn(kShape, 99, kFloat64),
         gb = test::seeded_randn(kShape, 98, kFloat64);
  a.set_grad(ga), b.set_grad(gb), a2.set_grad(ga), b2.set_grad(gb);
  first.step();
  second.step();
  CHECK(a2.to_vector<double>() == a.to_vector<double>());
  CHECK(b2.to_vector<double>() == b.to_vector<double>());
  // The loaded state is a copy: stepping `second` did not move `first`'s buffers twice.
  CHECK(second.state_dict().state.at("0.step").item<double>() == 3);
  CHECK(first.state_dict().state.at("0.step").item<double>() == 3);

  optim::Adam one_group({a2, b2});
  CHECK_THROWS_WITH(one_group.load_state_dict(sd),
                    Catch::Contains("loaded state dict has 2 parameter groups but the optimizer "
                                    "has 1"));
  Tensor wrong = zeros({5}, kFloat64).requires_grad_();
  optim::Adam shaped({{{a2}, {}}, {{wrong}, {}}});
  CHECK_THROWS_WITH(shaped.load_state_dict(sd),
                    Catch::Contains("state '1.exp_avg' has shape [2, 3] but its parameter has "
                                    "shape [5]"));
}

TEST_CASE("optimizer errors name the problem", "[optim][error]") {
  Tensor p = param(1);
  CHECK_THROWS_WITH(optim::SGD({p}, {.lr = -1}), Catch::Contains("Invalid learning rate: -1"));
  CHECK_THROWS_WITH(optim::SGD({p}, {.lr = 0.1, .nesterov = true}),
                    Catch::Contains("Nesterov momentum requires a momentum and zero dampening"));
  CHECK_THROWS_WITH(optim::Adam({p}, {.betas = {1.0, 0.9}}),
                    Catch::Contains("Invalid beta parameter at index 0: 1"));
  CHECK_THROWS_WITH(optim::RMSprop({p}, {.alpha = -0.5}), Catch::Contains("Invalid alpha value"));
  CHECK_THROWS_WITH(optim::SGD(std::vector<Tensor>{}), Catch::Contains("empty parameter list"));
  CHECK_THROWS_WITH(optim::SGD({p, p}), Catch::Contains("more than one parameter group"));
  Tensor nonleaf = p * 2;
  CHECK_THROWS_WITH(optim::SGD({nonleaf}), Catch::Contains("can't optimize a non-leaf Tensor"));
  CHECK_THROWS_WITH(optim::SGD({{{p}, {{"lrr", 0.1}}}}),
                    Catch::Contains("unknown hyper-parameter 'lrr' in parameter group 0"));
  CHECK_THROWS_WITH(optim::SGD({{{p}, {{"lr", -0.1}}}}),
                    Catch::Contains("Invalid learning rate: -0.1"));
}

// ---- schedulers ----

namespace {
std::vector<double> lrs_of(const optim::Optimizer& opt) {
  std::vector<double> out;
  for (const auto& g : opt.param_groups()) out.push_back(g.lr());
  return out;
}
}  // namespace

TEST_CASE("StepLR and MultiStepLR follow the closed forms", "[optim][sched]") {
  Tensor a = param(1), b = param(2);
  {
    optim::SGD opt({{{a}}, {{b}, {{"lr", 0.5}}}}, {.lr = 0.1});
    optim::StepLR sched(opt, 3, 0.5);
    for (int e = 0; e <= 10; ++e) {
      if (e > 0) sched.step();
      INFO("epoch " << e);
      CHECK(sched.last_epoch() == e);
      std::vector<double> expect = {0.1 * std::pow(0.5, e / 3), 0.5 * std::pow(0.5, e / 3)};
      REQUIRE(sched.get_last_lr().size() == 2);
      for (int g = 0; g < 2; ++g) {
        CHECK(sched.get_last_lr()[g] == Approx(expect[g]).epsilon(1e-13));
        CHECK(lrs_of(opt)[g] == sched.get_last_lr()[g]);
      }
    }
  }
  {
    optim::SGD opt({a}, {.lr = 0.2});
    std::vector<int64_t> milestones = {5, 2, 8, 5};  // unsorted, 5 twice: two decays at 5
    optim::MultiStepLR sched(opt, milestones, 0.1);
    std::sort(milestones.begin(), milestones.end());
    for (int e = 0; e <= 10; ++e) {
      if (e > 0) sched.step();
      auto passed = std::upper_bound(milestones.begin(), milestones.end(), e) - milestones.begin();
      INFO("epoch " << e);
      CHECK(sched.get_last_lr()[0] == Approx(0.2 * std::pow(0.1, passed)).epsilon(1e-13));
    }
  }
  CHECK_THROWS_WITH(optim::StepLR(*std::make_unique<optim::SGD>(std::vector<Tensor>{a}), 0),
                    Catch::Contains("step_size must be positive"));
}

TEST_CASE("CosineAnnealingLR follows the closed form, periodically", "[optim][sched]") {
  Tensor a = param(1);
  optim::SGD opt({a}, {.lr = 0.1});
  const double eta_min = 0.001;
  const int T = 4;
  optim::CosineAnnealingLR sched(opt, T, eta_min);
  CHECK(opt.param_groups()[0].get("initial_lr") == 0.1);
  for (int e = 0; e <= 3 * T + 1; ++e) {
    if (e > 0) sched.step();
    double expect = eta_min + (0.1 - eta_min) * (1 + std::cos(std::numbers::pi * e / T)) / 2;
    INFO("epoch " << e);
    CHECK(sched.get_last_lr()[0] == Approx(expect).epsilon(1e-12));
  }
}

namespace {
// PyTorch's OneCycleLR in closed form for one group: {lr, momentum} at step s.
std::pair<double, double> one_cycle(int s, int total, double max_lr, bool three_phase, bool linear,
                                    double pct_start = 0.3) {
  const double initial = max_lr / 25, min_lr = initial / 1e4, base_m = 0.85, max_m = 0.95;
  auto anneal = [&](double a, double b, double pct) {
    return linear ? (b - a) * pct + a : b + (a - b) / 2 * (std::cos(std::numbers::pi * pct) + 1);
  };
  struct Ph {
    double end, lr0, lr1, m0, m1;
  };
  std::vector<Ph> phases;
  if (three_phase)
    phases = {{pct_start * total - 1, initial, max_lr, max_m, base_m},
              {2 * pct_start * total - 2, max_lr, initial, base_m, max_m},
              {total - 1.0, initial, min_lr, max_m, max_m}};
  else
    phases = {{pct_start * total - 1, initial, max_lr, max_m, base_m},
              {total - 1.0, max_lr, min_lr, base_m, max_m}};
  double start = 0;
  for (size_t i = 0; i < phases.size(); ++i) {
    if (s <= phases[i].end || i + 1 == phases.size()) {
      double pct = (s - start) / (phases[i].end - start);
      return {anneal(phases[i].lr0, phases[i].lr1, pct), anneal(phases[i].m0, phases[i].m1, pct)};
    }
    start = phases[i].end;
  }
  return {0, 0};
}
}  // namespace

TEST_CASE("OneCycleLR follows PyTorch's phases and cycles momentum", "[optim][sched]") {
  const int total = 20;
  for (bool three_phase : {false, true}) {
    for (bool linear : {false, true}) {
      Tensor a = param(1);
      optim::SGD opt({a}, {.lr = 0.1, .momentum = 0.9});
      optim::OneCycleLR sched(opt, 0.1,
                              {.total_steps = total,
                               .anneal_strategy = linear ? "linear" : "cos",
                               .three_phase = three_phase});
      for (int s = 0; s < total; ++s) {
        if (s > 0) sched.step();
        auto [lr, m] = one_cycle(s, total, 0.1, three_phase, linear);
        INFO("step " << s << " three_phase " << three_phase << " linear " << linear);
        CHECK(sched.get_last_lr()[0] == Approx(lr).epsilon(1e-12));
        CHECK(opt.param_groups()[0].get("momentum") == Approx(m).epsilon(1e-12));
      }
    }
  }
  // Adam cycles beta1; epochs * steps_per_epoch gives the total.
  Tensor a = param(2);
  optim::Adam adam({a}, {.lr = 0.1});
  optim::OneCycleLR sched(adam, 0.05, {.epochs = 2, .steps_per_epoch = 5});
  CHECK(sched.total_steps() == 10);
  for (int s = 1; s <= 10; ++s) {
    sched.step();
    auto [lr, m] = one_cycle(s, 10, 0.05, false, false);
    CHECK(sched.get_last_lr()[0] == Approx(lr).epsilon(1e-12));
    CHECK(adam.param_groups()[0].get("beta1") == Approx(m).epsilon(1e-12));
  }
  CHECK_THROWS_WITH(sched.step(),
                    Catch::Contains("Tried to step 12 times. The specified number of total steps "
                                    "is 10"));
  CHECK_THROWS_WITH(optim::OneCycleLR(adam, 0.1, {}),
                    Catch::Contains("You must define either total_steps OR (epochs AND "
                                    "steps_per_epoch)"));
}

// ---- Adagrad and the schedulers of issue 19: numbers printed by PyTorch 1.13 (Debian's
// python3-torch) for the same inputs, pasted here ----

namespace {
const std::vector<Vec> kAdagradGrads = {{0.1, -0.2, 0.3, 1.0, -0.5, 0.05},
                                        {-0.3, 0.4, 0.0, 0.2, 0.7, -1.1},
                                        {0.6, 0.1, -0.2, -0.4, 0.3, 0.9}};
Tensor adagrad_param(DType d) {
  return tensor({{0.5, -1.0, 2.0}, {0.1, 0.0, -0.3}}, kFloat64).to(d).requires_grad_();
}
}  // namespace

TEST_CASE("Adagrad matches PyTorch over three steps", "[optim]") {
  struct Case {
    std::string name;
    optim::AdagradOptions o;
    std::vector<Vec> params;  // after each step
    Vec sum;
  };
  const std::vector<Case> cases = {
      {"default",
       {},
       {{0.49000000001, -0.990000000005, 1.9900000000033333, 0.090000000001, 0.009999999998,
         -0.30999999998},
        {0.4994868329875051, -0.9989442719129992, 1.9900000000033333, 0.08803883864981046,
         0.0018626652868785967, -0.3000103145788042},
        {0.49064031561951565, -1.001126450814883, 1.995547001964047, 0.09169032236617823,
         -0.0014302625124506677, -0.3063387775637709}},
       {0.45999999999999996, 0.21000000000000005, 0.13, 1.2, 0.83, 2.0225}},
      {"lr_decay",
       {.lr = 0.1, .lr_decay = 0.5},
       {{0.4000000001, -0.90000000005, 1.9000000000333332, 1.000000082740371e-11, 0.09999999998,
         -0.3999999998},
        {0.4632455532833676, -0.9596284794366611, 1.9000000000333332, -0.013074408997930217,
         0.045751101905857315, -0.3334020971253615},
        {0.4190129664434202, -0.9705393739460797, 1.9277350098369024, 0.00518300958390866,
         0.029286462909210994, -0.3650444120501949}},
       {0.45999999999999996, 0.21000000000000005, 0.13, 1.2, 0.83, 2.0225}},
      {"weight_decay",
       {.lr = 0.05, .weight_decay = 0.1},
       {{0.45000000003333335, -0.9500000000166666, 1.95000000001, 0.0500000000049505, 0.04999999999,
         -0.34999999975},
        {0.49309671077650974, -0.9856463146275137, 1.931832736188722, 0.04005428409817475,
         0.009215837053029176, -0.3000077605662319},
        {0.4475970285209001, -0.98581406974385, 1.932467768383431, 0.057987932880559125,
         -0.007224491974161192, -0.33042267626163}},
       {0.5091280489532672, 0.1830270602818211, 0.28807146775894515, 1.2189367007290952,
        0.8375787995382976, 2.045523649605328}},
      {"initial_accumulator_value",
       {.lr = 0.1, .initial_accumulator_value = 0.5, .eps = 1e-6},
       {{0.4859972187675356, -0.9727834843393958, 1.9609433775531442, 0.018350408573839613,
         0.057734960252372895, -0.30705344620835123},
        {0.5247270022296743, -1.0205925715699826, 1.9609433775531442, 0.0022339622803345255,
         -0.005126839005436111, -0.22299583125278305},
        {0.463489821160031, -1.0324603740674307, 1.986140977341101, 0.032912538304835634,
         -0.031140115534788293, -0.2796623650757658}},
       {0.96, 0.7100000000000001, 0.63, 1.7, 1.33, 2.5225}},
      {"maximize",
       {.lr = 0.1, .lr_decay = 0.1, .weight_decay = 0.2, .maximize = true},
       {{0.5, -1.0, 1.9000000001, 0.19999999998979592, -0.09999999998, -0.20000000009090907},
        {0.4090909091136363, -0.9090909091060606, 1.8120841330981974, 0.21464835443415292,
         -0.025330003109262728, -0.2904235113385344},
        {0.4750567691844423, -0.8736628698221357, 1.7437718016694976, 0.1807006435939647,
         0.002060100621897716, -0.23470981775046318}},
       {0.42851239668950414, 0.43942148760501387, 0.4707126868801057, 1.182186693352569,
        0.861465264729652, 2.0536262966808554}},
  };
  for (const Case& c : cases) {
    for (DType d : {kFloat64, kFloat32}) {
      const double t = d == kFloat64 ? 1e-12 : 2e-5;
      Tensor p = adagrad_param(d);
      optim::Adagrad opt({p}, c.o);
      for (size_t s = 0; s < kAdagradGrads.size(); ++s) {
        p.set_grad(tensor(kAdagradGrads[s], {2, 3}).to(d));
        opt.step();
        test::require_close(
            p, {2, 3}, c.params[s],
            "Adagrad " + c.name + " " + dtype_name(d) + " step " + std::to_string(s + 1), t, t);
      }
      optim::OptimizerStateDict sd = opt.state_dict();
      test::require_close(sd.state.at("0.sum"), {2, 3}, c.sum, "Adagrad " + c.name + " sum", t, t);
      CHECK(sd.state.at("0.step").item<double>() == 3);
    }
  }
  CHECK(optim::Adagrad({adagrad_param(kFloat64)}).name() == "Adagrad");
}

TEST_CASE("Adagrad checkpoints resume exactly and validate their options", "[optim]") {
  auto make = [] { return adagrad_param(kFloat64); };
  Tensor a = make(), b = make();
  optim::Adagrad first({a}, {.lr = 0.1, .lr_decay = 0.2, .initial_accumulator_value = 0.1});
  a.set_grad(tensor(kAdagradGrads[0], {2, 3}));
  first.step();
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("ember_adagrad_" + std::to_string(::getpid()) + ".safetensors"))
                               .string();
  first.save(path);
  optim::Adagrad second({b}, {.lr = 0.1, .lr_decay = 0.2, .initial_accumulator_value = 0.1});
  second.load(path);
  optim::Adam adam({make()});
  CHECK_THROWS_WITH(adam.load(path), Catch::Contains("Adagrad"));
  std::filesystem::remove(path);
  {
    NoGradGuard g;
    b.copy_(a);
  }
  for (size_t s = 1; s < kAdagradGrads.size(); ++s) {
    a.set_grad(tensor(kAdagradGrads[s], {2, 3}));
    b.set_grad(tensor(kAdagradGrads[s], {2, 3}));
    first.step();
    second.step();
  }
  CHECK(a.to_vector<double>() == b.to_vector<double>());
  CHECK(second.state_dict().state.at("0.step").item<double>() == 3);

  Tensor p = make();
  CHECK_THROWS_WITH(optim::Adagrad({p}, {.lr = -1}),
                    Catch::Contains("Adagrad: Invalid learning rate: -1"));
  CHECK_THROWS_WITH(optim::Adagrad({p}, {.lr_decay = -0.1}),
                    Catch::Contains("Adagrad: Invalid lr_decay value: -0.1"));
  CHECK_THROWS_WITH(optim::Adagrad({p}, {.weight_decay = -2}),
                    Catch::Contains("Adagrad: Invalid weight_decay value: -2"));
  CHECK_THROWS_WITH(optim::Adagrad({p}, {.initial_accumulator_value = -1}),
                    Catch::Contains("Adagrad: Invalid initial_accumulator_value value: -1"));
  CHECK_THROWS_WITH(optim::Adagrad({p}, {.eps = -1}),
                    Catch::Contains("Adagrad: Invalid epsilon value: -1"));
}

namespace {
// Runs a scheduler made on an SGD optimizer with the given group lrs for n steps and compares
// the lrs after construction and after each step with PyTorch's.
template <class Make>
void check_lrs(const std::string& what, const std::vector<double>& group_lrs, int n, Make make,
               const std::vector<std::vector<double>>& expected) {
  std::vector<Tensor> ps;
  std::vector<optim::ParamGroup> groups;
  for (double lr : group_lrs) {
    ps.push_back(param(1));
    groups.push_back({{ps.back()}, {{"lr", lr}}});
  }
  optim::SGD opt(groups, {.lr = 0.1});
  auto sched = make(opt);
  REQUIRE(expected.size() == size_t(n) + 1);
  for (int e = 0; e <= n; ++e) {
    if (e > 0) sched->step();
    INFO(what << " epoch " << e);
    REQUIRE(sched->get_last_lr().size() == expected[e].size());
    for (size_t g = 0; g < expected[e].size(); ++g) {
      CHECK(sched->get_last_lr()[g] == Approx(expected[e][g]).epsilon(1e-13));
      CHECK(opt.param_groups()[g].lr() == sched->get_last_lr()[g]);
    }
  }
}
}  // namespace

TEST_CASE("ExponentialLR, LinearLR and LambdaLR match PyTorch", "[optim][sched]") {
  check_lrs("ExponentialLR", {0.1}, 6,
            [](optim::Optimizer& o) { return std::make_unique<optim::ExponentialLR>(o, 0.9); },
            {{0.1},
             {0.09000000000000001},
             {0.08100000000000002},
             {0.07290000000000002},
             {0.06561000000000002},
             {0.05904900000000002},
             {0.05314410000000002}});
  check_lrs("LinearLR default", {0.1}, 7,
            [](optim::Optimizer& o) { return std::make_unique<optim::LinearLR>(o); },
            {{0.03333333333333333},
             {0.04666666666666667},
             {0.060000000000000005},
             {0.07333333333333335},
             {0.08666666666666668},
             {0.1},
             {0.1},
             {0.1}});
  check_lrs(
      "LinearLR 0.25 -> 0.75", {0.1}, 6,
      [](optim::Optimizer& o) {
        return std::make_unique<optim::LinearLR>(
            o, optim::LinearLROptions{.start_factor = 0.25, .end_factor = 0.75, .total_iters = 4});
      },
      {{0.025}, {0.037500000000000006}, {0.05}, {0.0625}, {0.075}, {0.075}, {0.075}});
  check_lrs("LinearLR decay", {0.1}, 5,
            [](optim::Optimizer& o) {
              return std::make_unique<optim::LinearLR>(
                  o,
                  optim::LinearLROptions{.start_factor = 1.0, .end_factor = 0.1, .total_iters = 3});
            },
            {{0.1},
             {0.06999999999999999},
             {0.039999999999999994},
             {0.009999999999999998},
             {0.009999999999999998},
             {0.009999999999999998}});
  check_lrs("LambdaLR per group", {0.1, 0.3}, 5,
            [](optim::Optimizer& o) {
              return std::make_unique<optim::LambdaLR>(
                  o, std::vector<optim::LambdaLR::Lambda>{
                         [](int64_t e) { return std::pow(0.5, double(e)); },
                         [](int64_t e) { return 1.0 / double(e + 1); }});
            },
            {{0.1, 0.3},
             {0.05, 0.15},
             {0.025, 0.09999999999999999},
             {0.0125, 0.075},
             {0.00625, 0.06},
             {0.003125, 0.049999999999999996}});
  // One lambda serves every group.
  Tensor a = param(1), b = param(2);
  optim::SGD opt({{{a}}, {{b}, {{"lr", 0.5}}}}, {.lr = 0.1});
  optim::LambdaLR one(opt, [](int64_t e) { return 1.0 / double(e + 2); });
  one.step();
  CHECK(one.get_last_lr() == std::vector<double>{0.1 / 3, 0.5 / 3});

  CHECK_THROWS_WITH(optim::LinearLR(opt, {.start_factor = 0}),
                    Catch::Contains("LinearLR: Starting multiplicative factor expected to be "
                                    "greater than 0 and less or equal to 1, got 0"));
  CHECK_THROWS_WITH(optim::LinearLR(opt, {.end_factor = 1.5}),
                    Catch::Contains("LinearLR: Ending multiplicative factor expected to be "
                                    "between 0 and 1, got 1.5"));
  CHECK_THROWS_WITH(
      optim::LambdaLR(opt, std::vector<optim::LambdaLR::Lambda>{[](int64_t) { return 1.0; }}),
      Catch::Contains("LambdaLR: Expected 2 lr_lambdas, but got 1"));
}

TEST_CASE("SequentialLR runs warm-up then decay as PyTorch's", "[optim][sched]") {
  // The schedulers are members of one struct so they outlive the SequentialLR that steps them.
  struct Chain {
    std::vector<std::unique_ptr<optim::LRScheduler>> parts;
    std::unique_ptr<optim::SequentialLR> seq;
    void step() { seq->step(); }
    const std::vector<double>& get_last_lr() const { return seq->get_last_lr(); }
  };
  check_lrs("LinearLR -> ExponentialLR at 3", {0.1}, 7,
            [](optim::Optimizer& o) {
              auto c = std::make_unique<Chain>();
              c->parts.push_back(std::make_unique<optim::LinearLR>(
                  o, optim::LinearLROptions{.start_factor = 0.1, .total_iters = 3}));
              c->parts.push_back(std::make_unique<optim::ExponentialLR>(o, 0.5));
              c->seq = std::make_unique<optim::SequentialLR>(
                  o, std::vector<optim::LRScheduler*>{c->parts[0].get(), c->parts[1].get()},
                  std::vector<int64_t>{3});
              return c;
            },
            {{0.010000000000000002}, {0.04}, {0.07}, {0.1}, {0.05}, {0.025}, {0.0125}, {0.00625}});
  check_lrs("LinearLR -> CosineAnnealingLR -> StepLR at 2, 6", {0.1, 0.02}, 10,
            [](optim::Optimizer& o) {
              auto c = std::make_unique<Chain>();
              c->parts.push_back(std::make_unique<optim::LinearLR>(
                  o, optim::LinearLROptions{.start_factor = 0.2, .total_iters = 2}));
              c->parts.push_back(std::make_unique<optim::CosineAnnealingLR>(o, 4, 0.01));
              c->parts.push_back(std::make_unique<optim::StepLR>(o, 2, 0.5));
              c->seq = std::make_unique<optim::SequentialLR>(
                  o,
                  std::vector<optim::LRScheduler*>{c->parts[0].get(), c->parts[1].get(),
                                                   c->parts[2].get()},
                  std::vector<int64_t>{2, 6});
              return c;
            },
            {{0.020000000000000004, 0.004},
             {0.06000000000000001, 0.012},
             {0.1, 0.02},
             {0.08681980515339464, 0.01853553390593274},
             {0.05500000000000001, 0.015},
             {0.023180194846605363, 0.011464466094067262},
             {0.1, 0.02},
             {0.1, 0.02},
             {0.05, 0.01},
             {0.05, 0.01},
             {0.025, 0.005}});
  check_lrs("LinearLR cut short -> MultiStepLR at 2", {0.1}, 6,
            [](optim::Optimizer& o) {
              auto c = std::make_unique<Chain>();
              c->parts.push_back(std::make_unique<optim::LinearLR>(
                  o, optim::LinearLROptions{.start_factor = 0.5, .total_iters = 4}));
              c->parts.push_back(
                  std::make_unique<optim::MultiStepLR>(o, std::vector<int64_t>{1, 3}, 0.1));
              c->seq = std::make_unique<optim::SequentialLR>(
                  o, std::vector<optim::LRScheduler*>{c->parts[0].get(), c->parts[1].get()},
                  std::vector<int64_t>{2});
              return c;
            },
            {{0.05},
             {0.0625},
             {0.1},
             {0.010000000000000002},
             {0.010000000000000002},
             {0.0010000000000000002},
             {0.0010000000000000002}});

  // state_dict nests each scheduler's; a fresh chain loaded from it continues identically.
  Tensor a = param(1), b = param(2);
  optim::SGD opt1({a}, {.lr = 0.1}), opt2({b}, {.lr = 0.1});
  optim::LinearLR w1(opt1, {.start_factor = 0.1, .total_iters = 3});
  optim::ExponentialLR d1(opt1, 0.5);
  optim::SequentialLR s1(opt1, {&w1, &d1}, {3});
  for (int i = 0; i < 4; ++i) s1.step();
  nn::StateDict sd = s1.state_dict();
  CHECK(sd.contains("_schedulers.1.last_epoch"));
  CHECK(sd.at("_schedulers.1.last_epoch").item<int64_t>() == 1);
  CHECK(sd.at("last_epoch").item<int64_t>() == 4);
  optim::LinearLR w2(opt2, {.start_factor = 0.1, .total_iters = 3});
  optim::ExponentialLR d2(opt2, 0.5);
  optim::SequentialLR s2(opt2, {&w2, &d2}, {3});
  s2.load_state_dict(sd);
  opt2.param_groups()[0].options["lr"] = opt1.param_groups()[0].lr();  // as Optimizer::load
  for (int i = 0; i < 3; ++i) {
    s1.step();
    s2.step();
    CHECK(s2.get_last_lr() == s1.get_last_lr());
  }
  CHECK(s2.last_epoch() == 7);

  optim::SGD other({param(3)}, {.lr = 0.1});
  optim::ExponentialLR foreign(other, 0.5);
  CHECK_THROWS_WITH(optim::SequentialLR(opt1, {&w1, &foreign}, {3}),
                    Catch::Contains("expects all schedulers to belong to the same optimizer, but "
                                    "got schedulers at index 1 to be different"));
  CHECK_THROWS_WITH(optim::SequentialLR(opt1, {&w1, &d1}, {3, 5}),
                    Catch::Contains("expects number of schedulers provided to be one more than "
                                    "the number of milestone points, but got number of "
                                    "schedulers 2 and the number of milestones to be equal to 2"));
}

TEST_CASE("ReduceLROnPlateau matches PyTorch in every mode", "[optim][sched]") {
  const std::vector<double> loss = {1.0, 0.9,  0.95, 0.91, 0.92, 0.9,  0.89999,
                                    0.8, 0.85, 0.86, 0.87, 0.88, 0.89, 0.9};
  const std::vector<double> acc = {0.5, 0.6, 0.6, 0.61, 0.605, 0.7, 0.69, 0.69, 0.69, 0.71};
  struct Case {
    std::string name;
    std::vector<double> group_lrs, metrics;
    optim::ReduceLROnPlateauOptions o;
    std::vector<std::vector<double>> lrs;
    double best;
    int64_t cooldown_counter;
  };
  const double e2 = 0.010000000000000002, e3 = 0.0010000000000000002;
  const std::vector<Case> cases = {
      {"min rel patience 2",
       {0.1},
       loss,
       {.patience = 2},
       {{0.1},
        {0.1},
        {0.1},
        {0.1},
        {e2},
        {e2},
        {e2},
        {e2},
        {e2},
        {e2},
        {e3},
        {e3},
        {e3},
        {0.00010000000000000003}},
       0.8,
       0},
      {"min abs patience 1 cooldown 2",
       {0.1},
       loss,
       {.factor = 0.5, .patience = 1, .threshold = 0.05, .threshold_mode = "abs", .cooldown = 2},
       {{0.1},
        {0.1},
        {0.1},
        {0.05},
        {0.05},
        {0.05},
        {0.05},
        {0.05},
        {0.05},
        {0.025},
        {0.025},
        {0.025},
        {0.025},
        {0.0125}},
       0.8,
       2},
      {"min rel patience 0 min_lr",
       {0.1},
       loss,
       {.factor = 0.3, .patience = 0, .min_lr = 0.005},
       {{0.1},
        {0.1},
        {0.03},
        {0.009},
        {0.005},
        {0.005},
        {0.005},
        {0.005},
        {0.005},
        {0.005},
        {0.005},
        {0.005},
        {0.005},
        {0.005}},
       0.8,
       0},
      {"max rel patience 1",
       {0.1, 0.01},
       acc,
       {.mode = "max", .patience = 1, .threshold = 0.05},
       {{0.1, 0.01},
        {0.1, 0.01},
        {0.1, 0.01},
        {e2, 0.001},
        {e2, 0.001},
        {e2, 0.001},
        {e2, 0.001},
        {e3, 0.0001},
        {e3, 0.0001},
        {0.00010000000000000003, 1e-05}},
       0.7,
       0},
      {"max abs patience 1 min_lrs",
       {0.1, 0.01},
       acc,
       {.mode = "max",
        .patience = 1,
        .threshold = 0.005,
        .threshold_mode = "abs",
        .min_lrs = {0.02, 0.001}},
       {{0.1, 0.01},
        {0.1, 0.01},
        {0.1, 0.01},
        {0.1, 0.01},
        {0.1, 0.01},
        {0.1, 0.01},
        {0.1, 0.01},
        {0.02, 0.001},
        {0.02, 0.001},
        {0.02, 0.001}},
       0.71,
       0},
  };
  for (const Case& c : cases) {
    std::vector<optim::ParamGroup> groups;
    for (double lr : c.group_lrs) groups.push_back({{param(1)}, {{"lr", lr}}});
    optim::SGD opt(groups, {.lr = 0.1});
    optim::ReduceLROnPlateau sched(opt, c.o);
    for (size_t e = 0; e < c.metrics.size(); ++e) {
      sched.step(c.metrics[e]);
      INFO(c.name << " epoch " << e << " metric " << c.metrics[e]);
      for (size_t g = 0; g < c.group_lrs.size(); ++g) {
        CHECK(opt.param_groups()[g].lr() == Approx(c.lrs[e][g]).epsilon(1e-13));
        CHECK(sched.get_last_lr()[g] == opt.param_groups()[g].lr());
      }
    }
    INFO(c.name);
    CHECK(sched.best() == c.best);
    CHECK(sched.num_bad_epochs() == 0);
    CHECK(sched.cooldown_counter() == c.cooldown_counter);
    CHECK(sched.last_epoch() == int64_t(c.metrics.size()));
  }

  // state_dict: a scheduler loaded mid-run continues as the original.
  Tensor a = param(1), b = param(2);
  optim::SGD opt1({a}, {.lr = 0.1}), opt2({b}, {.lr = 0.1});
  optim::ReduceLROnPlateauOptions o{.factor = 0.5, .patience = 1, .cooldown = 1};
  optim::ReduceLROnPlateau s1(opt1, o), s2(opt2, o);
  for (int e = 0; e < 5; ++e) s1.step(loss[e]);
  s2.load_state_dict(s1.state_dict());
  opt2.param_groups()[0].options["lr"] = opt1.param_groups()[0].lr();
  CHECK(s2.best() == s1.best());
  for (size_t e = 5; e < loss.size(); ++e) {
    s1.step(loss[e]);
    s2.step(loss[e]);
    CHECK(opt2.param_groups()[0].lr() == opt1.param_groups()[0].lr());
  }
  nn::StateDict partial = s1.state_dict();
  partial.erase("best");
  CHECK_THROWS_WITH(s2.load_state_dict(partial),
                    Catch::Contains("ReduceLROnPlateau.load_state_dict: missing key 'best'"));

  CHECK_THROWS_WITH(optim::ReduceLROnPlateau(opt1, {.factor = 1.0}),
                    Catch::Contains("Factor should be < 1.0, got 1"));
  CHECK_THROWS_WITH(optim::ReduceLROnPlateau(opt1, {.mode = "maximum"}),
                    Catch::Contains("mode maximum is unknown!"));
  CHECK_THROWS_WITH(optim::ReduceLROnPlateau(opt1, {.threshold_mode = "relative"}),
                    Catch::Contains("threshold mode relative is unknown!"));
  CHECK_THROWS_WITH(optim::ReduceLROnPlateau(opt1, {.min_lrs = {0.1, 0.2}}),
                    Catch::Contains("expected 1 min_lrs, got 2"));
}

TEST_CASE("the new schedulers' state_dicts restore the counters", "[optim][sched]") {
  Tensor a = param(1), b = param(2);
  optim::SGD opt1({a}, {.lr = 0.1}), opt2({b}, {.lr = 0.1});
  optim::LinearLR s1(opt1, {.start_factor = 0.2, .total_iters = 6});
  optim::LinearLR s2(opt2, {.start_factor = 0.2, .total_iters = 6});
  for (int i = 0; i < 3; ++i) s1.step();
  s2.load_state_dict(s1.state_dict());
  opt2.param_groups()[0].options["lr"] = opt1.param_groups()[0].lr();
  for (int i = 0; i < 5; ++i) {
    s1.step();
    s2.step();
    CHECK(s2.get_last_lr() == s1.get_last_lr());
  }
  CHECK(s2.last_epoch() == 8);
}
