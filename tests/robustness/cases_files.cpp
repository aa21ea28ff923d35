// Files: corrupt and adversarial .safetensors and IDX (.gz) files, and saves that fail part-way
// (the previous file must survive whole: writes are atomic).
#include <sys/resource.h>
#include <zlib.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "corpus.hpp"
#include "ember.hpp"

using namespace ember;
using namespace robust;

namespace {

// .safetensors bytes: the 8-byte length, the header text, the data.
std::string st_file(const std::string& header, const std::string& payload = "") {
  uint64_t n = header.size();
  std::string out(reinterpret_cast<const char*>(&n), 8);
  return out + header + payload;
}

void load_bytes(const std::string& bytes) { nn::deserialize_safetensors(bytes, "bad.safetensors"); }

void write(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string idx_header(uint32_t magic, std::initializer_list<uint32_t> dims) {
  std::string out;
  auto put = [&](uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>(v >> s & 0xff));
  };
  put(magic);
  for (uint32_t d : dims) put(d);
  return out;
}

void write_gz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  require(f != nullptr, "gzopen for writing");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

// A module whose file is well over 4 KiB.
struct Net : nn::Module<Net> {
  nn::Linear a{64, 64}, b{64, 10};
  Tensor forward(const Tensor& x) { return b(relu(a(x))); }
};

std::vector<std::string> leftovers(const std::string& dir, const std::string& keep) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().filename() != keep) out.push_back(e.path().filename());
  return out;
}

}  // namespace
EMBER_MODULE(Net, a, b);

// ---- safetensors: every malformed file is an ember::Error naming the file and the problem ----
ROBUSTNESS_CASE({.group = "files",
                 .name = "st_nested_json_100000",
                 .body = [] { load_bytes(st_file(std::string(100000, '['))); },
                 .error = "Error",
                 .contains = {"bad.safetensors", "nests JSON more than 64 levels"}});
ROBUSTNESS_CASE({.group = "files",
                 .name = "st_nested_json_in_entry",
                 .body =
                     [] {
                       load_bytes(st_file(
                           "{\"w\": {\"dtype\": \"F32\", \"shape\": " + std::string(100000, '[') +
                           std::string(100000, ']') + "}}"));
                     },
                 .error = "Error",
                 .contains = {"nests JSON more than 64 levels"}});
ROBUSTNESS_CASE({.group = "files",
                 .name = "st_nested_json_closed_100000",
                 // issue 15: valid JSON this deep overflowed the stack in the serializer that
                 // built the error message.
                 .body =
                     [] {
                       load_bytes(st_file("{\"w\": " + std::string(100000, '[') +
                                          std::string(100000, ']') + "}"));
                     },
                 .error = "Error",
                 .contains = {"nests JSON more than 64 levels"}});
ROBUSTNESS_CASE(
    {.group = "files",
     .name = "st_brackets_inside_strings_ok",
     .body =
         [] {
           std::string key(200, '[');
           auto sd = nn::deserialize_safetensors(st_file(
               "{\"" + key + "\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}",
               std::string(4, '\0')));
           require(sd.contains(key), "key with brackets");
         },
     .error = ""});
ROBUSTNESS_CASE({.group = "files",
                 .name = "st_directory",
                 .body = [] { nn::load_safetensors(temp_dir()); },
                 .error = "Error",
                 .contains = {"load_safetensors", "ember-robustness-", "is a directory"}});
ROBUSTNESS_CASE({.group = "files",
                 .name = "st_missing_file",
                 .body = [] { nn::load_safetensors(temp_dir() + "/nope.safetensors"); },
                 .error = "Error",
                 .contains = {"cannot open", "nope.safetensors", "No such file"}});
ROBUSTNESS_CASE({.group = "files",
                 .name = "st_too_short",
                 .body = [] { load_bytes("abc"); },
                 .error = "Error",
                 .contains = {"the file is 3 bytes, too short"}});
ROBUSTNESS_CASE({.group = "files",
                 .name = "st_header_length_huge",
                 .body = [] { load_bytes(std::string(8, '\xff') + "{}"); },
                 .error = "Error",
                 .contains = {"header length 18446744073709551615 exceeds the 2 bytes"}});
ROBUSTNESS_CASE({.group = "files",
                 .name = "st_not_json",
                 .body = [] { load_bytes(st_file("{\"a\": nope}")); },
                 .error = "Error",
                 .contains = {"the header is not valid JSON"}});
