#include "runtime/autograd/engine.hpp"

#include <cxxabi.h>
#include <execinfo.h>

#include <cmath>
#include <queue>
#include <sstream>
#include <unordered_map>

#include "runtime/autograd/derivatives.hpp"
#include "runtime/ops.hpp"

namespace ember::autograd {
namespace {

// "max_pool2d" -> "MaxPool2DBackward0", as PyTorch names its nodes.
std::string backward_name(Op op) {
  std::string out;
  bool upper = true;
  for (const char* p = op_name(op); *p; ++p) {
    if (*p == '_') {
      upper = true;
      continue;
    }
    out += upper ? static_cast<char>(std::toupper(*p)) : *p;
    upper = false;
  }
  return out + "Backward0";
}

// The frames of the current call, for anomaly mode's "the forward op was called from".
std::string capture_trace() {
  void* frames[32];
  int n = ::backtrace(frames, 32);
  char** syms = ::backtrace_symbols(frames, n);
  std::ostringstream os;
  for (int i = 3; i < n && syms; ++i) {
    std::string s = syms[i];
    auto open = s.find('('), plus = s.find('+', open);
    if (open != std::string::npos && plus != std::string::npos && plus > open + 1) {
      std::string mangled = s.substr(open + 1, plus - open - 1);
      int status = 0;
      char* dem = abi::__cxa_demangle(mangled.c_str(), nullptr, nullptr, &status);
      if (status == 0 && dem) s = dem;
      std::free(dem);
    }
    os << "  #" << i - 3 << " " << s << "\n";
  }
  std::free(syms);
  return os.str();
}

// The node for one dispatcher op call; its backward is the op's row in the derivative table.
class OpNode final : public Node, public BackwardContext {
 public:
  OpNode(Op op, const Attrs& attrs, std::span<const Tensor> inputs, const TensorList& outputs)
      : op_(op), attrs_(attrs), row_(derivative(op)) {
    sequence_nr = next_sequence_nr();
    unsigned needs = 0;
    next_edges.reserve(inputs.size());
    meta_.reserve(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      const Tensor& t = inputs[i];
      bool grad = t.defined() && t.requires_grad();
      next_edges.push_back(grad ? gradient_edge(t) : Edge{});
      if (grad && i < 32) needs |= 1u << i;
      meta_.push_back(t.defined() ? InputMeta{t.sizes(), t.dtype()} : InputMeta{});
    }
    if (row_.save_inputs) {
      unsigned keep = row_.inputs_for ? row_.inputs_for(needs) : ~0u;
      inputs_.reserve(inputs.size());
      for (size_t i = 0; i < inputs.size(); ++i)
        inputs_.emplace_back((i >= 32 || keep >> i & 1u) ? inputs[i] : Tensor(), false);
    }
    num_outputs_ = outputs.size();
    (void)outputs;
  }

  void save_outputs(const TensorList& outputs) {
    if (!row_.save_outputs) return;
    for (const Tensor& t : outputs) outputs_.emplace_back(t, true);
  }

  TensorList apply(TensorList grads) override {
    EMBER_CHECK(row_.backward, Error, "the derivative for '", op_name(op_), "' is not implemented");
    TensorList out = row_.backward(*this, grads);
    out.resize(next_edges.size());
    return out;
  }
  std::string name() const override { return backward_name(op_); }
  void release_saved() override {
    for (auto& s : inputs_) s.reset();
    for (auto& s : outputs_) s.reset();
  }
  size_t num_outputs() const override { return num_outputs_; }

  // BackwardContext
  const Attrs& attrs() const override { return attrs_; }
  Tensor input(size_t i) const override {
    EMBER_ASSERT(i < inputs_.size(), name(), " reads input ", i, " it did not save");
    return inputs_[i].unpack(this);
  }
  Tensor output(size_t i) const override {
    EMBER_ASSERT(i < outputs_.size(), name(), " reads output ", i, " it did not save");
    return outputs_[i].unpack(this);
  }
  const Dims& input_sizes(size_t i) const override { return meta_[i].sizes; }
  DType input_dtype(size_t i) const override { return meta_[i].dtype; }
  size_t num_inputs() const override { return next_edges.size(); }
  bool needs_grad(size_t i) const override { return next_edges[i].valid(); }

