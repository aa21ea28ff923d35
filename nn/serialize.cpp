#include "nn/serialize.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "runtime/file_io.hpp"
#include "runtime/ops.hpp"

namespace ember::nn {

// The data section is copied byte for byte; a big-endian host would need swaps.
static_assert(std::endian::native == std::endian::little,
              "safetensors I/O assumes a little-endian host");

// ---- StateDict ----

StateDict::StateDict(std::initializer_list<Item> items) {
  for (const auto& [k, v] : items) insert(k, v);
}

void StateDict::insert(std::string key, Tensor value) {
  auto it = index_.find(key);
  if (it != index_.end()) {
    items_[it->second].second = std::move(value);
    return;
  }
  index_.emplace(key, items_.size());
  items_.emplace_back(std::move(key), std::move(value));
}

bool StateDict::erase(std::string_view key) {
  auto it = index_.find(std::string(key));
  if (it == index_.end()) return false;
  items_.erase(items_.begin() + static_cast<std::ptrdiff_t>(it->second));
  index_.clear();
  for (size_t i = 0; i < items_.size(); ++i) index_.emplace(items_[i].first, i);
  return true;
}

const Tensor* StateDict::find(std::string_view key) const {
  auto it = index_.find(std::string(key));
  return it == index_.end() ? nullptr : &items_[it->second].second;
}

const Tensor& StateDict::at(std::string_view key) const {
  const Tensor* t = find(key);
  EMBER_CHECK(t != nullptr, IndexError, "StateDict: no key \"", key, "\"");
  return *t;
}

std::vector<std::string> StateDict::keys() const {
  std::vector<std::string> k;
  k.reserve(items_.size());
  for (const auto& it : items_) k.push_back(it.first);
  return k;
}

// ---- safetensors ----

namespace {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

const char* dtype_code(DType d) {
  switch (d) {
    case DType::Float32:
      return "F32";
    case DType::Float64:
      return "F64";
    case DType::Int64:
      return "I64";
    case DType::Bool:
      return "BOOL";
  }
  return "?";
}

bool dtype_from_code(const std::string& s, DType& out) {
  if (s == "F32")
    out = kFloat32;
  else if (s == "F64")
    out = kFloat64;
  else if (s == "I64")
    out = kInt64;
  else if (s == "BOOL")
    out = kBool;
  else
    return false;
  return true;
}

// Every failure names the source, so a user with several checkpoints knows which is broken.
template <class... A>
[[noreturn]] void fail(std::string_view source, const A&... a) {
  throw Error(detail::cat("load_safetensors: '", source, "': ", a...));
}

struct Entry {
  std::string name;
  DType dtype = kFloat32;
  Dims shape;
  uint64_t begin = 0, end = 0;
};

// Untrusted text goes into messages cut short: a header may hold megabytes of JSON.
std::string clip(std::string s, size_t max = 120) {
  if (s.size() > max) s = s.substr(0, max) + "...";
  return s;
}
std::string short_dump(const json& j) { return clip(j.dump()); }

// A safetensors header nests 3 deep ({name: {"shape": [...]}}). Deeper JSON is refused before
// it is parsed: nlohmann's parser keeps its own stack, but dump() (and so any message showing
// the value) recurses once per level and overflowed the stack on 100,000 nested '['.
constexpr int kMaxJsonDepth = 64;
constexpr size_t kMaxDims = 64;  // as PyTorch's limit on a tensor's dimensions

void check_json_depth(std::string_view text, std::string_view source) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth)
        fail(source, "the header nests JSON more than ", kMaxJsonDepth,
             " levels deep (a safetensors header needs 3)");
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
}

uint64_t read_u64_le(const char* p) {
  uint64_t v = 0;
  std::memcpy(&v, p, 8);
  return v;
}

Entry parse_entry(std::string_view source, const std::string& name, const json& e) {
  Entry out;
  out.name = name;
  if (!e.is_object())
    fail(source, "tensor '", name, "': expected a JSON object, got ", short_dump(e));
  auto dt = e.find("dtype");
  if (dt == e.end() || !dt->is_string()) fail(source, "tensor '", name, "': missing \"dtype\"");
  if (!dtype_from_code(dt->get<std::string>(), out.dtype))
    fail(source, "tensor '", name, "': unsupported dtype '", dt->get<std::string>(),
         "' (ember reads F32, F64, I64 and BOOL)");
  auto sh = e.find("shape");
  if (sh == e.end() || !sh->is_array())
    fail(source, "tensor '", name, "': missing \"shape\" (an array of sizes)");
  if (sh->size() > kMaxDims)
    fail(source, "tensor '", name, "': shape has ", sh->size(), " dimensions; ember reads at most ",
         kMaxDims);
  uint64_t numel = 1;
  for (const auto& s : *sh) {
    if (!s.is_number_unsigned() ||
        s.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail(source, "tensor '", name, "': shape ", short_dump(*sh),
           " must hold non-negative integers");
    uint64_t v = s.get<uint64_t>();
    if (v != 0 && numel > std::numeric_limits<uint64_t>::max() / v)
      fail(source, "tensor '", name, "': shape ", short_dump(*sh), " has too many elements");
    numel *= v;
    out.shape.push_back(static_cast<int64_t>(v));
  }
  auto off = e.find("data_offsets");
  if (off == e.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
      !(*off)[1].is_number_unsigned())
    fail(source, "tensor '", name,
         "': \"data_offsets\" must be [begin, end] with non-negative "
         "integers");
  out.begin = (*off)[0].get<uint64_t>();
  out.end = (*off)[1].get<uint64_t>();
  if (out.begin > out.end)
    fail(source, "tensor '", name, "': data_offsets [", out.begin, ", ", out.end,
         "] end before they begin");
  uint64_t esize = element_size(out.dtype);
  if (numel > std::numeric_limits<uint64_t>::max() / esize || out.end - out.begin != numel * esize)
    fail(source, "tensor '", name, "': data_offsets [", out.begin, ", ", out.end, "] hold ",
         out.end - out.begin, " bytes, but ", dt->get<std::string>(), " ", out.shape, " needs ",
         numel * esize);
  return out;
}

}  // namespace

