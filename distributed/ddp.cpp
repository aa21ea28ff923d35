#include "distributed/ddp.hpp"

#include "distributed/collectives.hpp"
#include "runtime/autograd/node.hpp"
#include "runtime/dispatch.hpp"
#include "runtime/ops.hpp"
#include "runtime/ops/loops.hpp"

namespace ember::distributed {

namespace {

// Whether g is exactly `view` (the same memory, shape and strides), however it was obtained.
bool aliases(const Tensor& g, const Tensor& view) {
  if (g.is_same(view)) return true;
  return g.defined() && g.storage() == view.storage() &&
         g.storage_offset() == view.storage_offset() && g.dtype() == view.dtype() &&
         g.sizes() == view.sizes() && g.strides() == view.strides();
}

// In the CPU's vector width (loops::run_row). src may be dst: no __restrict.
template <class T>
void scale_into(T* dst, const T* src, int64_t n, T s) {
  loops::run_row<loops::Work::Light>([&]() __attribute__((always_inline)) {
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i] * s;
  });
}

// dst = src * s in one pass (dst a contiguous bucket slot; src may be dst itself).
void copy_scaled(const Tensor& dst, const Tensor& src, double s) {
  NoGradGuard no_grad;
  if (s == 1 && aliases(src, dst)) return;
  if (src.dtype() == dst.dtype() && src.is_contiguous() && !src.requires_grad()) {
    const int64_t n = dst.numel();
    if (dst.dtype() == kFloat32) {
      scale_into(static_cast<float*>(dst.raw_data()), static_cast<const float*>(src.raw_data()), n,
                 static_cast<float>(s));
      dst.bump_version();
      return;
    }
    if (dst.dtype() == kFloat64) {
      scale_into(static_cast<double*>(dst.raw_data()), static_cast<const double*>(src.raw_data()),
                 n, s);
      dst.bump_version();
      return;
    }
  }
  if (!aliases(src, dst)) dst.copy_(src);
  if (s != 1) dst.mul_(s);
}

}  // namespace

struct DistributedDataParallel::State {
  struct Bucket {
    std::vector<size_t> params;  // indices into `params`
    std::vector<Tensor> views;   // each parameter's slot of `flat`, shaped as the parameter
    std::vector<char> ready;
    size_t pending = 0;
    Tensor flat;
    detail::PendingReduce reduce;
    bool launched = false;
  };

  std::vector<Tensor> params;
  std::vector<Bucket> buckets;
  std::vector<std::pair<size_t, size_t>> where;  // parameter -> (bucket, slot)
  bool no_sync = false;
  bool in_pass = false;  // a backward has delivered gradients and finish() is queued
  bool grad_as_view = true;
  // Alive while finish() is queued: a backward that threw drops its callbacks, and the next
  // backward must then start a new pass.
  std::weak_ptr<int> pass_token;
  size_t next_launch = 0;
  int world = 1;

  void start_pass(const std::weak_ptr<State>& self) {
    in_pass = true;
    next_launch = 0;
    for (Bucket& b : buckets) {
      std::fill(b.ready.begin(), b.ready.end(), 0);
      b.pending = b.params.size();
      b.launched = false;
    }
    auto token = std::make_shared<int>(0);
    pass_token = token;
    autograd::queue_callback([self, token] {
      if (auto s = self.lock()) s->finish();
    });
  }

  // Starts the buckets that are full, in order, and lets the running reductions progress.
  void launch_ready() {
    while (next_launch < buckets.size() && buckets[next_launch].pending == 0) launch(next_launch++);
    for (size_t i = 0; i < next_launch; ++i) buckets[i].reduce.test();
  }

  void launch(size_t i) {
    Bucket& b = buckets[i];
    b.reduce = detail::PendingReduce(b.flat, "DistributedDataParallel (gradient all_reduce)");
    b.launched = true;
  }

  // Puts this rank's share of parameter `slot`'s gradient, grad / world, into its slot: in place
  // when .grad already is the slot (accumulated there), else one scaling copy; zeros without a
  // gradient. The sum over the ranks is then the average (PyTorch divides first too).
  void fill_slot(Bucket& b, size_t slot) {
    const Tensor& view = b.views[slot];
    const Tensor g = params[b.params[slot]].grad();
    if (g.defined() && g.sizes() == view.sizes()) {
      copy_scaled(view, g, 1.0 / world);
    } else {
      NoGradGuard no_grad;
      view.zero_();  // unused here: contributes zeros
    }
  }

  void on_ready(size_t index, const std::weak_ptr<State>& self) {
    if (no_sync) return;
    if (!in_pass || pass_token.expired()) start_pass(self);
    auto [bi, slot] = where[index];
    Bucket& b = buckets[bi];
    EMBER_ASSERT(!b.launched && !b.ready[slot],
                 "DistributedDataParallel: the gradient of "
                 "parameter ",
                 index, " arrived twice in one backward");
    fill_slot(b, slot);
    b.ready[slot] = 1;
    --b.pending;
    launch_ready();
  }