ROBUSTNESS_CASE({.group = "files",
                 .name = "st_long_invalid_json_message_is_short",
                 .body =
                     [] {
                       try {
                         load_bytes(st_file("{\"a\": \"" + std::string(1 << 20, 'x')));
                       } catch (const Error& e) {
                         require(std::strlen(e.what()) < 600,
                                 "message of " + std::to_string(std::strlen(e.what())) + " chars");
                         throw;
                       }
                     },
                 .error = "Error",
                 .contains = {"the header is not valid JSON"}});
ROBUSTNESS_CASE({.group = "files",
                 .name = "st_entry_not_object_message_is_short",
                 .body =
                     [] {
                       std::string big = "[1";
                       for (int i = 0; i < 50000; ++i) big += ", 1";
                       big += "]";
                       try {
                         load_bytes(st_file("{\"w\": " + big + "}"));
                       } catch (const Error& e) {
                         require(std::strlen(e.what()) < 600,
                                 "message of " + std::to_string(std::strlen(e.what())) + " chars");
                         throw;
                       }
                     },
                 .error = "Error",
                 .contains = {"tensor 'w': expected a JSON object, got [1,1,1", "..."}});
ROBUSTNESS_CASE({.group = "files",
                 .name = "st_header_not_object",
                 .body = [] { load_bytes(st_file("[1, 2]")); },
                 .error = "Error",
                 .contains = {"the header must be a JSON object, got array"}});
ROBUSTNESS_CASE({.group = "files",
                 .name = "st_unsupported_dtype",
                 .body =
                     [] {
                       load_bytes(st_file(
                           R"({"w": {"dtype": "F16", "shape": [1], "data_offsets": [0, 2]}})",
                           "ab"));
                     },
                 .error = "Error",
                 .contains = {"tensor 'w'", "unsupported dtype 'F16'"}});
ROBUSTNESS_CASE({.group = "files",
                 .name = "st_negative_size",
                 .body =
                     [] {
                       load_bytes(st_file(
                           R"({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 0]}})"));
                     },
                 .error = "Error",
                 .contains = {"shape [-1] must hold non-negative integers"}});
ROBUSTNESS_CASE({.group = "files",
                 .name = "st_fractional_size",
                 .body =
                     [] {
                       load_bytes(st_file(
                           R"({"w": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 0]}})"));
                     },
                 .error = "Error",
                 .contains = {"must hold non-negative integers"}});
ROBUSTNESS_CASE(
    {.group = "files",
     .name = "st_size_overflow",
     .body =
         [] {
           load_bytes(st_file(
               R"({"w": {"dtype": "F32", "shape": [4611686018427387904, 4611686018427387904], "data_offsets": [0, 0]}})"));
         },
     .error = "Error",
     .contains = {"has too many elements"}});
ROBUSTNESS_CASE(
    {.group = "files",
     .name = "st_byte_count_overflow",
     .body =
         [] {
           load_bytes(st_file(
               R"({"w": {"dtype": "F64", "shape": [4611686018427387904], "data_offsets": [0, 0]}})"));
         },
     .error = "Error",
     .contains = {"tensor 'w'", "data_offsets [0, 0]"}});
ROBUSTNESS_CASE({.group = "files",
                 .name = "st_too_many_dims",
                 .body =
                     [] {
                       std::string shape = "[1";
                       for (int i = 1; i < 100; ++i) shape += ", 1";
                       load_bytes(st_file(R"({"w": {"dtype": "F32", "shape": )" + shape +
                                              R"(], "data_offsets": [0, 4]}})",
                                          "abcd"));
                     },
                 .error = "Error",
                 .contains = {"shape has 100 dimensions; ember reads at most 64"}});
ROBUSTNESS_CASE(
    {.group = "files",
     .name = "st_huge_empty_tensor_then_sum",
     // issue 15: loads (0 elements), then summing away the 0 must not wrap.
     .body =
         [] {
           auto sd = nn::deserialize_safetensors(st_file(
               R"({"w": {"dtype": "F32", "shape": [2305843009213693952, 2, 0], "data_offsets": [0, 0]}})"));
           sd["w"].sum({2});
         },
     .error = "ValueError",
     .contains = {"[2305843009213693952, 2]", "overflows 64 bits"}});
ROBUSTNESS_CASE({.group = "files",
                 .name = "st_offsets_wrong_size",
                 .body =
                     [] {
                       load_bytes(st_file(
                           R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}})",
                           "abcd"));
                     },
                 .error = "Error",
                 .contains = {"data_offsets [0, 4] hold 4 bytes, but F32 [2] needs 8"}});
