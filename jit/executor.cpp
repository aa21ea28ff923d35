#include "jit/executor.hpp"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <tuple>
#include <unordered_map>

#include "jit/codegen/codegen.hpp"
#include "jit/dump.hpp"
#include "jit/jit.hpp"
#include "jit/library_call.hpp"
#include "jit/orc/engine.hpp"
#include "jit/passes/passes.hpp"
#include "jit/profiler_record.hpp"
#include "runtime/allocator.hpp"
#include "runtime/dispatch.hpp"
#include "runtime/env.hpp"
#include "runtime/error.hpp"
#include "runtime/ops.hpp"
#include "runtime/parallel.hpp"
#include "runtime/shape.hpp"

namespace ember::jit {
namespace {

namespace prof = profiling;

// ---- settings ----

// Read from the environment on first use (so a setter called from another file's static
// initialiser is not overwritten by a later one here).
// (Strictly parsed: a value that is not a switch or a number in range warns once and keeps the
// default.)
struct Settings {
  std::atomic<bool> enabled{env::flag("EMBER_JIT", true)};
  std::atomic<int> hot{static_cast<int>(env::integer("EMBER_JIT_HOT", 2, 1, 1 << 30))};
  std::atomic<int> max_specs{8};
  std::atomic<int> max_plans{
      static_cast<int>(env::integer("EMBER_JIT_MAX_PLANS", 256, 1, 1 << 20))};
  std::atomic<int> tier_up{static_cast<int>(env::integer("EMBER_JIT_TIERUP", 16, 0, 1 << 30))};
  // Whether tiers were asked for (EMBER_JIT_TIERUP or set_tier_up_runs), see first_tier().
  std::atomic<bool> tier_up_chosen{std::getenv("EMBER_JIT_TIERUP") != nullptr};
  std::atomic<bool> shadow{env::flag("EMBER_JIT_SHADOW", false)};
  std::atomic<bool> async{env::flag("EMBER_JIT_ASYNC", true)};
};
Settings& settings() {
  static Settings& s = *new Settings;  // never destroyed: the compiler thread reads it at exit
  return s;
}

// The tier a hot signature is compiled with first.
// The quick tier shortens the wait for a compile on the calling thread. A background compile
// makes nobody wait, and the quick tier's kernels (LLVM's O0 back end) ran a training step 5-10x
// slower than eager until the tier-up (bench_jit_train BM_first_steps: 8-20 ms steps against a
// 1.4 ms eager step): so with background compiles the first tier is the full one, unless tiers
// were asked for.
Tier first_tier() {
  const Settings& s = settings();
  const bool tiers = s.tier_up.load() > 0 && (!s.async.load() || s.tier_up_chosen.load());
  return tiers ? Tier::Quick : Tier::Full;
}

// Test-only: called on a fused run's values before they are stored (see executor.hpp).
FusedRunHook g_fused_hook = nullptr;

// ---- the signature cache ----

// A graph compiled: the optimised graph and one step per fused kernel or library call.
struct Plan {
  Graph graph;
  std::vector<Group> steps;
  std::vector<CompiledStep> kernels;           // per step; fn is null for library steps
  std::vector<int32_t> views;                  // the View nodes
  std::map<int32_t, int32_t> stored_in_place;  // root -> the storage id its kernel writes
  /// Per step, the values no later step reads (and that the graph neither returns nor writes):
  /// dropped after it, as eager code frees a temporary after its last use, so that the next
  /// steps' allocations reuse memory that is still in cache.
  std::vector<std::vector<int32_t>> release;
  /// Per node: the library nodes computed by one kernel call with it (joint_calls), or empty.
  std::vector<std::vector<int32_t>> joint;
  Tier tier = Tier::Full;
  std::string region;               // for the profiler:
  std::vector<std::string> labels;  // what each step computes (step_label)
};

struct Entry {
  std::string region;
  std::string spec_key;  // the specialisation count it was compiled under
  int seen = 0;
  int runs = 0;            // of the Quick plan
  bool compiling = false;  // the first compile is queued or running
  bool upgrading = false;  // the tier-up compile is queued or running
  std::shared_ptr<const Plan> plan;
  bool failed = false;         // compiling failed once: stays eager
  bool shadow_warned = false;  // shadow mode reported a mismatch of this signature
  uint64_t last_run = 0;       // Cache::runs when it last ran
};

constexpr size_t kMaxEntries = 4096;

struct Cache {
  std::mutex mu;
  uint64_t runs = 0;
  std::unordered_map<std::string, Entry> entries;
  // Per graph of a region: the region's name and the graph's place in its run (each graph
  // break starts the next), so that a region with breaks has the cap for each of its graphs.
  std::unordered_map<std::string, int> specializations;
  std::unordered_map<std::string, bool> warned;  // per region name
  // Per region name: its first compiles queued or running on the background compiler. Kept
  // across clear_cache(): each job still counts itself out when it ends.
  std::unordered_map<std::string, int> compiling;
  Stats stats;
};
Cache& cache() {
  // Never destroyed: its plans' code must not be unmapped while static destructors run (and
  // the compiler thread reads it).
  static Cache& c = *new Cache;
  return c;
}

// Keeps at most max_plans compiled plans: drops the plans that ran least recently (their entries
// forgotten, their region's count of specialisations lowered: a signature that turns hot again
// compiles again) into `dropped`, which the caller destroys after unlocking (freeing code takes
// the engine's lock). Called with c.mu held.
void evict_plans(Cache& c, std::vector<std::shared_ptr<const Plan>>& dropped) {
  size_t compiled = 0;
  for (const auto& [sig, e] : c.entries) compiled += e.plan ? 1 : 0;
  const auto limit = static_cast<size_t>(settings().max_plans.load());
  while (compiled > limit) {
    auto lru = c.entries.end();
    for (auto it = c.entries.begin(); it != c.entries.end(); ++it)
      if (it->second.plan && !it->second.upgrading &&
          (lru == c.entries.end() || it->second.last_run < lru->second.last_run))
        lru = it;
    if (lru == c.entries.end()) return;
    dropped.push_back(std::move(lru->second.plan));
    if (int& n = c.specializations[lru->second.spec_key]; n > 0) --n;
    c.entries.erase(lru);
    ++c.stats.plans_evicted;
    --compiled;
  }
}

void warn(const std::string& msg) { std::cerr << "ember: warning: jit: " << msg << '\n'; }

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// ---- running values into the lazy tensors' storages and the written memory ----

// Moves (or copies) the value v into the pending storage dst.
void adopt(Storage& dst, const Tensor& v) {
  TensorImpl* vi = v.impl();
  auto& src = vi->storage;
  if (vi->contiguous && vi->offset == 0 && src.use_count() == 1 && src->nbytes == dst.nbytes &&
      !src->deleter) {
    std::swap(dst.data, src->data);
    return;
  }
  dst.data = memory::allocate(dst.nbytes);
  Tensor c = v.is_contiguous() ? v : copy_of(v);
  std::memcpy(dst.data, c.impl()->data(), dst.nbytes);
}

// Copies the value v (of the sizes of a contiguous layout covering dst) into dst's memory,
// unless the kernel that computed it stored it there already.
void write_back(Storage& dst, const Tensor& v) {
  if (v.impl()->storage.get() == &dst) return;
  Tensor c = v.is_contiguous() ? v : copy_of(v);
  EMBER_ASSERT(static_cast<size_t>(c.numel()) * c.element_size() == dst.nbytes, "jit: a write of ",
               c.numel(), " elements into ", dst.nbytes, " bytes");
  std::memcpy(dst.data, c.impl()->data(), dst.nbytes);
}

// The values computed: the graph's writes go into their memory, then its outputs to the lazy
// tensors.
void finish(const Graph& g, std::vector<Tensor>& vals, const Run& run,
            const std::vector<std::shared_ptr<Storage>>& outs) {
  // A result that is memory the graph read (an input, or a view of one) is copied first: a
  // write below may change that memory.
  auto copy_if_memory = [&](int32_t id) {
    const IrNode& n = g[id];
    if (n.kind == Kind::Input || (n.kind == Kind::Apply && is_strided_view(n.op)))
      vals[static_cast<size_t>(id)] = copy_of(vals[static_cast<size_t>(id)]);
  };
  for (int32_t o : g.outputs) copy_if_memory(o);
  for (const Graph::Write& w : g.writes) copy_if_memory(w.node);
  for (const Graph::Write& w : g.writes)
    write_back(*run.storages[static_cast<size_t>(w.storage)], vals[static_cast<size_t>(w.node)]);

  std::unordered_map<int32_t, const Storage*> done;  // a node two tensors hold: copied
  for (size_t i = 0; i < outs.size(); ++i) {
    int32_t node = g.outputs[i];
    if (auto it = done.find(node); it != done.end()) {
      outs[i]->data = memory::allocate(outs[i]->nbytes);
      std::memcpy(outs[i]->data, it->second->data, outs[i]->nbytes);
      continue;
    }
    adopt(*outs[i], vals[static_cast<size_t>(node)]);
    done.emplace(node, outs[i].get());
  }
}

// A View node's tensor: its operand's value (contiguous, as the trace saw it) viewed.
Tensor view_of(const IrNode& n, const Tensor& operand) {
  return make_view(operand.contiguous(), n.sizes, n.strides, static_cast<int64_t>(n.value));
}

// The written memory `st` as a contiguous tensor of node n's sizes and dtype.
Tensor memory_as(const std::shared_ptr<Storage>& st, const IrNode& n) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = st;
  impl->sizes = n.sizes;
  impl->strides = contiguous_strides(n.sizes);
  impl->dtype = n.dtype;
  impl->refresh();
  return Tensor(std::move(impl));
}

// The values of the nodes a run binds: Input nodes' tensors and Scalar nodes' numbers.
std::vector<Tensor> bound_values(const Graph& g, const Run& run) {
  std::vector<Tensor> vals(g.size());
  for (size_t i = 0; i < g.size(); ++i) {
    const IrNode& n = g[static_cast<int32_t>(i)];
    if (n.kind == Kind::Input) vals[i] = run.inputs[static_cast<size_t>(n.input)];
    if (n.kind == Kind::Scalar) vals[i] = wrapped_scalar(run.scalars[static_cast<size_t>(n.input)]);
  }
  return vals;
}

// The writes the interpreter stores as soon as their value is computed, by node (-1: none): those
// whose memory's old content no later node reads (through its Input nodes or views of them) and
// that is no result. The others are stored after the whole graph, as a write must not change
// what a later node reads. Holding every written value to the end took fresh memory as large as
// all a step updates (an optimizer's parameters and state: ~12 us per 4 KiB page in a region's
// first runs) and a copy pass over it.
struct EarlyWrite {
  int32_t storage = -1;
  bool direct = false;  // the kernel may write the memory itself (it reads it element for element)
};
std::vector<EarlyWrite> early_writes(const Graph& g) {
  std::vector<EarlyWrite> out(g.size());
  if (g.writes.empty()) return out;
  // The memory whose old content each node holds (its Input nodes and views of them), or -1.
  std::vector<int32_t> old(g.size(), -1);
  for (size_t i = 0; i < g.size(); ++i) {
    const IrNode& m = g[static_cast<int32_t>(i)];
    if (m.kind == Kind::Input)
      old[i] = m.storage;
    else if (m.kind == Kind::Apply && is_strided_view(m.op))
      old[i] = old[static_cast<size_t>(m.args[0])];
  }
  // Per memory: how many writes, the last node reading its old content, whether a result is it.
  std::unordered_map<int32_t, int> writes_of;
  std::unordered_map<int32_t, size_t> last_read;
  std::unordered_map<int32_t, bool> returned;
  for (const Graph::Write& w : g.writes) ++writes_of[w.storage];
  for (size_t i = 0; i < g.size(); ++i)
    if (g[static_cast<int32_t>(i)].kind == Kind::Apply)
      for (int32_t a : g[static_cast<int32_t>(i)].args)
        if (int32_t s = old[static_cast<size_t>(a)]; s >= 0) last_read[s] = i;
  for (int32_t o : g.outputs)
    if (int32_t s = old[static_cast<size_t>(o)]; s >= 0) returned[s] = true;
  for (const Graph::Write& x : g.writes)
    if (int32_t s = old[static_cast<size_t>(x.node)]; s >= 0) returned[s] = true;

  for (const Graph::Write& w : g.writes) {
    const IrNode& n = g[w.node];
    const auto at = static_cast<size_t>(w.node);
    auto read = last_read.find(w.storage);
    if (n.kind != Kind::Apply || is_strided_view(n.op) || writes_of[w.storage] != 1 ||
        out[at].storage >= 0 || returned.count(w.storage) ||
        (read != last_read.end() && read->second > at))
      continue;
    // The writing node itself may read the old content: fine once it has computed its value;
    // the kernel may store straight into the memory only reading it element for element.
    bool direct = op_traits(n.op).writes == Writes::Out && n.args.size() == 2;
    for (int32_t a : n.args)
      if (old[static_cast<size_t>(a)] == w.storage) direct = direct && reads_as_written(g[a], n);
    out[at] = {w.storage, direct};
  }
  return out;
}

// Node n's value computed by its kernel straight into the memory `st` it writes, if the kernel
// takes an output operand and gives n's sizes and dtype there (else an undefined tensor).
Tensor run_into(const Graph& g, const IrNode& n, std::vector<Tensor>& vals,
                const std::shared_ptr<Storage>& st) {
  std::vector<Tensor> args = operands(g, n, vals);
  DType r = result_type(args[0], args[1]);
  if (r != n.dtype || (n.op == Op::Div && !is_floating(r)) ||
      broadcast_shapes(args[0].sizes(), args[1].sizes(), op_name(n.op)) != n.sizes)
    return Tensor();
  args.push_back(memory_as(st, n));
  // The trace moved the memory's version when it recorded the write; the kernel moves it again.
  const uint32_t version = st->version.load();
  op_info(n.op).kernel(args, n.attrs);
  st->version.store(version);
  return args.back();
}

// The graph op by op with the eager kernels. Each value is dropped after its last use, unless
// the graph returns or writes it (or it is stored at once, see early_writes): the run holds
// about the memory an eager run would (a value kept to the end took fresh pages, ~12 us per
// 4 KiB fault, in a region's first runs).
void run_eager(const Graph& g, const Run& run, const std::vector<std::shared_ptr<Storage>>& outs) {
  std::vector<Tensor> vals = bound_values(g, run);
  const std::vector<EarlyWrite> early = early_writes(g);
  constexpr size_t kKept = SIZE_MAX;
  std::vector<size_t> last(g.size(), 0);
  for (size_t i = 0; i < g.size(); ++i)
    for (int32_t a : g[static_cast<int32_t>(i)].args) last[static_cast<size_t>(a)] = i;
  for (int32_t o : g.outputs) last[static_cast<size_t>(o)] = kKept;
  for (const Graph::Write& w : g.writes) last[static_cast<size_t>(w.node)] = kKept;
  for (size_t i = 0; i < g.size(); ++i) {
    const IrNode& n = g[static_cast<int32_t>(i)];
    if (n.kind == Kind::Const) vals[i] = constant(n);
    if (n.kind != Kind::Apply) continue;
    if (const EarlyWrite& e = early[i]; e.storage >= 0) {
      const std::shared_ptr<Storage>& st = run.storages[static_cast<size_t>(e.storage)];
      vals[i] = e.direct ? run_into(g, n, vals, st) : Tensor();
      if (!vals[i].defined()) {
        write_back(*st, run_library(g, n, vals));
        vals[i] = memory_as(st, n);  // later nodes read the memory (finish sees it stored)
      }
    } else {
      vals[i] = is_strided_view(n.op) ? view_of(n, vals[static_cast<size_t>(n.args[0])])
                                      : run_library(g, n, vals);
    }
    for (int32_t a : n.args)
      if (last[static_cast<size_t>(a)] == i) vals[static_cast<size_t>(a)] = Tensor();
  }
  finish(g, vals, run, outs);
}

void run_plan(const Plan& p, const Run& run, const std::vector<std::shared_ptr<Storage>>& outs) {
  const Graph& g = p.graph;
  std::vector<Tensor> vals = bound_values(g, run);
  std::vector<char> released(g.size(), 0);  // a released view is not made again
  // The kernels read the runtime scalars as doubles, from the pointer after their buffers.
  std::vector<double> scalars(run.scalars.size());
  for (size_t i = 0; i < scalars.size(); ++i) scalars[i] = run.scalars[i].to_double();
  std::vector<char*> bufs;
  const bool timed = prof::active();
  for (size_t s = 0; s < p.steps.size(); ++s) {
    for (int32_t v : p.views) {  // views, once their operand's step has run
      auto vi = static_cast<size_t>(v);
      const Tensor& operand = vals[static_cast<size_t>(g[v].args[0])];
      if (!vals[vi].defined() && !released[vi] && operand.defined())
        vals[vi] = view_of(g[v], operand);
    }
    auto release = [&] {
      for (int32_t v : p.release[s]) {
        vals[static_cast<size_t>(v)] = Tensor();
        released[static_cast<size_t>(v)] = 1;
      }
    };
    const Group& step = p.steps[s];
    const auto t0 = timed ? prof::Clock::now() : prof::Clock::time_point{};
    if (step.kind == Group::Kind::Library) {
      int32_t r = step.roots[0];
      const std::vector<int32_t>& joint = p.joint[static_cast<size_t>(r)];
      if (joint.empty())
        vals[static_cast<size_t>(r)] = run_library(g, g[r], vals);
      else if (!vals[static_cast<size_t>(r)].defined())  // else computed with an earlier node
        run_joint(g, joint, vals);
      release();
      if (timed) prof::record_step(p.region, int(s), p.labels[s], true, t0, prof::Clock::now());
      continue;
    }
    for (int32_t r : step.roots) {
      auto in_place = p.stored_in_place.find(r);
      vals[static_cast<size_t>(r)] =
          in_place == p.stored_in_place.end()
              ? make_tensor(g[r].sizes, g[r].dtype)
              : memory_as(run.storages[static_cast<size_t>(in_place->second)], g[r]);
    }
    const CompiledStep& k = p.kernels[s];
    bufs.clear();
    for (int32_t b : k.buffers) bufs.push_back(vals[static_cast<size_t>(b)].impl()->data());
    bufs.push_back(reinterpret_cast<char*>(scalars.data()));
    KernelFn fn = k.fn;
    char* const* ptrs = bufs.data();
    parallel_for(0, k.range, k.grain, [fn, ptrs](int64_t b, int64_t e) { fn(ptrs, b, e); });
    release();
    if (timed) prof::record_step(p.region, int(s), p.labels[s], false, t0, prof::Clock::now());
  }
  if (g_fused_hook) [[unlikely]]
    g_fused_hook(g, vals);
  finish(g, vals, run, outs);
}

// Plan::release: each computed value's last reading step, a read of a view counting as a read
// of the memory it views (its operand, and so on down).
std::vector<std::vector<int32_t>> release_points(const Plan& p) {
  const Graph& g = p.graph;
  constexpr int64_t kKept = INT64_MAX;
  std::vector<int64_t> last(g.size(), -1);
  auto read = [&](int32_t v, int64_t s) {
    for (;;) {
      auto& l = last[static_cast<size_t>(v)];
      l = std::max(l, s);
      const IrNode& n = g[v];
      if (n.kind != Kind::Apply || !is_strided_view(n.op)) break;
      v = n.args[0];
    }
  };
  for (size_t s = 0; s < p.steps.size(); ++s) {
    const auto step = static_cast<int64_t>(s);
    if (p.steps[s].kind == Group::Kind::Library) {
      const int32_t r = p.steps[s].roots[0];
      read(r, step);
      for (int32_t a : g[r].args) read(a, step);
    } else {
      for (int32_t b : p.kernels[s].buffers) read(b, step);
    }
  }
  for (int32_t o : g.outputs) read(o, kKept);
  for (const Graph::Write& w : g.writes) read(w.node, kKept);
  std::vector<std::vector<int32_t>> release(p.steps.size());
  for (size_t i = 0; i < g.size(); ++i) {
    const IrNode& n = g[static_cast<int32_t>(i)];
    const int64_t l = last[i];
    if (n.kind == Kind::Apply && l >= 0 && l != kKept)
      release[static_cast<size_t>(l)].push_back(static_cast<int32_t>(i));
  }
  return release;
}

std::shared_ptr<const Plan> compile_plan(const std::string& region, const Graph& traced,
                                         const std::string& signature, Stats& st, Tier tier) {
  auto plan = std::make_shared<Plan>();
  plan->tier = tier;
  Lowered l = run_pipeline(traced, region);
  plan->graph = std::move(l.graph);
  plan->steps = std::move(l.steps);
  plan->region = region;
  for (const Group& step : plan->steps) plan->labels.push_back(step_label(plan->graph, step));
  for (size_t i = 0; i < plan->graph.size(); ++i)
    if (plan->graph[static_cast<int32_t>(i)].kind == Kind::Apply &&
        is_strided_view(plan->graph[static_cast<int32_t>(i)].op))
      plan->views.push_back(static_cast<int32_t>(i));
  plan->joint = joint_calls(plan->graph);
  const std::vector<bool>& mat = l.mat;
  if (dump_enabled("graph") && tier == first_tier()) {  // once, not again at the tier-up
    l.graph = plan->graph;
    l.steps = plan->steps;
    std::cerr << "ember: jit: region '" << region << "', traced graph:\n"
              << traced.to_string() << "after fold, cse, dce, split_reductions:\n"
              << plan->graph.to_string() << "steps:\n"
              << steps_to_string(l);
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(fnv1a(signature)));
  std::map<int32_t, int32_t> in_place;  // input node -> the root storing over it
  for (const InPlaceStore& st : l.in_place) {
    plan->stored_in_place[st.node] = st.storage;
    for (int32_t in : st.inputs) in_place[in] = st.node;
  }
  plan->kernels.resize(plan->steps.size());
  for (size_t s = 0; s < plan->steps.size(); ++s) {
    if (plan->steps[s].kind == Group::Kind::Library) continue;
    std::string symbol = "ember_" + std::string(hex) + "_" + std::to_string(s);
    std::map<int32_t, int32_t> step_in_place;
    for (int32_t r : plan->steps[s].roots)
      for (const auto& [in, root] : in_place)
        if (root == r) step_in_place[in] = root;
    CompiledStep k = compile_step(plan->graph, plan->steps[s], mat, symbol, tier, step_in_place);
    st.compile_ms += k.compile_ms;
    (k.disk_hit ? st.disk_cache_hits : st.kernels_compiled) += 1;
    plan->kernels[s] = std::move(k);
  }
  plan->release = release_points(*plan);
  return plan;
}

void add_compile_counts(Stats& total, const Stats& st) {
  total.compile_ms += st.compile_ms;
  total.kernels_compiled += st.kernels_compiled;
  total.disk_cache_hits += st.disk_cache_hits;
}

}  // namespace

