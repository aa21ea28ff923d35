#include "jit/executor.hpp"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <unordered_map>

#include "jit/codegen/codegen.hpp"
#include "jit/jit.hpp"
#include "jit/passes/passes.hpp"
#include "jit/profiler_record.hpp"
#include "runtime/allocator.hpp"
#include "runtime/dispatch.hpp"
#include "runtime/error.hpp"
#include "runtime/ops.hpp"
#include "runtime/parallel.hpp"

namespace ember::jit {
namespace {

// ---- settings ----

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}
std::atomic<bool> g_enabled{env_int("EMBER_JIT", 1) != 0};
std::atomic<int> g_hot{std::max(1, env_int("EMBER_JIT_HOT", 2))};
std::atomic<int> g_max_specs{8};
std::atomic<int> g_tier_up{std::max(0, env_int("EMBER_JIT_TIERUP", 16))};

// The tier a hot signature is compiled with first.
Tier first_tier() { return g_tier_up.load() > 0 ? Tier::Quick : Tier::Full; }

// ---- the signature cache ----

// A graph compiled: the optimised graph and one step per fused kernel or library call.
struct Plan {
  Graph graph;
  std::vector<Group> steps;
  std::vector<CompiledStep> kernels;           // per step; fn is null for library steps
  std::vector<int32_t> views;                  // the View nodes
  std::map<int32_t, int32_t> stored_in_place;  // root -> the storage id its kernel writes
  Tier tier = Tier::Full;
};

struct Entry {
  int seen = 0;
  int runs = 0;  // of the Quick plan
  bool upgrading = false;
  std::shared_ptr<const Plan> plan;
  bool failed = false;  // compiling failed once: stays eager
};

constexpr size_t kMaxEntries = 4096;

struct Cache {
  std::mutex mu;
  std::unordered_map<std::string, Entry> entries;
  std::unordered_map<std::string, int> specializations;  // per region name
  std::unordered_map<std::string, bool> warned;          // per region name
  Stats stats;
};
Cache& cache() {
  static Cache c;
  return c;
}

void warn(const std::string& msg) { std::cerr << "ember: warning: jit: " << msg << '\n'; }

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// ---- running values into the lazy tensors' storages and the written memory ----

// A contiguous copy of v by the Clone kernel (no autograd: the executor computes values only).
Tensor copy_of(const Tensor& v) {
  return op_info(Op::Clone).kernel(std::span<const Tensor>(&v, 1), {})[0];
}

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
    const Node& n = g[id];
    if (n.kind == Kind::Input || (n.kind == Kind::Apply && is_view(n.op)))
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

Tensor constant(const Node& n) {
  switch (n.dtype) {
    case kBool:
      return wrapped_scalar(Scalar(n.value != 0));
    case kInt64:
      return wrapped_scalar(Scalar(static_cast<int64_t>(n.value)));
    default:
      return wrapped_scalar(Scalar(n.value));
  }
}

// A View node's tensor: its operand's value (contiguous, as the trace saw it) viewed.
Tensor view_of(const Node& n, const Tensor& operand) {
  return make_view(operand.contiguous(), n.sizes, n.strides, static_cast<int64_t>(n.value));
}

// The written memory `st` as a contiguous tensor of node n's sizes and dtype.
Tensor memory_as(const std::shared_ptr<Storage>& st, const Node& n) {
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
    const Node& n = g[static_cast<int32_t>(i)];
    if (n.kind == Kind::Input) vals[i] = run.inputs[static_cast<size_t>(n.input)];
    if (n.kind == Kind::Scalar) vals[i] = wrapped_scalar(run.scalars[static_cast<size_t>(n.input)]);
  }
  return vals;
}

// A Copy_ node (a write through a view, as a pure op): a copy of base's memory with the
// elements its layout selects replaced by value, converted and broadcast.
Tensor write_through_view(const Node& n, const Tensor& base, const Tensor& value) {
  Tensor out = copy_of(base);
  Tensor view =
      make_view(out, std::get<ShapeAttrs>(n.attrs).sizes, n.strides, static_cast<int64_t>(n.value));
  const Tensor args[] = {view, value};
  op_info(Op::Copy_).kernel(std::span<const Tensor>(args), {});
  return out;
}