  // The graph is done: start what is left, wait, and hand the averages to .grad.
  void finish() {
    in_pass = false;
    NoGradGuard no_grad;
    for (size_t i = next_launch; i < buckets.size(); ++i) {
      Bucket& b = buckets[i];
      for (size_t slot = 0; slot < b.params.size(); ++slot)
        if (!b.ready[slot]) fill_slot(b, slot);
      launch(i);
    }
    next_launch = buckets.size();
    for (Bucket& b : buckets) {
      b.reduce.wait();
      for (size_t slot = 0; slot < b.params.size(); ++slot) {
        const Tensor& p = params[b.params[slot]];
        const Tensor& avg = b.views[slot];
        Tensor g = p.grad();
        if (g.defined() && aliases(g, avg)) continue;  // already there
        if (grad_as_view && !(g.defined() && g.requires_grad())) {
          p.set_grad(avg);  // no copy out: .grad is the bucket's memory from now on
        } else if (g.defined() && g.sizes() == p.sizes()) {
          g.copy_(avg);
        } else {
          p.set_grad(avg.clone());
        }
      }
    }
  }
};

DistributedDataParallel::DistributedDataParallel(std::vector<Tensor> parameters,
                                                 DistributedDataParallelOptions options)
    : params_(std::move(parameters)), state_(std::make_shared<State>()) {
  EMBER_CHECK(is_initialized(), Error,
              "DistributedDataParallel: call distributed::init(&argc, &argv) first");
  EMBER_CHECK(options.bucket_cap_mb > 0, ValueError,
              "DistributedDataParallel: bucket_cap_mb must be positive, got ",
              options.bucket_cap_mb);
  for (size_t i = 0; i < params_.size(); ++i)
    EMBER_CHECK(params_[i].defined() && params_[i].is_floating_point(), DTypeError,
                "DistributedDataParallel: parameter ", i, " is ",
                params_[i].defined() ? dtype_name(params_[i].dtype()) : "undefined",
                "; only floating tensors can be synchronised");
  {
    NoGradGuard no_grad;
    for (const Tensor& p : params_) broadcast(p, 0);
    for (const Tensor& b : options.buffers) broadcast(b, 0);
  }
  State& s = *state_;
  s.params = params_;
  s.world = world_size();
  s.grad_as_view = options.gradient_as_bucket_view;
  s.where.assign(params_.size(), {SIZE_MAX, 0});
  const double cap = options.bucket_cap_mb * 1024 * 1024;
  // Reverse order of registration: the last layers' gradients come first in backward.
  State::Bucket current;
  double bytes = 0;
  std::vector<int64_t> offsets;
  auto close = [&] {
    if (current.params.empty()) return;
    const Tensor& first = params_[current.params.front()];
    current.flat = zeros({offsets.back() + params_[current.params.back()].numel()}, first.dtype());
    for (size_t slot = 0; slot < current.params.size(); ++slot) {
      const Tensor& p = params_[current.params[slot]];
      current.views.push_back(current.flat.narrow(0, offsets[slot], p.numel()).view(p.sizes()));
    }
    offsets.clear();
    current.ready.assign(current.params.size(), 0);
    s.buckets.push_back(std::move(current));
    current = State::Bucket();
    bytes = 0;
  };
  for (size_t k = params_.size(); k-- > 0;) {
    const Tensor& p = params_[k];
    if (!p.requires_grad()) continue;
    if (!current.params.empty() && params_[current.params.front()].dtype() != p.dtype()) close();
    int64_t offset =
        current.params.empty() ? 0 : offsets.back() + params_[current.params.back()].numel();
    s.where[k] = {s.buckets.size(), current.params.size()};
    current.params.push_back(k);
    offsets.push_back(offset);
    bytes += static_cast<double>(p.numel()) * static_cast<double>(element_size(p.dtype()));
    if (bytes >= cap) close();
  }
  close();
  std::weak_ptr<State> weak = state_;
  for (size_t k = 0; k < params_.size(); ++k) {
    if (!params_[k].requires_grad()) continue;
    hook_ids_.emplace_back(
        k, autograd::register_post_accumulate_grad_hook(params_[k], [weak, k](const Tensor&) {
          if (auto st = weak.lock()) st->on_ready(k, weak);
        }));
  }
}

DistributedDataParallel::~DistributedDataParallel() {
  for (auto [k, id] : hook_ids_) autograd::remove_post_accumulate_grad_hook(params_[k], id);
}

std::vector<std::vector<size_t>> DistributedDataParallel::bucket_indices() const {
  std::vector<std::vector<size_t>> out;
  for (const auto& b : state_->buckets) out.push_back(b.params);
  return out;
}

DistributedDataParallel::NoSyncGuard::NoSyncGuard(DistributedDataParallel& ddp)
    : ddp_(ddp), previous_(ddp.state_->no_sync) {
  ddp_.state_->no_sync = true;
}

DistributedDataParallel::NoSyncGuard::~NoSyncGuard() { ddp_.state_->no_sync = previous_; }

}  // namespace ember::distributed
