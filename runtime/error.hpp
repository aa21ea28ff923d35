// Errors, two kinds (as Halide's user_error and internal_error): bad input throws ember::Error
// subclasses with context (what users catch); a broken invariant of ember itself throws
// ember::InternalError (not an ember::Error) naming the file and line — a bug to report. The JIT
// catches internal errors while compiling and runs the region eagerly instead, with one warning.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace ember {

/// Base of every error ember throws for bad input.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
/// Shapes that do not fit together (broadcasting, matmul, view sizes, ...).
class ShapeError : public Error {
  using Error::Error;
};
/// A dtype an op cannot take.
class DTypeError : public Error {
  using Error::Error;
};
/// A dimension or element index out of range.
class IndexError : public Error {
  using Error::Error;
};
/// A bad value of an argument (negative size, probability out of range, ...).
class ValueError : public Error {
  using Error::Error;
};
/// Memory the system refused to give (the message says how many bytes were asked for).
class OutOfMemoryError : public Error {
  using Error::Error;
};

/// A bug in ember: an internal invariant that did not hold (EMBER_ASSERT).
class InternalError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

namespace detail {
template <class... A>
std::string cat(const A&... a) {
  std::ostringstream os;
  (os << ... << a);
  return os.str();
}
[[noreturn]] void internal_failure(const char* file, int line, const char* cond,
                                   const std::string& msg);
}  // namespace detail

}  // namespace ember

/// Throws ErrorType with the streamed message parts when cond is false (release builds too).
#define EMBER_CHECK(cond, ErrorType, ...)                          \
  do {                                                             \
    if (!(cond)) [[unlikely]]                                      \
      throw ::ember::ErrorType(::ember::detail::cat(__VA_ARGS__)); \
  } while (0)

/// Internal invariant: throws ember::InternalError naming the file, the line and the condition.
#define EMBER_ASSERT(cond, ...)                                                               \
  do {                                                                                        \
    if (!(cond)) [[unlikely]]                                                                 \
      ::ember::detail::internal_failure(__FILE__, __LINE__, #cond,                            \
                                        ::ember::detail::cat("" __VA_OPT__(, ) __VA_ARGS__)); \
  } while (0)
