// The LLVM IR emitter of code generation (internal, included by jit/codegen/*.cpp only: it
// brings LLVM's headers). One Emitter turns one fused step into a kernel function; its loop nests
// are defined by family: codegen.cpp (set-up, values, pointwise), reduce.cpp (reductions) and
// last_dim.cpp (softmax and RowReduce kernels).
#pragma once

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/TargetParser/Triple.h>

#include <algorithm>
#include <array>
#include <limits>
#include <map>
#include <optional>
#include <set>

#include "dsl/describe.hpp"
#include "jit/codegen/codegen.hpp"
#include "jit/codegen/math.hpp"
#include "jit/orc/engine.hpp"
#include "runtime/error.hpp"
#include "runtime/ops/loops.hpp"
#include "runtime/ops/pointwise_defs.hpp"
#include "runtime/parallel.hpp"
#include "runtime/tensor.hpp"

namespace ember::jit::lower {

using llvm::Value;

// ---- the dsl definitions of the built-in pointwise ops, as run-time trees ----

using TreeTable = std::array<std::optional<dsl::ExprTree>, static_cast<size_t>(Op::NumOps)>;

template <Op op>
void put_tree(TreeTable& t) {
  if constexpr (!std::is_void_v<dsl_def_t<op>>)
    t[static_cast<size_t>(op)] = dsl::describe(dsl_def_t<op>::expr);
}

// Never destroyed: the background compiler may still read it while the process exits.
inline const TreeTable& trees() {
  static const TreeTable& table = *new TreeTable([] {
    TreeTable t;
#define EMBER_PUT_TREE(O, ...) put_tree<Op::O>(t);
    EMBER_OPS(EMBER_PUT_TREE)
#undef EMBER_PUT_TREE
    return t;
  }());
  return table;
}

// The trees of activations with options, built per call from the node's ActivationAttrs (the
// values are constants of the kernel; the graph's key holds them, so kernels are not shared).
using OptionTreeTable =
    std::array<dsl::ExprTree (*)(const Attrs&), static_cast<size_t>(Op::NumOps)>;

template <Op op>
void put_option_tree(OptionTreeTable& t) {
  if constexpr (!std::is_void_v<dsl_def_t<op>>)
    if constexpr (requires { dsl_def_t<op>::with(0.0, 0.0); })
      t[static_cast<size_t>(op)] = [](const Attrs& a) {
        return dsl::describe(call_expr<dsl_def_t<op>>(a));
      };
}

inline const OptionTreeTable& option_trees() {
  static const OptionTreeTable table = [] {
    OptionTreeTable t{};
#define EMBER_PUT_OPTION_TREE(O, ...) put_option_tree<Op::O>(t);
    EMBER_OPS(EMBER_PUT_OPTION_TREE)
#undef EMBER_PUT_OPTION_TREE
    return t;
  }();
  return table;
}

/// The formula of node n; `scratch` holds it when it is built for this node's options.
inline const dsl::ExprTree& tree_of(const IrNode& n, dsl::ExprTree& scratch) {
  if (auto* f = option_trees()[static_cast<size_t>(n.op)]) {
    scratch = f(n.attrs);
    return scratch;
  }
  if (n.op == Op::Gelu && std::get<GeluAttrs>(n.attrs).tanh) {
    static const dsl::ExprTree& gelu_tanh =
        *new dsl::ExprTree(dsl::describe(dsl::builtin::gelu_tanh::expr));  // never destroyed
    return gelu_tanh;
  }
  const auto& t = trees()[static_cast<size_t>(n.op)];
  EMBER_ASSERT(t.has_value(), "jit: no dsl definition for ", op_name(n.op));
  return *t;
}

// ---- the iteration space ----

// The dims a step walks, outermost first, each kept (an item of the range) or reduced (walked
// inside an item), with every buffer's stride along it, in elements.
struct Space {
  std::vector<int64_t> size;
  std::vector<bool> reduced;
  std::vector<std::vector<int64_t>> stride;  // [buffer][dim]

