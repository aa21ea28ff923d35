// runtime/file_io: atomic writes (the old file stays until the new one is whole; no temporary
// left behind) and reads whose errors name the path. A write that fails part-way is in the
// robustness corpus (it needs a child process with RLIMIT_FSIZE).
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "runtime/file_io.hpp"
#include "support/reference.hpp"

using namespace ember;
namespace fs = std::filesystem;

namespace {
struct TempDir {
  fs::path path = fs::temp_directory_path() / ("ember_io_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
  size_t entries() const {
    return static_cast<size_t>(std::distance(fs::directory_iterator(path), {}));
  }
};
}  // namespace

TEST_CASE("write_file_atomic writes, replaces and leaves no temporary", "[runtime][file_io]") {
  TempDir dir;
  std::string p = (dir.path / "f.bin").string();
  write_file_atomic(p, std::string("first"), "test");
  CHECK(read_file(p, "test") == "first");
  write_file_atomic(p, {"sec", "ond", std::string_view("\0!", 2)}, "test");
  CHECK(read_file(p, "test") == std::string("second\0!", 8));
  write_file_atomic(p, std::string(), "test");
  CHECK(read_file(p, "test").empty());
  CHECK(dir.entries() == 1);
}

TEST_CASE("write_file_atomic errors name the op and the path", "[runtime][file_io][error]") {
  TempDir dir;
  std::string missing = (dir.path / "no" / "f.bin").string();
  CHECK_THROWS_WITH(write_file_atomic(missing, std::string("x"), "save_thing"),
                    Catch::Contains("save_thing: cannot open '" + missing +
                                    "' for writing: No such file or directory"));
  // Renaming over a directory fails after the data is written: the temporary goes away.
  fs::create_directory(dir.path / "taken");
  CHECK_THROWS_WITH(write_file_atomic((dir.path / "taken").string(), std::string("x"), "save"),
                    Catch::Contains("taken") && Catch::Contains("Is a directory"));
  CHECK(fs::is_directory(dir.path / "taken"));
  CHECK(dir.entries() == 1);
  CHECK_THROWS_AS(write_file_atomic("", std::string("x"), "save"), ValueError);
}

TEST_CASE("read_file refuses directories and missing files by name", "[runtime][file_io][error]") {
  TempDir dir;
  CHECK_THROWS_WITH(
      read_file(dir.path.string(), "load_thing"),
      Catch::Contains("load_thing: '" + dir.path.string() + "' is a directory, not a file"));
  CHECK_THROWS_WITH(
      read_file((dir.path / "nope").string(), "load_thing"),
      Catch::Contains("cannot open") && Catch::Contains("nope") && Catch::Contains("No such file"));
  // Larger than the first read guess (the file's size): read whole.
  std::string big(100000, 'q');
  write_file_atomic((dir.path / "big").string(), big, "t");
  CHECK(read_file((dir.path / "big").string(), "t") == big);
}