 private:
  Op op_;
  Attrs attrs_;
  const Derivative& row_;
  struct InputMeta {
    Dims sizes;
    DType dtype = kFloat32;
  };
  std::vector<SavedTensor> inputs_, outputs_;
  std::vector<InputMeta> meta_;
  size_t num_outputs_ = 1;
};

// The dispatcher hook: called after a kernel when grad mode is on and an input requires grad.
void record(Op op, std::span<const Tensor> inputs, const Attrs& attrs, TensorList& outputs) {
  const Derivative& row = derivative(op);
  if (!row.differentiable) return;
  auto node = std::make_shared<OpNode>(op, attrs, inputs, outputs);
  if (AnomalyMode::is_enabled()) node->forward_trace = capture_trace();
  for (size_t k = 0; k < outputs.size(); ++k)
    if (outputs[k].defined() && is_floating(outputs[k].dtype()))
      set_history(outputs[k], node, static_cast<uint32_t>(k));
  node->save_outputs(outputs);
}

// ---- the engine ----

struct CaptureSlot {
  Node* fn;
  uint32_t input_nr;
  size_t index;  // into the captured result
};

void check_finite(const Node& node, const TensorList& grads) {
  for (size_t i = 0; i < grads.size(); ++i) {
    const Tensor& g = grads[i];
    if (!g.defined() || !is_floating(g.dtype()) || g.numel() == 0) continue;
    NoGradGuard ng;
    bool bad = (g != g).to(kInt64).amax().item<int64_t>() != 0 ||
               (abs(g) == INFINITY).to(kInt64).amax().item<int64_t>() != 0;
    EMBER_CHECK(!bad, Error, "Function '", node.name(), "' returned nan or inf values in its ", i,
                "th output.",
                node.forward_trace.empty()
                    ? std::string()
                    : "\nThe forward op it differentiates was called from:\n" + node.forward_trace);
  }
}

Tensor add_grads(const Tensor& a, const Tensor& b) {
  if (!a.defined()) return b;
  if (!b.defined()) return a;
  return a + b;
}

// Node* -> dense index 0, 1, ... in first-seen order, open addressing in one array: a backward
// looks every node up a few times, and std::unordered_map's allocation per element was most of
// the engine's cost on small graphs.
class NodeIndex {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;

  NodeIndex() : slots_(64) {}
  /// The node's index; a new node gets the next one (fresh = true).
  std::pair<uint32_t, bool> insert(Node* n) {
    if (2 * (count_ + 1) > slots_.size()) grow();
    Slot& s = slots_[probe(slots_, n)];
    if (s.node) return {s.index, false};
    s = {n, count_};
    return {count_++, true};
  }
  uint32_t find(Node* n) const {
    const Slot& s = slots_[probe(slots_, n)];
    return s.node ? s.index : kNone;
  }

 private:
  struct Slot {
    Node* node = nullptr;
    uint32_t index = 0;
  };
  // The slot holding n, or the empty slot where it goes (the table is never full).
  static size_t probe(const std::vector<Slot>& slots, Node* n) {
    size_t mask = slots.size() - 1;
    size_t i = ((reinterpret_cast<uintptr_t>(n) >> 4) * 0x9E3779B97F4A7C15ull >> 20) & mask;
    while (slots[i].node && slots[i].node != n) i = (i + 1) & mask;
    return i;
  }
  void grow() {
    std::vector<Slot> bigger(slots_.size() * 2);
    for (const Slot& s : slots_)
      if (s.node) bigger[probe(bigger, s.node)] = s;
    slots_.swap(bigger);
  }
  std::vector<Slot> slots_;
  uint32_t count_ = 0;
};

// The callbacks queued by the backwards running on this thread, innermost last.
thread_local std::vector<std::vector<std::function<void()>>*> t_callbacks;

// Registers a run's callback list for its lifetime.
struct CallbackScope {
  std::vector<std::function<void()>> callbacks;
  CallbackScope() { t_callbacks.push_back(&callbacks); }
  ~CallbackScope() { t_callbacks.pop_back(); }
  CallbackScope(const CallbackScope&) = delete;
  CallbackScope& operator=(const CallbackScope&) = delete;
  // Runs the queued callbacks in order (a callback may queue more).
  void run_all() {
    for (size_t i = 0; i < callbacks.size(); ++i) {
      auto fn = std::move(callbacks[i]);
      fn();
    }
    callbacks.clear();
  }
};

// Runs the graph from `roots` (with their gradients). With `captures`, the gradients arriving at
// those slots are returned and leaves' .grad are left alone.
TensorList run(const std::vector<Edge>& roots, const TensorList& root_grads, bool keep_graph,
               bool create_graph, const std::vector<CaptureSlot>* captures) {
  // Index every node reachable from the roots and count how many edges lead into it.
  NodeIndex index;
  std::vector<int> deps;
  std::vector<Node*> stack;
  auto visit = [&](Node* n) {
    auto [i, fresh] = index.insert(n);
    if (fresh) {
      deps.push_back(0);
      stack.push_back(n);
    }
    return i;
  };
  for (const Edge& e : roots)
    if (e.fn) visit(e.fn.get());
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->next_edges)
      if (e.fn) ++deps[visit(e.fn.get())];
  }

