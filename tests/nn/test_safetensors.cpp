// .safetensors: files built byte by byte from the spec load; ember's files follow the spec; every
// kind of corrupt file is a clear ember::Error naming the file, never a crash.
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "support/reference.hpp"

using namespace ember;

namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("ember_st_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

// Removes the file when the test ends, however it ends.
struct TempFile {
  std::string path;
  explicit TempFile(const std::string& name) : path(temp_path(name)) {}
  ~TempFile() { std::filesystem::remove(path); }
  void write(const std::string& bytes) const {
    std::ofstream f(path, std::ios::binary);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
};

std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}
template <class T>
std::string raw(std::initializer_list<T> values) {
  std::string s;
  for (T v : values) s.append(reinterpret_cast<const char*>(&v), sizeof(T));
  return s;
}
// A file exactly as the spec lays it out: length, JSON header, data.
std::string file_bytes(const std::string& header, const std::string& data) {
  return le64(header.size()) + header + data;
}

// A valid two-tensor file (what PyTorch's safetensors writes for {"w": [2] f32, "n": i64}).
std::string valid_bytes() {
  return file_bytes(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                    R"("n":{"dtype":"I64","shape":[],"data_offsets":[8,16]}})",
                    raw<float>({1.5f, -2.0f}) + raw<int64_t>({42}));
}

std::string load_error(const std::string& bytes) {
  TempFile f("corrupt.safetensors");
  f.write(bytes);
  try {
    nn::load_safetensors(f.path);
  } catch (const Error& e) {
    std::string msg = e.what();
    CHECK_THAT(msg, Catch::Contains(f.path));
    return msg;
  }
  FAIL("no error for a corrupt file");
  return {};
}

}  // namespace

TEST_CASE("a file built from the spec loads with every dtype", "[module][safetensors]") {
  std::string header = R"({"__metadata__":{"format":"pt"},)"
                       R"("a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
                       R"("b":{"dtype":"F64","shape":[3],"data_offsets":[16,40]},)"
                       R"("c":{"dtype":"I64","shape":[],"data_offsets":[40,48]},)"
                       R"("d":{"dtype":"BOOL","shape":[3],"data_offsets":[48,51]},)"
                       R"("e":{"dtype":"F32","shape":[0,4],"data_offsets":[51,51]}})";
  std::string data = raw<float>({1.f, 2.f, 3.f, -4.5f}) + raw<double>({0.1, 1e300, -0.0}) +
                     raw<int64_t>({-7}) + std::string("\x01\x00\x01", 3);
  TempFile f("spec.safetensors");
  f.write(file_bytes(header, data));
  nn::Metadata md;
  nn::StateDict sd = nn::load_safetensors(f.path, &md);
  CHECK(md == nn::Metadata{{"format", "pt"}});
  CHECK(sd.keys() == std::vector<std::string>{"a", "b", "c", "d", "e"});  // file data order
  test::require_close(sd["a"], {2, 2}, {1, 2, 3, -4.5}, "a");
  CHECK(sd["b"].dtype() == kFloat64);
  CHECK(sd["b"].to_vector<double>() == std::vector<double>{0.1, 1e300, -0.0});
  CHECK(sd["c"].dtype() == kInt64);
  CHECK(sd["c"].dim() == 0);
  CHECK(sd["c"].item<int64_t>() == -7);
  CHECK(sd["d"].to_vector<bool>() == std::vector<bool>{true, false, true});
  CHECK(sd["e"].sizes() == Dims{0, 4});
}

TEST_CASE("ember writes the layout of the spec", "[module][safetensors]") {
  nn::StateDict sd;
  sd.insert("layer.weight", tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}).t());  // non-contiguous
  sd.insert("steps", full({}, 3, kInt64));
  std::string bytes = nn::serialize_safetensors(sd, {{"note", "hi"}});
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  CHECK(n % 8 == 0);  // padded so the data is aligned, as the reference writer does
  std::string header = bytes.substr(8, n);
  CHECK_THAT(header,
             Catch::StartsWith(R"({"__metadata__":{"note":"hi"},"layer.weight":{"dtype":"F32",)"
                               R"("shape":[3,2],"data_offsets":[0,24]},"steps":{"dtype":"I64",)"
                               R"("shape":[],"data_offsets":[24,32]}})"));
  CHECK(header.find_first_not_of(' ', header.find_last_of('}') + 1) == std::string::npos);
  CHECK(bytes.size() == 8 + n + 32);
  CHECK(bytes.substr(8 + n, 24) == raw<float>({1.f, 4.f, 2.f, 5.f, 3.f, 6.f}));
  CHECK(bytes.substr(8 + n + 24) == raw<int64_t>({3}));

  nn::Metadata md;
  nn::StateDict back = nn::deserialize_safetensors(bytes, "mem", &md);
  CHECK(md.at("note") == "hi");
  test::require_close(back["layer.weight"], {3, 2}, {1, 4, 2, 5, 3, 6}, "weight");
  CHECK(back["steps"].item<int64_t>() == 3);
  CHECK_THROWS_WITH(nn::serialize_safetensors({{"x", Tensor()}}),
                    Catch::Contains("tensor 'x' is undefined"));
}

