// Printing, as PyTorch's repr (torch/_tensor_str.py with the default print options): one
// formatter per tensor chooses integer, fixed or scientific notation and a common width from the
// elements it will show; vectors wrap at 80 columns; past 1000 elements only the first and last
// three items of each dim are shown.
#include <cmath>
#include <cstdio>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/tensor.hpp"

namespace ember {
namespace {

constexpr int kPrecision = 4;
constexpr int64_t kThreshold = 1000;
constexpr int64_t kEdgeItems = 3;
constexpr int64_t kLineWidth = 80;

// The tensor's elements read in place through its strides (no copy, no dispatch).
struct Elements {
  const char* data;
  DType dtype;
  Dims sizes, strides;

  double as_double(int64_t off) const {
    return visit_dtype(dtype, [&](auto x) {
      using T = decltype(x);
      return static_cast<double>(reinterpret_cast<const T*>(data)[off]);
    });
  }
  int64_t as_int(int64_t off) const {
    return visit_dtype(dtype, [&](auto x) {
      using T = decltype(x);
      return static_cast<int64_t>(reinterpret_cast<const T*>(data)[off]);
    });
  }
};

// Python's format(v, ".{p}f") / ".{p}e": C's printf except that every NaN prints as "nan".
std::string format_double(double v, char conv, int precision) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[512];  // enough for any double in %f
  if (conv == 'e')
    std::snprintf(buf, sizeof buf, "%.*e", precision, v);
  else
    std::snprintf(buf, sizeof buf, "%.*f", precision, v);
  return buf;
}

std::string pad_left(std::string s, size_t width) {
  if (s.size() < width) s.insert(0, width - s.size(), ' ');
  return s;
}

// PyTorch's _Formatter: picks the notation and the width from the elements to be shown.
class Formatter {
 public:
  Formatter(const Elements& e, const std::vector<int64_t>& offsets)
      : e_(e), floating_(is_floating(e.dtype)) {
    if (!floating_) {
      for (int64_t off : offsets) max_width_ = std::max(max_width_, plain(off).size());
      return;
    }
    std::vector<double> vals;  // nonzero finite values only
    for (int64_t off : offsets) {
      double v = e.as_double(off);
      if (std::isfinite(v) && v != 0) vals.push_back(v);
    }
    if (vals.empty()) return;
    double lo = std::abs(vals[0]), hi = lo;
    for (double v : vals) {
      lo = std::min(lo, std::abs(v));
      hi = std::max(hi, std::abs(v));
      if (v != std::ceil(v)) int_mode_ = false;
    }
    sci_mode_ = hi / lo > 1000.0 || hi > 1.0e8 || (!int_mode_ && lo < 1.0e-4);
    for (double v : vals) {
      size_t w = sci_mode_   ? format_double(v, 'e', kPrecision).size()
                 : int_mode_ ? format_double(v, 'f', 0).size() + 1  // room for the "."
                             : format_double(v, 'f', kPrecision).size();
      max_width_ = std::max(max_width_, w);
    }
  }

  size_t width() const { return max_width_; }

  std::string format(int64_t off) const {
    if (!floating_) return pad_left(plain(off), max_width_);
    double v = e_.as_double(off);
    std::string s;
    if (sci_mode_) {
      s = format_double(v, 'e', kPrecision);
    } else if (int_mode_) {
      s = format_double(v, 'f', 0);
      if (std::isfinite(v)) s += '.';
    } else {
      s = format_double(v, 'f', kPrecision);
    }
    return pad_left(std::move(s), max_width_);
  }

 private:
  std::string plain(int64_t off) const {
    if (e_.dtype == kBool) return e_.as_int(off) ? "True" : "False";
    return std::to_string(e_.as_int(off));
  }