  const size_t count = deps.size();
  std::vector<TensorList> buffers(count);
  std::vector<char> has_buffer(count, 0);
  std::vector<std::shared_ptr<Node>> owners(count);  // keep nodes alive while queued
  auto cmp = [](Node* a, Node* b) { return a->sequence_nr < b->sequence_nr; };
  std::priority_queue<Node*, std::vector<Node*>, decltype(cmp)> ready(cmp);
  auto deliver = [&](const Edge& e, uint32_t i, const Tensor& g) {
    auto& buf = buffers[i];
    if (buf.size() < e.fn->num_outputs())
      buf.resize(std::max<size_t>(e.fn->num_outputs(), e.input_nr + 1));
    buf[e.input_nr] = add_grads(buf[e.input_nr], g);
    has_buffer[i] = 1;
    if (!owners[i]) owners[i] = e.fn;
  };
  for (size_t r = 0; r < roots.size(); ++r)
    if (roots[r].fn) deliver(roots[r], index.find(roots[r].fn.get()), root_grads[r]);
  for (const Edge& e : roots) {
    if (!e.fn) continue;
    uint32_t i = index.find(e.fn.get());
    if (deps[i] == 0) {
      deps[i] = -1;  // queued
      ready.push(e.fn.get());
    }
  }

  TensorList captured(captures ? captures->size() : 0);
  CallbackScope callback_scope;
  std::optional<NoGradGuard> no_grad;
  std::optional<EnableGradGuard> grad_on;
  if (create_graph)
    grad_on.emplace();
  else
    no_grad.emplace();

  while (!ready.empty()) {
    Node* n = ready.top();
    ready.pop();
    const uint32_t ni = index.find(n);
    TensorList grads = std::move(buffers[ni]);
    has_buffer[ni] = 0;
    grads.resize(n->num_outputs());
    for (auto& [slot, hook] : n->pre_hooks) {
      if (slot < grads.size() && grads[slot].defined()) {
        Tensor r = hook(grads[slot]);
        if (!r.defined()) continue;
        EMBER_CHECK(r.sizes() == grads[slot].sizes(), ShapeError,
                    "register_hook: a hook returned a gradient of shape ", r.sizes(),
                    " for a tensor of shape ", grads[slot].sizes());
        grads[slot] = r;
      }
    }
    if (captures) {
      for (const CaptureSlot& c : *captures)
        if (c.fn == n && c.input_nr < grads.size())
          captured[c.index] = add_grads(captured[c.index], grads[c.input_nr]);
      if (dynamic_cast<AccumulateGrad*>(n) != nullptr) {
        owners[ni].reset();
        continue;
      }
    }
    TensorList out = n->apply(std::move(grads));
    if (AnomalyMode::is_enabled()) check_finite(*n, out);
    if (!keep_graph) n->release_saved();
    for (size_t k = 0; k < n->next_edges.size(); ++k) {
      const Edge& e = n->next_edges[k];
      if (!e.fn) continue;
      uint32_t i = index.find(e.fn.get());
      if (k < out.size() && out[k].defined()) deliver(e, i, out[k]);
      if (--deps[i] == 0) {
        if (has_buffer[i])
          ready.push(e.fn.get());
        else
          owners[i].reset();
      }
    }
    owners[ni].reset();
  }
  callback_scope.run_all();
  return captured;
}

// The gradient each root starts from: given, or ones for a scalar.
TensorList root_grads(const std::vector<Tensor>& outputs, const std::vector<Tensor>& given) {
  EMBER_CHECK(given.empty() || given.size() == outputs.size(), ValueError, "backward: got ",
              given.size(), " gradients for ", outputs.size(), " outputs");
  TensorList g(outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& o = outputs[i];
    EMBER_CHECK(o.defined(), Error, "backward: output ", i, " is undefined");
    EMBER_CHECK(o.requires_grad(), Error, "element ", i,
                " of tensors does not require grad and does not have a grad_fn");
    if (!given.empty() && given[i].defined()) {
      EMBER_CHECK(given[i].sizes() == o.sizes(), ShapeError,
                  "backward: mismatch in shape: grad "
                  "output has a shape of ",
                  given[i].sizes(), " and output has a shape of ", o.sizes());
      g[i] = given[i].dtype() == o.dtype() ? given[i] : given[i].to(o.dtype());
    } else {
      EMBER_CHECK(o.numel() == 1, Error,
                  "grad can be implicitly created only for scalar outputs (got an output of shape ",
                  o.sizes(), "); pass a gradient to backward()");
      g[i] = ones_like(o);
    }
  }
  return g;
}

}  // namespace

void install() { set_autograd_hook(record); }

