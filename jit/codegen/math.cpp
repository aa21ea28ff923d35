// dsl::Fn → LLVM IR, matching dsl/expr.hpp's apply() and eval() value for value. float exp
// and erf are the dsl's inline polynomials (dsl::math::poly), emitted step for step; the rest
// are LLVM intrinsics where LLVM has them (exp, log, sqrt, fabs, sin, cos, pow) and calls to
// libm otherwise, declared without side effects so that the loop vectoriser can replace them
// with the libmvec variants the engine maps. The only fast-math flag is `contract` (a*b+c may
// become an FMA): nnan/ninf/nsz would change which NaN, infinity or zero comes out.
#include "jit/codegen/math.hpp"

#include <llvm/IR/Constants.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Module.h>

#include <bit>

#include "runtime/error.hpp"

namespace ember::jit {
namespace {

/// A call to libm's `f32`/`f64` (by x's type) that reads and writes no memory (errno is not
/// ember's business: the library itself builds with -fno-math-errno).
llvm::Value* call_libm(llvm::IRBuilder<>& b, const char* f32, const char* f64,
                       llvm::ArrayRef<llvm::Value*> xs) {
  llvm::Type* ty = xs[0]->getType();
  llvm::Module* m = b.GetInsertBlock()->getModule();
  llvm::SmallVector<llvm::Type*, 2> params(xs.size(), ty);
  llvm::FunctionCallee callee = m->getOrInsertFunction(ty->isFloatTy() ? f32 : f64,
                                                       llvm::FunctionType::get(ty, params, false));
  if (auto* f = llvm::dyn_cast<llvm::Function>(callee.getCallee())) {
    f->setDoesNotAccessMemory();
    f->setDoesNotThrow();
    f->setWillReturn();
  }
  llvm::CallInst* call = b.CreateCall(callee, xs);
  call->setDoesNotAccessMemory();
  call->setDoesNotThrow();
  return call;
}

/// a * b + c, fused where the target has FMA.
llvm::Value* fmuladd(llvm::IRBuilder<>& b, llvm::Value* x, llvm::Value* y, llvm::Value* z) {
  return b.CreateIntrinsic(llvm::Intrinsic::fmuladd, {x->getType()}, {x, y, z});
}

/// Horner's scheme: c[0] + t (c[1] + t (... c[n-1])).
llvm::Value* horner(llvm::IRBuilder<>& b, llvm::Value* t, std::span<const float> c) {
  llvm::Type* ty = t->getType();
  llvm::Value* p = llvm::ConstantFP::get(ty, c.back());
  for (size_t i = c.size() - 1; i-- > 0;) p = fmuladd(b, p, t, llvm::ConstantFP::get(ty, c[i]));
  return p;
}

/// max(a, c) or min(a, c) with the NaN rule of dsl::math::maximum/minimum (dsl/math.hpp), select
/// for select: a NaN in either operand wins (a's first); otherwise a > c ? a : c (a < c ? a : c),
/// so min(-0, +0) = +0 (llvm.minimum would give -0).
llvm::Value* max_or_min(llvm::IRBuilder<>& b, llvm::Value* a, llvm::Value* c, bool is_max) {
  llvm::Value* pick_a = is_max ? b.CreateFCmpOGT(a, c) : b.CreateFCmpOLT(a, c);
  return b.CreateSelect(b.CreateFCmpUNO(a, a), a,
                        b.CreateSelect(b.CreateFCmpUNO(c, c), c, b.CreateSelect(pick_a, a, c)));
}

/// x clamped to [lo, hi], NaN passing through (as dsl::math::poly does it).
llvm::Value* clamp(llvm::IRBuilder<>& b, llvm::Value* x, float lo, float hi) {
  llvm::Type* ty = x->getType();
  llvm::Value* l = llvm::ConstantFP::get(ty, lo);
  llvm::Value* h = llvm::ConstantFP::get(ty, hi);
  x = b.CreateSelect(b.CreateFCmpOLT(x, l), l, x);
  return b.CreateSelect(b.CreateFCmpOGT(x, h), h, x);
}

/// float e^x, the steps of dsl::math::poly::exp.
llvm::Value* exp_f32(llvm::IRBuilder<>& b, llvm::Value* x) {
  namespace P = dsl::math::poly;
  llvm::Type* ty = x->getType();
  llvm::Type* i32 = b.getInt32Ty();
  auto k = [ty](float v) { return llvm::ConstantFP::get(ty, v); };
  x = clamp(b, x, P::kExpLo, P::kExpHi);
  llvm::Value* z = fmuladd(b, x, k(P::kLog2e), k(P::kShift));
  llvm::Value* n = b.CreateFSub(z, k(P::kShift));
  llvm::Value* r = b.CreateFSub(x, b.CreateFMul(n, k(P::kLn2Hi)));
  r = b.CreateFSub(r, b.CreateFMul(n, k(P::kLn2Lo)));
  llvm::Value* p = horner(b, r, P::kExpC);
  p = fmuladd(b, p, b.CreateFMul(r, r), b.CreateFAdd(r, k(1.0f)));
  llvm::Value* ni =
      b.CreateSub(b.CreateBitCast(z, i32), b.getInt32(std::bit_cast<int32_t>(P::kShift)));
  llvm::Value* n1 = b.CreateAShr(ni, 1);
  auto exp2i = [&](llvm::Value* e) {
    return b.CreateBitCast(b.CreateShl(b.CreateAdd(e, b.getInt32(127)), 23), ty);
  };
  return b.CreateFMul(b.CreateFMul(p, exp2i(n1)), exp2i(b.CreateSub(ni, n1)));
}

/// float erf x, the steps of dsl::math::poly::erf.
llvm::Value* erf_f32(llvm::IRBuilder<>& b, llvm::Value* x) {
  namespace P = dsl::math::poly;
  x = clamp(b, x, -P::kErfMax, P::kErfMax);
  llvm::Value* t = b.CreateFMul(x, x);
  return b.CreateFDiv(b.CreateFMul(x, horner(b, t, P::kErfP)), horner(b, t, P::kErfQ));
}

/// 1.0 where c holds, else 0.0, in ty (the dsl's comparisons).
llvm::Value* to_float(llvm::IRBuilder<>& b, llvm::Value* c, llvm::Type* ty) {
  return b.CreateSelect(c, llvm::ConstantFP::get(ty, 1.0), llvm::ConstantFP::get(ty, 0.0));
}

}  // namespace

llvm::Value* emit_fn(llvm::IRBuilder<>& b, dsl::Fn fn, std::span<llvm::Value* const> args) {
  using dsl::Fn;
  const size_t arity = fn <= Fn::Erf ? 1 : fn <= Fn::Ne ? 2 : 3;
  EMBER_ASSERT(args.size() == arity, "emit_fn(", dsl::fn_name(fn), "): ", args.size(),
               " operands, expected ", arity);
  llvm::Type* ty = args.back()->getType();
  EMBER_ASSERT(ty->isFloatTy() || ty->isDoubleTy(), "emit_fn(", dsl::fn_name(fn),
               "): operands must be float or double scalars");
  for (llvm::Value* v : args)
    EMBER_ASSERT(v->getType() == ty, "emit_fn(", dsl::fn_name(fn), "): mixed operand types");

  llvm::IRBuilder<>::FastMathFlagGuard guard(b);
  llvm::FastMathFlags fmf;
  fmf.setAllowContract();
  b.setFastMathFlags(fmf);

  llvm::Value* a = args[0];
  llvm::Value* c = args.size() > 1 ? args[1] : nullptr;
  auto k = [ty](double v) { return llvm::ConstantFP::get(ty, v); };
  auto unary = [&](llvm::Intrinsic::ID id, llvm::Value* x) {
    return b.CreateUnaryIntrinsic(id, x);
  };
  auto exp = [&](llvm::Value* x) {
    return ty->isFloatTy() ? exp_f32(b, x) : unary(llvm::Intrinsic::exp, x);
  };

  switch (fn) {
    case Fn::Neg:
      return b.CreateFNeg(a);
    case Fn::Exp:
      return exp(a);
    case Fn::Log:
      return unary(llvm::Intrinsic::log, a);
    case Fn::Log1p:
      return call_libm(b, "log1pf", "log1p", {a});
    case Fn::Expm1:
      return call_libm(b, "expm1f", "expm1", {a});
    case Fn::Sqrt:
      return unary(llvm::Intrinsic::sqrt, a);
    case Fn::Rsqrt:
      return b.CreateFDiv(k(1), unary(llvm::Intrinsic::sqrt, a));
    case Fn::Abs:
      return unary(llvm::Intrinsic::fabs, a);
    case Fn::Sign:  // (0 < a) - (a < 0): 0 for ±0 and NaN
      return b.CreateSelect(b.CreateFCmpOLT(k(0), a), k(1),
                            b.CreateSelect(b.CreateFCmpOLT(a, k(0)), k(-1), k(0)));
    case Fn::Sin:
      return unary(llvm::Intrinsic::sin, a);
    case Fn::Cos:
      return unary(llvm::Intrinsic::cos, a);
    case Fn::Tanh:
      return call_libm(b, "tanhf", "tanh", {a});
    case Fn::Sigmoid:  // 1 / (1 + exp(-a))
      return b.CreateFDiv(k(1), b.CreateFAdd(k(1), exp(b.CreateFNeg(a))));
    case Fn::Erf:
      return ty->isFloatTy() ? erf_f32(b, a) : call_libm(b, "erff", "erf", {a});
    case Fn::Add:
      return b.CreateFAdd(a, c);
    case Fn::Sub:
      return b.CreateFSub(a, c);
    case Fn::Mul:
      return b.CreateFMul(a, c);
    case Fn::Div:
      return b.CreateFDiv(a, c);
    case Fn::Pow:
      return b.CreateBinaryIntrinsic(llvm::Intrinsic::pow, a, c);
    case Fn::Min:
      return max_or_min(b, a, c, /*is_max=*/false);
    case Fn::Max:
      return max_or_min(b, a, c, /*is_max=*/true);
    // C++'s comparisons: ordered, except != (true when either is NaN).
    case Fn::Lt:
      return to_float(b, b.CreateFCmpOLT(a, c), ty);
    case Fn::Le:
      return to_float(b, b.CreateFCmpOLE(a, c), ty);
    case Fn::Gt:
      return to_float(b, b.CreateFCmpOGT(a, c), ty);
    case Fn::Ge:
      return to_float(b, b.CreateFCmpOGE(a, c), ty);
    case Fn::Eq:
      return to_float(b, b.CreateFCmpOEQ(a, c), ty);
    case Fn::Ne:
      return to_float(b, b.CreateFCmpUNE(a, c), ty);
    case Fn::Where:  // cond != 0 (so NaN counts as true)
      return b.CreateSelect(b.CreateFCmpUNE(a, k(0)), args[1], args[2]);
  }
  EMBER_ASSERT(false, "emit_fn: unknown dsl::Fn ", static_cast<int>(fn));
  return nullptr;
}

}  // namespace ember::jit