void count_graph_break() {
  Cache& c = cache();
  std::lock_guard lk(c.mu);
  ++c.stats.graph_breaks;
}

namespace {

// ---- compiling: on the calling thread, or on the background compiler ----

struct Job {
  std::string region;
  Graph graph;  // as traced
  std::string sig;
  Tier tier;
  bool upgrade;     // a tier-up: the entry keeps its plan if this fails
  bool background;  // on the compiler thread: counted in Cache::compiling unless an upgrade
};

// Compiles a job's plan and installs it in its cache entry (if the entry is still there).
void run_job(const Job& j) {
  Cache& c = cache();
  Stats st;
  std::shared_ptr<const Plan> plan;
  const auto t0 = prof::Clock::now();
  try {
    plan = compile_plan(j.region, j.graph, j.sig, st, j.tier);
  } catch (const std::exception& ex) {
    if (j.upgrade)  // the Quick plan is correct: keep it
      warn("recompiling region '" + j.region + "' with the optimising back end failed, its " +
           "kernels stay as they are: " + ex.what());
    else
      warn("compiling region '" + j.region + "' failed, running it eagerly: " + ex.what());
  }
  if (prof::active())
    prof::record(j.region, j.upgrade ? prof::Event::TierUp : prof::Event::Compile, t0,
                 prof::Clock::now(), st.kernels_compiled, st.disk_cache_hits, st.compile_ms);
  std::vector<std::shared_ptr<const Plan>> dropped;  // destroyed after unlocking
  std::lock_guard lk(c.mu);
  if (j.background && !j.upgrade)
    if (auto n = c.compiling.find(j.region); n != c.compiling.end() && --n->second <= 0)
      c.compiling.erase(n);
  add_compile_counts(c.stats, st);
  if (!plan && !j.upgrade) ++c.stats.fallbacks;
  if (plan && j.upgrade) ++c.stats.tier_ups;
  auto it = c.entries.find(j.sig);
  if (it == c.entries.end()) {  // clear_cache() or eviction meanwhile
    dropped.push_back(std::move(plan));
    return;
  }
  Entry& e = it->second;
  (j.upgrade ? e.upgrading : e.compiling) = false;
  if (plan) {
    dropped.push_back(std::move(e.plan));  // a tier-up replaces the Quick plan: its code goes
    e.plan = std::move(plan);
    evict_plans(c, dropped);
  } else if (!j.upgrade) {
    e.failed = true;
  }
}

// While it lives, the steps' kernels leave the compiler a core (runtime/parallel.hpp).
struct Background {
  Background() { ember::detail::background_work(1); }
  ~Background() { ember::detail::background_work(-1); }
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;
};

// One worker thread compiling hot signatures while their regions go on running eagerly.
class Compiler;
// The one Compiler, made on first use and never destroyed: the exit handler the worker
// registers stops it. (A destructor would also run in a forked child, where destroying the
// condition variable the parent's worker waits on blocks for ever.) The exit and fork handlers
// reach it here; everything else through compiler(), which also guards the calling thread's exit.
Compiler& the_compiler();
Compiler& compiler();

class Compiler {
 public:
  Compiler() {
    // A process forked from this one has no worker thread (and its lock may be held): exiting
    // there must neither wait for the worker nor join it, and its regions run eagerly.
    ::pthread_atfork(nullptr, nullptr, [] {
      the_compiler().forked_ = true;
      settings().enabled = false;
    });
    thread_ = std::thread([this] { work(); });
  }
  /// Ends the worker: the compile under way finishes, queued ones are dropped.
  void stop() {
    if (forked_) {
      if (thread_.joinable()) thread_.detach();  // the parent's thread, not running here
      return;
    }
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  }
  void push(Job j) {
    {
      std::lock_guard lk(mu_);
      queue_.push_back(std::move(j));
    }
    wake_.notify_one();
  }
  void wait() {
    if (forked_) return;  // no compiles run here (see the constructor)
    std::unique_lock lk(mu_);
    idle_.wait(lk, [this] { return queue_.empty() && !busy_; });
  }
  /// Waits until the worker has made LLVM's engine and registered its exit handler.
  void wait_started() {
    if (forked_) return;
    std::unique_lock lk(mu_);
    started_cv_.wait(lk, [this] { return started_; });
  }
  void hold(bool held) {
    {
      std::lock_guard lk(mu_);
      held_ = held;
    }
    wake_.notify_all();
  }

