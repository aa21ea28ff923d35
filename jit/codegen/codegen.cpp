// Code generation, set-up and values: the Emitter's buffers and iteration space, the IR of an
// element's value (dsl trees, comparisons, casts), pointwise kernels, and compile_step.
#include "jit/codegen/emitter.hpp"

namespace ember::jit::lower {

Emitter::Emitter(const Graph& g, const Group& step, const std::vector<bool>& mat, llvm::Module& m,
                 const std::map<int32_t, int32_t>& in_place)
    : g_(g),
      step_(step),
      mat_(mat),
      in_place_(in_place),
      ctx_(m.getContext()),
      b_(ctx_),
      i64_(b_.getInt64Ty()) {
  // The buffers: what the step reads (found by walking its expressions), then its roots.
  for (int32_t r : step.roots) {
    const IrNode& n = g[r];
    if (step.kind == Group::Kind::Pointwise || is_pointwise(n.op)) {
      for (int32_t a : n.args) collect(a);
    } else {
      collect(n.args[0]);
    }
    slot_[r] = static_cast<int>(buffers.size());
    buffers.push_back(r);
  }
  // Inputs whose memory a root overwrites are read from the root's buffer (one pointer, so the
  // noalias promises hold; emit_pointwise loads them before it stores).
  for (const auto& [input, root] : in_place_)
    if (slot_.count(input)) slot_[input] = slot_.at(root);
  build_space();
  for (const auto& [id, slot] : slot_)
    if ((slot == -1 || is_root(id)) && is_pointwise(g[id].op)) costly_ += costly_fns(g[id]);

  // The kernel body takes each buffer as its own noalias argument, then the runtime scalars (an
  // array of doubles); the entry point unpacks the pointer array (buffers, then scalars) and
  // calls it (inlined by O3, keeping the aliasing facts).
  std::vector<llvm::Type*> params(buffers.size() + 1, b_.getPtrTy());
  params.push_back(i64_);
  params.push_back(i64_);
  body_ = llvm::Function::Create(llvm::FunctionType::get(b_.getVoidTy(), params, false),
                                 llvm::Function::InternalLinkage, "body", m);
  for (size_t i = 0; i <= buffers.size(); ++i) body_->addParamAttr(i, llvm::Attribute::NoAlias);
  body_->addParamAttr(buffers.size(), llvm::Attribute::ReadOnly);
  body_->addFnAttr(llvm::Attribute::AlwaysInline);
  body_->addFnAttr(llvm::Attribute::NoUnwind);
  Engine::instance().add_target_attributes(*body_);
}

void Emitter::emit(llvm::Module& m, const std::string& symbol) {
  auto* entry_bb = llvm::BasicBlock::Create(ctx_, "entry", body_);
  b_.SetInsertPoint(entry_bb);
  for (size_t i = 0; i < buffers.size(); ++i) ptr_.push_back(body_->getArg(i));
  scalars_ = body_->getArg(buffers.size());
  Value* begin = body_->getArg(buffers.size() + 1);
  Value* end = body_->getArg(buffers.size() + 2);
  switch (step_.kind) {
    case Group::Kind::Pointwise:
      emit_pointwise(begin, end);
      break;
    case Group::Kind::Reduce:
      emit_reduce(begin, end);
      break;
    case Group::Kind::Softmax:
      emit_softmax(begin, end);
      break;
    case Group::Kind::RowReduce:
      emit_row_reduce(begin, end);
      break;
    case Group::Kind::Library:
      EMBER_ASSERT(false, "jit: library steps have no kernel");
  }
  b_.CreateRetVoid();

  auto* ft = llvm::FunctionType::get(b_.getVoidTy(), {b_.getPtrTy(), i64_, i64_}, false);
  auto* f = llvm::Function::Create(ft, llvm::Function::ExternalLinkage, symbol, m);
  f->addFnAttr(llvm::Attribute::NoUnwind);
  Engine::instance().add_target_attributes(*f);
  b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", f));
  std::vector<Value*> args;
  for (size_t i = 0; i <= buffers.size(); ++i)
    args.push_back(b_.CreateLoad(b_.getPtrTy(),
                                 b_.CreateConstInBoundsGEP1_64(b_.getPtrTy(), f->getArg(0), i)));
  args.push_back(f->getArg(1));
  args.push_back(f->getArg(2));
  b_.CreateCall(body_, args);
  b_.CreateRetVoid();
}

int Emitter::costly_fns(const IrNode& n) {
  if (!trees()[static_cast<size_t>(n.op)]) return 0;  // comparisons, where, clamp, casts
  int count = 0;
  auto walk = [&](auto& self, const dsl::ExprTree& t) -> void {
    if (t.kind != dsl::ExprTree::Kind::Apply) return;
    count += dsl::is_costly(t.fn) ? 1 : 0;
    for (const auto& a : t.args) self(self, a);
  };
  dsl::ExprTree scratch;
  walk(walk, tree_of(n, scratch));
  return count;
}

void Emitter::collect(int32_t id) {
  if (slot_.count(id)) return;
  const IrNode& n = g_[id];
  if (n.kind == Kind::Const || n.kind == Kind::Scalar) return;
  if (in_place_.count(id)) {
    slot_[id] = -2;  // read from its root's buffer: set once the roots have slots
    return;
  }
  if (mat_[static_cast<size_t>(id)] || (n.kind == Kind::Apply && is_strided_view(n.op))) {
    slot_[id] = static_cast<int>(buffers.size());  // read from memory
    buffers.push_back(id);
    return;
  }
  EMBER_ASSERT(n.kind == Kind::Apply && is_pointwise(n.op), "jit: node %", id,
               " cannot be inlined");
  slot_[id] = -1;  // visited, computed in registers
  for (int32_t a : n.args) collect(a);
}

void Emitter::build_space() {
  const Dims& sp = step_.space;
  space.size.assign(sp.begin(), sp.end());
  space.reduced.assign(sp.size(), false);
  std::vector<int64_t> out_strides;
  if (step_.kind == Group::Kind::Reduce) {
    const auto& ra = std::get<ReduceAttrs>(g_[step_.roots[0]].attrs);
    for (size_t d = 0; d < sp.size(); ++d)
      space.reduced[d] =
          ra.dims.empty() || std::find(ra.dims.begin(), ra.dims.end(), int64_t(d)) != ra.dims.end();
    // The output is contiguous over the kept dims.
    out_strides.assign(sp.size(), 0);
    int64_t s = 1;
    for (size_t d = sp.size(); d-- > 0;)
      if (!space.reduced[d]) out_strides[d] = s, s *= sp[d];
  } else if (step_.kind == Group::Kind::Softmax) {
    int64_t dim = std::get<DimAttrs>(g_[step_.roots[0]].attrs).dim;
    if (!sp.empty()) space.reduced[static_cast<size_t>(dim)] = true;
  } else if (step_.kind == Group::Kind::RowReduce) {
    space.reduced.back() = true;  // fuse() made it: sp has at least one dim
  }
  for (int32_t id : buffers) {
    space.stride.push_back(
        is_root(id) && step_.kind == Group::Kind::Reduce ? out_strides : read_strides(g_, id, sp));
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
  if (step_.kind == Group::Kind::Softmax || step_.kind == Group::Kind::RowReduce)
    EMBER_ASSERT(space.dims(true).size() == 1, "jit: a row op walks one dim");
}

std::vector<Value*> Emitter::offsets(Value* idx, const std::vector<size_t>& dims) {
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

std::vector<Value*> Emitter::advance(const std::vector<Value*>& base, Value* j, size_t d) {
  std::vector<Value*> off = base;
  for (size_t s = 0; s < buffers.size(); ++s)
    if (space.stride[s][d] != 0)
      off[s] = b_.CreateNSWAdd(off[s], b_.CreateNSWMul(j, c64(space.stride[s][d])));
  return off;
}

Value* Emitter::convert(Value* v, DType from, DType to) {
  if (from == to) return v;
  llvm::Type* t = scalar_type(ctx_, to);
  if (from == kInt64) {
    if (to == kBool) return b_.CreateICmpNE(v, b_.getInt64(0));
    return b_.CreateSIToFP(v, t);
  }
  if (to == kInt64) return from == kBool ? b_.CreateZExt(v, t) : b_.CreateFPToSI(v, t);
  if (from == kBool) return b_.CreateUIToFP(v, t);
  if (to == kBool) return b_.CreateFCmpUNE(v, llvm::ConstantFP::get(v->getType(), 0.0));
  return to == kFloat64 ? b_.CreateFPExt(v, t) : b_.CreateFPTrunc(v, t);
}

Value* Emitter::value(int32_t id, DType as, const std::vector<Value*>& off) {
  const IrNode& n = g_[id];
  if (n.kind == Kind::Const) {
    if (as == kBool) return b_.getInt1(n.value != 0);
    if (as == kInt64) return b_.getInt64(static_cast<uint64_t>(static_cast<int64_t>(n.value)));
    return llvm::ConstantFP::get(scalar_type(ctx_, as), n.value);
  }
  if (n.kind == Kind::Scalar) {
    // A runtime scalar: loaded once, at the kernel's entry, from the scalars array (as a double,
    // which every number a region passes converts from exactly as eager code converts it).
    Value*& d = scalar_[n.input];
    if (!d) {
      llvm::IRBuilder<> eb(&body_->getEntryBlock(), body_->getEntryBlock().begin());
      d = eb.CreateLoad(b_.getDoubleTy(),
                        eb.CreateConstInBoundsGEP1_64(b_.getDoubleTy(), scalars_, n.input));
    }
    if (as == kBool) return b_.CreateFCmpUNE(d, llvm::ConstantFP::get(d->getType(), 0.0));
    return convert(d, kFloat64, as);
  }
  return convert(value(id, off), n.dtype, as);
}

Value* Emitter::value(int32_t id, const std::vector<Value*>& off) {
  if (auto it = memo_.find(id); it != memo_.end()) return it->second;
  if (auto it = row_.find(id); it != row_.end()) return it->second;
  const IrNode& n = g_[id];
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

Value* Emitter::lower_tree(const dsl::ExprTree& t, const std::vector<Value*>& x, llvm::Type* ty) {
  switch (t.kind) {
    case dsl::ExprTree::Kind::Var:
      return x[static_cast<size_t>(t.var)];
    case dsl::ExprTree::Kind::Const:
      return llvm::ConstantFP::get(ty, t.value);
    case dsl::ExprTree::Kind::Apply: {
      std::vector<Value*> a;
      for (const auto& s : t.args) a.push_back(lower_tree(s, x, ty));
      return emit_fn(b_, t.fn, a);
    }
  }
  return nullptr;
}

Value* Emitter::apply(const IrNode& n, const std::vector<Value*>& off) {
  auto arg = [&](size_t i, DType as) { return value(n.args[i], as, off); };
  llvm::Type* ty = scalar_type(ctx_, n.compute);
  switch (n.op) {
    case Op::Eq:
    case Op::Ne:
    case Op::Lt:
    case Op::Le:
    case Op::Gt:
    case Op::Ge: {
      Value *a = arg(0, n.compute), *c = arg(1, n.compute);
      if (n.compute == kInt64) {
        static_assert(static_cast<int>(Op::Ge) - static_cast<int>(Op::Eq) == 5);
        static constexpr llvm::CmpInst::Predicate kInt[] = {
            llvm::CmpInst::ICMP_EQ,  llvm::CmpInst::ICMP_NE,  llvm::CmpInst::ICMP_SLT,
            llvm::CmpInst::ICMP_SLE, llvm::CmpInst::ICMP_SGT, llvm::CmpInst::ICMP_SGE};
        return b_.CreateICmp(kInt[static_cast<int>(n.op) - static_cast<int>(Op::Eq)], a, c);
      }
      switch (n.op) {
        case Op::Eq:
          return b_.CreateFCmpOEQ(a, c);
        case Op::Ne:
          return b_.CreateFCmpUNE(a, c);
        case Op::Lt:
          return b_.CreateFCmpOLT(a, c);
        case Op::Le:
          return b_.CreateFCmpOLE(a, c);
        case Op::Gt:
          return b_.CreateFCmpOGT(a, c);
        default:
          return b_.CreateFCmpOGE(a, c);
      }
    }
    case Op::Where:
      return b_.CreateSelect(arg(0, kBool), arg(1, n.compute), arg(2, n.compute));
    case Op::ToDtype:
      return arg(0, n.dtype);
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
      dsl::ExprTree scratch;
      return lower_tree(tree_of(n, scratch), x, ty);
    }
  }
}

Value* Emitter::reassoc_add(Value* a, Value* b) {
  llvm::IRBuilder<>::FastMathFlagGuard guard(b_);
  llvm::FastMathFlags fm;
  fm.setAllowReassoc();
  fm.setAllowContract();
  b_.setFastMathFlags(fm);
  return b_.CreateFAdd(a, b);
}

void Emitter::emit_pointwise(Value* begin, Value* end) {
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
      // The old content of memory a root overwrites, read before any root is stored.
      for (const auto& [input, root] : in_place_)
        if (slot_.count(input)) memo_[input] = load(input, off);
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

void Emitter::prefetch_lines(const std::vector<Value*>& base, Value* lo, Value* hi, size_t d,
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

}  // namespace ember::jit::lower

namespace ember::jit {

using lower::Emitter;

CompiledStep compile_step(const Graph& g, const Group& step, const std::vector<bool>& mat,
                          const std::string& symbol, Tier tier,
                          const std::map<int32_t, int32_t>& in_place) {
  Engine& engine = Engine::instance();
  auto ctx = std::make_unique<llvm::LLVMContext>();
  auto m = engine.new_module(symbol, *ctx);
  Emitter e(g, step, mat, *m, in_place);
  e.emit(*m, symbol);
  CompiledStep out;
  out.buffers = e.buffers;
  out.range = e.range();
  out.grain = e.grain();
  CompileInfo info;
  out.code = engine.compile(std::move(ctx), std::move(m), symbol, &info, tier);
  out.fn = reinterpret_cast<KernelFn>(out.code->address());
  out.compile_ms = info.total_ms;
  out.disk_hit = info.disk_hit;
  return out;
}

}  // namespace ember::jit
