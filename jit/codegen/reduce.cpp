// Code generation of reductions: over the innermost dims item by item (reduce_item), and over
// outer dims in blocks of neighbouring outputs.
#include "jit/codegen/emitter.hpp"

namespace ember::jit::lower {

void Emitter::emit_reduce(Value* begin, Value* end) {
  if (!space.reduced.back()) return emit_reduce_outer(begin, end);
  int32_t root = step_.roots[0];
  const IrNode& n = g_[root];
  loop(begin, end, [&](Value* item) {
    std::vector<Value*> base = offsets(item, space.dims(false));
    store(root, reduce_item(n, base), base);
  });
}

Value* Emitter::reduce_item(const IrNode& n, const std::vector<Value*>& base) {
  const Accumulator a = accumulator(n);
  if (n.op == Op::Amax || n.op == Op::Amin) {
    MinMax mm(*this, a.ty, n.op == Op::Amax);
    walk_reduced(base,
                 [&](const std::vector<Value*>& off) { mm.add(value(n.args[0], a.dtype, off)); });
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

void Emitter::emit_reduce_outer(Value* begin, Value* end) {
  constexpr int64_t kBlock = 512;
  int32_t root = step_.roots[0];
  const IrNode& n = g_[root];
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
    loop(
        c64(0), count,
        [&](Value* k) { b_.CreateStore(llvm::ConstantFP::get(a.ty, a.init), slot(k)); },
        /*interleave=*/false);
    loop(c64(0), c64(space.count(true)), [&](Value* r) {
      std::vector<Value*> o = offsets(r, red);
      for (size_t s = 0; s < o.size(); ++s) o[s] = b_.CreateNSWAdd(o[s], base[s]);
      loop(
          c64(0), count,
          [&](Value* k) {
            memo_.clear();
            Value* x = value(n.args[0], a.dtype, advance(o, b_.CreateNSWAdd(j0, k), inner));
            b_.CreateStore(accumulate(n, b_.CreateLoad(a.ty, slot(k)), x), slot(k));
          },
          /*interleave=*/false);
    });
    loop(
        c64(0), count,
        [&](Value* k) {
          store(root, finish(n, a, b_.CreateLoad(a.ty, slot(k))),
                advance(base, b_.CreateNSWAdd(j0, k), inner));
        },
        /*interleave=*/false);
    return b_.CreateNSWAdd(i, count);
  });
}

}  // namespace ember::jit::lower
