#include "jit/profiler.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>
#include <thread>
#include <tuple>

#include "jit/profiler_record.hpp"
#include "runtime/error.hpp"
#include "runtime/file_io.hpp"

namespace ember::jit {

namespace {
using profiling::Clock;
using profiling::Event;

struct Record {
  std::string region;
  Event what;
  int step = -1;  // Event::Step: the step's number, what it computes, whether a library call
  std::string label;
  bool library = false;
  Clock::time_point start, end;
  int tid;
  int64_t kernels, disk_hits;
  double compile_ms;
};

// A small number per thread, in order of first event: the trace's rows.
int thread_number() {
  static std::atomic<int> next{0};
  thread_local int n = next++;
  return n;
}

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

const char* event_name(Event e) {
  switch (e) {
    case Event::Eager:
      return "eager";
    case Event::Fused:
      return "fused";
    case Event::Compile:
      return "compile";
    case Event::TierUp:
      return "tier-up";
    case Event::Step:
      return "step";
  }
  return "?";
}
}  // namespace

struct Profiler::Impl {
  Clock::time_point origin = Clock::now();
  mutable std::mutex mu;
  std::vector<Record> records;
};

namespace {
// The recording profilers. `g_active` mirrors its size for the executor's cheap check.
std::mutex g_mu;
std::vector<std::shared_ptr<Profiler::Impl>> g_profilers;
std::atomic<int> g_active{0};

void unregister(const std::shared_ptr<Profiler::Impl>& p) {
  std::lock_guard lk(g_mu);
  auto it = std::find(g_profilers.begin(), g_profilers.end(), p);
  if (it == g_profilers.end()) return;
  g_profilers.erase(it);
  g_active = static_cast<int>(g_profilers.size());
}
}  // namespace

namespace profiling {
bool active() { return g_active.load(std::memory_order_relaxed) > 0; }

void record(const std::string& region, Event what, Clock::time_point start, Clock::time_point end,
            int64_t kernels, int64_t disk_hits, double compile_ms) {
  Record r{region,          what,    -1,        {},        false, start, end,
           thread_number(), kernels, disk_hits, compile_ms};
  std::lock_guard lk(g_mu);
  for (const auto& p : g_profilers) {
    std::lock_guard plk(p->mu);
    p->records.push_back(r);
  }
}

void record_step(const std::string& region, int step, const std::string& what, bool library,
                 Clock::time_point start, Clock::time_point end) {
  Record r{region, Event::Step, step, what, library, start, end, thread_number(), 0, 0, 0};
  std::lock_guard lk(g_mu);
  for (const auto& p : g_profilers) {
    std::lock_guard plk(p->mu);
    p->records.push_back(r);
  }
}
}  // namespace profiling

Profiler::Profiler() : impl_(std::make_shared<Impl>()) {
  std::lock_guard lk(g_mu);
  g_profilers.push_back(impl_);
  g_active = static_cast<int>(g_profilers.size());
}

Profiler::~Profiler() { stop(); }

void Profiler::stop() { unregister(impl_); }

std::vector<Profiler::RegionStats> Profiler::regions() const {
  std::vector<RegionStats> out;
  std::map<std::string, size_t> index;
  std::lock_guard lk(impl_->mu);
  for (const Record& r : impl_->records) {
    auto [it, fresh] = index.emplace(r.region, out.size());
    if (fresh) out.push_back(RegionStats{.name = r.region});
    RegionStats& s = out[it->second];
    double t = ms(r.end - r.start);
    switch (r.what) {
      case Event::Eager:
        ++s.eager_runs, s.eager_ms += t;
        break;
      case Event::Fused:
        ++s.fused_runs, s.fused_ms += t;
        break;
      case Event::Step:
        break;
      case Event::Compile:
      case Event::TierUp:
        ++s.compiles;
        s.kernels_compiled += r.kernels;
        s.disk_cache_hits += r.disk_hits;
        s.compile_ms += r.compile_ms;
        break;
    }
  }
  return out;
}

std::vector<Profiler::StepStats> Profiler::steps() const {
  std::vector<StepStats> out;
  std::map<std::tuple<std::string, int, std::string>, size_t> index;
  std::lock_guard lk(impl_->mu);
  for (const Record& r : impl_->records) {
    if (r.what != Event::Step) continue;
    auto [it, fresh] = index.emplace(std::tuple(r.region, r.step, r.label), out.size());
    if (fresh)
      out.push_back(
          StepStats{.region = r.region, .step = r.step, .what = r.label, .library = r.library});
    StepStats& s = out[it->second];
    ++s.runs;
    s.ms += ms(r.end - r.start);
  }
  return out;
}

void Profiler::report_steps(std::ostream& os, size_t top) const {
  std::vector<RegionStats> rs = regions();
  std::vector<StepStats> all = steps();
  std::ostringstream t;
  t << std::fixed;
  for (const RegionStats& r : rs) {
    if (!r.fused_runs) continue;
    std::vector<StepStats> st;
    for (const StepStats& s : all)
      if (s.region == r.name) st.push_back(s);
    double lib = 0, gen = 0;
    for (const StepStats& s : st) (s.library ? lib : gen) += s.ms;
    const double runs = double(r.fused_runs), total = r.fused_ms / runs;
    t << "region '" << r.name << "': " << r.fused_runs << " fused runs, " << std::setprecision(3)
      << total << " ms per run: library calls " << lib / runs << " ms, fused kernels " << gen / runs
      << " ms, the rest (moving values, allocation) " << std::max(0.0, total - (lib + gen) / runs)
      << " ms\n";
    std::stable_sort(st.begin(), st.end(),
                     [](const StepStats& a, const StepStats& b) { return a.ms > b.ms; });
    t << "  step   ms/run  share  what\n";
    for (size_t i = 0; i < std::min(top, st.size()); ++i) {
      const double per = st[i].ms / runs;
      t << std::setw(6) << st[i].step << std::setprecision(3) << std::setw(9) << per
        << std::setprecision(0) << std::setw(6) << (total > 0 ? 100 * per / total : 0) << "%  "
        << st[i].what << '\n';
    }
  }
  if (all.empty()) t << "(no fused run while the profiler recorded)\n";
  os << t.str();
}

void Profiler::report(std::ostream& os) const {
  std::vector<RegionStats> rs = regions();
  size_t w = 6;
  for (const auto& r : rs) w = std::max(w, r.name.size());
  auto per_run = [](double total, int64_t n) { return n ? total / double(n) : 0.0; };
  std::ostringstream t;
  t << std::left << std::setw(int(w)) << "region" << std::right << std::setw(7) << "eager"
    << std::setw(7) << "fused" << std::setw(14) << "eager ms/run" << std::setw(14) << "fused ms/run"
    << std::setw(9) << "speedup" << std::setw(10) << "compiles" << std::setw(9) << "kernels"
    << std::setw(11) << "disk hits" << std::setw(12) << "compile ms" << '\n';
  for (const auto& r : rs) {
    double e = per_run(r.eager_ms, r.eager_runs), f = per_run(r.fused_ms, r.fused_runs);
    std::string speedup = "-";
    if (r.eager_runs && r.fused_runs && f > 0) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.2fx", e / f);
      speedup = buf;
    }
    t << std::left << std::setw(int(w)) << r.name << std::right << std::setw(7) << r.eager_runs
      << std::setw(7) << r.fused_runs << std::fixed << std::setprecision(3) << std::setw(14) << e
      << std::setw(14) << f << std::setw(9) << speedup << std::setw(10) << r.compiles
      << std::setw(9) << r.kernels_compiled << std::setw(11) << r.disk_cache_hits
      << std::setprecision(1) << std::setw(12) << r.compile_ms << '\n';
  }
  if (rs.empty()) t << "(no region ran a graph while the profiler recorded)\n";
  os << t.str();
}