  // Drops size-1 dims and merges neighbours of the same kind that every buffer walks as one.
  void simplify() {
    Space s;
    s.stride.resize(stride.size());
    for (size_t d = 0; d < size.size(); ++d) {
      if (size[d] == 1) continue;
      bool merge = !s.size.empty() && s.reduced.back() == reduced[d];
      for (size_t b = 0; merge && b < stride.size(); ++b)
        merge = s.stride[b].back() == stride[b][d] * size[d];
      if (merge) {
        s.size.back() *= size[d];
        for (size_t b = 0; b < stride.size(); ++b) s.stride[b].back() = stride[b][d];
        continue;
      }
      s.size.push_back(size[d]);
      s.reduced.push_back(reduced[d]);
      for (size_t b = 0; b < stride.size(); ++b) s.stride[b].push_back(stride[b][d]);
    }
    *this = std::move(s);
  }
  std::vector<size_t> dims(bool red) const {
    std::vector<size_t> r;
    for (size_t d = 0; d < size.size(); ++d)
      if (reduced[d] == red) r.push_back(d);
    return r;
  }
  int64_t count(bool red) const {
    int64_t n = 1;
    for (size_t d : dims(red)) n *= size[d];
    return n;
  }
};

// Strides of node `id`'s buffer read over `space` (dims it broadcasts along read stride 0).
inline std::vector<int64_t> read_strides(const Graph& g, int32_t id, const Dims& space) {
  const IrNode& n = g[id];
  bool strided = n.kind == Kind::Input || (n.kind == Kind::Apply && is_strided_view(n.op));
  Dims st = strided ? n.strides : contiguous_strides(n.sizes);
  std::vector<int64_t> out(space.size(), 0);
  size_t off = space.size() - n.sizes.size();
  for (size_t d = 0; d < n.sizes.size(); ++d)
    if (n.sizes[d] != 1) out[off + d] = st[d];
  return out;
}

inline llvm::Type* scalar_type(llvm::LLVMContext& c, DType d) {
  switch (d) {
    case kFloat32:
      return llvm::Type::getFloatTy(c);
    case kFloat64:
      return llvm::Type::getDoubleTy(c);
    case kBool:
      return llvm::Type::getInt1Ty(c);
    case kInt64:  // read only (compared, converted): no kernel computes int64 values
      return llvm::Type::getInt64Ty(c);
    default:
      break;
  }
  EMBER_ASSERT(false, "jit: no kernels for ", dtype_name(d), " values");
  return nullptr;
}
inline llvm::Type* memory_type(llvm::LLVMContext& c, DType d) {
  return d == kBool ? llvm::Type::getInt8Ty(c) : scalar_type(c, d);
}
// ---- the emitter ----

class Emitter {
 public:
  Emitter(const Graph& g, const Group& step, const std::vector<bool>& mat, llvm::Module& m,
          const std::map<int32_t, int32_t>& in_place = {});

  std::vector<int32_t> buffers;
  Space space;

  // Emits the body and the entry point `symbol`.
  void emit(llvm::Module& m, const std::string& symbol);

  // The range of items and the smallest chunk worth a thread.
  int64_t range() const { return space.count(false); }
  int64_t grain() const {
    if (step_.kind == Group::Kind::Pointwise) return kGrainSize;
    return std::max<int64_t>(1, kGrainSize / std::max<int64_t>(1, space.count(true)));
  }

 private:
  bool is_root(int32_t id) const {
    return std::find(step_.roots.begin(), step_.roots.end(), id) != step_.roots.end();
  }
  // Costly functions (exp, erf, division, ...) in the dsl definition of pointwise node n.
  static int costly_fns(const IrNode& n);

  void collect(int32_t id);

  void build_space();

  Value* c64(int64_t v) { return b_.getInt64(static_cast<uint64_t>(v)); }
  llvm::AllocaInst* var(llvm::Type* t) {
    llvm::IRBuilder<> eb(&body_->getEntryBlock(), body_->getEntryBlock().begin());
    return eb.CreateAlloca(t);
  }
  llvm::BasicBlock* block(const char* name) { return llvm::BasicBlock::Create(ctx_, name, body_); }

  // for (i = lo; i < hi; i = body(i)): body returns the next i. `width` (if not 0) tells the
  // loop vectoriser how many lanes to use.
  template <class F>
  void loop_step(Value* lo, Value* hi, F&& body, bool interleave = true, unsigned width = 0) {
    auto* iv = var(i64_);
    b_.CreateStore(lo, iv);
    auto *cond = block("cond"), *bb = block("loop"), *exit = block("done");
    b_.CreateBr(cond);
    b_.SetInsertPoint(cond);
    Value* i = b_.CreateLoad(i64_, iv);
    b_.CreateCondBr(b_.CreateICmpSLT(i, hi), bb, exit);
    b_.SetInsertPoint(bb);
    b_.CreateStore(body(i), iv);
    auto* latch = b_.CreateBr(cond);
    llvm::SmallVector<llvm::Metadata*, 3> md{nullptr};
    auto hint = [&](const char* name, unsigned v) {
      llvm::Metadata* kv[] = {llvm::MDString::get(ctx_, name),
                              llvm::ConstantAsMetadata::get(b_.getInt32(v))};
      md.push_back(llvm::MDNode::get(ctx_, kv));
    };
    // One vector body, not four: elementwise loops gain little from interleaving, and the
    // copies make codegen (the larger half of compile time) slower.
    if (!interleave) hint("llvm.loop.interleave.count", 1);
    if (width > 1) hint("llvm.loop.vectorize.width", width);
    if (md.size() > 1) {
      auto* self = llvm::MDNode::getDistinct(ctx_, md);
      self->replaceOperandWith(0, self);
      latch->setMetadata(llvm::LLVMContext::MD_loop, self);
    }
    b_.SetInsertPoint(exit);
  }
  // for (i = lo; i < hi; ++i) body(i)
  template <class F>
  void loop(Value* lo, Value* hi, F&& body, bool interleave = true, unsigned width = 0) {
    loop_step(
        lo, hi,
        [&](Value* i) {
          body(i);
          return b_.CreateNSWAdd(i, c64(1));
        },
        interleave, width);
  }

