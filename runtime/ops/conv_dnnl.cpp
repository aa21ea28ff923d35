// float32 conv2d on oneDNN (libdnnl): forward, backward data, backward weights (+ bias). The
// primitives pick their own (blocked) layouts; ember's NCHW activations and OIHW weights are
// reordered into them and the results back, every call. Primitives and their reorders are made
// once per geometry and kept in a small LRU cache; every buffer (blocked copies, scratchpads)
// comes from ember's caching allocator, so a training step does not page-fault.
//
// Threads: oneDNN runs on OpenMP (libgomp), whose idle workers spin for a while after each
// parallel region, taking the cores ember's own pool needs for the next kernels. So a batch of at
// least two images per ember thread is cut into one chunk per thread, each run on ember's pool by
// single-threaded primitives (OpenMP never starts a team); weight and bias gradients are summed
// over the chunks. Smaller batches run whole on an OpenMP team of ember's size.
#include "runtime/ops/conv_dnnl.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "runtime/env.hpp"
#include "runtime/error.hpp"

#ifndef EMBER_HAVE_DNNL
#define EMBER_HAVE_DNNL 0
#endif

#if EMBER_HAVE_DNNL
#include <omp.h>

#include <algorithm>
#include <array>
#include <dnnl.hpp>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/allocator.hpp"
#include "runtime/parallel.hpp"
#endif

