// Code generation of reductions: over the innermost dims item by item (reduce_item), and over
// outer dims in blocks of neighbouring outputs.
#include "jit/codegen/emitter.hpp"

namespace ember::jit::lower {

void Emitter::emit_reduce(Value* begin, Value* end) {
  if (!space.reduced.back()) return emit_reduce_outer(begin, end);
  loop(begin, end, [&](Value* item) {
    std::vector<Value*> base = offsets(item, space.dims(false));
    if (step_.roots.size() == 1) {
      store(step_.roots[0], reduce_item(g_[step_.roots[0]], base), base);
      return;
    }
    // Sibling sums (fuse: sibling_reduction) in one walk, an accumulator each; a value they
    // share is computed once per element.
    std::vector<llvm::AllocaInst*> accs;
    bool widen = false;
    for (int32_t r : step_.roots) {
      const IrNode& n = g_[r];
      accs.push_back(var(b_.getDoubleTy()));
      b_.CreateStore(llvm::ConstantFP::get(b_.getDoubleTy(), 0.0), accs.back());
      widen = widen || g_[n.args[0]].dtype == kFloat32;
    }
    walk_reduced(
        base,
        [&](const std::vector<Value*>& off) {
          for (size_t k = 0; k < step_.roots.size(); ++k) {
            const IrNode& n = g_[step_.roots[k]];
            Value* x = value(n.args[0], kFloat64, off);
            b_.CreateStore(accumulate(n, b_.CreateLoad(b_.getDoubleTy(), accs[k]), x), accs[k]);
          }
        },
        widen ? Engine::instance().vector_bytes() / 4 : 0);
    for (size_t k = 0; k < step_.roots.size(); ++k) {
      const IrNode& n = g_[step_.roots[k]];
      store(step_.roots[k], finish(n, accumulator(n), b_.CreateLoad(b_.getDoubleTy(), accs[k])),
            base);
    }
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
  // Sibling sums (fuse: sibling_reduction) share the walk, a block of accumulators each; they
  // have one accumulator type (double).
  const size_t nroots = step_.roots.size();
  const Accumulator a = accumulator(g_[step_.roots[0]]);
  std::vector<size_t> kept = space.dims(false), red = space.dims(true);
  size_t inner = kept.back();
  kept.pop_back();
  Value* n_inner = c64(space.size[inner]);
  std::vector<llvm::AllocaInst*> accs;
  {
    llvm::IRBuilder<> eb(&body_->getEntryBlock(), body_->getEntryBlock().begin());
    for (size_t q = 0; q < nroots; ++q)
      accs.push_back(eb.CreateAlloca(llvm::ArrayType::get(a.ty, kBlock)));
  }
  auto slot_of = [&](size_t q, Value* k) { return b_.CreateInBoundsGEP(a.ty, accs[q], k); };
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
        [&](Value* k) {
          for (size_t q = 0; q < nroots; ++q)
            b_.CreateStore(llvm::ConstantFP::get(a.ty, a.init), slot_of(q, k));
        },
        /*interleave=*/false);
    loop(c64(0), c64(space.count(true)), [&](Value* r) {
      std::vector<Value*> o = offsets(r, red);
      for (size_t s = 0; s < o.size(); ++s) o[s] = b_.CreateNSWAdd(o[s], base[s]);
      loop(
          c64(0), count,
          [&](Value* k) {
            memo_.clear();
            std::vector<Value*> at = advance(o, b_.CreateNSWAdd(j0, k), inner);
            for (size_t q = 0; q < nroots; ++q) {
              const IrNode& n = g_[step_.roots[q]];
              Value* x = value(n.args[0], a.dtype, at);
              b_.CreateStore(accumulate(n, b_.CreateLoad(a.ty, slot_of(q, k)), x), slot_of(q, k));
            }
          },
          /*interleave=*/false);
    });
    loop(
        c64(0), count,
        [&](Value* k) {
          for (size_t q = 0; q < nroots; ++q) {
            const IrNode& n = g_[step_.roots[q]];
            store(step_.roots[q], finish(n, a, b_.CreateLoad(a.ty, slot_of(q, k))),
                  advance(base, b_.CreateNSWAdd(j0, k), inner));
          }
        },
        /*interleave=*/false);
    return b_.CreateNSWAdd(i, count);
  });
}

}  // namespace ember::jit::lower
