// The bad-input corpus: each case is a small program a hostile user might write, run in its own
// process (the runner re-executes this binary with --case NAME through fork + exec), so a crash
// fails that case and not the runner. A case states what must happen: the ember::Error
// subclass it throws and words its message must hold, or success (its body checks the result
// itself and throws robust::Failure when it is wrong).
//
//   ROBUSTNESS_CASE({.group = "size", .name = "zeros_2^62",
//                    .body = [] { zeros({int64_t{1} << 62}); },
//                    .error = "ValueError", .contains = {"zeros", "[4611686018427387904]"}});
#pragma once

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace robust {

struct Case {
  std::string group;                  ///< one of kGroups (main.cpp): a ctest test each
  std::string name;                   ///< unique; `ember_robustness --case NAME` runs it alone
  std::function<void()> body;         ///< runs in the child process
  std::string error;                  ///< expected exception class ("ValueError", ...); "" = none
  std::vector<std::string> contains;  ///< words the message must hold
  std::vector<std::string> env;       ///< extra "NAME=value" for the child
  std::vector<std::string> stderr_contains;  ///< words the child's stderr must hold
};

/// A check inside a case body failed (not an ember error: it fails the case).
struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::vector<Case>& registry();
struct Register {
  explicit Register(Case c) { registry().push_back(std::move(c)); }
};

/// Throws Failure with `what` unless cond holds.
inline void require(bool cond, const std::string& what) {
  if (!cond) throw Failure(what);
}

/// A fresh empty directory under $TMPDIR (or /tmp), removed by the runner's child at exit.
std::string temp_dir();

}  // namespace robust

#define ROBUSTNESS_CAT2(a, b) a##b
#define ROBUSTNESS_CAT(a, b) ROBUSTNESS_CAT2(a, b)
/// Registers one case (a Case aggregate with designated initializers).
#define ROBUSTNESS_CASE(...)                                       \
  static const ::robust::Register ROBUSTNESS_CAT(robustness_case_, \
                                                 __LINE__)(::robust::Case __VA_ARGS__)
