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
    std::vector<const IrNode*> nodes;
    for (int32_t r : step_.roots) nodes.push_back(&g_[r]);
    std::vector<Value*> v = reduce_sums(nodes, base);
    for (size_t k = 0; k < nodes.size(); ++k) store(step_.roots[k], v[k], base);
  });
}

Value* Emitter::reduce_item(const IrNode& n, const std::vector<Value*>& base) {
  if (n.op != Op::Amax && n.op != Op::Amin) return reduce_sums({&n}, base)[0];
  const Accumulator a = accumulator(n);
  MinMax mm(*this, a.ty, n.op == Op::Amax);
  walk_reduced(base,
               [&](const std::vector<Value*>& off) { mm.add(value(n.args[0], a.dtype, off)); });
  return finish(n, a, mm.result());
}

std::vector<Value*> Emitter::reduce_sums(const std::vector<const IrNode*>& nodes,
                                         const std::vector<Value*>& base) {
  // Sums accumulate in double, and the vectoriser, sizing lanes by the widest type, would run
  // their float work (an exp, say) four lanes at a time with AVX2: ask for the float width; the
  // double adds take two registers. Sibling sums (fuse: sibling_reduction) share the walk, an
  // accumulator each, and a value they share is computed once per element.
  std::vector<llvm::AllocaInst*> accs;
  bool widen = false;
  for (const IrNode* n : nodes) {
    const Accumulator a = accumulator(*n);
    accs.push_back(var(a.ty));
    b_.CreateStore(llvm::ConstantFP::get(a.ty, a.init), accs.back());
    widen = widen || g_[n->args[0]].dtype == kFloat32;
  }
  walk_reduced(
      base,
      [&](const std::vector<Value*>& off) {
        for (size_t k = 0; k < nodes.size(); ++k) {
          const Accumulator a = accumulator(*nodes[k]);
          Value* x = value(nodes[k]->args[0], a.dtype, off);
          b_.CreateStore(accumulate(*nodes[k], b_.CreateLoad(a.ty, accs[k]), x), accs[k]);
        }
      },
      widen ? Engine::instance().vector_bytes() / 4 : 0);
  std::vector<Value*> out;
  for (size_t k = 0; k < nodes.size(); ++k) {
    const Accumulator a = accumulator(*nodes[k]);
    out.push_back(finish(*nodes[k], a, b_.CreateLoad(a.ty, accs[k])));
  }
  return out;
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
