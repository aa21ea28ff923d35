#include "jit/ir/graph.hpp"

#include <algorithm>
#include <charconv>
#include <optional>
#include <sstream>

#include "runtime/error.hpp"

namespace ember::jit {
namespace {

void put_dims(std::ostringstream& os, const Dims& d) {
  os << '[';
  for (size_t i = 0; i < d.size(); ++i) os << (i ? "," : "") << d[i];
  os << ']';
}

const char* short_dtype(DType d) {
  switch (d) {
    case kFloat32:
      return "f32";
    case kFloat64:
      return "f64";
    case kInt64:
      return "i64";
    case kBool:
      return "bool";
  }
  return "?";
}

// A double in its shortest round-trip form (every digit that tells it apart).
std::string shortest(double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

}  // namespace

std::string attrs_to_string(const Attrs& a) {
  std::ostringstream os;
  std::visit(
      [&](const auto& v) {
        using A = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<A, ReduceAttrs>) {
          os << "{dims=";
          put_dims(os, v.dims);
          os << ",keepdim=" << v.keepdim << ",correction=" << v.correction << '}';
        } else if constexpr (std::is_same_v<A, DimAttrs>) {
          os << "{dim=" << v.dim << '}';
        } else if constexpr (std::is_same_v<A, DTypeAttrs>) {
          os << "{dtype=" << short_dtype(v.dtype) << '}';
        } else if constexpr (std::is_same_v<A, ClampAttrs>) {
          // Bounds in full: the key must tell apart bounds that agree to the stream's default 6
          // digits (or two clamps would share a node and a kernel).
          auto bound = [](const std::optional<double>& b) {
            return b ? shortest(*b) : std::string("none");
          };
          os << "{min=" << bound(v.min) << ",max=" << bound(v.max) << '}';
        } else if constexpr (std::is_same_v<A, ActivationAttrs>) {
          // every digit: the values are constants of the compiled kernel, keyed by this text
          os << "{p=" << shortest(v.p) << ",q=" << shortest(v.q) << '}';
        } else if constexpr (std::is_same_v<A, GeluAttrs>) {
          os << (v.tanh ? "{approximate=tanh}" : "");
        } else if constexpr (std::is_same_v<A, ShapeAttrs>) {
          os << "{sizes=";
          put_dims(os, v.sizes);
          os << '}';
        } else if constexpr (std::is_same_v<A, LossAttrs>) {
          os << "{reduction=" << static_cast<int>(v.reduction) << ",ignore_index=" << v.ignore_index
             << ",label_smoothing=" << shortest(v.label_smoothing) << '}';
        } else if constexpr (std::is_same_v<A, EmbeddingAttrs>) {
          os << "{padding_idx=" << (v.padding_idx ? std::to_string(*v.padding_idx) : "none") << '}';
        } else if constexpr (std::is_same_v<A, SliceAttrs>) {
          os << "{dim=" << v.dim << ",start=" << v.start << ",end=" << v.end << ",step=" << v.step
             << '}';
        } else if constexpr (std::is_same_v<A, SelectAttrs>) {
          os << "{dim=" << v.dim << ",index=" << v.index << '}';
        } else if constexpr (std::is_same_v<A, ConvAttrs>) {
          os << "{stride=" << v.stride[0] << ',' << v.stride[1] << ",padding=" << v.padding[0]
             << ',' << v.padding[1] << ",dilation=" << v.dilation[0] << ',' << v.dilation[1]
             << ",groups=" << v.groups << ",mask=" << v.output_mask[0] << v.output_mask[1]
             << v.output_mask[2] << '}';
        } else if constexpr (std::is_same_v<A, PoolAttrs>) {
          os << "{kernel=" << v.kernel[0] << ',' << v.kernel[1] << ",stride=" << v.stride[0] << ','
             << v.stride[1] << ",padding=" << v.padding[0] << ',' << v.padding[1]
             << ",dilation=" << v.dilation[0] << ',' << v.dilation[1] << ",ceil=" << v.ceil_mode
             << ",count_pad=" << v.count_include_pad
             << ",divisor=" << (v.divisor_override ? std::to_string(*v.divisor_override) : "none")
             << '}';
        } else if constexpr (std::is_same_v<A, NormAttrs>) {
          os << "{normalized_shape=";
          put_dims(os, v.normalized_shape);
          os << ",eps=" << shortest(v.eps) << ",momentum=" << shortest(v.momentum)
             << ",training=" << v.training << '}';
        } else if constexpr (std::is_same_v<A, DropoutAttrs>) {
          os << "{p=" << shortest(v.p) << ",training=" << v.training << ",seed=" << v.seed
             << ",offset=" << v.offset << '}';
        } else if constexpr (std::is_same_v<A, SortAttrs>) {
          os << "{dim=" << v.dim << ",descending=" << v.descending << ",stable=" << v.stable
             << ",k=" << v.k << '}';
        } else {
          // Every attribute in full: two calls that differ only in an attribute must never
          // share a node or a kernel. A new kind of attributes fails to compile until keyed.
          static_assert(std::is_same_v<A, std::monostate>, "attrs_to_string: key this Attrs");
        }
      },
      a);
  return os.str();
}

namespace {
// Appends with to_chars: keys are built for every traced op, so no streams here.
void put(std::string& s, int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  s.append(buf, r.ptr);
}
void put(std::string& s, double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest round-trip form
  s.append(buf, r.ptr);
}
void put(std::string& s, const Dims& d) {
  s += '[';
  for (size_t i = 0; i < d.size(); ++i) {
    if (i) s += ',';
    put(s, d[i]);
  }
  s += ']';
}
}  // namespace

std::string IrNode::key() const {
  std::string s;
  s.reserve(48);
  switch (kind) {
    case Kind::Input:
      s += "in";
      put(s, int64_t{input});
      s += short_dtype(dtype);
      put(s, sizes);
      put(s, strides);
      s += 's';
      put(s, int64_t{storage});
      s += '+';
      put(s, value);
      break;
    case Kind::Scalar:  // its value is a kernel argument, not part of the graph
      s += "sc";
      put(s, int64_t{input});
      s += short_dtype(dtype);
      break;
    case Kind::Const:
      s += 'c';
      s += short_dtype(dtype);
      put(s, value);
      break;
    case Kind::Apply:
      s += op_name(op);
      s += '(';
      for (size_t i = 0; i < args.size(); ++i) {
        if (i) s += ',';
        put(s, int64_t{args[i]});
      }
      s += ')';
      if (!std::holds_alternative<std::monostate>(attrs)) s += attrs_to_string(attrs);
      s += short_dtype(compute);
      s += short_dtype(dtype);
      put(s, sizes);
      if (op == Op::View || op == Op::Copy_) {  // a strided view of its first operand's buffer
        put(s, strides);
        s += '+';
        put(s, value);
      }
      break;
  }
  return s;
}

int32_t Graph::add(IrNode n) {
  std::string k = n.key();
  if (auto it = interned_.find(k); it != interned_.end()) return it->second;
  auto id = static_cast<int32_t>(nodes_.size());
  if (n.kind == Kind::Input) num_inputs_ = std::max(num_inputs_, n.input + 1);
  nodes_.push_back(std::move(n));
  keys_.push_back(k);
  interned_.emplace(std::move(k), id);
  return id;
}

std::string Graph::signature() const {
  // An input whose memory no other input reads and the graph does not write is read through its
  // own data pointer: where it starts in that memory changes nothing in the compiled code. Its
  // offset is left out, so that batches sliced from one tensor (x.narrow(0, i * b, b)) share a
  // signature instead of filling the specialisation cap with one per batch.
  // Storage ids are numbered from 0 in order of appearance (-1: an input made without one, as
  // tests build them, has the first slot).
  std::vector<int> readers;  // by storage + 1: its Input nodes, or -1 when written
  auto slot = [&](int32_t st) -> int& {
    const auto i = static_cast<size_t>(std::max(st, -1) + 1);
    if (i >= readers.size()) readers.resize(i + 1, 0);
    return readers[i];
  };
  for (const IrNode& n : nodes_)
    if (n.kind == Kind::Input) ++slot(n.storage);
  for (const Write& w : writes) slot(w.storage) = -1;
  std::string s;
  s.reserve(nodes_.size() * 40);
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const IrNode& n = nodes_[i];
    const std::string& key = dirty_ ? n.key() : keys_[i];
    if (n.kind == Kind::Input && slot(n.storage) == 1)
      s.append(key, 0, key.rfind('+') + 1);  // the key without the offset after '+'
    else
      s += key;
    s += ';';
  }
  s += "->";
  for (int32_t o : outputs) {
    s += std::to_string(o);
    s += ',';
  }
  for (const Write& w : writes) {
    s += 'w';
    s += std::to_string(w.node);
    s += ':';
    s += std::to_string(w.storage);
  }
  return s;
}