void Profiler::write_chrome_trace(const std::string& path) const {
  nlohmann::json events = nlohmann::json::array();
  {
    std::lock_guard lk(impl_->mu);
    auto us = [&](Clock::time_point p) {
      return std::chrono::duration<double, std::micro>(p - impl_->origin).count();
    };
    for (const Record& r : impl_->records) {
      const std::string name = r.what == Event::Step ? r.label : r.region;
      nlohmann::json e = {{"name", name},      {"cat", event_name(r.what)},      {"ph", "X"},
                          {"ts", us(r.start)}, {"dur", us(r.end) - us(r.start)}, {"pid", 1},
                          {"tid", r.tid}};
      e["args"] = {{"run", event_name(r.what)}};
      if (r.what == Event::Step) e["args"].update({{"region", r.region}, {"step", r.step}});
      if (r.what == Event::Compile || r.what == Event::TierUp)
        e["args"].update({{"kernels_compiled", r.kernels},
                          {"disk_cache_hits", r.disk_hits},
                          {"compile_ms", r.compile_ms}});
      events.push_back(std::move(e));
    }
  }
  nlohmann::json doc = {{"traceEvents", std::move(events)}, {"displayTimeUnit", "ms"}};
  write_file_atomic(path, doc.dump() + "\n", "jit::Profiler::write_chrome_trace");
}

}  // namespace ember::jit