 private:
  void work() {
    // While it compiles, the kernels run on one thread fewer (background_work), so that it has
    // a core and no step waits on a kernel thread the scheduler gave to the compiler. Below the
    // threads that run the steps as well (nice 10), for when other processes take that core.
    // Linux sets the nice value per thread.
    ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()),
                  static_cast<int>(env::integer("EMBER_JIT_COMPILE_NICE", 10, 0, 19)));
    // LLVM's set-up (~20 ms: target machines, a warm-up codegen) here, not in the step that
    // found the first hot signature. Then an exit handler: at exit the worker must be stopped
    // before LLVM's statics are destroyed, and those made while the engine was (codegen's
    // tables, see Engine's warm-up) are destroyed before anything registered earlier — a
    // compile still running then crashed the exiting process in SelectionDAG. A failure to make
    // the engine is reported by each compile (Engine::instance() tries again), which falls back.
    try {
      Background b;
      Engine::instance();
    } catch (const std::exception&) {
    }
    std::atexit([] { the_compiler().stop(); });
    {
      std::lock_guard lk(mu_);
      started_ = true;
    }
    started_cv_.notify_all();
    std::unique_lock lk(mu_);
    for (;;) {
      wake_.wait(lk, [this] { return stop_ || (!queue_.empty() && !held_); });
      if (stop_) return;  // the process is ending: queued compiles are dropped
      Job j = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
      lk.unlock();
      {
        Background b;
        run_job(j);
      }
      lk.lock();
      busy_ = false;
      if (queue_.empty()) idle_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable wake_, idle_, started_cv_;
  std::deque<Job> queue_;
  bool busy_ = false, stop_ = false, held_ = false, started_ = false;
  bool forked_ = false;  // set in a forked child, which is single-threaded then
  std::thread thread_;
};
Compiler& the_compiler() {
  static Compiler& c = *new Compiler;
  return c;
}
Compiler& compiler() {
  Compiler& c = the_compiler();
  // exit() runs the exiting thread's thread_local destructors before any exit handler or static
  // destructor: this one (on each thread that uses the compiler) waits for the worker's exit
  // handler, so that a process ending while LLVM is being set up still stops the worker first.
  struct ExitGuard {
    Compiler* c;
    ~ExitGuard() { c->wait_started(); }
  };
  thread_local ExitGuard guard{&c};
  (void)guard;
  return c;
}

// ---- shadow mode ----

// The elements of a contiguous tensor as doubles.
std::vector<double> as_doubles(const Tensor& t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  visit_dtype(t.dtype(), [&](auto x) {
    using T = decltype(x);
    const T* p = reinterpret_cast<const T*>(t.impl()->data());
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(p[i]);
  });
  return v;
}

// The worst element of fused against eager beyond the tolerance, as text; "" when they agree.
// The tolerance grows with the dtype's rounding and the graph's length: a fused kernel may
// round each op differently (FMA contraction, vector math functions).
std::string mismatch(const Tensor& fused, const Tensor& eager, size_t ops) {
  std::vector<double> f = as_doubles(fused), e = as_doubles(eager);
  const double eps = eager.dtype() == kFloat64 ? 0x1p-52 : eager.dtype() == kFloat32 ? 0x1p-23 : 0;
  double scale = 0;
  for (double x : e)
    if (std::isfinite(x)) scale = std::max(scale, std::abs(x));
  const double tol = 16 * eps * static_cast<double>(ops + 1);
  size_t worst = 0;
  double worst_excess = 0;
  for (size_t i = 0; i < e.size(); ++i) {
    bool same_nan = std::isnan(e[i]) && std::isnan(f[i]);
    double diff = std::isinf(e[i]) ? (f[i] == e[i] ? 0 : INFINITY) : std::abs(f[i] - e[i]);
    double excess = same_nan ? 0 : diff - tol * (std::abs(e[i]) + scale);
    if (std::isnan(excess) || excess > worst_excess) {
      worst = i;
      worst_excess = std::isnan(excess) ? INFINITY : excess;
    }
  }
  if (worst_excess <= 0) return "";
  std::ostringstream os;
  os.precision(9);
  os << "element " << worst << ": fused " << f[worst] << ", eager " << e[worst];
  return os.str();
}

// A fused run checked against an eager run of the same graph on the same inputs: the memory the
// graph writes is saved first and put back between the two, and the eager values are kept.
void run_shadowed(const std::string& region, const std::string& sig, const Plan& p, const Graph& g,
                  const Run& run, const std::vector<std::shared_ptr<Storage>>& outs);

}  // namespace

