#include "runtime/file_io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "runtime/error.hpp"

namespace ember {
namespace {

std::string errno_text(int e) { return std::strerror(e); }

// The directory holding path ("." for a bare name), for the temporary and its fsync.
std::string parent_dir(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

bool write_all(int fd, std::string_view bytes) {
  const char* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    ssize_t w = ::write(fd, p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    left -= static_cast<size_t>(w);
  }
  return true;
}

}  // namespace

void write_file_atomic(const std::string& path, std::initializer_list<std::string_view> parts,
                       const char* op) {
  EMBER_CHECK(!path.empty(), ValueError, op, ": the file name is empty");
  // A name no other writer (thread or process) uses: pid, a process-wide counter, O_EXCL.
  static std::atomic<uint64_t> counter{0};
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; fd < 0; ++attempt) {
    tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && (errno != EEXIST || attempt > 100)) {
      int e = errno;
      throw Error(detail::cat(op, ": cannot open '", path, "' for writing: ", errno_text(e)));
    }
  }
  auto fail = [&](const char* what, int e) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw Error(detail::cat(op, ": ", what, " '", path, "' failed: ", errno_text(e),
                            " (the previous file, if any, is unchanged)"));
  };
  for (std::string_view part : parts)
    if (!write_all(fd, part)) fail("writing", errno);
  if (::fsync(fd) != 0) fail("flushing", errno);
  int rc = ::close(fd);
  fd = -1;
  if (rc != 0) fail("closing", errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("renaming a temporary over", errno);
  // The rename is durable once the directory entry is: fsync the directory (best effort: some
  // file systems refuse it, and the data itself is already safe).
  int dfd = ::open(parent_dir(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
}

void write_file_atomic(const std::string& path, std::string_view bytes, const char* op) {
  write_file_atomic(path, {bytes}, op);
}

std::string read_file(const std::string& path, const char* op) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  EMBER_CHECK(fd >= 0, Error, op, ": cannot open '", path, "': ", errno_text(errno));
  struct stat st{};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    int e = errno;
    bool dir = S_ISDIR(st.st_mode);
    ::close(fd);
    EMBER_CHECK(false, Error, op, ": '", path, "' ",
                dir ? "is a directory, not a file" : "is not a regular file",
                e && !dir ? " (" + errno_text(e) + ")" : std::string());
  }
  std::string out;
  out.resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  for (;;) {
    if (got == out.size()) out.resize(out.size() + (out.size() < 4096 ? 4096 : out.size() / 2));
    ssize_t r = ::read(fd, out.data() + got, out.size() - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int e = errno;
      ::close(fd);
      throw Error(detail::cat(op, ": reading '", path, "' failed: ", errno_text(e)));
    }
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  ::close(fd);
  out.resize(got);
  return out;
}

}  // namespace ember
