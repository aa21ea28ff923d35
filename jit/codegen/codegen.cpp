#include "jit/codegen/codegen.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <map>

#include <optional>
#include <set>

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/IntrinsicsX86.h>
#include <llvm/TargetParser/Triple.h>

#include "dsl/describe.hpp"
#include "jit/codegen/math.hpp"
#include "jit/orc/engine.hpp"
#include "runtime/error.hpp"
#include "runtime/ops/pointwise_defs.hpp"
#include "runtime/parallel.hpp"
#include "runtime/tensor.hpp"

namespace ember::jit {
namespace {

using llvm::Value;

// ---- the dsl definitions of the built-in pointwise ops, as run-time trees ----

using TreeTable = std::array<std::optional<dsl::ExprTree>, static_cast<size_t>(Op::NumOps)>;

template <Op op> void put_tree(TreeTable& t) {
  if constexpr (!std::is_void_v<dsl_def_t<op>>)
    t[static_cast<size_t>(op)] = dsl::describe(dsl_def_t<op>::expr);
}

const TreeTable& trees() {
  static const TreeTable table = [] {
    TreeTable t;
    put_tree<Op::Neg>(t), put_tree<Op::Abs>(t), put_tree<Op::Exp>(t), put_tree<Op::Log>(t);
    put_tree<Op::Log1p>(t), put_tree<Op::Expm1>(t), put_tree<Op::Sqrt>(t);
    put_tree<Op::Rsqrt>(t), put_tree<Op::Sin>(t), put_tree<Op::Cos>(t), put_tree<Op::Tanh>(t);
    put_tree<Op::Sigmoid>(t), put_tree<Op::Erf>(t), put_tree<Op::Sign>(t);
    put_tree<Op::Relu>(t), put_tree<Op::Silu>(t), put_tree<Op::Gelu>(t), put_tree<Op::Add>(t);
    put_tree<Op::Sub>(t), put_tree<Op::Mul>(t), put_tree<Op::Div>(t), put_tree<Op::Pow>(t);
    put_tree<Op::Maximum>(t), put_tree<Op::Minimum>(t);
    return t;
  }();
  return table;
}

const dsl::ExprTree& tree_of(const Node& n) {
  if (n.op == Op::Gelu && std::get<GeluAttrs>(n.attrs).tanh) {
    static const dsl::ExprTree gelu_tanh = dsl::describe(dsl::builtin::gelu_tanh::expr);
    return gelu_tanh;
  }
  const auto& t = trees()[static_cast<size_t>(n.op)];
  EMBER_CHECK(t.has_value(), Error, "jit: no dsl definition for ", op_name(n.op));
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
std::vector<int64_t> read_strides(const Graph& g, int32_t id, const Dims& space) {
  const Node& n = g[id];
  bool strided = n.kind == Kind::Input || (n.kind == Kind::Apply && is_view(n.op));
  Dims st = strided ? n.strides : contiguous_strides(n.sizes);
  std::vector<int64_t> out(space.size(), 0);
  size_t off = space.size() - n.sizes.size();
  for (size_t d = 0; d < n.sizes.size(); ++d)
    if (n.sizes[d] != 1) out[off + d] = st[d];
  return out;
}

llvm::Type* scalar_type(llvm::LLVMContext& c, DType d) {
  switch (d) {
    case kFloat32: return llvm::Type::getFloatTy(c);
    case kFloat64: return llvm::Type::getDoubleTy(c);
    case kBool: return llvm::Type::getInt1Ty(c);
    default: break;
  }
  EMBER_CHECK(false, Error, "jit: no kernels for ", dtype_name(d), " values");
  return nullptr;
}
llvm::Type* memory_type(llvm::LLVMContext& c, DType d) {
  return d == kBool ? llvm::Type::getInt8Ty(c) : scalar_type(c, d);
}

// ---- the emitter ----

class Emitter {
 public:
  Emitter(const Graph& g, const Group& step, const std::vector<bool>& mat, llvm::Module& m)
      : g_(g), step_(step), mat_(mat), ctx_(m.getContext()), b_(ctx_), i64_(b_.getInt64Ty()) {
    // The buffers: what the step reads (found by walking its expressions), then its roots.
    for (int32_t r : step.roots) {
      const Node& n = g[r];
      if (step.kind == Group::Kind::Pointwise || is_pointwise(n.op)) {
        for (int32_t a : n.args) collect(a);
      } else {
        collect(n.args[0]);
      }
      slot_[r] = static_cast<int>(buffers.size());
      buffers.push_back(r);
    }
    build_space();
    for (const auto& [id, slot] : slot_)
      if ((slot == -1 || is_root(id)) && is_pointwise(g[id].op)) costly_ += costly_fns(g[id]);

    // The kernel body takes each buffer as its own noalias argument; the entry point unpacks
    // the buffer array and calls it (inlined by O3, keeping the aliasing facts).
    std::vector<llvm::Type*> params(buffers.size(), b_.getPtrTy());
    params.push_back(i64_);
    params.push_back(i64_);
    body_ = llvm::Function::Create(llvm::FunctionType::get(b_.getVoidTy(), params, false),
                                   llvm::Function::InternalLinkage, "body", m);
    for (size_t i = 0; i < buffers.size(); ++i) body_->addParamAttr(i, llvm::Attribute::NoAlias);
    body_->addFnAttr(llvm::Attribute::AlwaysInline);
    body_->addFnAttr(llvm::Attribute::NoUnwind);
    Engine::instance().add_target_attributes(*body_);
  }

  std::vector<int32_t> buffers;
  Space space;

  // Emits the body and the entry point `symbol`.
  void emit(llvm::Module& m, const std::string& symbol) {
    auto* entry_bb = llvm::BasicBlock::Create(ctx_, "entry", body_);
    b_.SetInsertPoint(entry_bb);
    for (size_t i = 0; i < buffers.size(); ++i) ptr_.push_back(body_->getArg(i));
    Value* begin = body_->getArg(buffers.size());
    Value* end = body_->getArg(buffers.size() + 1);
    switch (step_.kind) {
      case Group::Kind::Pointwise: emit_pointwise(begin, end); break;
      case Group::Kind::Reduce: emit_reduce(begin, end); break;
      case Group::Kind::Row: emit_row(begin, end); break;
      case Group::Kind::Rows: emit_rows(begin, end); break;
      case Group::Kind::Library: EMBER_CHECK(false, Error, "jit: library steps have no kernel");
    }
    b_.CreateRetVoid();

    auto* ft = llvm::FunctionType::get(b_.getVoidTy(), {b_.getPtrTy(), i64_, i64_}, false);
    auto* f = llvm::Function::Create(ft, llvm::Function::ExternalLinkage, symbol, m);
    f->addFnAttr(llvm::Attribute::NoUnwind);
    Engine::instance().add_target_attributes(*f);
    b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", f));
    std::vector<Value*> args;
    for (size_t i = 0; i < buffers.size(); ++i)
      args.push_back(b_.CreateLoad(b_.getPtrTy(),
                                   b_.CreateConstInBoundsGEP1_64(b_.getPtrTy(), f->getArg(0), i)));
    args.push_back(f->getArg(1));
    args.push_back(f->getArg(2));
    b_.CreateCall(body_, args);
    b_.CreateRetVoid();
  }

  // The range of items and the smallest chunk worth a thread.
  int64_t range() const {
    return space.count(false);
  }
  int64_t grain() const {
    if (step_.kind == Group::Kind::Pointwise) return kGrainSize;
    return std::max<int64_t>(1, kGrainSize / std::max<int64_t>(1, space.count(true)));
  }

 private:
  bool is_root(int32_t id) const {
    return std::find(step_.roots.begin(), step_.roots.end(), id) != step_.roots.end();
  }
  // Costly functions (exp, erf, division, ...) in the dsl definition of pointwise node n.
  static int costly_fns(const Node& n) {
    if (!trees()[static_cast<size_t>(n.op)]) return 0;  // comparisons, where, clamp, casts
    int count = 0;
    auto walk = [&](auto& self, const dsl::ExprTree& t) -> void {
      if (t.kind != dsl::ExprTree::Kind::Apply) return;
      count += dsl::is_costly(t.fn) ? 1 : 0;
      for (const auto& a : t.args) self(self, a);
    };
    walk(walk, tree_of(n));
    return count;
  }

  void collect(int32_t id) {
    if (slot_.count(id)) return;
    const Node& n = g_[id];
    if (n.kind == Kind::Const) return;
    if (mat_[static_cast<size_t>(id)] || (n.kind == Kind::Apply && is_view(n.op))) {
      slot_[id] = static_cast<int>(buffers.size());  // read from memory
      buffers.push_back(id);
      return;
    }
    EMBER_CHECK(n.kind == Kind::Apply && is_pointwise(n.op), Error,
                "jit: node %", id, " cannot be inlined");
    slot_[id] = -1;  // visited, computed in registers
    for (int32_t a : n.args) collect(a);
  }

  void build_space() {
    const Dims& sp = step_.space;
    space.size.assign(sp.begin(), sp.end());
    space.reduced.assign(sp.size(), false);
    std::vector<int64_t> out_strides;
    if (step_.kind == Group::Kind::Reduce) {
      const auto& ra = std::get<ReduceAttrs>(g_[step_.roots[0]].attrs);
      for (size_t d = 0; d < sp.size(); ++d)
        space.reduced[d] = ra.dims.empty() ||
                           std::find(ra.dims.begin(), ra.dims.end(), int64_t(d)) != ra.dims.end();
      // The output is contiguous over the kept dims.
      out_strides.assign(sp.size(), 0);
      int64_t s = 1;
      for (size_t d = sp.size(); d-- > 0;)
        if (!space.reduced[d]) out_strides[d] = s, s *= sp[d];
    } else if (step_.kind == Group::Kind::Row) {
      int64_t dim = std::get<DimAttrs>(g_[step_.roots[0]].attrs).dim;
      if (!sp.empty()) space.reduced[static_cast<size_t>(dim)] = true;
    } else if (step_.kind == Group::Kind::Rows) {
      space.reduced.back() = true;  // fuse() made it: sp has at least one dim
    }
    for (int32_t id : buffers) {
      space.stride.push_back(is_root(id) && step_.kind == Group::Kind::Reduce
                                 ? out_strides
                                 : read_strides(g_, id, sp));
    }
    space.simplify();
    // Keep at least one dim of each kind the loops need.
    auto add_unit = [&](bool red) {
      space.size.push_back(1);
      space.reduced.push_back(red);
      for (auto& s : space.stride) s.push_back(0);
    };
    if (space.dims(false).empty()) add_unit(false);
    if (step_.kind != Group::Kind::Pointwise && space.dims(true).empty()) add_unit(true);
    if (step_.kind == Group::Kind::Row || step_.kind == Group::Kind::Rows)
      EMBER_CHECK(space.dims(true).size() == 1, Error, "jit: a row op walks one dim");
  }

  Value* c64(int64_t v) { return b_.getInt64(static_cast<uint64_t>(v)); }
  llvm::AllocaInst* var(llvm::Type* t) {
    llvm::IRBuilder<> eb(&body_->getEntryBlock(), body_->getEntryBlock().begin());
    return eb.CreateAlloca(t);
  }
  llvm::BasicBlock* block(const char* name) {
    return llvm::BasicBlock::Create(ctx_, name, body_);
  }

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
  std::vector<Value*> offsets(Value* idx, const std::vector<size_t>& dims) {
    std::vector<Value*> off(buffers.size(), c64(0));
    Value* rem = idx;
    for (size_t k = dims.size(); k-- > 0;) {
      size_t d = dims[k];
      Value* coord = k == 0 ? rem : b_.CreateURem(rem, c64(space.size[d]));
      if (k != 0) rem = b_.CreateUDiv(rem, c64(space.size[d]));
      for (size_t s = 0; s < buffers.size(); ++s)
        if (space.stride[s][d] != 0)
          off[s] = b_.CreateNSWAdd(off[s], b_.CreateNSWMul(coord, c64(space.stride[s][d])));
    }
    return off;
  }
  std::vector<Value*> advance(const std::vector<Value*>& base, Value* j, size_t d) {
    std::vector<Value*> off = base;
    for (size_t s = 0; s < buffers.size(); ++s)
      if (space.stride[s][d] != 0)
        off[s] = b_.CreateNSWAdd(off[s], b_.CreateNSWMul(j, c64(space.stride[s][d])));
    return off;
  }

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

  Value* convert(Value* v, DType from, DType to) {
    if (from == to) return v;
    llvm::Type* t = scalar_type(ctx_, to);
    if (from == kBool) return b_.CreateUIToFP(v, t);
    if (to == kBool) return b_.CreateFCmpUNE(v, llvm::ConstantFP::get(v->getType(), 0.0));
    return to == kFloat64 ? b_.CreateFPExt(v, t) : b_.CreateFPTrunc(v, t);
  }

  // Node id's value at the current element, as its own dtype, converted to `as`.
  Value* value(int32_t id, DType as, const std::vector<Value*>& off) {
    const Node& n = g_[id];
    if (n.kind == Kind::Const) {
      if (as == kBool) return b_.getInt1(n.value != 0);
      return llvm::ConstantFP::get(scalar_type(ctx_, as), n.value);
    }
    return convert(value(id, off), n.dtype, as);
  }
  Value* value(int32_t id, const std::vector<Value*>& off) {
    if (auto it = memo_.find(id); it != memo_.end()) return it->second;
    if (auto it = row_.find(id); it != row_.end()) return it->second;
    const Node& n = g_[id];
    Value* v;
    if (auto it = row_cache_.find(id); it != row_cache_.end()) {
      RowCache& c = it->second;
      if (c.filled) {
        v = b_.CreateLoad(c.ty, b_.CreateInBoundsGEP(c.ty, c.array, elem_));
      } else {
        v = apply(n, off);
        if (!c.array) {
          c.ty = v->getType();
          llvm::IRBuilder<> eb(&body_->getEntryBlock(), body_->getEntryBlock().begin());
          c.array = eb.CreateAlloca(llvm::ArrayType::get(c.ty, uint64_t(row_length())));
        }
        b_.CreateStore(v, b_.CreateInBoundsGEP(c.ty, c.array, elem_));
        c.stored = true;
      }
    } else {
      v = slot_.at(id) >= 0 ? load(id, off) : apply(n, off);
    }
    memo_[id] = v;
    return v;
  }

  Value* lower_tree(const dsl::ExprTree& t, const std::vector<Value*>& x, llvm::Type* ty) {
    switch (t.kind) {
      case dsl::ExprTree::Kind::Var: return x[static_cast<size_t>(t.var)];
      case dsl::ExprTree::Kind::Const: return llvm::ConstantFP::get(ty, t.value);
      case dsl::ExprTree::Kind::Apply: {
        std::vector<Value*> a;
        for (const auto& s : t.args) a.push_back(lower_tree(s, x, ty));
        return emit_fn(b_, t.fn, a);
      }
    }
    return nullptr;
  }

  Value* apply(const Node& n, const std::vector<Value*>& off) {
    auto arg = [&](size_t i, DType as) { return value(n.args[i], as, off); };
    llvm::Type* ty = scalar_type(ctx_, n.compute);
    switch (n.op) {
      case Op::Eq: case Op::Ne: case Op::Lt: case Op::Le: case Op::Gt: case Op::Ge: {
        Value *a = arg(0, n.compute), *c = arg(1, n.compute);
        switch (n.op) {
          case Op::Eq: return b_.CreateFCmpOEQ(a, c);
          case Op::Ne: return b_.CreateFCmpUNE(a, c);
          case Op::Lt: return b_.CreateFCmpOLT(a, c);
          case Op::Le: return b_.CreateFCmpOLE(a, c);
          case Op::Gt: return b_.CreateFCmpOGT(a, c);
          default: return b_.CreateFCmpOGE(a, c);
        }
      }
      case Op::Where:
        return b_.CreateSelect(arg(0, kBool), arg(1, n.compute), arg(2, n.compute));
      case Op::ToDtype: return arg(0, n.dtype);
      case Op::Clamp: {
        // y = x < lo ? lo : x; y > hi ? hi : y (NaN stays NaN), as the eager kernel.
        const auto& c = std::get<ClampAttrs>(n.attrs);
        Value* y = arg(0, n.compute);
        if (c.min) {
          Value* lo = llvm::ConstantFP::get(ty, *c.min);
          y = b_.CreateSelect(b_.CreateFCmpOLT(y, lo), lo, y);
        }
        if (c.max) {
          Value* hi = llvm::ConstantFP::get(ty, *c.max);
          y = b_.CreateSelect(b_.CreateFCmpOGT(y, hi), hi, y);
        }
        return y;
      }
      default: {
        std::vector<Value*> x;
        for (size_t i = 0; i < n.args.size(); ++i) x.push_back(arg(i, n.compute));
        return lower_tree(tree_of(n), x, ty);
      }
    }
  }

  // a + b, free to reassociate: a reduction the vectoriser may split into lanes.
  Value* reassoc_add(Value* a, Value* b) {
    llvm::IRBuilder<>::FastMathFlagGuard guard(b_);
    llvm::FastMathFlags fm;
    fm.setAllowReassoc();
    fm.setAllowContract();
    b_.setFastMathFlags(fm);
    return b_.CreateFAdd(a, b);
  }

  // ---- the three loop nests ----

  void emit_pointwise(Value* begin, Value* end) {
    std::vector<size_t> dims = space.dims(false);
    size_t inner = dims.back();
    dims.pop_back();
    Value* n_inner = c64(space.size[inner]);
    // Walk [begin, end) row by row: a row is a run of the innermost dim, the loop LLVM
    // vectorises.
    loop_step(begin, end, [&](Value* i) {
      Value* row = b_.CreateUDiv(i, n_inner);
      Value* j0 = b_.CreateURem(i, n_inner);
      Value* j1 = b_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, n_inner,
                                           b_.CreateNSWAdd(j0, b_.CreateNSWSub(end, i)));
      std::vector<Value*> base = offsets(row, dims);
      auto element = [&](Value* j) {
        std::vector<Value*> off = advance(base, j, inner);
        memo_.clear();
        for (int32_t r : step_.roots) {
          Value* v = apply(g_[r], off);
          memo_[r] = v;  // later roots of this kernel read it from registers
          store(r, v, off);
        }
      };
      if (costly_ < 2) {
        loop(j0, j1, element, /*interleave=*/false);
      } else {
        // Compute-bound: the math keeps the CPU from running ahead to the next loads, so the
        // row runs in blocks that prefetch the inputs further on (as the dsl's heavy loops,
        // runtime/ops/loops.hpp).
        loop_step(j0, j1, [&](Value* jb) {
          Value* je = b_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, j1,
                                               b_.CreateNSWAdd(jb, c64(kHeavyBlock)));
          prefetch_lines(base, b_.CreateNSWAdd(jb, c64(kHeavyAhead)),
                         b_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, j1,
                                                  b_.CreateNSWAdd(je, c64(kHeavyAhead))),
                         inner, /*outputs=*/false);
          loop(jb, je, element, /*interleave=*/false);
          return je;
        });
      }
      return b_.CreateNSWAdd(i, b_.CreateNSWSub(j1, j0));
    });
  }

