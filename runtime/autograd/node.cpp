#include "runtime/autograd/node.hpp"

#include <atomic>

#include "runtime/ops.hpp"

namespace ember::autograd {
namespace {
std::atomic<uint64_t> g_sequence{0};
std::atomic<bool> g_anomaly{false};
}  // namespace

// The nodes waiting to be dropped by the outermost release_node on this thread (null when none
// runs). A raw pointer: trivially destructible, so safe in destructors during thread exit.
thread_local std::vector<std::shared_ptr<Node>>* t_releasing = nullptr;

void release_node(std::shared_ptr<Node>&& n) noexcept {
  if (!n) return;
  if (n.use_count() > 1) {  // not the last owner (if a race makes it so, ~Node still iterates)
    n.reset();
    return;
  }
  if (t_releasing) {  // inside a release already: queue it, the loop below drops it
    t_releasing->push_back(std::move(n));
    return;
  }
  std::vector<std::shared_ptr<Node>> pending;
  t_releasing = &pending;
  pending.push_back(std::move(n));
  while (!pending.empty()) {
    std::shared_ptr<Node> last = std::move(pending.back());
    pending.pop_back();
    last.reset();  // may destroy the node, queueing its edges and its saved tensors' nodes
  }
  t_releasing = nullptr;
}

Node::~Node() {
  for (Edge& e : next_edges) release_node(std::move(e.fn));
}

uint64_t next_sequence_nr() { return g_sequence.fetch_add(1, std::memory_order_relaxed); }

bool AnomalyMode::is_enabled() { return g_anomaly.load(std::memory_order_relaxed); }
void AnomalyMode::set_enabled(bool on) { g_anomaly = on; }

SavedTensor::SavedTensor(const Tensor& t, bool is_output) : defined_(t.defined()) {
  if (!defined_) return;
  is_output_ = is_output;
  version_ = t.version();
  requires_grad_ = t.requires_grad();
  if (is_output) {
    // Keep the data but not the grad_fn: the node saving its own output would own itself.
    data_ = t.detach();
    grad_fn_ = t.grad_fn();
    output_nr_ = t.impl()->output_nr;
  } else {
    data_ = t;
  }
}

Tensor SavedTensor::unpack(const Node* saved_for) const {
  if (!defined_) return {};
  EMBER_CHECK(!released_, Error,
              "Trying to backward through the graph a second time (or directly access saved "
              "tensors after they have already been freed). Saved intermediate values of the "
              "graph are freed when you call backward() or autograd::grad(). Specify "
              "retain_graph=true if you need to backward through the graph a second time or if "
              "you need to access saved tensors after calling backward.");
  uint32_t now = data_.version();
  if (now != version_) {
    std::string who = saved_for ? saved_for->name() : std::string("a backward node");
    throw Error(detail::cat(
        "one of the variables needed for gradient computation has been modified by an inplace "
        "operation: [",
        dtype_name(data_.dtype()), " ", data_.sizes(), "], which is ",
        is_output_ ? "output" : "input", " ", output_nr_, " of ", who, ", is at version ", now,
        "; expected version ", version_, " instead."));
  }
  if (!is_output_) return data_;
  auto fn = grad_fn_.lock();
  if (!fn && !requires_grad_) return data_;
  Tensor t = make_view(data_, data_.sizes(), data_.strides(), data_.storage_offset());
  t.impl()->is_view = data_.impl()->is_view;
  t.impl()->requires_grad = requires_grad_;
  t.impl()->grad_fn = fn;
  t.impl()->output_nr = output_nr_;
  return t;
}

TensorList AccumulateGrad::apply(TensorList grads) {
  Tensor g = grads.empty() ? Tensor() : std::move(grads[0]);
  if (!g.defined()) return {};
  if (variable->autograd) {
    for (auto& h : variable->autograd->hooks) {
      Tensor r = h(g);
      if (!r.defined()) continue;
      EMBER_CHECK(r.sizes() == g.sizes(), ShapeError,
                  "register_hook: a hook returned a gradient of shape ", r.sizes(),
                  " for a tensor of shape ", g.sizes());
      g = r;
    }
  }
  Tensor& acc = variable->grad;
  if (!acc.defined()) {
    // Own the gradient: a later in-place accumulation must not write into someone else's tensor.
    EMBER_ASSERT(g.sizes() == variable->sizes, "gradient of shape ", g.sizes(),
                 " for a leaf of shape ", variable->sizes);
    if (GradMode::is_enabled()) {
      acc = g;
    } else if (!g.requires_grad() && g.is_contiguous() && g.impl_ptr().use_count() == 1 &&
               g.storage().use_count() == 1) {
      acc = std::move(g);  // nothing else sees this tensor or its data: keep it, as PyTorch does
    } else {
      acc = g.detach().clone();
    }
  } else if (GradMode::is_enabled()) {
    acc = acc + g;  // create_graph: keep the graph of the accumulated gradient
  } else {
    acc.add_(g);
  }
  if (variable->autograd && !variable->autograd->post_accumulate_hooks.empty()) {
    auto hooks = variable->autograd->post_accumulate_hooks;  // a hook may remove itself
    Tensor leaf(variable);
    for (auto& [id, hook] : hooks) hook(leaf);
  }
  return {};
}

uint64_t register_post_accumulate_grad_hook(const Tensor& leaf,
                                            std::function<void(const Tensor&)> hook) {
  EMBER_CHECK(leaf.defined() && leaf.requires_grad() && leaf.is_leaf(), Error,
              "register_post_accumulate_grad_hook: post accumulate grad hooks can only be "
              "registered on leaf tensors that require grad");
  static std::atomic<uint64_t> next_id{1};
  TensorImpl* impl = leaf.impl();
  if (!impl->autograd) impl->autograd = std::make_shared<AutogradMeta>();
  uint64_t id = next_id.fetch_add(1, std::memory_order_relaxed);
  impl->autograd->post_accumulate_hooks.emplace_back(id, std::move(hook));
  return id;
}

void remove_post_accumulate_grad_hook(const Tensor& leaf, uint64_t id) {
  if (!leaf.defined() || !leaf.impl()->autograd) return;
  auto& hooks = leaf.impl()->autograd->post_accumulate_hooks;
  std::erase_if(hooks, [id](const auto& h) { return h.first == id; });
}

Edge gradient_edge(const Tensor& t) {
  TensorImpl* impl = t.impl();
  if (impl->grad_fn) return {impl->grad_fn, impl->output_nr};
  if (!impl->requires_grad) return {};
  if (!impl->autograd) impl->autograd = std::make_shared<AutogradMeta>();
  auto acc = impl->autograd->grad_accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(t.impl_ptr());
    impl->autograd->grad_accumulator = acc;
  }
  return {acc, 0};
}

void set_history(const Tensor& t, const std::shared_ptr<Node>& fn, uint32_t output_nr) {
  TensorImpl* impl = t.impl();
  impl->requires_grad = true;
  impl->grad_fn = fn;
  impl->output_nr = output_nr;
}

}  // namespace ember::autograd