TEST_CASE("weights written by PyTorch's layout load into a Linear", "[module][safetensors]") {
  // PyTorch's nn.Linear(3, 2).state_dict() keys, written as safetensors.save_file does.
  std::string header = R"({"bias":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                       R"("weight":{"dtype":"F32","shape":[2,3],"data_offsets":[8,32]}}  )";
  TempFile f("torch_linear.safetensors");
  f.write(file_bytes(header, raw<float>({0.5f, -0.5f, 1, 2, 3, 4, 5, 6})));
  nn::Linear lin(3, 2);
  lin.load(f.path);
  test::require_close(lin.weight, {2, 3}, {1, 2, 3, 4, 5, 6}, "weight");
  test::require_close(lin.bias, {2}, {0.5, -0.5}, "bias");
  nn::Linear wide(4, 2);
  CHECK_THROWS_WITH(wide.load(f.path),
                    Catch::Contains("size mismatch for weight: copying a param with shape [2, 3] "
                                    "from checkpoint, the shape in current model is [2, 4]."));
}

TEST_CASE("round trip of odd tensors", "[module][safetensors]") {
  nn::StateDict sd;
  sd.insert("scalar", scalar_tensor(2.5, kFloat64));
  sd.insert("empty", zeros({3, 0}));
  sd.insert("flags", tensor({1.0, 0.0, 1.0}) > 0.5);
  sd.insert("view", test::seeded_randn({4, 6}, 3).narrow(1, 1, 3));
  TempFile f("odd.safetensors");
  nn::save_safetensors(f.path, sd);
  nn::StateDict back = nn::load_safetensors(f.path);
  REQUIRE(back.size() == 4);
  for (const auto& [k, v] : sd) {
    INFO(k);
    CHECK(back[k].dtype() == v.dtype());
    CHECK(back[k].sizes() == v.sizes());
    CHECK(test::values(back[k]) == test::values(v));
  }
}

TEST_CASE("corrupt files are clear errors", "[module][safetensors][error]") {
  auto entry = [](const std::string& body) { return file_bytes(body, std::string(8, '\0')); };
  CHECK_THAT(load_error("abc"), Catch::Contains("the file is 3 bytes, too short for the 8-byte "
                                                "header length"));
  CHECK_THAT(load_error(le64(1000) + "{}"),
             Catch::Contains("header length 1000 exceeds the 2 bytes that follow it"));
  CHECK_THAT(load_error(le64(~0ull) + "{}"), Catch::Contains("exceeds the 2 bytes"));
  CHECK_THAT(load_error(file_bytes("{\"a\": [1, ", "")),
             Catch::Contains("the header is not valid JSON"));
  CHECK_THAT(load_error(file_bytes("[1, 2]", "")),
             Catch::Contains("the header must be a JSON object, got array"));
  CHECK_THAT(load_error(entry(R"({"a":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}})")),
             Catch::Contains("tensor 'a': unsupported dtype 'F16' (ember reads F32, F64, I64 "
                             "and BOOL)"));
  CHECK_THAT(load_error(entry(R"({"a":{"shape":[2],"data_offsets":[0,8]}})")),
             Catch::Contains("tensor 'a': missing \"dtype\""));
  CHECK_THAT(load_error(entry(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})")),
             Catch::Contains("shape [-2] must hold non-negative integers"));
  CHECK_THAT(load_error(entry(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})")),
             Catch::Contains("\"data_offsets\" must be [begin, end]"));
  CHECK_THAT(load_error(entry(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})")),
             Catch::Contains("tensor 'a': data_offsets [0, 8] hold 8 bytes, but F32 [3] needs "
                             "12"));
  CHECK_THAT(load_error(entry(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})")),
             Catch::Contains("end before they begin"));
  CHECK_THAT(load_error(entry(R"({"a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}})")),
             Catch::Contains("data_offsets [0, 16] lie outside the 8-byte data section"));
  CHECK_THAT(load_error(entry(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                              R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})")),
             Catch::Contains("tensor 'b': data_offsets [4, 8] overlap tensor 'a'"));
  CHECK_THAT(load_error(entry(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})")),
             Catch::Contains("bytes 0..4 of the data section belong to no tensor"));
  CHECK_THAT(load_error(entry(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})")),
             Catch::Contains("the data section has 4 trailing bytes"));
  CHECK_THAT(load_error(file_bytes(R"({"a":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}})",
                                   std::string("\x01\x07", 2))),
             Catch::Contains("tensor 'a': BOOL element 1 holds byte 7, expected 0 or 1"));
  CHECK_THAT(load_error(entry(R"({"__metadata__":{"k":1}})")),
             Catch::Contains("\"__metadata__\" value of 'k' must be a string"));
  CHECK_THROWS_WITH(nn::load_safetensors(temp_path("does_not_exist.safetensors")),
                    Catch::Contains("cannot open") && Catch::Contains("does_not_exist"));
}