  // Heavy loops run in blocks of kHeavyBlock elements, prefetching kHeavyAhead elements ahead.
  static constexpr int64_t kHeavyBlock = 128, kHeavyAhead = 4096;
  // Prefetches elements [lo, hi) along dim `d` from `base` of each buffer read contiguously
  // along d, a cache line at a time; with `outputs`, of the roots too (for writing).
  void prefetch_lines(const std::vector<Value*>& base, Value* lo, Value* hi, size_t d,
                      bool outputs) {
    for (size_t s = 0; s < buffers.size(); ++s) {
      int32_t id = buffers[s];
      bool out = is_root(id);
      if ((out && !outputs) || space.stride[s][d] != 1) continue;
      int64_t per_line = std::max<int64_t>(1, 64 / int64_t(element_size(g_[id].dtype)));
      loop_step(lo, hi, [&](Value* k) {
        Value* addr = address(id, advance(base, k, d));
        b_.CreateIntrinsic(llvm::Intrinsic::prefetch, {addr->getType()},
                           {addr, b_.getInt32(out ? 1 : 0), b_.getInt32(3), b_.getInt32(1)});
        return b_.CreateNSWAdd(k, c64(per_line));
      });
    }
  }

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
  Accumulator accumulator(const Node& n) {
    // Sums accumulate in double: accurate for long float rows, and cheap next to the loads.
    if (n.op == Op::Sum || n.op == Op::Mean) return {b_.getDoubleTy(), kFloat64, 0.0};
    double inf = std::numeric_limits<double>::infinity();
    return {scalar_type(ctx_, n.compute), n.compute, n.op == Op::Amax ? -inf : inf};
  }
  Value* accumulate(const Node& n, Value* acc, Value* x) {
    if (n.op == Op::Sum || n.op == Op::Mean) return reassoc_add(acc, x);
    return n.op == Op::Amax ? b_.CreateMaximum(acc, x) : b_.CreateMinimum(acc, x);
  }
  Value* finish(const Node& n, const Accumulator& a, Value* acc) {
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
      return b.CreateSelect(b.CreateLoad(b.getInt1Ty(), nan_),
                            llvm::ConstantFP::getNaN(ty_), b.CreateLoad(ty_, acc_));
    }