std::string Graph::to_string() const {
  std::ostringstream os;
  os.precision(9);
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const IrNode& n = nodes_[i];
    os << "  %" << i << " = ";
    switch (n.kind) {
      case Kind::Input:
        os << "input[" << n.input << "] " << short_dtype(n.dtype);
        put_dims(os, n.sizes);
        os << " strides ";
        put_dims(os, n.strides);
        os << " storage " << n.storage;
        if (n.value != 0) os << " offset " << n.value;
        break;
      case Kind::Scalar:
        os << "scalar[" << n.input << "] " << short_dtype(n.dtype);
        break;
      case Kind::Const:
        os << "const " << short_dtype(n.dtype) << ' ' << n.value;
        break;
      case Kind::Apply:
        os << op_name(n.op);
        for (size_t a = 0; a < n.args.size(); ++a) os << (a ? ", %" : " %") << n.args[a];
        if (std::string at = attrs_to_string(n.attrs); !at.empty()) os << ' ' << at;
        if (n.op == Op::View || n.op == Op::Copy_) {
          os << " strides ";
          put_dims(os, n.strides);
          os << " offset " << n.value;
        }
        os << " : " << short_dtype(n.dtype);
        put_dims(os, n.sizes);
        break;
    }
    os << '\n';
  }
  os << "  outputs";
  for (int32_t o : outputs) os << " %" << o;
  os << '\n';
  if (!writes.empty()) {
    os << "  writes";
    for (const Write& w : writes) os << " %" << w.node << " -> storage " << w.storage;
    os << '\n';
  }
  return os.str();
}