namespace ember::detail {

namespace {

constexpr bool kHaveDnnl = EMBER_HAVE_DNNL;

// Activation bytes (input and output) per batch chunk, see batch_chunks: half the L2 cache, which
// the chunk's blocked copies double. On Zen 5 (1 MiB of L2) 256 KiB and 512 KiB chunks ran
// resnet_fashion's convolutions fastest; 512 KiB when the C library cannot tell the size.
size_t default_chunk_bytes() {
  const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
  return l2 > 0 ? static_cast<size_t>(l2) / 2 : size_t{512} << 10;
}

ConvBackend backend_from_env() {
  std::string v = env::choice("EMBER_CONV", {"im2col", "dnnl"}, kHaveDnnl ? "dnnl" : "im2col");
  if (v == "im2col") return ConvBackend::im2col;
  if (!kHaveDnnl)
    std::fprintf(stderr, "ember: EMBER_CONV=dnnl, but ember was built without oneDNN\n");
  return kHaveDnnl ? ConvBackend::dnnl : ConvBackend::im2col;
}

std::atomic<int> g_backend_override{-1};
std::atomic<uint64_t> g_dnnl_calls{0};
std::atomic<uint64_t> g_split_calls{0};
std::atomic<uint64_t> g_split_chunks{0};
std::atomic<bool> g_batch_split{true};
std::atomic<size_t> g_chunk_bytes{default_chunk_bytes()};

}  // namespace

bool dnnl_available() { return kHaveDnnl; }

ConvBackend conv_backend() {
  int o = g_backend_override.load(std::memory_order_relaxed);
  if (o >= 0) return static_cast<ConvBackend>(o);
  static const ConvBackend from_env = backend_from_env();
  return from_env;
}

void set_conv_backend(ConvBackend b) {
  EMBER_CHECK(b != ConvBackend::dnnl || kHaveDnnl, ValueError,
              "set_conv_backend: ember was built without oneDNN (libdnnl-dev)");
  g_backend_override = static_cast<int>(b);
}

bool conv_uses_dnnl(DType dtype, const ConvGeom& g, bool backward) {
  // A first layer's backward (1 to 3 input channels, NCHW source) takes oneDNN 3-4x longer than
  // im2col: 4.2 against 1.1 ms for resnet_fashion's stem (1 -> 16, 3x3, 28x28, batch 128), while
  // its forward is faster on oneDNN (0.75 against 0.93 ms).
  if (backward && g.groups == 1 && g.c < 4) return false;
  return kHaveDnnl && dtype == kFloat32 && g.n > 0 && g.o > 0 && g.cg > 0 && g.oh > 0 && g.ow > 0 &&
         conv_backend() == ConvBackend::dnnl;
}

uint64_t dnnl_conv_calls() { return g_dnnl_calls.load(std::memory_order_relaxed); }

uint64_t dnnl_split_calls() { return g_split_calls.load(std::memory_order_relaxed); }

uint64_t dnnl_split_chunks() { return g_split_chunks.load(std::memory_order_relaxed); }

void set_dnnl_batch_split(bool on) { g_batch_split = on; }

void set_dnnl_chunk_bytes(size_t bytes) { g_chunk_bytes = bytes; }

size_t dnnl_chunk_bytes() { return g_chunk_bytes.load(std::memory_order_relaxed); }

#if !EMBER_HAVE_DNNL

bool dnnl_conv2d_forward(const ConvGeom&, const Tensor&, const Tensor&, const Tensor&,
                         const Tensor&) {
  return false;
}

std::optional<TensorList> dnnl_conv2d_backward(const ConvGeom&, const Tensor&, const Tensor&,
                                               const Tensor&, const bool*) {
  return std::nullopt;
}

#else

namespace {

using Mem = dnnl::memory;
using Desc = dnnl::memory::desc;
using tag = dnnl::memory::format_tag;

// Geometries kept; a training run has a few dozen (the last, smaller batch of an epoch and the
// evaluation batches add their own; an uneven split, two sub-batch sizes).
constexpr size_t kCacheEntries = 128;

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

// CPU streams are cheap; one per thread keeps concurrent callers apart.
dnnl::stream& stream() {
  thread_local dnnl::stream s(engine());
  return s;
}

// How many batch chunks a call runs as: when each ember thread gets at least two images, a
// multiple of the thread count, each chunk holding about chunk_bytes of input and output
// activations (at least one image), so that a chunk's blocked copies stay in L2 between its
// reorders and its convolution; else 1, the whole batch (always so inside a parallel_for body:
// its threads are taken).
int batch_chunks(const ConvGeom& g) {
  if (!g_batch_split.load(std::memory_order_relaxed) || in_parallel_region()) return 1;
  const int k = get_num_threads();
  if (k <= 1 || g.n < 2 * int64_t{k}) return 1;
  const int64_t image = int64_t{sizeof(float)} * (g.c * g.h * g.w + g.o * g.oh * g.ow);
  const auto bytes = static_cast<int64_t>(g_chunk_bytes.load(std::memory_order_relaxed));
  const int64_t per_chunk = bytes > 0 ? std::max<int64_t>(1, bytes / image) : g.n;
  return k * static_cast<int>(std::max<int64_t>(1, g.n / (int64_t{k} * per_chunk)));
}

// First image of chunk i of k.
int64_t chunk_begin(int64_t n, int i, int k) { return n * i / k; }

// oneDNN runs on the calling thread's OpenMP team, whose size is that thread's own setting, read
// when a primitive is made (it is built for that many threads) and when it runs. A chunk takes a
// single thread, and so does a whole batch inside a parallel_for body, so that OpenMP does not
// start a second team beside ember's; a whole batch elsewhere takes ember's thread count.
int omp_threads_for(int chunks) {
  return chunks > 1 || in_parallel_region() ? 1 : get_num_threads();
}

// (Asks OpenMP rather than remembering: set_num_threads sets it too, for its caller.)
void set_omp_threads(int want) {
  if (omp_get_max_threads() != want) omp_set_num_threads(want);
}

// Puts the calling thread's OpenMP team size back as it was on leaving a call: a split call
// makes (and runs) its primitives with one thread there, which the caller's own OpenMP loops
// would otherwise inherit (libtorch's, beside ember in bench/peer, ran on one thread).
class OmpThreadsRestore {
 public:
  OmpThreadsRestore() : saved_(omp_get_max_threads()) {}
  ~OmpThreadsRestore() { set_omp_threads(saved_); }
  OmpThreadsRestore(const OmpThreadsRestore&) = delete;
  OmpThreadsRestore& operator=(const OmpThreadsRestore&) = delete;

 private:
  int saved_;
};

// Scratchpads are ours (from the caching allocator), which also makes every primitive safe to
// run from several threads at once.
dnnl::primitive_attr user_scratchpad() {
  dnnl::primitive_attr a;
  a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return a;
}

bool is_reference(const dnnl::primitive_desc_base& pd) {
  return std::string_view(pd.impl_info_str()).starts_with("ref");
}

// A tensor argument of a primitive: ember's plain layout, the primitive's, and the reorder
// between them (plain -> primitive for inputs, primitive -> plain for outputs) when they differ.
struct Arg {
  Desc plain, prim;
  dnnl::reorder reorder;
  size_t reorder_scratch = 0;
  bool blocked = false;