void execute(const std::string& region, int segment, const Graph& g, const Run& run,
             const std::vector<std::shared_ptr<Storage>>& outs) {
  Cache& c = cache();
  std::string sig = g.signature();
  std::shared_ptr<const Plan> plan;
  bool compile = false, upgrade = false;
  const bool background = settings().async.load();
  {
    std::lock_guard lk(c.mu);
    ++c.stats.graphs;
    if (c.entries.size() >= kMaxEntries && !c.entries.count(sig)) {
      // Signatures that keep changing (a shape that differs every step) must not grow the
      // cache without bound: forget the counts of those never compiled.
      std::erase_if(c.entries, [](const auto& kv) { return !kv.second.plan; });
    }
    Entry& e = c.entries[sig];
    if (e.region.empty()) e.region = region;
    ++e.seen;
    e.last_run = ++c.runs;
    plan = e.plan;
    if (plan && plan->tier == Tier::Quick && !e.upgrading &&
        ++e.runs >= settings().tier_up.load()) {
      e.upgrading = true;  // one thread recompiles; others go on with the Quick plan
      upgrade = true;
    }
    if (!plan && !e.failed && !e.compiling && e.seen >= settings().hot.load()) {
      if (e.spec_key.empty()) e.spec_key = region + '#' + std::to_string(segment);
      int& n = c.specializations[e.spec_key];
      if (n < settings().max_specs.load()) {
        ++n;
        compile = e.compiling = true;
        if (background) ++c.compiling[region];
      } else if (!c.warned[region]) {
        c.warned[region] = true;
        warn("region '" + region + "' has more than " +
             std::to_string(settings().max_specs.load()) +
             " specialisations (shapes, dtypes or strides keep changing); its new ones run "
             "eagerly");
      }
    }
  }
  // A background compile is queued after this run (which goes on with what it has): started
  // before, its thread took a core from this run's kernels. Queued even if the run throws, as
  // the region counts it as compiling.
  struct QueueAfter {
    std::optional<Job> job;
    ~QueueAfter() {
      if (job) compiler().push(std::move(*job));
    }
  } queue_after;
  if (compile || upgrade) {
    Job j{region, g, sig, compile ? first_tier() : Tier::Full, upgrade, background};
    if (background) {
      queue_after.job = std::move(j);
    } else {
      run_job(j);
      std::lock_guard lk(c.mu);
      auto it = c.entries.find(sig);
      plan = it != c.entries.end() ? it->second.plan : nullptr;
    }
  }
  const bool profile = prof::active();
  if (plan && settings().shadow.load()) {
    run_shadowed(region, sig, *plan, g, run, outs);
  } else {
    const auto t0 = profile ? prof::Clock::now() : prof::Clock::time_point{};
    if (plan)
      run_plan(*plan, run, outs);
    else
      run_eager(g, run, outs);
    if (profile)
      prof::record(region, plan ? prof::Event::Fused : prof::Event::Eager, t0, prof::Clock::now());
  }
  std::lock_guard lk(c.mu);
  ++(plan ? c.stats.fused_graphs : c.stats.eager_graphs);
}

