#include "runtime/env.hpp"

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>

namespace ember::env {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// The value of name, or nullopt when unset or blank.
std::optional<std::string_view> value_of(const char* name) {
  const char* v = std::getenv(name);
  if (!v || trim(v).empty()) return std::nullopt;
  return std::string_view(v);
}

// One warning per variable and value for the life of the process: a value read in a loop
// must not flood stderr.
void warn_once(const char* name, std::string_view value, const std::string& expected,
               const std::string& fallback) {
  static std::mutex mu;
  static std::set<std::string> warned;
  std::string key = std::string(name) + "=" + std::string(value);
  {
    std::lock_guard lk(mu);
    if (!warned.insert(key).second) return;
  }
  std::string shown(value.substr(0, 60));
  std::fprintf(stderr, "ember: warning: %s=%s%s is not %s; using the default (%s)\n", name,
               shown.c_str(), value.size() > 60 ? "..." : "", expected.c_str(), fallback.c_str());
}

}  // namespace

std::optional<bool> parse_flag(std::string_view text) {
  text = trim(text);
  for (std::string_view t : {"1", "on", "true", "yes"})
    if (iequals(text, t)) return true;
  for (std::string_view f : {"0", "off", "false", "no"})
    if (iequals(text, f)) return false;
  return std::nullopt;
}

std::optional<int64_t> parse_integer(std::string_view text, int64_t min, int64_t max) {
  text = trim(text);
  bool negative = false;
  if (!text.empty() && (text.front() == '+' || text.front() == '-')) {
    negative = text.front() == '-';
    text.remove_prefix(1);
  }
  if (text.empty()) return std::nullopt;
  // Accumulate as a negative number: its range holds INT64_MIN.
  int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    if (__builtin_mul_overflow(v, 10, &v) || __builtin_sub_overflow(v, c - '0', &v))
      return std::nullopt;
  }
  if (!negative) {
    if (v == INT64_MIN) return std::nullopt;
    v = -v;
  }
  if (v < min || v > max) return std::nullopt;
  return v;
}

bool flag(const char* name, bool fallback) {
  auto v = value_of(name);
  if (!v) return fallback;
  if (auto b = parse_flag(*v)) return *b;
  warn_once(name, *v, "a switch (1/0, on/off, true/false, yes/no)", fallback ? "on" : "off");
  return fallback;
}

int64_t integer(const char* name, int64_t fallback, int64_t min, int64_t max) {
  auto v = value_of(name);
  if (!v) return fallback;
  if (auto i = parse_integer(*v, min, max)) return *i;
  warn_once(name, *v,
            "a whole number in [" + std::to_string(min) + ", " + std::to_string(max) + "]",
            std::to_string(fallback));
  return fallback;
}

std::string choice(const char* name, std::initializer_list<std::string_view> choices,
                   std::string_view fallback) {
  auto v = value_of(name);
  if (!v) return std::string(fallback);
  for (std::string_view c : choices)
    if (iequals(trim(*v), c)) return std::string(c);
  std::string expected = "one of";
  const char* sep = " ";
  for (std::string_view c : choices) {
    expected.append(sep).append(c);
    sep = ", ";
  }
  warn_once(name, *v, expected, std::string(fallback));
  return std::string(fallback);
}

}  // namespace ember::env