  Arg() = default;
  Arg(const Desc& plain_desc, const Desc& prim_desc, bool input)
      : plain(plain_desc), prim(prim_desc), blocked(plain_desc != prim_desc) {
    if (!blocked) return;
    const Desc& from = input ? plain : prim;
    const Desc& to = input ? prim : plain;
    dnnl::reorder::primitive_desc pd(engine(), from, engine(), to, user_scratchpad());
    reorder_scratch = pd.scratchpad_desc().get_size();
    reorder = dnnl::reorder(pd);
  }
};

// The geometry in oneDNN's terms: plain descs of the tensors and the convolution's parameters.
struct Problem {
  Desc src, weights, bias, dst;  // plain: nchw, (g)oihw, x (zero when no bias), nchw
  Mem::dims strides, dilates, pad_l, pad_r;

  Problem(const ConvGeom& g, bool with_bias) {
    using dt = Mem::data_type;
    src = Desc({g.n, g.c, g.h, g.w}, dt::f32, tag::nchw);
    dst = Desc({g.n, g.o, g.oh, g.ow}, dt::f32, tag::nchw);
    // ember's [O, C/groups, kh, kw] weight is oneDNN's [groups, O/groups, C/groups, kh, kw].
    weights = g.groups == 1
                  ? Desc({g.o, g.cg, g.kh, g.kw}, dt::f32, tag::oihw)
                  : Desc({g.groups, g.o / g.groups, g.cg, g.kh, g.kw}, dt::f32, tag::goihw);
    if (with_bias) bias = Desc({g.o}, dt::f32, tag::x);
    strides = {g.sh, g.sw};
    dilates = {g.dh - 1, g.dw - 1};  // oneDNN counts the gaps: 0 is a dense kernel
    pad_l = {g.ph, g.pw};
    // Right padding up to the last input the last output reads: PyTorch's floor rounding may
    // leave the tail of the padded input unread (and no padding may be needed at all).
    pad_r = {std::max<int64_t>(0, (g.oh - 1) * g.sh + g.dh * (g.kh - 1) + 1 - g.h - g.ph),
             std::max<int64_t>(0, (g.ow - 1) * g.sw + g.dw * (g.kw - 1) + 1 - g.w - g.pw)};
  }
  static Desc any(const Desc& d) { return Desc(d.dims(), Mem::data_type::f32, tag::any); }
};

struct Forward {
  dnnl::convolution_forward prim;
  Arg src, weights, dst;
  Desc bias;
  size_t scratch = 0;
};

struct BackwardData {
  dnnl::convolution_backward_data prim;
  Arg diff_dst, weights, diff_src;
  size_t scratch = 0;
  bool usable = false;
};

struct BackwardWeights {
  dnnl::convolution_backward_weights prim;
  Arg src, diff_dst, diff_weights;
  Desc diff_bias;
  size_t scratch = 0;
  bool usable = false;
};

// One geometry's primitives: the forward at once (its descriptor is the backward's hint), the
// backward ones on first use. A primitive oneDNN cannot make, or only as its reference loops
// (slower than im2col), leaves its part unusable: im2col runs it.
class Entry {
 public:
  Entry(const ConvGeom& g, bool with_bias) : p_(g, with_bias) {
    try {
      pd_ = dnnl::convolution_forward::primitive_desc(
          {dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_auto,
           Problem::any(p_.src), Problem::any(p_.weights), p_.bias, Problem::any(p_.dst),
           p_.strides, p_.dilates, p_.pad_l, p_.pad_r},
          user_scratchpad(), engine());
      if (is_reference(pd_)) return;
      fwd_.prim = dnnl::convolution_forward(pd_);
      fwd_.src = Arg(p_.src, pd_.src_desc(), true);
      fwd_.weights = Arg(p_.weights, pd_.weights_desc(), true);
      fwd_.dst = Arg(p_.dst, pd_.dst_desc(), false);
      fwd_.bias = p_.bias;
      fwd_.scratch = pd_.scratchpad_desc().get_size();
      usable_ = true;
    } catch (const dnnl::error&) {
      usable_ = false;  // no implementation for this geometry
    }
  }

  /// False when the forward has no optimised oneDNN implementation (then nothing is used).
  bool usable() const { return usable_; }
  const Forward& forward() const { return fwd_; }