namespace {

void run_shadowed(const std::string& region, const std::string& sig, const Plan& p, const Graph& g,
                  const Run& run, const std::vector<std::shared_ptr<Storage>>& outs) {
  auto bytes_of = [](const Storage& s) {
    const char* d = static_cast<const char*>(s.data);
    return std::vector<char>(d, d + s.nbytes);
  };
  std::vector<std::vector<char>> before, fused_written;
  for (const Graph::Write& w : g.writes)
    before.push_back(bytes_of(*run.storages[static_cast<size_t>(w.storage)]));
  // The fused run, into storages of its own.
  std::vector<std::shared_ptr<Storage>> fused_outs;
  for (const auto& o : outs) {
    auto s = std::make_shared<Storage>();
    s->nbytes = o->nbytes;
    fused_outs.push_back(std::move(s));
  }
  const auto t0 = prof::Clock::now();
  run_plan(p, run, fused_outs);
  const auto t1 = prof::Clock::now();
  for (size_t i = 0; i < g.writes.size(); ++i) {
    Storage& s = *run.storages[static_cast<size_t>(g.writes[i].storage)];
    fused_written.push_back(bytes_of(s));
    std::memcpy(s.data, before[i].data(), s.nbytes);
  }
  run_eager(g, run, outs);
  const auto t2 = prof::Clock::now();
  if (prof::active()) {  // both times of the same run, side by side
    prof::record(region, prof::Event::Fused, t0, t1);
    prof::record(region, prof::Event::Eager, t1, t2);
  }

  size_t ops = 0;
  for (const IrNode& n : g.nodes()) ops += n.kind == Kind::Apply;
  std::string what, detail;
  for (size_t i = 0; i < outs.size() && what.empty(); ++i) {
    const IrNode& n = g[g.outputs[i]];
    detail = mismatch(memory_as(fused_outs[i], n), memory_as(outs[i], n), ops);
    if (!detail.empty()) what = "output %" + std::to_string(g.outputs[i]);
  }
  for (size_t i = 0; i < g.writes.size() && what.empty(); ++i) {
    const IrNode& n = g[g.writes[i].node];
    auto fs = std::make_shared<Storage>();
    fs->nbytes = fused_written[i].size();
    fs->data = memory::allocate(fs->nbytes);
    std::memcpy(fs->data, fused_written[i].data(), fs->nbytes);
    detail =
        mismatch(memory_as(fs, n), memory_as(run.storages[size_t(g.writes[i].storage)], n), ops);
    if (!detail.empty())
      what = "the write of %" + std::to_string(g.writes[i].node) + " into storage " +
             std::to_string(g.writes[i].storage);
  }
  if (what.empty()) return;
  Cache& c = cache();
  bool first;
  {
    std::lock_guard lk(c.mu);
    ++c.stats.shadow_mismatches;
    // By signature: the entry may have been evicted or cleared meanwhile (then warn again).
    auto it = c.entries.find(sig);
    first = it == c.entries.end() || !it->second.shadow_warned;
    if (it != c.entries.end()) it->second.shadow_warned = true;
  }
  if (!first) return;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(fnv1a(sig)));
  std::string path =
      (std::filesystem::temp_directory_path() / ("ember-jit-shadow-" + std::string(hex) + ".txt"))
          .string();
  std::string text = "region '" + region + "': fused and eager differ in " + what + ", " + detail +
                     " (the eager values are kept)\ngraph:\n" + g.to_string();
  std::ofstream(path) << text;
  warn("shadow mode: " + text.substr(0, text.find('\n')) + "\n" + g.to_string() +
       "(also written to " + path + ")");
}

}  // namespace

