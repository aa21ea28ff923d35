// A process that ends while the JIT sets LLVM up or compiles in the background exits cleanly, and
// so does a process forked after using the JIT (it has no compiler thread to stop).
// LLVM's codegen tables are function-local statics that exit destroys; a compile still running
// then crashed the process (SIGSEGV in SelectionDAG). Each child here makes a region hot (its
// compile queued on the background compiler, which first sets LLVM up) and returns from main
// after a different delay: during the set-up, during the compile, or after it.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "ember.hpp"

namespace {

int child(int delay_us) {
  using namespace ember;
  ::setenv("EMBER_JIT_CACHE", "0", 1);  // a real compile, not a disk-cache hit
  jit::set_async_compile(true);
  Tensor x = randn({64, 64}), m = zeros({64, 64});
  for (int i = 0; i < 2; ++i) {  // the second run finds the signature hot
    jit::Region r("exit_test");
    m.mul_(0.9).add_(tanh(x * 0.5 + 1) * sigmoid(x));
  }
  std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
  return 0;
}

// Waits up to `seconds` for pid; false (and pid killed) if it did not end, or ended badly.
bool ends_cleanly(pid_t pid, const char* what, int seconds = 30) {
  int status = 0;
  for (int i = 0; i < seconds * 100; ++i) {
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return true;
      std::fprintf(stderr, "%s: %s %d\n", what, WIFSIGNALED(status) ? "killed by signal" : "status",
                   WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  std::fprintf(stderr, "%s: still running after %d s (killed)\n", what, seconds);
  return false;
}

// A process that used the JIT forks; the child (no compiler thread of its own) exits at once.
// The fork comes after the compile: one during LLVM's set-up leaves the engine half made in the
// child, which LeakSanitizer reports as a leak (the parent's thread was making it).
int fork_after_compile() {
  child(0);
  ember::jit::wait_for_compiles();
  const pid_t pid = ::fork();
  if (pid == 0) {
    // Its regions run eagerly (the compiler thread is the parent's), and give eager's values.
    using namespace ember;
    Tensor x = randn({8, 8}), y;
    {
      jit::Region r("forked");
      y = tanh(x) * 2;
    }
    jit::wait_for_compiles();
    std::exit(jit::enabled() || !allclose(y, tanh(x) * 2) ? 4 : 0);
  }
  return ends_cleanly(pid, "a child forked while the JIT compiled, exiting", 10) ? 0 : 3;
}

}  // namespace

int main() {
  // (Without the exit guard of the compiler, about one child in ten of these crashed.)
  const int delays_us[] = {0,    0,     100,   300,   1000,  2000,  3000,   5000,
                           7000, 10000, 15000, 20000, 30000, 50000, 100000, 300000};
  int failed = 0, runs = 0;
  for (int round = 0; round < 2; ++round)
    for (int d : delays_us) {
      ++runs;
      const pid_t pid = ::fork();
      if (pid < 0) {
        std::perror("fork");
        return 2;
      }
      if (pid == 0) std::exit(child(d));
      int status = 0;
      ::waitpid(pid, &status, 0);
      if (WIFSIGNALED(status)) {
        std::fprintf(stderr, "exit %d us after the region turned hot: killed by signal %d\n", d,
                     WTERMSIG(status));
        ++failed;
      } else if (WEXITSTATUS(status) != 0) {
        std::fprintf(stderr, "exit %d us after the region turned hot: status %d\n", d,
                     WEXITSTATUS(status));
        ++failed;
      }
    }
  // A process forked after its region turned hot exits without waiting for a compiler thread
  // it does not have (it hung in pthread_join before).
  for (int i = 0; i < 3; ++i) {
    const pid_t pid = ::fork();
    if (pid == 0) std::exit(fork_after_compile());
    failed += !ends_cleanly(pid, "a process forking after its region turned hot");
    ++runs;
  }
  std::printf(
      "%d of %d exits during LLVM's set-up or a background compile, or of a forked "
      "child, failed\n",
      failed, runs);
  return failed ? 1 : 0;
}
