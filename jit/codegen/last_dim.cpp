// Code generation of row kernels: softmax and log_softmax (plain, and streamed for large
// outputs), and Rows steps (reductions over the last dim and the pointwise work reading them).
#include <llvm/IR/IntrinsicsX86.h>

#include "jit/codegen/emitter.hpp"

namespace ember::jit::lower {

void Emitter::emit_softmax(Value* begin, Value* end) {
  int32_t root = step_.roots[0];
  const IrNode& n = g_[root];
  llvm::Type* ty = scalar_type(ctx_, n.dtype);
  if (streamed_row()) return emit_softmax_streamed(begin, end);
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
      b_.CreateStore(
          n.op == Op::LogSoftmax ? b_.CreateFSub(b_.CreateFSub(x, m), t) : b_.CreateFMul(x, t), p);
    });
  });
}

void Emitter::emit_softmax_streamed(Value* begin, Value* end) {
  const int32_t root = step_.roots[0];
  const IrNode& n = g_[root];
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
    Value* aligned =
        b_.CreateICmpEQ(b_.CreateAnd(b_.CreatePtrToInt(out, i64_), c64(vb - 1)), c64(0));
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
    walk_row_prefetching(
        item, end, base,
        [&](const std::vector<Value*>&) {
          Value* p = b_.CreateInBoundsGEP(ty, cur, elem_);
          Value* e = emit_fn(b_, dsl::Fn::Exp,
                             std::array<Value*, 1>{b_.CreateFSub(b_.CreateLoad(ty, p), m)});
          if (!log) b_.CreateStore(e, p);
          b_.CreateStore(reassoc_add(b_.CreateLoad(ty, sum), e), sum);
        },
        /*outputs=*/false,
        [&](Value* jb, Value* je) { if_then(had, [&] { write(old, pout, jb, je, pm, pt); }); });
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

void Emitter::emit_row_reduce(Value* begin, Value* end) {
  plan_row_cache();
  loop(begin, end, [&](Value* item) {
    std::vector<Value*> base = offsets(item, space.dims(false));
    row_.clear();
    std::vector<int32_t> pointwise;
    for (int32_t r : step_.roots) {
      const IrNode& n = g_[r];
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

void Emitter::inlined(int32_t id, std::set<int32_t>& out) {
  for (int32_t a : g_[id].args) {
    const IrNode& n = g_[a];
    if (n.kind != Kind::Apply || slot_.at(a) >= 0 || out.count(a)) continue;
    out.insert(a);
    inlined(a, out);
  }
}

void Emitter::plan_row_cache() {
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
    const IrNode& n = g_[id];
    bool costly = is_pointwise(n.op) && costly_fns(n) > 0;  // dsl::is_costly, as the dsl's
    if (k >= 2 && costly && n.dtype != kBool &&
        row_length() * int64_t(element_size(n.dtype)) <= 16384)
      row_cache_[id] = RowCache{};
  }
}

}  // namespace ember::jit::lower