  const BackwardData& backward_data() {
    std::call_once(data_once_, [&] {
      auto d = std::make_unique<BackwardData>();
      try {
        dnnl::convolution_backward_data::primitive_desc pd(
            {dnnl::algorithm::convolution_auto, Problem::any(p_.src), Problem::any(p_.weights),
             Problem::any(p_.dst), p_.strides, p_.dilates, p_.pad_l, p_.pad_r},
            user_scratchpad(), engine(), pd_);
        if (!is_reference(pd)) {
          d->prim = dnnl::convolution_backward_data(pd);
          d->diff_dst = Arg(p_.dst, pd.diff_dst_desc(), true);
          d->weights = Arg(p_.weights, pd.weights_desc(), true);
          d->diff_src = Arg(p_.src, pd.diff_src_desc(), false);
          d->scratch = pd.scratchpad_desc().get_size();
          d->usable = true;
        }
      } catch (const dnnl::error&) {
        d->usable = false;
      }
      data_ = std::move(d);
    });
    return *data_;
  }

  const BackwardWeights& backward_weights() {
    std::call_once(weights_once_, [&] {
      auto w = std::make_unique<BackwardWeights>();
      try {
        dnnl::convolution_backward_weights::primitive_desc pd(
            {dnnl::algorithm::convolution_auto, Problem::any(p_.src), Problem::any(p_.weights),
             p_.bias, Problem::any(p_.dst), p_.strides, p_.dilates, p_.pad_l, p_.pad_r},
            user_scratchpad(), engine(), pd_);
        if (!is_reference(pd)) {
          w->prim = dnnl::convolution_backward_weights(pd);
          w->src = Arg(p_.src, pd.src_desc(), true);
          w->diff_dst = Arg(p_.dst, pd.diff_dst_desc(), true);
          w->diff_weights = Arg(p_.weights, pd.diff_weights_desc(), false);
          w->diff_bias = p_.bias;
          w->scratch = pd.scratchpad_desc().get_size();
          w->usable = true;
        }
      } catch (const dnnl::error&) {
        w->usable = false;
      }
      weights_ = std::move(w);
    });
    return *weights_;
  }

 private:
  Problem p_;
  dnnl::convolution_forward::primitive_desc pd_;
  bool usable_ = false;
  Forward fwd_;
  std::once_flag data_once_, weights_once_;
  std::unique_ptr<BackwardData> data_;
  std::unique_ptr<BackwardWeights> weights_;
};

// Everything that picks the primitives: the geometry (with the batch of one chunk), whether a
// bias (or its grad) takes part, and the OpenMP threads they are built for.
using Key = std::array<int64_t, 19>;

Key key_of(const ConvGeom& g, bool with_bias, int threads) {
  return {g.n,      g.c,  g.h,  g.w,  g.o,  g.cg, g.kh, g.kw,      g.oh,   g.ow,
          g.groups, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, with_bias, threads};
}

// Least recently used entries go first once the cache is full. Entries are shared, so one
// evicted while another thread runs it stays alive until that call ends.
class Cache {
 public:
  /// The entry of g built for `threads` OpenMP threads: the calling thread's setting must be that.
  std::shared_ptr<Entry> get(const ConvGeom& g, bool with_bias, int threads) {
    const Key key = key_of(g, with_bias, threads);
    std::lock_guard lock(mu_);
    if (auto it = index_.find(key); it != index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      return it->second->second;
    }
    auto entry = std::make_shared<Entry>(g, with_bias);  // rare: creating under the lock is fine
    lru_.emplace_front(key, entry);
    index_[key] = lru_.begin();
    if (lru_.size() > kCacheEntries) {
      index_.erase(lru_.back().first);
      lru_.pop_back();
    }
    return entry;
  }

 private:
  using List = std::list<std::pair<Key, std::shared_ptr<Entry> > >;
  std::mutex mu_;
  List lru_;
  std::map<Key, List::iterator> index_;
};

Cache& cache() {
  static auto* c = new Cache;  // leaked on purpose: primitives outlive static destruction order
  return *c;
}

// One call's memories: buffers from ember's caching allocator (returned at the end of the call),
// inputs reordered into the primitive's layout (each user buffer at most once per layout), and
// outputs reordered back to ember's layout by finish().
class Call {
 public:
  Call() = default;
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;
  ~Call() {
    for (auto& [p, bytes] : buffers_) ember::memory::deallocate(p, bytes);
  }

  Mem input(const Arg& a, const float* data) {
    Mem user(a.plain, engine(), const_cast<float*>(data));
    if (!a.blocked) return user;
    for (auto& [ptr, desc, mem] : converted_)
      if (ptr == data && desc == a.prim) return mem;
    Mem prim = buffer(a.prim);
    run_reorder(a, user, prim);
    converted_.push_back({data, a.prim, prim});
    return prim;
  }

