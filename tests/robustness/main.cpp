// The corpus runner. `ember_robustness --group G` runs every case of group G, each in a child
// process (fork, then exec of this binary with --case NAME: nothing else runs between the two,
// so the parent's threads, OpenBLAS and LLVM cannot leave the child in a broken state), and
// judges its outcome; ctest runs one group per test. `--run NAME...` does the same for the named
// cases; `--case NAME` runs one case in-process and prints its outcome; `--list` prints every
// case.
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <new>
#include <set>
#include <string>
#include <typeinfo>

#include "corpus.hpp"
#include "ember.hpp"

extern char** environ;

namespace robust {

std::vector<Case>& registry() {
  static std::vector<Case> cases;
  return cases;
}

namespace {

// Every group ctest runs; a case in any other group would never run, so that is an error.
const std::set<std::string> kGroups = {"size",  "index", "shape",    "dtype", "value",
                                       "files", "idx",   "autograd", "env",   "memory"};

std::string g_temp_dir;

const Case* find(const std::string& name) {
  for (const Case& c : registry())
    if (c.name == name) return &c;
  return nullptr;
}

// The outcome line the child prints: "@@outcome <class>" then the message.
int run_in_process(const Case& c) {
  std::string type, what;
  try {
    c.body();
    type = "none";
  } catch (const Failure& e) {
    type = "Failure", what = e.what();
  } catch (const ember::OutOfMemoryError& e) {
    type = "OutOfMemoryError", what = e.what();
  } catch (const ember::ShapeError& e) {
    type = "ShapeError", what = e.what();
  } catch (const ember::DTypeError& e) {
    type = "DTypeError", what = e.what();
  } catch (const ember::IndexError& e) {
    type = "IndexError", what = e.what();
  } catch (const ember::ValueError& e) {
    type = "ValueError", what = e.what();
  } catch (const ember::Error& e) {
    type = "Error", what = e.what();
  } catch (const std::exception& e) {
    type = std::string("std::exception (") + typeid(e).name() + ")", what = e.what();
  } catch (...) {
    type = "unknown exception";
  }
  if (!g_temp_dir.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(g_temp_dir, ec);
  }
  std::fflush(stderr);
  std::cout << "@@outcome " << type << "\n" << what << std::endl;
  return 0;
}

struct ChildResult {
  int status = 0;
  std::string out, err;
};

ChildResult spawn(const std::string& self, const Case& c) {
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    std::perror("pipe2");
    std::exit(2);
  }
  // Everything the child needs is built before fork: after it, only async-signal-safe calls.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
  for (const std::string& kv : c.env) {
    std::string key = kv.substr(0, kv.find('='));
    std::erase_if(env_strings, [&](const std::string& s) { return s.rfind(key + "=", 0) == 0; });
    env_strings.push_back(kv);
  }
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string flag = "--case", name = c.name;
  std::string arg0 = self;
  char* argv[] = {arg0.data(), flag.data(), name.data(), nullptr};

  pid_t pid = fork();
  if (pid < 0) {
    std::perror("fork");
    std::exit(2);
  }
  if (pid == 0) {
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    execve(self.c_str(), argv, envp.data());
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  ChildResult r;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[4096];
  while (open_fds > 0) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  while (waitpid(pid, &r.status, 0) < 0 && errno == EINTR) {
  }
  return r;
}

std::string tail(const std::string& s, size_t n = 1500) {
  return s.size() <= n ? s : "..." + s.substr(s.size() - n);
}

// "" when the child did what the case expects, else what went wrong.
std::string judge(const Case& c, const ChildResult& r) {
  if (WIFSIGNALED(r.status))
    return "crashed with signal " + std::to_string(WTERMSIG(r.status)) + " (" +
           strsignal(WTERMSIG(r.status)) + ")\nstderr: " + tail(r.err);
  if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0)
    return "exited with status " + std::to_string(WEXITSTATUS(r.status)) +
           "\nstderr: " + tail(r.err);
  auto at = r.out.find("@@outcome ");
  if (at == std::string::npos) return "printed no outcome\nstdout: " + tail(r.out);
  auto eol = r.out.find('\n', at);
  std::string type = r.out.substr(at + 10, eol - at - 10);
  std::string what = eol == std::string::npos ? "" : r.out.substr(eol + 1);
  if (!what.empty() && what.back() == '\n') what.pop_back();
  std::string expected = c.error.empty() ? "none" : c.error;
  if (type != expected)
    return "threw " + type + " (expected " + expected + "): " + what + "\nstderr: " + tail(r.err);
  for (const std::string& w : c.contains)
    if (what.find(w) == std::string::npos) return "message lacks \"" + w + "\": " + what;
  for (const std::string& w : c.stderr_contains)
    if (r.err.find(w) == std::string::npos) return "stderr lacks \"" + w + "\": " + tail(r.err);
  return {};
}

std::string self_path() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) {
    std::perror("readlink /proc/self/exe");
    std::exit(2);
  }
  return std::string(buf, static_cast<size_t>(n));
}

int run_group(const std::string& group) {
  if (!kGroups.count(group)) {
    std::cerr << "unknown group " << group << "\n";
    return 2;
  }
  const std::string self = self_path();
  int ran = 0, failed = 0;
  for (const Case& c : registry()) {
    if (c.group != group) continue;
    ++ran;
    std::string why = judge(c, spawn(self, c));
    if (!why.empty()) {
      ++failed;
      std::cout << "FAIL " << c.name << ": " << why << "\n  (replay: " << self << " --case "
                << c.name << ")\n";
    } else {
      std::cout << "ok   " << c.name << "\n";
    }
  }
  std::cout << group << ": " << ran - failed << " of " << ran << " cases passed\n";
  return failed == 0 && ran > 0 ? 0 : 1;
}

}  // namespace

std::string temp_dir() {
  if (g_temp_dir.empty()) {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/ember-robustness-XXXXXX";
    if (!mkdtemp(tmpl.data())) throw Failure("mkdtemp failed");
    g_temp_dir = tmpl;
  }
  return g_temp_dir;
}

}  // namespace robust

int main(int argc, char** argv) {
  using namespace robust;
  std::set<std::string> names;
  for (const Case& c : registry()) {
    if (!names.insert(c.name).second || !kGroups.count(c.group)) {
      std::cerr << "case " << c.name << ": duplicate name or unknown group '" << c.group << "'\n";
      return 2;
    }
  }
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "--case" && argc > 2) {
    const Case* c = find(argv[2]);
    if (!c) {
      std::cerr << "no case " << argv[2] << "\n";
      return 2;
    }
    return run_in_process(*c);
  }
  if (mode == "--group" && argc > 2) return run_group(argv[2]);
  if (mode == "--run" && argc > 2) {  // named cases, each in a child process, judged
    int failed = 0;
    for (int i = 2; i < argc; ++i) {
      const Case* c = find(argv[i]);
      std::string why = c ? judge(*c, spawn(self_path(), *c)) : "no such case";
      std::cout << (why.empty() ? "ok   " : "FAIL ") << argv[i] << (why.empty() ? "" : ": ") << why
                << "\n";
      failed += !why.empty();
    }
    return failed ? 1 : 0;
  }
  if (mode == "--list") {
    for (const Case& c : registry()) std::cout << c.group << " " << c.name << "\n";
    return 0;
  }
  std::cerr << "usage: " << argv[0] << " --group G | --run NAME... | --case NAME | --list\n";
  return 2;
}
