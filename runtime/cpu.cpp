#include "runtime/cpu.hpp"

#include <algorithm>
#include <atomic>
#include <string>

#include "runtime/env.hpp"

namespace ember::cpu {

namespace {

Isa detect() {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("x86-64-v4")) return Isa::V4;
  if (__builtin_cpu_supports("x86-64-v3")) return Isa::V3;
#endif
  return Isa::Baseline;
}

Isa from_env(Isa host) {
  std::string v = env::choice("EMBER_ISA", {"baseline", "v3", "v4"}, isa_name(host));
  Isa want = v == "v4" ? Isa::V4 : v == "v3" ? Isa::V3 : Isa::Baseline;
  return std::min(want, host);
}

std::atomic<Isa>& current() {
  static std::atomic<Isa> level{from_env(host_isa())};
  return level;
}

}  // namespace

Isa host_isa() {
  static const Isa host = detect();
  return host;
}

Isa isa() { return current().load(std::memory_order_relaxed); }

Isa set_isa(Isa level) {
  Isa l = std::min(level, host_isa());
  current().store(l, std::memory_order_relaxed);
  return l;
}

const char* isa_name(Isa level) {
  switch (level) {
    case Isa::V4:
      return "v4";
    case Isa::V3:
      return "v3";
    default:
      return "baseline";
  }
}

}  // namespace ember::cpu