  // Each buffer's offset at linear index idx over `dims` (outermost first).
  std::vector<Value*> offsets(Value* idx, const std::vector<size_t>& dims);
  std::vector<Value*> advance(const std::vector<Value*>& base, Value* j, size_t d);

  Value* address(int32_t id, const std::vector<Value*>& off) {
    int s = slot_.at(id);
    return b_.CreateInBoundsGEP(memory_type(ctx_, g_[id].dtype), ptr_[static_cast<size_t>(s)],
                                off[static_cast<size_t>(s)]);
  }
  Value* load(int32_t id, const std::vector<Value*>& off) {
    Value* v = b_.CreateLoad(memory_type(ctx_, g_[id].dtype), address(id, off));
    return g_[id].dtype == kBool ? b_.CreateICmpNE(v, b_.getInt8(0)) : v;
  }
  void store(int32_t id, Value* v, const std::vector<Value*>& off) {
    if (g_[id].dtype == kBool) v = b_.CreateZExt(v, b_.getInt8Ty());
    b_.CreateStore(v, address(id, off));
  }

  Value* convert(Value* v, DType from, DType to);

  // IrNode id's value at the current element, as its own dtype, converted to `as`.
  Value* value(int32_t id, DType as, const std::vector<Value*>& off);
  Value* value(int32_t id, const std::vector<Value*>& off);

  Value* lower_tree(const dsl::ExprTree& t, const std::vector<Value*>& x, llvm::Type* ty);

  Value* apply(const IrNode& n, const std::vector<Value*>& off);

  // a + b, free to reassociate: a reduction the vectoriser may split into lanes.
  Value* reassoc_add(Value* a, Value* b);

  // ---- the three loop nests ----

  void emit_pointwise(Value* begin, Value* end);

  // Heavy loops run in blocks of kHeavyBlock elements, prefetching kHeavyAhead elements ahead,
  // as the dsl's (runtime/ops/loops.hpp).
  static constexpr int64_t kHeavyBlock = loops::kHeavyBlock, kHeavyAhead = loops::kHeavyAhead;
  // Prefetches elements [lo, hi) along dim `d` from `base` of each buffer read contiguously
  // along d, a cache line at a time; with `outputs`, of the roots too (for writing).
  void prefetch_lines(const std::vector<Value*>& base, Value* lo, Value* hi, size_t d,
                      bool outputs);

  // Walks every element of the reduced dims of one item: f(offsets).
  // `width`: vector lanes to ask for on the innermost loop (0: the vectoriser's choice).
  template <class F>
  void walk_reduced(const std::vector<Value*>& base, F&& f, unsigned width = 0) {
    std::vector<size_t> dims = space.dims(true);
    size_t inner = dims.back();
    dims.pop_back();
    int64_t rows = 1;
    for (size_t d : dims) rows *= space.size[d];
    auto inner_loop = [&](const std::vector<Value*>& b0) {
      loop(
          c64(0), c64(space.size[inner]),
          [&](Value* j) {
            memo_.clear();
            elem_ = j;
            f(advance(b0, j, inner));
          },
          true, width);
    };
    if (rows == 1) return inner_loop(base);
    loop(c64(0), c64(rows), [&](Value* r) {
      std::vector<Value*> o = offsets(r, dims);
      for (size_t s = 0; s < o.size(); ++s) o[s] = b_.CreateNSWAdd(o[s], base[s]);
      inner_loop(o);
    });
  }