TEST_CASE("every truncation of a valid file is an error, never a crash",
          "[module][safetensors][error]") {
  std::string good = valid_bytes();
  REQUIRE(nn::deserialize_safetensors(good).size() == 2);
  for (size_t len = 0; len < good.size(); ++len) {
    INFO("truncated to " << len << " bytes");
    CHECK_THROWS_AS(nn::deserialize_safetensors(good.substr(0, len), "cut"), Error);
  }
  // Single flipped bytes in the header either still parse to a valid file or fail cleanly.
  for (size_t i = 0; i < 8 + 40; ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x5a);
    INFO("byte " << i << " flipped");
    CHECK_NOTHROW([&] {
      try {
        nn::deserialize_safetensors(bad, "flipped");
      } catch (const Error&) {  // the only acceptable failure
      }
    }());
  }
}

TEST_CASE("deeply nested JSON headers are refused before they are parsed",
          "[module][safetensors][error]") {
  // issue 15: 100,000 '[' overflowed the stack while the error message was built.
  CHECK_THROWS_WITH(nn::deserialize_safetensors(file_bytes(std::string(100000, '['), ""), "deep"),
                    Catch::Contains("load_safetensors: 'deep': the header nests JSON more than 64 "
                                    "levels deep"));
  std::string inner = R"({"w":{"dtype":"F32","shape":)" + std::string(65, '[') +
                      std::string(65, ']') + R"(,"data_offsets":[0,0]}})";
  CHECK_THROWS_WITH(nn::deserialize_safetensors(file_bytes(inner, "")),
                    Catch::Contains("nests JSON more than 64"));
  // Brackets inside strings (names, metadata) do not count.
  std::string key(100, '{');
  std::string ok = R"({")" + key + R"(":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  CHECK(nn::deserialize_safetensors(file_bytes(ok, raw<float>({1.0f}))).contains(key));
  // Values shown in messages are cut short.
  std::string longv = R"({"w":[)" + std::string(5000, '7') + "]}";
  try {
    nn::deserialize_safetensors(file_bytes(longv, ""));
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).size() < 400);
  }
}

TEST_CASE("loading a directory is an ember::Error naming it", "[module][safetensors][error]") {
  // issue 15: std::ios_base::failure escaped.
  std::string dir = std::filesystem::temp_directory_path().string();
  CHECK_THROWS_MATCHES(
      nn::load_safetensors(dir), Error,
      Catch::Message("load_safetensors: '" + dir + "' is a directory, not a file"));
}

TEST_CASE("saving replaces the file whole and leaves nothing else", "[module][safetensors]") {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("ember_st_dir_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::string p = (dir / "w.safetensors").string();
  nn::save_safetensors(p, {{"a", ones({1000})}});
  nn::save_safetensors(p, {{"b", zeros({3})}});
  nn::StateDict back = nn::load_safetensors(p);
  CHECK(back.keys() == std::vector<std::string>{"b"});
  CHECK(std::distance(fs::directory_iterator(dir), {}) == 1);
  fs::remove_all(dir);
}