  Mem output(const Arg& a, float* data) {
    Mem user(a.plain, engine(), data);
    if (!a.blocked) return user;
    Mem prim = buffer(a.prim);
    pending_.push_back({&a, prim, user});
    return prim;
  }

  /// Runs prim with args plus its scratchpad of `scratch` bytes.
  void run(const dnnl::primitive& prim, std::unordered_map<int, Mem> args, size_t scratch) {
    if (scratch) args.insert({DNNL_ARG_SCRATCHPAD, bytes(scratch)});
    prim.execute(stream(), args);
  }

  void finish() {
    for (auto& o : pending_) run_reorder(*o.arg, o.prim, o.user);
    pending_.clear();
    stream().wait();
  }

 private:
  struct Pending {
    const Arg* arg;
    Mem prim, user;
  };
  struct Converted {
    const float* data;
    Desc desc;
    Mem mem;
  };

  void* allocate(size_t n) {
    n = std::max<size_t>(n, 1);
    void* p = ember::memory::allocate(n);
    buffers_.emplace_back(p, n);
    return p;
  }
  Mem buffer(const Desc& d) { return Mem(d, engine(), allocate(d.get_size())); }
  Mem bytes(size_t n) {
    return Mem(Desc({static_cast<int64_t>(n)}, Mem::data_type::u8, tag::x), engine(), allocate(n));
  }
  void run_reorder(const Arg& a, Mem& from, Mem& to) {
    run(a.reorder, {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}}, a.reorder_scratch);
  }

  std::vector<std::pair<void*, size_t> > buffers_;
  std::vector<Converted> converted_;
  std::vector<Pending> pending_;
};

// The primitives of each chunk of a call (one entry per distinct chunk batch), made on the
// calling thread once its OpenMP setting is the one the chunks run with.
class Chunks {
 public:
  Chunks(const ConvGeom& g, bool with_bias) : g_(g), k_(batch_chunks(g)) {
    const int threads = omp_threads_for(k_);
    set_omp_threads(threads);
    for (int i = 0; i < k_; ++i) {
      ConvGeom sub = g;
      sub.n = size(i);
      if (i == 0 || sub.n != size(i - 1)) entries_.push_back(cache().get(sub, with_bias, threads));
      index_.push_back(entries_.size() - 1);
    }
  }

  int count() const { return k_; }
  int64_t begin(int i) const { return chunk_begin(g_.n, i, k_); }
  int64_t size(int i) const { return begin(i + 1) - begin(i); }
  Entry& entry(int i) const { return *entries_[index_[i]]; }
  const std::vector<std::shared_ptr<Entry> >& entries() const { return entries_; }

  /// Runs f(i) for every chunk: on ember's pool, each on a single OpenMP thread, or inline.
  template <class F>
  void run(F&& f) const {
    if (k_ == 1) {
      f(0);
      return;
    }
    g_split_calls.fetch_add(1, std::memory_order_relaxed);
    g_split_chunks.fetch_add(static_cast<uint64_t>(k_), std::memory_order_relaxed);
    parallel_for(0, k_, 1, [&](int64_t b, int64_t e) {
      set_omp_threads(1);
      for (int64_t i = b; i < e; ++i) f(static_cast<int>(i));
    });
  }

 private:
  ConvGeom g_;
  int k_;
  std::vector<std::shared_ptr<Entry> > entries_;
  std::vector<size_t> index_;
};

// dst[j] += parts[c][j] for every part: the chunks' weight (or bias) gradients into the first's.
void add_partials(float* dst, const std::vector<Tensor>& parts, int64_t count) {
  parallel_for(0, count, kGrainSize, [&](int64_t b, int64_t e) {
    for (const Tensor& t : parts) {
      const float* __restrict p = t.data_ptr<float>();
      float* __restrict d = dst;
      for (int64_t j = b; j < e; ++j) d[j] += p[j];
    }
  });
}

}  // namespace