ROBUSTNESS_CASE({.group = "files",
                 .name = "st_offsets_reversed",
                 .body =
                     [] {
                       load_bytes(st_file(
                           R"({"w": {"dtype": "F32", "shape": [0], "data_offsets": [4, 0]}})",
                           "abcd"));
                     },
                 .error = "Error",
                 .contains = {"end before they begin"}});
ROBUSTNESS_CASE({.group = "files",
                 .name = "st_offsets_past_end",
                 .body =
                     [] {
                       load_bytes(st_file(
                           R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})",
                           "abcd"));
                     },
                 .error = "Error",
                 .contains = {"lie outside the 4-byte data section"}});
ROBUSTNESS_CASE(
    {.group = "files",
     .name = "st_offsets_overlap",
     .body =
         [] {
           load_bytes(st_file(
               R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})",
               "abcd"));
         },
     .error = "Error",
     .contains = {"overlap tensor"}});
ROBUSTNESS_CASE({.group = "files",
                 .name = "st_offsets_gap",
                 .body =
                     [] {
                       load_bytes(st_file(
                           R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                           "abcdefgh"));
                     },
                 .error = "Error",
                 .contains = {"bytes 0..4 of the data section belong to no tensor"}});
ROBUSTNESS_CASE({.group = "files",
                 .name = "st_trailing_bytes",
                 .body =
                     [] {
                       load_bytes(st_file(
                           R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})",
                           "abcdefgh"));
                     },
                 .error = "Error",
                 .contains = {"4 trailing bytes"}});
ROBUSTNESS_CASE({.group = "files",
                 .name = "st_bool_byte_2",
                 .body =
                     [] {
                       load_bytes(st_file(
                           R"({"a": {"dtype": "BOOL", "shape": [2], "data_offsets": [0, 2]}})",
                           std::string("\x01\x02", 2)));
                     },
                 .error = "Error",
                 .contains = {"BOOL element 1 holds byte 2"}});
ROBUSTNESS_CASE({.group = "files",
                 .name = "st_metadata_not_strings",
                 .body = [] { load_bytes(st_file(R"({"__metadata__": {"k": 1}})")); },
                 .error = "Error",
                 .contains = {"\"__metadata__\" value of 'k' must be a string"}});
ROBUSTNESS_CASE({.group = "files",
                 .name = "module_load_wrong_shapes",
                 .body =
                     [] {
                       Net net;
                       nn::StateDict sd = net.state_dict();
                       sd.insert("a.weight", zeros({3, 3}));
                       net.load_state_dict(sd);
                     },
                 .error = "Error",
                 .contains = {"a.weight", "[3, 3]", "[64, 64]"}});

ROBUSTNESS_CASE({.group = "files",
                 .name = "module_load_garbage_file",
                 .body =
                     [] {
                       std::string path = temp_dir() + "/garbage.safetensors";
                       write(path, std::string(4096, '\x5a'));
                       Net().load(path);
                     },
                 .error = "Error",
                 .contains = {"load_safetensors: '", "garbage.safetensors", "header length"}});
ROBUSTNESS_CASE({.group = "files",
                 .name = "module_load_truncated_file",
                 .body =
                     [] {
                       std::string path = temp_dir() + "/net.safetensors";
                       Net().save(path);
                       std::filesystem::resize_file(path, std::filesystem::file_size(path) - 100);
                       Net().load(path);
                     },
                 .error = "Error",
                 .contains = {"net.safetensors", "lie outside the", "truncated file?"}});

ROBUSTNESS_CASE({.group = "files",
                 .name = "st_i64_values_overflowing_sum",
                 // Found by the reader fuzzer (UBSan): values from a file summed past INT64_MAX.
                 .body =
                     [] {
                       int64_t v[2] = {INT64_MAX, 1};
                       auto sd = nn::deserialize_safetensors(st_file(
                           R"({"i": {"dtype": "I64", "shape": [2], "data_offsets": [0, 16]}})",
                           std::string(reinterpret_cast<const char*>(v), 16)));
                       require(sd["i"].sum().item<int64_t>() == INT64_MIN, "wrapped sum");
                     },
                 .error = ""});