Tensor run_library(const Graph& g, const Node& n, std::vector<Tensor>& vals) {
  std::vector<Tensor> args;
  for (int32_t a : n.args) args.push_back(g[a].kind == Kind::Const ? constant(g[a]) : vals[a]);
  if (n.op == Op::Copy_) return write_through_view(n, args[0], args[1]);
  Tensor r = op_info(n.op).kernel(args, n.attrs)[0];
  // A pointwise node may be larger than its operands (a write's value broadcast to its memory).
  return r.sizes() == n.sizes ? r : r.expand(n.sizes);
}

// The graph op by op with the eager kernels.
void run_eager(const Graph& g, const Run& run, const std::vector<std::shared_ptr<Storage>>& outs) {
  std::vector<Tensor> vals = bound_values(g, run);
  for (size_t i = 0; i < g.size(); ++i) {
    const Node& n = g[static_cast<int32_t>(i)];
    if (n.kind == Kind::Const) vals[i] = constant(n);
    if (n.kind != Kind::Apply) continue;
    vals[i] =
        is_view(n.op) ? view_of(n, vals[static_cast<size_t>(n.args[0])]) : run_library(g, n, vals);
  }
  finish(g, vals, run, outs);
}

void run_plan(const Plan& p, const Run& run, const std::vector<std::shared_ptr<Storage>>& outs) {
  const Graph& g = p.graph;
  std::vector<Tensor> vals = bound_values(g, run);
  // The kernels read the runtime scalars as doubles, from the pointer after their buffers.
  std::vector<double> scalars(run.scalars.size());
  for (size_t i = 0; i < scalars.size(); ++i) scalars[i] = run.scalars[i].to_double();
  std::vector<char*> bufs;
  for (size_t s = 0; s < p.steps.size(); ++s) {
    for (int32_t v : p.views) {  // views, once their operand's step has run
      auto vi = static_cast<size_t>(v);
      const Tensor& operand = vals[static_cast<size_t>(g[v].args[0])];
      if (!vals[vi].defined() && operand.defined()) vals[vi] = view_of(g[v], operand);
    }
    const Group& step = p.steps[s];
    if (step.kind == Group::Kind::Library) {
      int32_t r = step.roots[0];
      vals[static_cast<size_t>(r)] = run_library(g, g[r], vals);
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
  }
  finish(g, vals, run, outs);
}

std::shared_ptr<const Plan> compile_plan(const std::string& region, const Graph& traced,
                                         const std::string& signature, Stats& st, Tier tier) {
  auto plan = std::make_shared<Plan>();
  plan->tier = tier;
  plan->graph = optimize(traced);
  plan->graph.verify();
  plan->steps = fuse(plan->graph);
  for (size_t i = 0; i < plan->graph.size(); ++i)
    if (plan->graph[static_cast<int32_t>(i)].kind == Kind::Apply &&
        is_view(plan->graph[static_cast<int32_t>(i)].op))
      plan->views.push_back(static_cast<int32_t>(i));
  std::vector<bool> mat = materialized(plan->graph);
  if (dump_enabled("graph") && tier == first_tier()) {  // once, not again at the tier-up
    std::ostringstream os;
    os << "ember: jit: region '" << region << "', traced graph:\n"
       << traced.to_string() << "after fold, cse, dce:\n"
       << plan->graph.to_string() << "steps:\n";
    for (size_t s = 0; s < plan->steps.size(); ++s) {
      const Group& gp = plan->steps[s];
      static const char* kinds[] = {"fused pointwise", "fused reduction", "fused row op",
                                    "library call", "fused rows (reductions, then pointwise)"};
      os << "  " << s << ": " << kinds[static_cast<int>(gp.kind)] << " computing";
      for (int32_t r : gp.roots) os << " %" << r;
      os << " over " << gp.space << '\n';
    }
    std::cerr << os.str();
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(fnv1a(signature)));
  std::map<int32_t, int32_t> in_place;  // input node -> the root storing over it
  for (const InPlaceStore& st : stores_in_place(plan->graph, plan->steps)) {
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
  return plan;
}

void add_compile_counts(Stats& total, const Stats& st) {
  total.compile_ms += st.compile_ms;
  total.kernels_compiled += st.kernels_compiled;
  total.disk_cache_hits += st.disk_cache_hits;
}

}  // namespace

bool dump_enabled(const char* what) {
  static const std::string dump = [] {
    const char* v = std::getenv("EMBER_JIT_DUMP");
    return std::string(",") + (v ? v : "") + ",";
  }();
  return dump.find(std::string(",") + what + ",") != std::string::npos;
}

void count_graph_break() {
  Cache& c = cache();
  std::lock_guard lk(c.mu);
  ++c.stats.graph_breaks;
}

void execute(const std::string& region, const Graph& g, const Run& run,
             const std::vector<std::shared_ptr<Storage>>& outs) {
  Cache& c = cache();
  std::string sig = g.signature();
  std::shared_ptr<const Plan> plan;
  bool compile = false, upgrade = false;
  {
    std::lock_guard lk(c.mu);
    ++c.stats.graphs;
    if (c.entries.size() >= kMaxEntries && !c.entries.count(sig)) {
      // Signatures that keep changing (a scalar that differs every step) must not grow the
      // cache without bound: forget the counts of those never compiled.
      std::erase_if(c.entries, [](const auto& kv) { return !kv.second.plan; });
    }
    Entry& e = c.entries[sig];
    ++e.seen;
    plan = e.plan;
    if (plan && plan->tier == Tier::Quick && !e.upgrading && ++e.runs >= g_tier_up.load()) {
      e.upgrading = true;  // one thread recompiles; others go on with the Quick plan
      upgrade = true;
    }
    if (!plan && !e.failed && e.seen >= g_hot.load()) {
      int& n = c.specializations[region];
      if (n < g_max_specs.load()) {
        ++n;
        compile = true;
      } else if (!c.warned[region]) {
        c.warned[region] = true;
        warn("region '" + region + "' has more than " + std::to_string(g_max_specs.load()) +
             " specialisations (shapes, dtypes or constants keep changing); its new ones run "
             "eagerly");
      }
    }
  }
  namespace prof = profiling;
  const bool profile = prof::active();
  auto record_compile = [&](prof::Event what, prof::Clock::time_point t0, const Stats& st) {
    if (profile)
      prof::record(region, what, t0, prof::Clock::now(), st.kernels_compiled, st.disk_cache_hits,
                   st.compile_ms);
  };
  if (compile) {
    Stats st;
    const auto t0 = prof::Clock::now();
    try {
      plan = compile_plan(region, g, sig, st, first_tier());
    } catch (const std::exception& ex) {
      warn("compiling region '" + region + "' failed, running it eagerly: " + ex.what());
      std::lock_guard lk(c.mu);
      c.entries[sig].failed = true;
      ++c.stats.fallbacks;
    }
    record_compile(prof::Event::Compile, t0, st);
    std::lock_guard lk(c.mu);
    add_compile_counts(c.stats, st);
    if (plan) c.entries[sig].plan = plan;
  }
  if (upgrade) {
    Stats st;
    std::shared_ptr<const Plan> full;
    const auto t0 = prof::Clock::now();
    try {
      full = compile_plan(region, g, sig, st, Tier::Full);
    } catch (const std::exception& ex) {  // the Quick plan is correct: keep it
      warn("recompiling region '" + region +
           "' with the optimising back end failed, its "
           "kernels stay as they are: " +
           ex.what());
    }
    record_compile(prof::Event::TierUp, t0, st);
    std::lock_guard lk(c.mu);
    add_compile_counts(c.stats, st);
    if (full) {
      ++c.stats.tier_ups;
      auto it = c.entries.find(sig);
      if (it != c.entries.end()) it->second.plan = full;
      plan = full;
    }
  }
  const auto t0 = profile ? prof::Clock::now() : prof::Clock::time_point{};
  if (plan)
    run_plan(*plan, run, outs);
  else
    run_eager(g, run, outs);
  if (profile)
    prof::record(region, plan ? prof::Event::Fused : prof::Event::Eager, t0, prof::Clock::now());
  std::lock_guard lk(c.mu);
  ++(plan ? c.stats.fused_graphs : c.stats.eager_graphs);
}

// ---- the public settings and counters ----

bool enabled() { return g_enabled.load(); }
void set_enabled(bool on) { g_enabled = on; }
int hot_threshold() { return g_hot.load(); }
void set_hot_threshold(int n) { g_hot = std::max(1, n); }
void set_max_specializations(int n) { g_max_specs = std::max(0, n); }
int tier_up_runs() { return g_tier_up.load(); }
void set_tier_up_runs(int n) { g_tier_up = std::max(0, n); }

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
  std::lock_guard lk(c.mu);
  c.entries.clear();
  c.specializations.clear();
  c.warned.clear();
}

}  // namespace ember::jit
