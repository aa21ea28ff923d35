// runtime/cpu: the instruction-set level loops run at, and every per-ISA variant of a loop
// (runtime/ops/loops.hpp) computing the same values: each level this CPU has is forced in turn.
// This file is compiled without -march (as a user's project), so a dsl kernel here has all its
// variants.
#include "dsl/builtins.hpp"
#include "dsl/pointwise.hpp"
#include "nn/functional.hpp"
#include "runtime/cpu.hpp"
#include "support/reference.hpp"

using namespace ember;
namespace d = ember::dsl;

namespace {
// Heavy (two or more costly functions: blocked, wide vectors) and light formulas, one and two
// inputs.
constexpr auto heavy =
    d::pointwise([](auto x) { return d::gelu(x * 2 + 1) * d::sigmoid(x) + d::tanh(x); }, "heavy");
constexpr auto light = d::pointwise([](auto x, auto y) { return x * y + d::relu(x - y); }, "light");

/// Restores the level in force when it goes out of scope.
struct IsaGuard {
  cpu::Isa saved = cpu::isa();
  ~IsaGuard() { cpu::set_isa(saved); }
};
}  // namespace

TEST_CASE("cpu levels: set_isa clamps to the CPU, names", "[cpu]") {
  IsaGuard guard;
  CHECK(cpu::isa() <= cpu::host_isa());
  CHECK(cpu::set_isa(cpu::Isa::Baseline) == cpu::Isa::Baseline);
  CHECK(cpu::isa() == cpu::Isa::Baseline);
  CHECK(cpu::set_isa(cpu::Isa::V4) == cpu::host_isa());
  CHECK(std::string(cpu::isa_name(cpu::Isa::V3)) == "v3");
  CHECK(std::string(cpu::isa_name(cpu::Isa::Baseline)) == "baseline");
}

TEST_CASE("every ISA variant of a dsl kernel and of eager ops gives the same values", "[cpu]") {
  IsaGuard guard;
  // 1000 elements: vector bodies and scalar tails; float and double.
  for (DType dt : {kFloat32, kFloat64}) {
    Tensor x = test::seeded_randn({1000}, 5, dt) * 3, y = test::seeded_randn({1000}, 6, dt);
    x.requires_grad_();
    std::vector<double> h_ref, l_ref, g_ref, e_ref;
    for (cpu::Isa level : {cpu::Isa::Baseline, cpu::Isa::V3, cpu::Isa::V4}) {
      if (level > cpu::host_isa()) continue;
      cpu::set_isa(level);
      const std::string what = std::string(cpu::isa_name(level)) + " " + dtype_name(dt);
      Tensor h = heavy(x), l = light(x, y);
      x.mutable_grad() = Tensor();
      h.sum().backward();
      Tensor e;
      {
        NoGradGuard ng;
        e = gelu(x) * tanh(y);  // eager kernels: the library's own variants
      }
      if (h_ref.empty()) {
        // The baseline against a reference computed here in double, element by element.
        std::vector<double> xv = test::values(x), want(xv.size());
        for (size_t i = 0; i < xv.size(); ++i) {
          double t = xv[i] * 2 + 1, s = 1 / (1 + std::exp(-xv[i]));
          want[i] = 0.5 * t * (1 + std::erf(t / std::sqrt(2.0))) * s + std::tanh(xv[i]);
        }
        test::require_close(h, {1000}, want, what + " heavy vs reference", 1e-5, 1e-5);
        h_ref = test::values(h);
        l_ref = test::values(l);
        g_ref = test::values(x.grad());
        e_ref = test::values(e);
        continue;
      }
      // Other levels: the same formulas, so the same values up to libmvec's vector variants'
      // last bits.
      test::require_close(h, {1000}, h_ref, what + " heavy forward", 1e-5, 1e-6);
      test::require_close(l, {1000}, l_ref, what + " light forward", 1e-6, 1e-7);
      test::require_close(x.grad(), {1000}, g_ref, what + " heavy backward", 1e-5, 1e-6);
      test::require_close(e, {1000}, e_ref, what + " eager", 1e-5, 1e-6);
    }
  }
}