void Graph::verify() const {
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const IrNode& n = nodes_[i];
    if (n.kind == Kind::Input) {
      EMBER_ASSERT(n.input >= 0 && n.input < num_inputs_, "jit: node %", i, " reads input ",
                   n.input, " of ", num_inputs_);
      EMBER_ASSERT(n.strides.size() == n.sizes.size(), "jit: input node %", i, " has sizes ",
                   n.sizes, " but strides ", n.strides);
    } else if (n.kind == Kind::Apply) {
      for (int32_t a : n.args)
        EMBER_ASSERT(a >= 0 && static_cast<size_t>(a) < i, "jit: node %", i, " (", op_name(n.op),
                     ") uses %", a, ", which does not precede it");
    }
  }
  for (int32_t o : outputs)
    EMBER_ASSERT(o >= 0 && static_cast<size_t>(o) < nodes_.size(), "jit: output %", o,
                 " is not a node of a graph of ", nodes_.size());
  for (size_t i = 0; i < writes.size(); ++i) {
    const Write& w = writes[i];
    EMBER_ASSERT(w.node >= 0 && static_cast<size_t>(w.node) < nodes_.size(), "jit: write %", w.node,
                 " is not a node of a graph of ", nodes_.size());
    for (size_t j = 0; j < i; ++j)
      EMBER_ASSERT(writes[j].storage != w.storage, "jit: storage ", w.storage, " is written twice");
  }
}

void Graph::take_results(const Graph& g, const std::vector<int32_t>& remap) {
  for (int32_t o : g.outputs) outputs.push_back(remap[static_cast<size_t>(o)]);
  for (const Write& w : g.writes) writes.push_back({remap[static_cast<size_t>(w.node)], w.storage});
}

}  // namespace ember::jit