bool dnnl_conv2d_forward(const ConvGeom& g, const Tensor& x, const Tensor& w, const Tensor& b,
                         const Tensor& out) {
  OmpThreadsRestore restore;
  Chunks chunks(g, b.defined());
  for (const auto& e : chunks.entries())
    if (!e->usable()) return false;
  const float* px = x.data_ptr<float>();
  const float* pw = w.data_ptr<float>();
  float* pout = out.data_ptr<float>();
  chunks.run([&](int i) {
    const Forward& f = chunks.entry(i).forward();
    const int64_t n0 = chunks.begin(i);
    Call call;
    std::unordered_map<int, Mem> args{
        {DNNL_ARG_SRC, call.input(f.src, px + n0 * g.c * g.h * g.w)},
        {DNNL_ARG_WEIGHTS, call.input(f.weights, pw)},
        {DNNL_ARG_DST, call.output(f.dst, pout + n0 * g.o * g.oh * g.ow)}};
    if (b.defined())
      args.insert({DNNL_ARG_BIAS, Mem(f.bias, engine(), const_cast<float*>(b.data_ptr<float>()))});
    call.run(f.prim, std::move(args), f.scratch);
    call.finish();
  });
  g_dnnl_calls.fetch_add(1, std::memory_order_relaxed);
  return true;
}

std::optional<TensorList> dnnl_conv2d_backward(const ConvGeom& g, const Tensor& gy, const Tensor& x,
                                               const Tensor& w, const bool mask[3]) {
  const bool need_in = mask[0], need_wb = mask[1] || mask[2];
  OmpThreadsRestore restore;
  Chunks chunks(g, mask[2]);
  // The backward primitives are made here, on the caller, with its OpenMP setting.
  for (const auto& e : chunks.entries()) {
    if (!e->usable()) return std::nullopt;
    if (need_in && !e->backward_data().usable) return std::nullopt;
    if (need_wb && !e->backward_weights().usable) return std::nullopt;
  }
  const int k = chunks.count();
  TensorList r(3);
  if (need_in) r[0] = make_tensor({g.n, g.c, g.h, g.w}, kFloat32);
  // oneDNN computes grad_weight with grad_bias; a grad_weight nobody asked for is dropped. The
  // first chunk writes the gradients, the others their own partial ones, summed at the end.
  const Dims wsizes{g.o, g.cg, g.kh, g.kw};
  Tensor gw = need_wb ? make_tensor(wsizes, kFloat32) : Tensor();
  if (mask[2]) r[2] = make_tensor({g.o}, kFloat32);
  std::vector<Tensor> gw_parts, gb_parts;
  for (int i = 1; need_wb && i < k; ++i) {
    gw_parts.push_back(make_tensor(wsizes, kFloat32));
    if (mask[2]) gb_parts.push_back(make_tensor({g.o}, kFloat32));
  }
  const float* pgy = gy.data_ptr<float>();
  const float* px = x.data_ptr<float>();
  const float* pw = w.data_ptr<float>();
  const int64_t x_image = g.c * g.h * g.w, y_image = g.o * g.oh * g.ow;
  chunks.run([&](int i) {
    Entry& e = chunks.entry(i);
    const int64_t n0 = chunks.begin(i);
    const float* cgy = pgy + n0 * y_image;
    Call call;
    if (need_in) {
      const BackwardData& bd = e.backward_data();
      float* dx = r[0].data_ptr<float>() + n0 * x_image;
      call.run(bd.prim,
               {{DNNL_ARG_DIFF_DST, call.input(bd.diff_dst, cgy)},
                {DNNL_ARG_WEIGHTS, call.input(bd.weights, pw)},
                {DNNL_ARG_DIFF_SRC, call.output(bd.diff_src, dx)}},
               bd.scratch);
    }
    if (need_wb) {
      const BackwardWeights& bw = e.backward_weights();
      float* dw = (i == 0 ? gw : gw_parts[i - 1]).data_ptr<float>();
      std::unordered_map<int, Mem> args{{DNNL_ARG_SRC, call.input(bw.src, px + n0 * x_image)},
                                        {DNNL_ARG_DIFF_DST, call.input(bw.diff_dst, cgy)},
                                        {DNNL_ARG_DIFF_WEIGHTS, call.output(bw.diff_weights, dw)}};
      if (mask[2]) {
        float* db = (i == 0 ? r[2] : gb_parts[i - 1]).data_ptr<float>();
        args.insert({DNNL_ARG_DIFF_BIAS, Mem(bw.diff_bias, engine(), db)});
      }
      call.run(bw.prim, std::move(args), bw.scratch);
    }
    call.finish();
  });
  if (!gw_parts.empty()) add_partials(gw.data_ptr<float>(), gw_parts, gw.numel());
  if (!gb_parts.empty()) add_partials(r[2].data_ptr<float>(), gb_parts, g.o);
  if (mask[1]) r[1] = gw;
  g_dnnl_calls.fetch_add(1, std::memory_order_relaxed);
  return r;
}

#endif  // EMBER_HAVE_DNNL

}  // namespace ember::detail