// ---- atomic saves: a save that fails part-way leaves the previous file whole ----
ROBUSTNESS_CASE(
    {.group = "files",
     .name = "save_past_file_size_limit_keeps_old_file",
     .body =
         [] {
           std::string path = temp_dir() + "/net.safetensors";
           manual_seed(1);
           Net net;
           net.save(path);
           auto before = std::filesystem::file_size(path);
           require(before > 4096, "the file must be larger than the limit");
           Net other;  // different weights
           std::signal(SIGXFSZ, SIG_IGN);
           rlimit old{};
           getrlimit(RLIMIT_FSIZE, &old);
           rlimit lim = old;
           lim.rlim_cur = 4096;
           setrlimit(RLIMIT_FSIZE, &lim);
           try {
             other.save(path);
           } catch (const Error&) {
             setrlimit(RLIMIT_FSIZE, &old);
             require(std::filesystem::file_size(path) == before, "the old file was changed");
             Net back;
             back.load(path);
             require(equal(back.a.weight, net.a.weight), "the old file no longer loads");
             auto extra = leftovers(temp_dir(), "net.safetensors");
             require(extra.empty(),
                     "a temporary file was left: " + (extra.empty() ? "" : extra[0]));
             throw;
           }
           throw Failure("the save past RLIMIT_FSIZE succeeded");
         },
     .error = "Error",
     .contains = {"save_safetensors: writing", "net.safetensors", "File too large", "unchanged"}});
ROBUSTNESS_CASE({.group = "files",
                 .name = "save_into_missing_dir",
                 .body = [] { Net().save(temp_dir() + "/no/such/dir/net.safetensors"); },
                 .error = "Error",
                 .contains = {"save_safetensors: cannot open", "/no/such/dir/net.safetensors",
                              "for writing: No such file or directory"}});
ROBUSTNESS_CASE({.group = "files",
                 .name = "save_over_a_directory",
                 .body =
                     [] {
                       std::string dir = temp_dir() + "/taken";
                       std::filesystem::create_directory(dir);
                       try {
                         Net().save(dir);
                       } catch (const Error&) {
                         require(std::filesystem::is_directory(dir), "the directory is gone");
                         auto extra = leftovers(temp_dir(), "taken");
                         require(extra.empty(), "a temporary file was left");
                         throw;
                       }
                     },
                 .error = "Error",
                 .contains = {"save_safetensors", "taken", "Is a directory"}});
ROBUSTNESS_CASE({.group = "files",
                 .name = "chrome_trace_past_file_size_limit_keeps_old_file",
                 .body =
                     [] {
                       std::string path = temp_dir() + "/trace.json";
                       std::string old_text = "{\"old\": true}\n";
                       write(path, old_text);
                       jit::Profiler prof;
                       Tensor y;
                       for (int i = 0; i < 3; ++i) {
                         jit::Region r("robustness_trace_region");
                         y = ones({4}) * 2;
                       }
                       require(y.sum().item<float>() == 8, "region result");
                       prof.stop();
                       std::signal(SIGXFSZ, SIG_IGN);
                       rlimit old{};
                       getrlimit(RLIMIT_FSIZE, &old);
                       rlimit lim = old;
                       lim.rlim_cur = 64;
                       setrlimit(RLIMIT_FSIZE, &lim);
                       try {
                         prof.write_chrome_trace(path);
                       } catch (const Error&) {
                         setrlimit(RLIMIT_FSIZE, &old);
                         std::ifstream in(path);
                         std::string now((std::istreambuf_iterator<char>(in)),
                                         std::istreambuf_iterator<char>());
                         require(now == old_text, "the old trace was changed");
                         throw;
                       }
                       throw Failure("the trace fit in 64 bytes; make it larger");
                     },
                 .error = "Error",
                 .contains = {"write_chrome_trace", "trace.json", "File too large"}});

// ---- IDX (.gz) files of Fashion-MNIST ----
ROBUSTNESS_CASE(
    {.group = "idx",
     .name = "idx_58_bytes_claiming_9999999_images",
     // Must fail on the file's end, not after allocating the 7.8 GB it claims: the
     // child may not map more than a few GiB (ASan: no allocation past 1 GiB).
     .body =
         [] {
#if !defined(__SANITIZE_ADDRESS__)
           rlimit lim{size_t{4} << 30, size_t{4} << 30};
           setrlimit(RLIMIT_AS, &lim);
#endif
           std::string path = temp_dir() + "/train-images-idx3-ubyte.gz";
           write_gz(path, idx_header(0x803, {9999999, 28, 28}) + std::string(16, '\0'));
           data::read_idx_images(path);
         },
     .error = "Error",
     .contains =
         {"is truncated: expected 7839999216 bytes of image data but the file ends after 16"},
     .env = {"ASAN_OPTIONS=max_allocation_size_mb=1024:detect_leaks=0"}});