std::string serialize_safetensors(const StateDict& tensors, const Metadata& metadata) {
  ordered_json header = ordered_json::object();
  if (!metadata.empty()) {
    ordered_json md = ordered_json::object();
    for (const auto& [k, v] : metadata) md[k] = v;
    header["__metadata__"] = md;
  }
  std::vector<Tensor> data;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    EMBER_CHECK(t.defined(), Error, "save_safetensors: tensor '", name, "' is undefined");
    EMBER_CHECK(name != "__metadata__", ValueError,
                "save_safetensors: '__metadata__' is reserved and cannot name a tensor");
    Tensor c = t.detach().contiguous();
    uint64_t nbytes = static_cast<uint64_t>(c.numel()) * c.element_size();
    ordered_json shape = ordered_json::array();
    for (int64_t s : c.sizes()) shape.push_back(s);
    header[name] = {{"dtype", dtype_code(c.dtype())},
                    {"shape", shape},
                    {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    data.push_back(std::move(c));
  }
  std::string h = header.dump();
  // The reference writer pads the header with spaces so the data section is 8-byte aligned.
  h.append((8 - h.size() % 8) % 8, ' ');
  std::string out;
  out.reserve(8 + h.size() + offset);
  uint64_t n = h.size();
  out.append(reinterpret_cast<const char*>(&n), 8);
  out += h;
  for (const Tensor& c : data)
    out.append(static_cast<const char*>(c.raw_data()), c.numel() * c.element_size());
  return out;
}

StateDict deserialize_safetensors(std::string_view bytes, std::string_view source,
                                  Metadata* metadata) {
  if (bytes.size() < 8)
    fail(source, "the file is ", bytes.size(),
         " bytes, too short for the 8-byte header length (truncated?)");
  uint64_t n = read_u64_le(bytes.data());
  if (n > bytes.size() - 8)
    fail(source, "header length ", n, " exceeds the ", bytes.size() - 8,
         " bytes that follow it (truncated or not a safetensors file?)");
  std::string_view header_text = bytes.substr(8, n);
  std::string_view payload = bytes.substr(8 + n);

  check_json_depth(header_text, source);
  json header;
  try {
    header = json::parse(header_text.begin(), header_text.end());
  } catch (const json::exception& e) {
    fail(source, "the header is not valid JSON (", clip(e.what(), 200), ")");
  }
  if (!header.is_object())
    fail(source, "the header must be a JSON object, got ", header.type_name());

  std::vector<Entry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) fail(source, "\"__metadata__\" must be an object of strings");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string())
          fail(source, "\"__metadata__\" value of '", m.key(), "' must be a string");
        if (metadata) (*metadata)[m.key()] = m->get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(source, it.key(), *it));
  }

  // As the reference reader: tensors must tile the data section exactly, without overlap or gaps.
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t expected = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    if (e.end > payload.size())
      fail(source, "tensor '", e.name, "': data_offsets [", e.begin, ", ", e.end,
           "] lie outside the ", payload.size(), "-byte data section (truncated file?)");
    if (e.begin < expected)
      fail(source, "tensor '", e.name, "': data_offsets [", e.begin, ", ", e.end,
           "] overlap tensor '", entries[i - 1].name, "'");
    if (e.begin > expected)
      fail(source, "bytes ", expected, "..", e.begin, " of the data section belong to no tensor");
    expected = e.end;
  }
  if (expected != payload.size())
    fail(source, "the data section has ", payload.size() - expected,
         " trailing bytes that belong to no tensor");

  StateDict out;
  for (const Entry& e : entries) {
    Tensor t = make_tensor(e.shape, e.dtype);
    const char* src = payload.data() + e.begin;
    size_t nbytes = e.end - e.begin;
    if (e.dtype == kBool) {
      // Any byte but 0 or 1 would be an invalid C++ bool.
      for (size_t i = 0; i < nbytes; ++i)
        if (static_cast<unsigned char>(src[i]) > 1)
          fail(source, "tensor '", e.name, "': BOOL element ", i, " holds byte ",
               static_cast<int>(static_cast<unsigned char>(src[i])), ", expected 0 or 1");
    }
    if (nbytes) std::memcpy(t.raw_data(), src, nbytes);
    out.insert(e.name, std::move(t));
  }
  return out;
}

void save_safetensors(const std::string& path, const StateDict& tensors, const Metadata& metadata) {
  write_file_atomic(path, serialize_safetensors(tensors, metadata), "save_safetensors");
}

StateDict load_safetensors(const std::string& path, Metadata* metadata) {
  return deserialize_safetensors(read_file(path, "load_safetensors"), path, metadata);
}

}  // namespace ember::nn
