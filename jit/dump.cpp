#include "jit/dump.hpp"

#include <cstdlib>
#include <string>
#include <vector>

namespace ember::jit {

bool dump_enabled(std::string_view word) {
  // Read once; never destroyed (the background compiler may ask while the process exits).
  static const std::vector<std::string>& words = *new std::vector<std::string>([] {
    std::vector<std::string> w;
    const char* env = std::getenv("EMBER_JIT_DUMP");
    std::string_view s(env ? env : "");
    while (!s.empty()) {
      size_t comma = s.find(',');
      std::string_view x = s.substr(0, comma);
      while (!x.empty() && x.front() == ' ') x.remove_prefix(1);
      while (!x.empty() && x.back() == ' ') x.remove_suffix(1);
      if (!x.empty()) w.emplace_back(x);
      if (comma == std::string_view::npos) break;
      s.remove_prefix(comma + 1);
    }
    return w;
  }());
  for (const std::string& w : words)
    if (w == word) return true;
  return false;
}

}  // namespace ember::jit