  const Elements& e_;
  bool floating_;
  bool int_mode_ = true;
  bool sci_mode_ = false;
  size_t max_width_ = 1;
};

// The indices of dim d that are shown: all of them, or the edge items when summarising.
std::vector<int64_t> shown(int64_t size, bool summarize, bool* elided) {
  std::vector<int64_t> idx;
  *elided = summarize && size > 2 * kEdgeItems;
  if (*elided) {
    for (int64_t i = 0; i < kEdgeItems; ++i) idx.push_back(i);
    for (int64_t i = size - kEdgeItems; i < size; ++i) idx.push_back(i);
  } else {
    for (int64_t i = 0; i < size; ++i) idx.push_back(i);
  }
  return idx;
}

// Offsets of the shown elements, in order (PyTorch's get_summarized_data).
void collect(const Elements& e, size_t d, int64_t off, bool summarize, std::vector<int64_t>& out) {
  if (d == e.sizes.size()) {
    out.push_back(off);
    return;
  }
  bool elided;
  for (int64_t i : shown(e.sizes[d], summarize, &elided))
    collect(e, d + 1, off + i * e.strides[d], summarize, out);
}

std::string vector_str(const Elements& e, const Formatter& f, int64_t off, int64_t indent,
                       bool summarize) {
  const int64_t element_length = static_cast<int64_t>(f.width()) + 2;
  const auto per_line = std::max<int64_t>(
      1, static_cast<int64_t>(std::floor(static_cast<double>(kLineWidth - indent) /
                                         static_cast<double>(element_length))));
  bool elided;
  std::vector<int64_t> idx = shown(e.sizes.back(), summarize, &elided);
  std::vector<std::string> items;
  for (size_t k = 0; k < idx.size(); ++k) {
    if (elided && k == static_cast<size_t>(kEdgeItems)) items.emplace_back(" ...");
    items.push_back(f.format(off + idx[k] * e.strides.back()));
  }
  std::string s = "[";
  for (size_t k = 0; k < items.size(); ++k) {
    if (k > 0 && k % per_line == 0)
      s.append(",\n").append(static_cast<size_t>(indent + 1), ' ');
    else if (k > 0)
      s.append(", ");
    s += items[k];
  }
  return s + "]";
}

std::string tensor_str(const Elements& e, const Formatter& f, size_t d, int64_t off, int64_t indent,
                       bool summarize) {
  const size_t ndim = e.sizes.size();
  if (ndim == 0) return f.format(off);
  if (d + 1 == ndim) return vector_str(e, f, off, indent, summarize);
  bool elided;
  std::vector<int64_t> idx = shown(e.sizes[d], summarize, &elided);
  std::string sep = ",";
  sep.append(ndim - d - 1, '\n').append(static_cast<size_t>(indent + 1), ' ');
  std::string s = "[";
  for (size_t k = 0; k < idx.size(); ++k) {
    if (k > 0) s += sep;
    if (elided && k == static_cast<size_t>(kEdgeItems)) s.append("...").append(sep);
    s += tensor_str(e, f, d + 1, off + idx[k] * e.strides[d], indent + 1, summarize);
  }
  return s + "]";
}

// Python's str(tuple): "(0, 3)", "(0,)".
std::string tuple_str(const Dims& sizes) {
  std::ostringstream os;
  os << '(';
  for (size_t i = 0; i < sizes.size(); ++i) os << (i ? ", " : "") << sizes[i];
  if (sizes.size() == 1) os << ',';
  os << ')';
  return os.str();
}

std::string dtype_suffix(DType d) { return std::string("dtype=ember.") + dtype_name(d); }

// PyTorch's _add_suffixes, including its count of the last line (two more than its length).
std::string add_suffixes(std::string s, const std::vector<std::string>& suffixes, int64_t indent) {
  size_t nl = s.rfind('\n');
  int64_t last_line_len = static_cast<int64_t>(s.size()) + 1 -
                          (nl == std::string::npos ? -1 : static_cast<int64_t>(nl));
  for (const std::string& suffix : suffixes) {
    auto len = static_cast<int64_t>(suffix.size());
    if (last_line_len + len + 2 > kLineWidth) {
      s.append(",\n").append(static_cast<size_t>(indent), ' ').append(suffix);
      last_line_len = indent + len;
    } else {
      s.append(", ").append(suffix);
      last_line_len += len + 2;
    }
  }
  return s + ")";
}

}  // namespace

std::string to_string(const Tensor& t) {
  if (!t.defined()) return "[ Tensor (undefined) ]";
  const std::string prefix = "tensor(";
  const auto indent = static_cast<int64_t>(prefix.size());
  std::vector<std::string> suffixes;
  std::string body;
  DType d = t.dtype();
  if (t.numel() == 0) {
    // No elements to tell an int tensor from a float one, so the dtype is always named.
    if (t.dim() != 1) suffixes.push_back("size=" + tuple_str(t.sizes()));
    if (d != default_dtype()) suffixes.push_back(dtype_suffix(d));
    body = "[]";
  } else {
    if (d != default_dtype() && d != kInt64 && d != kBool) suffixes.push_back(dtype_suffix(d));
    Elements e{static_cast<const char*>(t.raw_data()), d, t.sizes(), t.strides()};
    bool summarize = t.numel() > kThreshold;
    std::vector<int64_t> offsets;
    collect(e, 0, 0, summarize, offsets);
    Formatter f(e, offsets);
    body = tensor_str(e, f, 0, 0, indent, summarize);
  }
  // PyTorch shows grad_fn=<Name> instead for a tensor with a grad_fn; that waits for autograd
  // to give its nodes names.
  if (t.requires_grad()) suffixes.push_back("requires_grad=True");
  return add_suffixes(prefix + body, suffixes, indent);
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << to_string(t); }

}  // namespace ember