  // What a reduction accumulates in, starts from, and how it adds an element and finishes.
  struct Accumulator {
    llvm::Type* ty;
    DType dtype;
    double init;
  };
  Accumulator accumulator(const IrNode& n) {
    // Sums accumulate in double: accurate for long float rows, and cheap next to the loads.
    if (n.op == Op::Sum || n.op == Op::Mean) return {b_.getDoubleTy(), kFloat64, 0.0};
    double inf = std::numeric_limits<double>::infinity();
    return {scalar_type(ctx_, n.compute), n.compute, n.op == Op::Amax ? -inf : inf};
  }
  Value* accumulate(const IrNode& n, Value* acc, Value* x) {
    if (n.op == Op::Sum || n.op == Op::Mean) return reassoc_add(acc, x);
    return n.op == Op::Amax ? b_.CreateMaximum(acc, x) : b_.CreateMinimum(acc, x);
  }
  Value* finish(const IrNode& n, const Accumulator& a, Value* acc) {
    if (n.op == Op::Mean)
      acc = b_.CreateFDiv(acc, llvm::ConstantFP::get(a.ty, double(space.count(true))));
    return convert(acc, a.dtype, n.dtype);
  }

  // The max or min of a loop's values, in a form the vectoriser splits into lanes: maxnum with
  // no-NaN flags over the values with NaN replaced (a reduction LLVM vectorises; llvm.maximum
  // is not), and on the side an or of "this value is NaN", so that a NaN anywhere still makes
  // the result NaN, as in eager amax.
  class MinMax {
   public:
    MinMax(Emitter& e, llvm::Type* ty, bool is_max)
        : e_(e),
          ty_(ty),
          is_max_(is_max),
          identity_(llvm::ConstantFP::getInfinity(ty, /*Negative=*/is_max)) {
      acc_ = e.var(ty);
      nan_ = e.var(e.b_.getInt1Ty());
      e.b_.CreateStore(identity_, acc_);
      e.b_.CreateStore(e.b_.getInt1(false), nan_);
    }
    void add(Value* x) {
      auto& b = e_.b_;
      Value* is_nan = b.CreateFCmpUNO(x, x);
      // NaN replaced by the identity, so that the flags below hold (they are promises).
      Value* clean = b.CreateSelect(is_nan, identity_, x);
      b.CreateStore(b.CreateOr(b.CreateLoad(b.getInt1Ty(), nan_), is_nan), nan_);
      llvm::IRBuilder<>::FastMathFlagGuard guard(b);
      llvm::FastMathFlags fm;
      fm.setNoNaNs();
      fm.setNoSignedZeros();
      b.setFastMathFlags(fm);
      Value* a = b.CreateLoad(ty_, acc_);
      b.CreateStore(is_max_ ? b.CreateMaxNum(a, clean) : b.CreateMinNum(a, clean), acc_);
    }
    Value* result() {
      auto& b = e_.b_;
      return b.CreateSelect(b.CreateLoad(b.getInt1Ty(), nan_), llvm::ConstantFP::getNaN(ty_),
                            b.CreateLoad(ty_, acc_));
    }

   private:
    Emitter& e_;
    llvm::Type* ty_;
    bool is_max_;
    llvm::Constant* identity_;  // -inf for max, +inf for min
    llvm::AllocaInst *acc_, *nan_;
  };

  void emit_reduce(Value* begin, Value* end);

  // Reduction n's value over the reduced dims of the item at `base`, as n's dtype.
  Value* reduce_item(const IrNode& n, const std::vector<Value*>& base);
  // Sums or means of one item, one walk for all (their values, in order).
  std::vector<Value*> reduce_sums(const std::vector<const IrNode*>& nodes,
                                  const std::vector<Value*>& base);

  // A reduction over outer dims (sum over dim 0 of a matrix, say): walking one output item's
  // column at a time would stride through memory. Instead a block of up to kBlock neighbouring
  // items along the innermost (contiguous) dim is reduced together: for each reduced element,
  // one vectorised pass adds a row segment into a block of accumulators.
  void emit_reduce_outer(Value* begin, Value* end);

  void emit_softmax(Value* begin, Value* end);

  // A large softmax output (at least kStreamBytes) with contiguous rows of at most
  // kMaxStackRow bytes, a whole number of vectors long, on x86, is written with non-temporal
  // stores (emit_softmax_streamed): a result that large will not stay in cache for its reader, and
  // streaming it saves reading each of its lines in before writing it.
  static constexpr int64_t kStreamBytes = 4 << 20, kMaxStackRow = 16 << 10;
  bool streamed_row() const {
    const int32_t root = step_.roots[0];
    const size_t rd = space.dims(true)[0];
    const int64_t len = space.size[rd], esize = int64_t(element_size(g_[root].dtype));
    const int64_t vb = Engine::instance().vector_bytes();
    return llvm::Triple(body_->getParent()->getTargetTriple()).isX86() && vb >= 16 &&
           space.stride[static_cast<size_t>(slot_.at(root))][rd] == 1 &&
           len * esize <= kMaxStackRow && (len * esize) % vb == 0 &&
           product(step_.space) * esize >= kStreamBytes;
  }