   private:
    Emitter& e_;
    llvm::Type* ty_;
    bool is_max_;
    llvm::Constant* identity_;  // -inf for max, +inf for min
    llvm::AllocaInst *acc_, *nan_;
  };

  void emit_reduce(Value* begin, Value* end) {
    if (!space.reduced.back()) return emit_reduce_outer(begin, end);
    int32_t root = step_.roots[0];
    const Node& n = g_[root];
    loop(begin, end, [&](Value* item) {
      std::vector<Value*> base = offsets(item, space.dims(false));
      store(root, reduce_item(n, base), base);
    });
  }

  // Reduction n's value over the reduced dims of the item at `base`, as n's dtype.
  Value* reduce_item(const Node& n, const std::vector<Value*>& base) {
    const Accumulator a = accumulator(n);
    if (n.op == Op::Amax || n.op == Op::Amin) {
      MinMax mm(*this, a.ty, n.op == Op::Amax);
      walk_reduced(base, [&](const std::vector<Value*>& off) {
        mm.add(value(n.args[0], a.dtype, off));
      });
      return finish(n, a, mm.result());
    }
    // A float sum accumulates in double, and the vectoriser, sizing lanes by the widest type,
    // would run its float work (an exp, say) four lanes at a time with AVX2: ask for the float
    // width; the double adds take two registers.
    const bool widen = a.dtype == kFloat64 && g_[n.args[0]].dtype == kFloat32;
    auto* acc = var(a.ty);
    b_.CreateStore(llvm::ConstantFP::get(a.ty, a.init), acc);
    walk_reduced(
        base,
        [&](const std::vector<Value*>& off) {
          Value* x = value(n.args[0], a.dtype, off);
          b_.CreateStore(accumulate(n, b_.CreateLoad(a.ty, acc), x), acc);
        },
        widen ? Engine::instance().vector_bytes() / 4 : 0);
    return finish(n, a, b_.CreateLoad(a.ty, acc));
  }

  // A reduction over outer dims (sum over dim 0 of a matrix, say): walking one output item's
  // column at a time would stride through memory. Instead a block of up to kBlock neighbouring
  // items along the innermost (contiguous) dim is reduced together: for each reduced element,
  // one vectorised pass adds a row segment into a block of accumulators.
  void emit_reduce_outer(Value* begin, Value* end) {
    constexpr int64_t kBlock = 512;
    int32_t root = step_.roots[0];
    const Node& n = g_[root];
    const Accumulator a = accumulator(n);
    std::vector<size_t> kept = space.dims(false), red = space.dims(true);
    size_t inner = kept.back();
    kept.pop_back();
    Value* n_inner = c64(space.size[inner]);
    llvm::AllocaInst* acc;
    {
      llvm::IRBuilder<> eb(&body_->getEntryBlock(), body_->getEntryBlock().begin());
      acc = eb.CreateAlloca(llvm::ArrayType::get(a.ty, kBlock));
    }
    auto slot = [&](Value* k) { return b_.CreateInBoundsGEP(a.ty, acc, k); };
    loop_step(begin, end, [&](Value* i) {
      Value* row = b_.CreateUDiv(i, n_inner);
      Value* j0 = b_.CreateURem(i, n_inner);
      Value* j1 = b_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, n_inner,
                                           b_.CreateNSWAdd(j0, b_.CreateNSWSub(end, i)));
      j1 = b_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, j1, b_.CreateNSWAdd(j0, c64(kBlock)));
      Value* count = b_.CreateNSWSub(j1, j0);
      std::vector<Value*> base = offsets(row, kept);
      loop(c64(0), count, [&](Value* k) {
        b_.CreateStore(llvm::ConstantFP::get(a.ty, a.init), slot(k));
      }, /*interleave=*/false);
      loop(c64(0), c64(space.count(true)), [&](Value* r) {
        std::vector<Value*> o = offsets(r, red);
        for (size_t s = 0; s < o.size(); ++s) o[s] = b_.CreateNSWAdd(o[s], base[s]);
        loop(c64(0), count, [&](Value* k) {
          memo_.clear();
          Value* x = value(n.args[0], a.dtype, advance(o, b_.CreateNSWAdd(j0, k), inner));
          b_.CreateStore(accumulate(n, b_.CreateLoad(a.ty, slot(k)), x), slot(k));
        }, /*interleave=*/false);
      });
      loop(c64(0), count, [&](Value* k) {
        store(root, finish(n, a, b_.CreateLoad(a.ty, slot(k))),
              advance(base, b_.CreateNSWAdd(j0, k), inner));
      }, /*interleave=*/false);
      return b_.CreateNSWAdd(i, count);
    });
  }

  void emit_row(Value* begin, Value* end) {
    int32_t root = step_.roots[0];
    const Node& n = g_[root];
    llvm::Type* ty = scalar_type(ctx_, n.dtype);
    if (streamed_row()) return emit_row_streamed(begin, end);
    loop(begin, end, [&](Value* item) {
      std::vector<Value*> base = offsets(item, space.dims(false));
      MinMax mx(*this, ty, /*is_max=*/true);
      auto* sum = var(ty);
      b_.CreateStore(llvm::ConstantFP::get(ty, 0.0), sum);
      // 1: the operand into the output, and its max
      walk_reduced(base, [&](const std::vector<Value*>& off) {
        Value* x = value(n.args[0], n.dtype, off);
        store(root, x, off);
        mx.add(x);
      });
      Value* m = mx.result();
      // 2: exp(x - max) and its sum, the pass bound by the math, prefetching the next row
      walk_row_prefetching(item, end, base, [&](const std::vector<Value*>& off) {
        Value* x = b_.CreateLoad(ty, address(root, off));
        Value* e = emit_fn(b_, dsl::Fn::Exp, std::array<Value*, 1>{b_.CreateFSub(x, m)});
        if (n.op == Op::Softmax) b_.CreateStore(e, address(root, off));
        b_.CreateStore(reassoc_add(b_.CreateLoad(ty, sum), e), sum);
      });
      Value* s = b_.CreateLoad(ty, sum);
      // 3: normalise
      // (times 1/sum, as the eager kernel: a division per element costs more than the exp)
      Value* t = n.op == Op::LogSoftmax ? emit_fn(b_, dsl::Fn::Log, std::array<Value*, 1>{s})
                                        : b_.CreateFDiv(llvm::ConstantFP::get(ty, 1.0), s);
      walk_reduced(base, [&](const std::vector<Value*>& off) {
        Value* p = address(root, off);
        Value* x = b_.CreateLoad(ty, p);
        b_.CreateStore(n.op == Op::LogSoftmax ? b_.CreateFSub(b_.CreateFSub(x, m), t)
                                              : b_.CreateFMul(x, t),
                       p);
      });
    });
  }

  // A large softmax output (at least kStreamBytes) with contiguous rows of at most
  // kMaxStackRow bytes, a whole number of vectors long, on x86, is written with non-temporal
  // stores (emit_row_streamed): a result that large will not stay in cache for its reader, and
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
  template <class F> void if_then(Value* c, F&& body) {
    auto *then = block("then"), *done = block("endif");
    b_.CreateCondBr(c, then, done);
    b_.SetInsertPoint(then);
    body();
    b_.CreateBr(done);
    b_.SetInsertPoint(done);
  }

  // emit_row's passes with two rows on the stack: passes 1 and 2 of a row work in one of them,
  // while, block by block, pass 2 also writes the previous row's result (from the other) with
  // non-temporal stores, so that the writes overlap the exp; the last row is written at the end.
  void emit_row_streamed(Value* begin, Value* end) {
    const int32_t root = step_.roots[0];
    const Node& n = g_[root];
    llvm::Type* ty = scalar_type(ctx_, n.dtype);
    const bool log = n.op == Op::LogSoftmax;
    const size_t rd = space.dims(true)[0];
    const int64_t len = space.size[rd], esize = int64_t(element_size(n.dtype));
    const int64_t vb = Engine::instance().vector_bytes(), w = vb / esize;
    llvm::AllocaInst* rows;
    {
      llvm::IRBuilder<> eb(&body_->getEntryBlock(), body_->getEntryBlock().begin());
      rows = eb.CreateAlloca(ty, c64(2 * len));
      rows->setAlignment(llvm::Align(64));
    }
    auto row_of = [&](Value* item) {  // the stack row of item: even items in the first
      return b_.CreateInBoundsGEP(ty, rows, b_.CreateMul(b_.CreateAnd(item, c64(1)), c64(len)));
    };
    auto* prev_out = var(b_.getPtrTy());
    auto* prev_m = var(ty);
    auto* prev_t = var(ty);
    auto* have = var(b_.getInt1Ty());
    b_.CreateStore(b_.getInt1(false), have);
    // out[j] = result(row[j]) for j in [lo, hi): whole vectors, non-temporal, when out is
    // vector-aligned; plain stores otherwise.
    auto write = [&](Value* row, Value* out, Value* lo, Value* hi, Value* m, Value* t) {
      auto result = [&](Value* x, Value* mv, Value* tv) {
        return log ? b_.CreateFSub(b_.CreateFSub(x, mv), tv) : b_.CreateFMul(x, tv);
      };
      Value* aligned = b_.CreateICmpEQ(
          b_.CreateAnd(b_.CreatePtrToInt(out, i64_), c64(vb - 1)), c64(0));
      auto *vec = block("stream"), *plain = block("plain"), *done = block("written");
      b_.CreateCondBr(aligned, vec, plain);
      b_.SetInsertPoint(vec);
      auto* vty = llvm::FixedVectorType::get(ty, static_cast<unsigned>(w));
      Value* mv = b_.CreateVectorSplat(static_cast<unsigned>(w), m);
      Value* tv = b_.CreateVectorSplat(static_cast<unsigned>(w), t);
      loop_step(lo, hi, [&](Value* j) {
        Value* x = b_.CreateAlignedLoad(vty, b_.CreateInBoundsGEP(ty, row, j), llvm::Align(64));
        auto* st = b_.CreateAlignedStore(result(x, mv, tv), b_.CreateInBoundsGEP(ty, out, j),
                                         llvm::Align(static_cast<uint64_t>(vb)));
        st->setMetadata(llvm::LLVMContext::MD_nontemporal,
                        llvm::MDNode::get(ctx_, {llvm::ConstantAsMetadata::get(b_.getInt32(1))}));
        return b_.CreateNSWAdd(j, c64(w));
      });
      b_.CreateBr(done);
      b_.SetInsertPoint(plain);
      loop(lo, hi, [&](Value* j) {
        Value* x = b_.CreateLoad(ty, b_.CreateInBoundsGEP(ty, row, j));
        b_.CreateStore(result(x, m, t), b_.CreateInBoundsGEP(ty, out, j));
      });
      b_.CreateBr(done);
      b_.SetInsertPoint(done);
    };
    loop(begin, end, [&](Value* item) {
      std::vector<Value*> base = offsets(item, space.dims(false));
      Value* cur = row_of(item);
      Value* old = row_of(b_.CreateNSWAdd(item, c64(1)));
      MinMax mx(*this, ty, /*is_max=*/true);
      auto* sum = var(ty);
      b_.CreateStore(llvm::ConstantFP::get(ty, 0.0), sum);
      // 1: the operand into the row, and its max
      walk_reduced(base, [&](const std::vector<Value*>& off) {
        Value* x = value(n.args[0], n.dtype, off);
        b_.CreateStore(x, b_.CreateInBoundsGEP(ty, cur, elem_));
        mx.add(x);
      });
      Value* m = mx.result();
      // 2: exp(x - max) and its sum, in blocks that prefetch the next row's inputs and write a
      // block of the previous row's result
      Value* had = b_.CreateLoad(b_.getInt1Ty(), have);
      Value* pout = b_.CreateLoad(b_.getPtrTy(), prev_out);
      Value* pm = b_.CreateLoad(ty, prev_m);
      Value* pt = b_.CreateLoad(ty, prev_t);
      Value* next_item = b_.CreateBinaryIntrinsic(llvm::Intrinsic::smin,
                                                  b_.CreateNSWAdd(item, c64(1)),
                                                  b_.CreateNSWSub(end, c64(1)));
      std::vector<Value*> next = offsets(next_item, space.dims(false));
      loop_step(c64(0), c64(len), [&](Value* jb) {
        Value* je = b_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, c64(len),
                                             b_.CreateNSWAdd(jb, c64(kHeavyBlock)));
        prefetch_lines(next, jb, je, rd, /*outputs=*/false);
        if_then(had, [&] { write(old, pout, jb, je, pm, pt); });
        loop(jb, je, [&](Value* j) {
          Value* p = b_.CreateInBoundsGEP(ty, cur, j);
          Value* e = emit_fn(b_, dsl::Fn::Exp,
                             std::array<Value*, 1>{b_.CreateFSub(b_.CreateLoad(ty, p), m)});
          if (!log) b_.CreateStore(e, p);
          b_.CreateStore(reassoc_add(b_.CreateLoad(ty, sum), e), sum);
        });
        return je;
      });
      Value* s = b_.CreateLoad(ty, sum);
      Value* t = log ? emit_fn(b_, dsl::Fn::Log, std::array<Value*, 1>{s})
                     : b_.CreateFDiv(llvm::ConstantFP::get(ty, 1.0), s);
      b_.CreateStore(address(root, base), prev_out);
      b_.CreateStore(m, prev_m);
      b_.CreateStore(t, prev_t);
      b_.CreateStore(b_.getInt1(true), have);
    });
    // the range's last row
    if_then(b_.CreateLoad(b_.getInt1Ty(), have), [&] {
      write(row_of(b_.CreateNSWSub(end, c64(1))), b_.CreateLoad(b_.getPtrTy(), prev_out), c64(0),
            c64(len), b_.CreateLoad(ty, prev_m), b_.CreateLoad(ty, prev_t));
    });
    // Non-temporal stores are weakly ordered: fenced before the pool reports the job done.
    b_.CreateIntrinsic(llvm::Intrinsic::x86_sse_sfence, {}, {});
  }

  // walk_reduced over the one reduced dim of item's row, in blocks, each prefetching a block of
  // the next row in [.., end) (its inputs, and its outputs for writing): used for a row's last
  // pass that is bound by the math, so that the next row's first pass, which would wait for
  // memory, finds its lines in cache.
  template <class F>
  void walk_row_prefetching(Value* item, Value* end, const std::vector<Value*>& base, F&& f) {
    size_t rd = space.dims(true)[0];
    Value* len = c64(space.size[rd]);
    Value* next_item = b_.CreateBinaryIntrinsic(llvm::Intrinsic::smin,
                                                b_.CreateNSWAdd(item, c64(1)),
                                                b_.CreateNSWSub(end, c64(1)));
    std::vector<Value*> next = offsets(next_item, space.dims(false));
    loop_step(c64(0), len, [&](Value* jb) {
      Value* je = b_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, len,
                                           b_.CreateNSWAdd(jb, c64(kHeavyBlock)));
      prefetch_lines(next, jb, je, rd, /*outputs=*/true);
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
  void emit_rows(Value* begin, Value* end) {
    plan_row_cache();
    loop(begin, end, [&](Value* item) {
      std::vector<Value*> base = offsets(item, space.dims(false));
      row_.clear();
      std::vector<int32_t> pointwise;
      for (int32_t r : step_.roots) {
        const Node& n = g_[r];
        if (is_pointwise(n.op)) {
          pointwise.push_back(r);
          continue;
        }
        Value* v = reduce_item(n, base);
        store(r, v, base);
        row_[r] = v;
        for (auto& [id, c] : row_cache_) c.filled = c.filled || c.stored;
      }
      if (pointwise.empty()) return;
      walk_row_prefetching(item, end, base, [&](const std::vector<Value*>& off) {
        for (int32_t r : pointwise) {
          Value* v = apply(g_[r], off);
          memo_[r] = v;
          store(r, v, off);
        }
      });
    });
  }

  // The length of a Rows step's rows (its one reduced dim).
  int64_t row_length() const { return space.size[space.dims(true).back()]; }

  // The inlined pointwise nodes node id's value computes (not the ones read from memory or
  // from the row's reduced values).
  void inlined(int32_t id, std::set<int32_t>& out) {
    for (int32_t a : g_[id].args) {
      const Node& n = g_[a];
      if (n.kind != Kind::Apply || slot_.at(a) >= 0 || out.count(a)) continue;
      out.insert(a);
      inlined(a, out);
    }
  }
  // Transcendental values that more than one pass of a Rows step computes (exp(x - max) in
  // softmax written out: the sum's pass and the output's) are computed once per row: the first
  // pass stores them in a row-long array on the stack, later passes read it (rows up to 16 KiB
  // per value; longer ones recompute).
  void plan_row_cache() {
    std::vector<std::set<int32_t>> passes;
    std::set<int32_t> last;
    for (int32_t r : step_.roots) {
      if (is_pointwise(g_[r].op)) {
        inlined(r, last);
      } else {
        passes.emplace_back();
        inlined(r, passes.back());
      }
    }
    passes.push_back(last);
    std::map<int32_t, int> count;
    for (const auto& p : passes)
      for (int32_t id : p) ++count[id];
    for (auto [id, k] : count) {
      const Node& n = g_[id];
      bool costly = n.op == Op::Exp || n.op == Op::Log || n.op == Op::Log1p ||
                    n.op == Op::Expm1 || n.op == Op::Tanh || n.op == Op::Sigmoid ||
                    n.op == Op::Erf || n.op == Op::Gelu || n.op == Op::Silu || n.op == Op::Pow ||
                    n.op == Op::Sin || n.op == Op::Cos;
      if (k >= 2 && costly && n.dtype != kBool &&
          row_length() * int64_t(element_size(n.dtype)) <= 16384)
        row_cache_[id] = RowCache{};
    }
  }

  const Graph& g_;
  const Group& step_;
  const std::vector<bool>& mat_;
  llvm::LLVMContext& ctx_;
  llvm::IRBuilder<> b_;
  llvm::Type* i64_;
  llvm::Function* body_ = nullptr;
  std::map<int32_t, int> slot_;  // node -> buffer slot, or -1 for values kept in registers
  int costly_ = 0;               // costly functions computed per element (see emit_pointwise)
  std::vector<Value*> ptr_;
  std::map<int32_t, Value*> memo_;  // values of the current element
  std::map<int32_t, Value*> row_;   // a Rows step's reductions of the current row
  struct RowCache {
    llvm::Type* ty = nullptr;
    llvm::AllocaInst* array = nullptr;  // the row's values
    bool stored = false;                // a pass so far computes and stores them
    bool filled = false;                // a finished pass did: later passes load
  };
  std::map<int32_t, RowCache> row_cache_;  // a Rows step's values computed once per row
  Value* elem_ = nullptr;                  // the position along the reduced dim
};

}  // namespace

CompiledStep compile_step(const Graph& g, const Group& step, const std::vector<bool>& mat,
                          const std::string& symbol, Tier tier) {
  Engine& engine = Engine::instance();
  auto ctx = std::make_unique<llvm::LLVMContext>();
  auto m = engine.new_module(symbol, *ctx);
  Emitter e(g, step, mat, *m);
  e.emit(*m, symbol);
  CompiledStep out;
  out.buffers = e.buffers;
  out.range = e.range();
  out.grain = e.grain();
  CompileInfo info;
  out.fn = reinterpret_cast<KernelFn>(engine.compile(std::move(ctx), std::move(m), symbol, &info, tier));
  out.compile_ms = info.total_ms;
  out.disk_hit = info.disk_hit;
  return out;
}

}  // namespace ember::jit