ROBUSTNESS_CASE({.group = "idx",
                 .name = "idx_labels_claiming_more_than_limit",
                 .body =
                     [] {
                       std::string path = temp_dir() + "/l.gz";
                       write_gz(path, idx_header(0x801, {4000000000u}));
                       data::read_idx_labels(path);
                     },
                 .error = "ValueError",
                 .contains = {"claims 4000000000 labels", "means a corrupt header"}});
ROBUSTNESS_CASE({.group = "idx",
                 .name = "idx_bad_magic",
                 .body =
                     [] {
                       std::string path = temp_dir() + "/i.gz";
                       write_gz(path, idx_header(0x1234, {1, 28, 28}));
                       data::read_idx_images(path);
                     },
                 .error = "ValueError",
                 .contains = {"has magic number 0x00001234"}});
ROBUSTNESS_CASE({.group = "idx",
                 .name = "idx_wrong_image_size",
                 .body =
                     [] {
                       std::string path = temp_dir() + "/i.gz";
                       write_gz(path, idx_header(0x803, {1, 27, 28}) + std::string(27 * 28, '\0'));
                       data::read_idx_images(path);
                     },
                 .error = "ValueError",
                 .contains = {"holds 27x28 images; expected 28x28"}});
ROBUSTNESS_CASE({.group = "idx",
                 .name = "idx_label_out_of_range",
                 .body =
                     [] {
                       std::string path = temp_dir() + "/l.gz";
                       write_gz(path, idx_header(0x801, {3}) + std::string("\x01\x0a\x02", 3));
                       data::read_idx_labels(path);
                     },
                 .error = "ValueError",
                 .contains = {"has label 10 at index 1; expected 0..9"}});
ROBUSTNESS_CASE({.group = "idx",
                 .name = "idx_empty_file",
                 .body =
                     [] {
                       std::string path = temp_dir() + "/l.gz";
                       write(path, "");
                       data::read_idx_labels(path);
                     },
                 .error = "Error",
                 .contains = {
                     "is truncated: expected 4 bytes of the header but the file ends after 0"}});
ROBUSTNESS_CASE({.group = "idx",
                 .name = "idx_plain_file_ok",
                 .body =
                     [] {
                       std::string path = temp_dir() + "/l";
                       write(path, idx_header(0x801, {2}) + std::string("\x03\x04", 2));
                       Tensor l = data::read_idx_labels(path);
                       require(l.to_vector<int64_t>() == std::vector<int64_t>{3, 4}, "labels");
                     },
                 .error = ""});
ROBUSTNESS_CASE({.group = "idx",
                 .name = "idx_corrupt_stream",
                 .body =
                     [] {
                       std::string path = temp_dir() + "/i.gz";
                       write_gz(path, idx_header(0x803, {2, 28, 28}) + std::string(2 * 784, '\7'));
                       std::string gz;
                       {
                         std::ifstream in(path, std::ios::binary);
                         gz.assign(std::istreambuf_iterator<char>(in),
                                   std::istreambuf_iterator<char>());
                       }
                       gz[gz.size() - 6] ^= 0x55;  // the CRC
                       write(path, gz);
                       data::read_idx_images(path);
                     },
                 .error = "Error",
                 .contains = {"i.gz is corrupt while reading", "incorrect data check"}});
ROBUSTNESS_CASE({.group = "idx",
                 .name = "idx_directory",
                 .body = [] { data::read_idx_labels(temp_dir()); },
                 .error = "Error",
                 .contains = {"ember-robustness-"}});
ROBUSTNESS_CASE({.group = "idx",
                 .name = "fashion_mnist_missing_root",
                 .body = [] { data::FashionMNIST("/nonexistent/fmnist", data::Split::test); },
                 .error = "Error",
                 .contains = {"/nonexistent/fmnist/t10k-labels-idx1-ubyte.gz",
                              "install the Debian package"}});
ROBUSTNESS_CASE({.group = "idx",
                 .name = "fashion_mnist_count_mismatch",
                 .body =
                     [] {
                       std::string root = temp_dir();
                       write_gz(root + "/t10k-labels-idx1-ubyte.gz",
                                idx_header(0x801, {3}) + std::string(3, '\1'));
                       write_gz(root + "/t10k-images-idx3-ubyte.gz",
                                idx_header(0x803, {2, 28, 28}) + std::string(2 * 784, '\0'));
                       data::FashionMNIST(root, data::Split::test);
                     },
                 .error = "ValueError",
                 .contains = {"holds 2 images but", "holds 3 labels"}});