TEST_CASE("every ISA variant of the softmax and layer_norm rows gives the same values", "[cpu]") {
  // The rows of softmax, log_softmax and layer_norm, forward and backward, run in the variant
  // for the level in force (loops::run_row): each level against the baseline. Rows of 128 (one
  // leaf) and 1000 (pairwise sums, a scalar tail); float and double.
  IsaGuard guard;
  for (DType dt : {kFloat32, kFloat64})
    for (int64_t n : {128, 1000}) {
      Tensor x = test::seeded_randn({6, n}, 11, dt) * 4, g = test::seeded_randn({6, n}, 12, dt);
      Tensor w = test::seeded_randn({n}, 13, dt), b = test::seeded_randn({n}, 14, dt);
      std::vector<std::vector<double>> ref;
      for (cpu::Isa level : {cpu::Isa::Baseline, cpu::Isa::V3, cpu::Isa::V4}) {
        if (level > cpu::host_isa()) continue;
        cpu::set_isa(level);
        std::vector<std::vector<double>> got;
        for (int which = 0; which < 3; ++which) {
          Tensor xi = x.detach().requires_grad_(), wi = w.detach().requires_grad_();
          Tensor y = which == 0   ? softmax(xi, -1)
                     : which == 1 ? log_softmax(xi, -1)
                                  : nn::functional::layer_norm(xi, {n}, wi, b);
          y.backward(g);
          got.push_back(test::values(y));
          got.push_back(test::values(xi.grad()));
          if (which == 2) got.push_back(test::values(wi.grad()));
        }
        if (ref.empty()) {
          ref = got;
          continue;
        }
        const double tol = dt == kFloat64 ? 1e-12 : 1e-5;
        for (size_t k = 0; k < ref.size(); ++k) {
          INFO(cpu::isa_name(level) << " " << dtype_name(dt) << " n=" << n << " output " << k);
          REQUIRE(got[k].size() == ref[k].size());
          double worst = 0;
          for (size_t i = 0; i < ref[k].size(); ++i)
            worst = std::max(worst, std::abs(got[k][i] - ref[k][i]) / (1 + std::abs(ref[k][i])));
          CHECK(worst <= tol);
        }
      }
    }
}

TEST_CASE("every ISA variant of batch_norm gives bit-identical values", "[cpu]") {
  // batch_norm's passes (ops/batch_norm.cpp) run in the variant for the level in force, built
  // without FMA contraction: each level must match the baseline exactly, forward and backward,
  // in training (with the running statistics) and in evaluation. Planes of 130 (a scalar tail
  // after the eight lanes) and 49 values; float and double.
  IsaGuard guard;
  for (DType dt : {kFloat32, kFloat64})
    for (int64_t h : {10, 7}) {
      const int64_t w_ = h == 10 ? 13 : 7;
      Tensor x = test::seeded_randn({6, 4, h, w_}, 21, dt) * 3 + 1;
      Tensor g = test::seeded_randn({6, 4, h, w_}, 22, dt);
      Tensor w = test::seeded_randn({4}, 23, dt), b = test::seeded_randn({4}, 24, dt);
      std::vector<std::vector<double>> ref;
      for (cpu::Isa level : {cpu::Isa::Baseline, cpu::Isa::V3, cpu::Isa::V4}) {
        if (level > cpu::host_isa()) continue;
        cpu::set_isa(level);
        std::vector<std::vector<double>> got;
        for (bool training : {true, false}) {
          Tensor rm = zeros({4}, dt) + 0.5, rv = ones({4}, dt) * 2;
          Tensor xi = x.detach().requires_grad_(), wi = w.detach().requires_grad_();
          Tensor bi = b.detach().requires_grad_();
          Tensor y = nn::functional::batch_norm(xi, rm, rv, wi, bi, {.training = training});
          y.backward(g);
          for (const Tensor& t : {y, xi.grad(), wi.grad(), bi.grad(), rm, rv})
            got.push_back(test::values(t));
        }
        if (ref.empty()) {
          ref = got;
          continue;
        }
        for (size_t k = 0; k < ref.size(); ++k) {
          INFO(cpu::isa_name(level) << " " << dtype_name(dt) << " h=" << h << " output " << k);
          CHECK(got[k] == ref[k]);
        }
      }
    }
}