void queue_callback(std::function<void()> fn) {
  EMBER_CHECK(!t_callbacks.empty(), Error,
              "queue_callback: no backward is running on this thread (callbacks can only be "
              "queued from inside a backward, e.g. by a hook)");
  t_callbacks.back()->push_back(std::move(fn));
}

void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs,
              bool retain_graph, bool create_graph) {
  TensorList g = root_grads(outputs, grad_outputs);
  std::vector<Edge> roots;
  for (const Tensor& o : outputs) roots.push_back(gradient_edge(o));
  run(roots, g, retain_graph || create_graph, create_graph, nullptr);
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, std::optional<bool> retain_graph,
                         bool create_graph, bool allow_unused) {
  TensorList g = root_grads(outputs, grad_outputs);
  std::vector<Edge> roots;
  for (const Tensor& o : outputs) roots.push_back(gradient_edge(o));
  std::vector<CaptureSlot> captures;
  for (size_t i = 0; i < inputs.size(); ++i) {
    EMBER_CHECK(inputs[i].defined() && inputs[i].requires_grad(), Error, "grad: input ", i,
                " does not require grad");
    Edge e = gradient_edge(inputs[i]);
    captures.push_back({e.fn.get(), e.input_nr, i});
  }
  TensorList out = run(roots, g, retain_graph.value_or(create_graph), create_graph, &captures);
  for (size_t i = 0; i < out.size(); ++i)
    EMBER_CHECK(out[i].defined() || allow_unused, Error, "grad: input ", i,
                " was not used in the graph; pass allow_unused=true if this is desired");
  return out;
}

std::string to_dot(const Tensor& t) {
  std::ostringstream os;
  os << "digraph autograd {\n  node [shape=box, fontname=\"monospace\"];\n";
  if (!t.defined() || !t.grad_fn()) {
    os << "  t0 [label=\"tensor " << (t.defined() ? t.sizes() : Dims{}) << "\"];\n}\n";
    return os.str();
  }
  std::unordered_map<Node*, int> ids;
  std::vector<Node*> stack{t.grad_fn().get()};
  ids[t.grad_fn().get()] = 0;
  os << "  out [label=\"output " << t.sizes() << "\", shape=ellipse];\n  out -> n0;\n";
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    int id = ids[n];
    std::string label = n->name();
    if (auto* acc = dynamic_cast<AccumulateGrad*>(n)) {
      std::ostringstream l;
      l << "AccumulateGrad\\nleaf " << acc->variable->sizes;
      label = l.str();
    }
    os << "  n" << id << " [label=\"" << label << "\"];\n";
    const auto* ctx = dynamic_cast<const BackwardContext*>(n);
    for (size_t i = 0; i < n->next_edges.size(); ++i) {
      Node* m = n->next_edges[i].fn.get();
      if (!m) continue;
      auto [it, fresh] = ids.emplace(m, static_cast<int>(ids.size()));
      if (fresh) stack.push_back(m);
      os << "  n" << id << " -> n" << it->second;
      if (ctx) os << " [label=\"" << ctx->input_sizes(i) << "\"]";
      os << ";\n";
    }
  }
  os << "}\n";
  return os.str();
}

}  // namespace ember::autograd

namespace ember {

void Tensor::backward(const Tensor& grad, bool retain_graph, bool create_graph) const {
  autograd::backward({*this}, grad.defined() ? std::vector<Tensor>{grad} : std::vector<Tensor>{},
                     retain_graph, create_graph);
}

const Tensor& Tensor::retain_grad() const {
  EMBER_CHECK(requires_grad(), Error,
              "retain_grad: can't retain_grad on a tensor that has requires_grad=false");
  if (is_leaf() || impl_->retains_grad) return *this;
  impl_->retains_grad = true;
  std::weak_ptr<TensorImpl> weak = impl_;
  impl_->grad_fn->pre_hooks.emplace_back(impl_->output_nr, [weak](const Tensor& g) -> Tensor {
    if (auto impl = weak.lock()) {
      if (!impl->grad.defined())
        impl->grad = g.detach().clone();
      else
        impl->grad = impl->grad + g.detach();
    }
    return {};
  });
  return *this;
}

void Tensor::register_hook(std::function<Tensor(const Tensor&)> hook) const {
  EMBER_CHECK(requires_grad(), Error,
              "register_hook: cannot register a hook on a tensor that doesn't require gradient");
  if (impl_->grad_fn) {
    impl_->grad_fn->pre_hooks.emplace_back(impl_->output_nr, std::move(hook));
  } else {
    // On the tensor, not on its accumulator: that is held weakly and may not exist yet.
    if (!impl_->autograd) impl_->autograd = std::make_shared<autograd::AutogradMeta>();
    impl_->autograd->hooks.push_back(std::move(hook));
  }
}

}  // namespace ember
