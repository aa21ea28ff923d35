// The engine's extension points DistributedDataParallel builds on: a hook called after a leaf's
// gradient is accumulated, and callbacks queued to run when the backward's graph is done.
#include "support/reference.hpp"

using namespace ember;

TEST_CASE("post-accumulate-grad hooks see the accumulated gradient", "[autograd][hooks]") {
  Tensor w = ones({3}).requires_grad_();
  std::vector<std::vector<float>> seen;
  uint64_t id = autograd::register_post_accumulate_grad_hook(
      w, [&](const Tensor& leaf) { seen.push_back(leaf.grad().to_vector<float>()); });
  (w * 2).sum().backward();
  (w * 3).sum().backward();  // accumulates: the hook sees the sum
  CHECK(seen == std::vector<std::vector<float>>{{2, 2, 2}, {5, 5, 5}});
  // Shared use in one graph: one call, after both contributions.
  seen.clear();
  w.set_grad(Tensor());
  (w * w).sum().backward();
  CHECK(seen == std::vector<std::vector<float>>{{2, 2, 2}});
  autograd::remove_post_accumulate_grad_hook(w, id);
  (w * 2).sum().backward();
  CHECK(seen.size() == 1);
  // autograd::grad does not accumulate, so no hook runs.
  autograd::register_post_accumulate_grad_hook(w, [&](const Tensor&) { seen.push_back({}); });
  (void)autograd::grad({(w * 2).sum()}, {w});
  CHECK(seen.size() == 1);
  CHECK_THROWS_WITH(
      autograd::register_post_accumulate_grad_hook(w * 2, [](const Tensor&) {}),
      Catch::Contains("post accumulate grad hooks can only be registered on leaf tensors"));
}

TEST_CASE("queue_callback runs once the graph is done", "[autograd][hooks]") {
  Tensor a = ones({2}).requires_grad_(), b = ones({2}).requires_grad_();
  std::vector<std::string> order;
  autograd::register_post_accumulate_grad_hook(a, [&](const Tensor&) {
    order.push_back("a");
    autograd::queue_callback([&] {
      // Every gradient is in place when callbacks run.
      order.push_back(b.grad().defined() ? "callback after b" : "callback before b");
    });
  });
  autograd::register_post_accumulate_grad_hook(b, [&](const Tensor&) { order.push_back("b"); });
  ((a * 2).sum() + (b * 3).sum()).backward();
  REQUIRE(order.size() == 3);
  CHECK(order.back() == "callback after b");
  CHECK_THROWS_WITH(autograd::queue_callback([] {}),
                    Catch::Contains("queue_callback: no backward is running on this thread"));
}
