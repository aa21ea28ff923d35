#include "jit/dump.hpp"

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

namespace ember::jit {
namespace {

using Words = std::vector<std::string>;

const Words* parse(std::string_view s) {
  auto* w = new Words;
  while (!s.empty()) {
    size_t comma = s.find(',');
    std::string_view x = s.substr(0, comma);
    while (!x.empty() && x.front() == ' ') x.remove_prefix(1);
    while (!x.empty() && x.back() == ' ') x.remove_suffix(1);
    if (!x.empty()) w->emplace_back(x);
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return w;
}

// The words in force. Never destroyed (the background compiler may ask while the process exits);
// a replaced list is leaked too, since another thread may still be reading it (tests only).
std::atomic<const Words*>& words() {
  static std::atomic<const Words*> w{[] {
    const char* env = std::getenv("EMBER_JIT_DUMP");
    return parse(env ? env : "");
  }()};
  return w;
}

}  // namespace

bool dump_enabled(std::string_view word) {
  for (const std::string& w : *words().load(std::memory_order_acquire))
    if (w == word) return true;
  return false;
}

void set_dump_words(std::string_view list) {
  // The replaced list stays reachable (LeakSanitizer) and alive (a reader may hold it).
  static std::mutex mu;
  static auto& retired = *new std::vector<const Words*>;
  std::lock_guard lk(mu);
  retired.push_back(words().exchange(parse(list), std::memory_order_acq_rel));
}

}  // namespace ember::jit