bool untraced_run(const std::string& region) {
  Cache& c = cache();
  std::lock_guard lk(c.mu);
  if (!c.compiling.count(region)) return false;
  ++c.stats.untraced_runs;
  return true;
}

void wait_for_compiles() { compiler().wait(); }
void set_fused_run_hook(FusedRunHook h) { g_fused_hook = h; }
void forget_tier_up_choice() { settings().tier_up_chosen = false; }
void hold_background_compiles(bool held) { compiler().hold(held); }

// ---- the public settings and counters ----

bool enabled() { return settings().enabled.load(); }
void set_enabled(bool on) { settings().enabled = on; }
int hot_threshold() { return settings().hot.load(); }
void set_hot_threshold(int n) { settings().hot = std::max(1, n); }
int max_specializations() { return settings().max_specs.load(); }
void set_max_specializations(int n) { settings().max_specs = std::max(0, n); }
int max_cached_plans() { return settings().max_plans.load(); }
void set_max_cached_plans(int n) {
  settings().max_plans = std::max(1, n);
  Cache& c = cache();
  std::vector<std::shared_ptr<const Plan>> dropped;  // destroyed after unlocking
  std::lock_guard lk(c.mu);
  evict_plans(c, dropped);
}
int tier_up_runs() { return settings().tier_up.load(); }
void set_tier_up_runs(int n) {
  settings().tier_up = std::max(0, n);
  settings().tier_up_chosen = true;
}
bool shadow() { return settings().shadow.load(); }
void set_shadow(bool on) { settings().shadow = on; }
bool async_compile() { return settings().async.load(); }
void set_async_compile(bool on) { settings().async = on; }

Stats stats() {
  Cache& c = cache();
  std::lock_guard lk(c.mu);
  return c.stats;
}
void reset_stats() {
  Cache& c = cache();
  std::lock_guard lk(c.mu);
  c.stats = Stats{};
}
void clear_cache() {
  Cache& c = cache();
  std::unordered_map<std::string, Entry> old;  // its plans' code is freed after unlocking
  std::lock_guard lk(c.mu);
  old.swap(c.entries);
  c.specializations.clear();
  c.warned.clear();
}

}  // namespace ember::jit