  // if (c) body()
  template <class F>
  void if_then(Value* c, F&& body) {
    auto *then = block("then"), *done = block("endif");
    b_.CreateCondBr(c, then, done);
    b_.SetInsertPoint(then);
    body();
    b_.CreateBr(done);
    b_.SetInsertPoint(done);
  }

  // emit_softmax's passes with two rows on the stack: passes 1 and 2 of a row work in one of them,
  // while, block by block, pass 2 also writes the previous row's result (from the other) with
  // non-temporal stores, so that the writes overlap the exp; the last row is written at the end.
  void emit_softmax_streamed(Value* begin, Value* end);

  // walk_reduced over the one reduced dim of item's row, in blocks, each prefetching a block of
  // the next row in [.., end) (its inputs, and with `outputs` its outputs for writing): used for
  // a row's last pass that is bound by the math, so that the next row's first pass, which would
  // wait for memory, finds its lines in cache. before_block(jb, je) runs ahead of each block.
  template <class F, class B = void (*)(Value*, Value*)>
  void walk_row_prefetching(
      Value* item, Value* end, const std::vector<Value*>& base, F&& f, bool outputs = true,
      B&& before_block = [](Value*, Value*) {}) {
    size_t rd = space.dims(true)[0];
    Value* len = c64(space.size[rd]);
    Value* next_item = b_.CreateBinaryIntrinsic(
        llvm::Intrinsic::smin, b_.CreateNSWAdd(item, c64(1)), b_.CreateNSWSub(end, c64(1)));
    std::vector<Value*> next = offsets(next_item, space.dims(false));
    loop_step(c64(0), len, [&](Value* jb) {
      Value* je = b_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, len,
                                           b_.CreateNSWAdd(jb, c64(kHeavyBlock)));
      prefetch_lines(next, jb, je, rd, outputs);
      before_block(jb, je);
      loop(jb, je, [&](Value* j) {
        memo_.clear();
        elem_ = j;
        f(advance(base, j, rd));
      });
      return je;
    });
  }

  // A Rows step: per row, each reduction in its own pass over the row (reading the earlier
  // ones' values from registers), then one pass computing and storing the pointwise roots.
  void emit_row_reduce(Value* begin, Value* end);

  // The length of a Rows step's rows (its one reduced dim).
  int64_t row_length() const { return space.size[space.dims(true).back()]; }

  // The inlined pointwise nodes node id's value computes (not the ones read from memory or
  // from the row's reduced values).
  void inlined(int32_t id, std::set<int32_t>& out);
  // Transcendental values that more than one pass of a Rows step computes (exp(x - max) in
  // softmax written out: the sum's pass and the output's) are computed once per row: the first
  // pass stores them in a row-long array on the stack, later passes read it (rows up to 16 KiB
  // per value; longer ones recompute).
  void plan_row_cache();

  const Graph& g_;
  const Group& step_;
  const std::vector<bool>& mat_;
  const std::map<int32_t, int32_t>& in_place_;  // input node -> the root whose buffer it is
  llvm::LLVMContext& ctx_;
  llvm::IRBuilder<> b_;
  llvm::Type* i64_;
  llvm::Function* body_ = nullptr;
  std::map<int32_t, int> slot_;  // node -> buffer slot, or -1 for values kept in registers
  int costly_ = 0;               // costly functions computed per element (see emit_pointwise)
  std::vector<Value*> ptr_;
  Value* scalars_ = nullptr;          // the runtime scalars (doubles)
  std::map<int32_t, Value*> scalar_;  // scalar index -> its value, loaded at the entry
  std::map<int32_t, Value*> memo_;    // values of the current element
  std::map<int32_t, Value*> row_;     // a Rows step's reductions of the current row
  struct RowCache {
    llvm::Type* ty = nullptr;
    llvm::AllocaInst* array = nullptr;  // the row's values
    bool stored = false;                // a pass so far computes and stores them
    bool filled = false;                // a finished pass did: later passes load
  };
  std::map<int32_t, RowCache> row_cache_;  // a Rows step's values computed once per row
  Value* elem_ = nullptr;                  // the position along the reduced dim
};

}  // namespace ember::jit::lower
