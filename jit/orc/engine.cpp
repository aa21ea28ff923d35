// The process's one LLJIT. compile() is a straight pipeline: verify, hash the IR, read the disk
// cache, else optimise (our own new-PM kernel pipeline, with libmvec as the vector library)
// and codegen, write the cache, then link the object into a JITDylib of its own and look the
// symbol up. The Code handle it returns removes that dylib when the last copy goes (a tier-up's
// replaced plan, an evicted one, clear_cache()), which frees the code's memory.
// Optimising and codegen here, not in LLJIT's IRCompileLayer, lets a cache hit skip both.
#include "jit/orc/engine.hpp"

#include <llvm/ADT/SmallString.h>
#include <llvm/ADT/StringExtras.h>
#include <llvm/Analysis/TargetLibraryInfo.h>
#include <llvm/Config/llvm-config.h>
#include <llvm/ExecutionEngine/Orc/CompileUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/DiagnosticHandler.h>
#include <llvm/IR/DiagnosticInfo.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/CodeGen.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/SHA256.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/Transforms/Utils/Cloning.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <string_view>
#include <type_traits>

#include "jit/dump.hpp"
#include "jit/orc/disk_cache.hpp"
#include "jit/orc/vector_library.hpp"
#include "runtime/error.hpp"

namespace ember::jit {
namespace {

constexpr const char* kEmberVersion = "0.1.0";
// Bump when the pipeline or the vector-function table changes what a key compiles to.
constexpr const char* kPipelineVersion = "kernel-pipeline-poly-fastisel-4";

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

[[noreturn]] void fail(const std::string& what, llvm::Error e) {
  throw InternalError("jit: " + what + ": " + llvm::toString(std::move(e)));
}

template <class T>
T unwrap(llvm::Expected<T> v, const std::string& what) {
  if (!v) fail(what, v.takeError());
  if constexpr (std::is_reference_v<T>)
    return *v;
  else
    return std::move(*v);
}

// Drops the optimiser's remarks. The loop vectoriser prints a remark to stderr ("loop not
// vectorized: loop induction variable could not be identified") for every loop with an explicit
// width hint it does not vectorise, such as the scalar remainder loops: noise to a user, and
// the kernel is correct either way. Warnings and errors still print.
struct QuietRemarks : llvm::DiagnosticHandler {
  bool handleDiagnostics(const llvm::DiagnosticInfo& d) override {
    return d.getSeverity() == llvm::DS_Remark;
  }
};

}  // namespace

struct Engine::Impl {
  std::unique_ptr<llvm::TargetMachine> tm;        // for the optimiser's cost models and for codegen
  std::unique_ptr<llvm::TargetMachine> tm_quick;  // codegen of Tier::Quick
  std::unique_ptr<llvm::orc::LLJIT> jit;
  llvm::Triple triple;
  std::string cpu, features;
  unsigned vector_bytes = 16;
  std::unique_ptr<llvm::TargetLibraryInfoImpl> tlii;  // with the libmvec mappings
  std::string vector_library;                         // "libmvec" or "none", for the key

  mutable std::mutex mu;  // guards everything below and serialises compile()
  DiskCache disk;
  bool keep_ir = false;
  std::string last_ir;
  uint64_t dylibs = 0;  // made, for unique names
  size_t live = 0;      // not yet removed

  // What the ExecutionSession reports on its side while linking ("Symbols not found: ...");
  // lookup() itself only returns "Failed to materialize symbols".
  std::mutex report_mu;
  std::string reported;

  std::string cache_key(const std::string& ir, Tier tier) const;
  void optimize(llvm::Module& m) const;
  std::string assembly(const llvm::Module& m, llvm::TargetMachine& target) const;
};

std::string Engine::Impl::cache_key(const std::string& ir, Tier tier) const {
  llvm::SHA256 h;
  for (llvm::StringRef part :
       {llvm::StringRef(kEmberVersion), llvm::StringRef(kPipelineVersion),
        llvm::StringRef(tier == Tier::Quick ? "quick" : "full"),
        llvm::StringRef(LLVM_VERSION_STRING), llvm::StringRef(cpu), llvm::StringRef(features),
        llvm::StringRef(vector_library), llvm::StringRef(ir)}) {
    h.update(part);
    h.update(llvm::StringRef("\0", 1));  // so that parts cannot run into each other
  }
  return llvm::toHex(h.final(), /*LowerCase=*/true);
}

// The kernel pipeline. A kernel is a loop nest over noalias buffers, written with allocas and
// an always-inline body, whose inner loop the loop vectoriser turns into vector code with
// libmvec calls (inject-tli-mappings tells it which). These passes are all that O3 did that
// mattered: on the kernels of bench_jit and the JIT tests' patterns they produce the same
// machine code as O3 (instruction for instruction, give or take a few outside the loops) in
// about half the optimisation time. No SLP vectoriser or unrolling: the kernels do not need them.
constexpr const char* kPipeline =
    "always-inline,"
    "function(sroa,instcombine<no-verify-fixpoint>,simplifycfg,loop-mssa(loop-rotate,licm),"
    "inject-tli-mappings,loop-vectorize,instcombine<no-verify-fixpoint>,simplifycfg)";

void Engine::Impl::optimize(llvm::Module& m) const {
  // Declared in this order so that they are destroyed in reverse (MAM first).
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PassBuilder pb(tm.get());
  // Before registerFunctionAnalyses: the first registration of an analysis wins, and the
  // default TargetLibraryAnalysis knows no vector library.
  fam.registerPass([this] { return llvm::TargetLibraryAnalysis(*tlii); });
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::ModulePassManager mpm;
  if (llvm::Error e = pb.parsePassPipeline(mpm, kPipeline))
    fail("the kernel pipeline", std::move(e));
  mpm.run(m, mam);
}

std::string Engine::Impl::assembly(const llvm::Module& m, llvm::TargetMachine& target) const {
  // Codegen rewrites the IR it runs on: print a copy, keep `m` for the object.
  std::unique_ptr<llvm::Module> copy = llvm::CloneModule(m);
  llvm::SmallString<0> text;
  llvm::raw_svector_ostream os(text);
  llvm::legacy::PassManager pm;
  if (target.addPassesToEmitFile(pm, os, nullptr, llvm::CodeGenFileType::AssemblyFile))
    throw InternalError("jit: the target machine cannot emit assembly");
  pm.run(*copy);
  return std::string(text);
}

namespace {

// Code generation for a module of the vector and scalar types kernels use, by both target
// machines, with the result thrown away. LLVM builds some of its codegen tables on first use, as
// function-local statics that exit destroys in reverse order of construction: built here, before
// the background compiler exists, they outlive it, so a process that exits while a kernel
// compiles (the compiler's destructor waits for it) never has codegen read a destroyed table
// (it crashed in SelectionDAG when they were first built by that compile).
void warm_up_codegen(const llvm::DataLayout& layout, const llvm::Triple& triple,
                     llvm::TargetMachine& full, llvm::TargetMachine& quick) {
  llvm::LLVMContext ctx;
  auto m = std::make_unique<llvm::Module>("ember_warm_up", ctx);
  m->setDataLayout(layout);
  m->setTargetTriple(triple.str());
  llvm::IRBuilder<> b(ctx);
  auto* fn = llvm::Function::Create(
      llvm::FunctionType::get(b.getVoidTy(), {b.getPtrTy(), b.getInt64Ty()}, false),
      llvm::Function::ExternalLinkage, "ember_warm_up", *m);
  b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", fn));
  llvm::Value* p = fn->getArg(0);
  for (llvm::Type* scalar : {b.getFloatTy(), b.getDoubleTy()})
    for (unsigned lanes : {1u, 4u, 8u, 16u}) {
      llvm::Type* t = lanes == 1 ? scalar : llvm::FixedVectorType::get(scalar, lanes);
      llvm::Value* x = b.CreateLoad(t, p);
      llvm::Value* y = b.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, x);
      y = b.CreateFAdd(b.CreateFMul(x, y), x);
      y = b.CreateSelect(b.CreateFCmpOLT(x, y), x, y);
      y = b.CreateBinaryIntrinsic(llvm::Intrinsic::maxnum, x, y);
      llvm::Type* other = scalar->isFloatTy() ? b.getDoubleTy() : b.getFloatTy();
      llvm::Type* ot = lanes == 1 ? other : llvm::FixedVectorType::get(other, lanes);
      llvm::Value* z = scalar->isFloatTy() ? b.CreateFPExt(y, ot) : b.CreateFPTrunc(y, ot);
      b.CreateStore(z, p);
      b.CreateStore(y, p);
    }
  llvm::Value* n = b.CreateBinaryIntrinsic(llvm::Intrinsic::smin, fn->getArg(1), b.getInt64(64));
  b.CreateStore(n, p);
  b.CreateRetVoid();
  for (llvm::TargetMachine* tm : {&full, &quick}) {
    auto clone = llvm::CloneModule(*m);
    llvm::orc::SimpleCompiler codegen(*tm);
    auto obj = codegen(*clone);
    if (!obj) llvm::consumeError(obj.takeError());  // only the tables' construction matters
  }
}

}  // namespace

Engine::Engine() : impl_(std::make_unique<Impl>()) {
  // These return true on failure.
  if (llvm::InitializeNativeTarget() || llvm::InitializeNativeTargetAsmPrinter() ||
      llvm::InitializeNativeTargetAsmParser())
    throw Error("jit: LLVM has no native target for this CPU");
  Impl& d = *impl_;
  auto jtmb = unwrap(llvm::orc::JITTargetMachineBuilder::detectHost(), "cannot detect the host");
  // Default, not Aggressive: codegen is the larger half of a compile, and the kernels run as
  // fast (measured on the chain and softmax benchmarks).
  jtmb.setCodeGenOptLevel(llvm::CodeGenOptLevel::Default);
  // Fast instruction selection for the blocks it handles (loop control, address arithmetic,
  // the scalar remainder loop); the vector bodies it cannot select fall back to SelectionDAG
  // and come out as before. 12% fewer instructions per compile (callgrind, bench_jit's
  // compile_fresh); the chain kernel's vector loop is the same instruction for instruction.
  jtmb.getOptions().EnableFastISel = true;
  // What JITLink wants on x86-64 ELF; set before both the codegen TM and the LLJIT are made.
  jtmb.setRelocationModel(llvm::Reloc::PIC_);
  jtmb.setCodeModel(llvm::CodeModel::Small);
  d.triple = jtmb.getTargetTriple();
  d.cpu = jtmb.getCPU();
  d.features = jtmb.getFeatures().getString();
  if (has_cpu_feature(d.features, "avx512f"))
    d.vector_bytes = 64;
  else if (has_cpu_feature(d.features, "avx"))
    d.vector_bytes = 32;
  d.tm = unwrap(jtmb.createTargetMachine(), "cannot create a target machine for " + d.cpu);
  d.tm_quick = unwrap(jtmb.createTargetMachine(), "cannot create a target machine for " + d.cpu);
  d.tm_quick->setOptLevel(llvm::CodeGenOptLevel::None);
  d.jit = unwrap(llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(jtmb).create(),
                 "cannot create the LLJIT");
  d.jit->getExecutionSession().setErrorReporter([impl = impl_.get()](llvm::Error e) {
    std::lock_guard lock(impl->report_mu);
    impl->reported += (impl->reported.empty() ? "" : "; ") + llvm::toString(std::move(e));
  });

  d.tlii = std::make_unique<llvm::TargetLibraryInfoImpl>(d.triple);
  d.vector_library = add_vector_library(*d.jit, *d.tlii, d.triple, d.features);
  warm_up_codegen(d.jit->getDataLayout(), d.triple, *d.tm, *d.tm_quick);
}

Engine::~Engine() = default;

Engine& Engine::instance() {
  // Never destroyed: kernels may still run on pool threads while static destructors run. A
  // throwing constructor leaves it unset, and the next call tries again.
  static Engine* engine = new Engine();
  return *engine;
}

std::unique_ptr<llvm::Module> Engine::new_module(const std::string& name,
                                                 llvm::LLVMContext& ctx) const {
  auto m = std::make_unique<llvm::Module>(name, ctx);
  m->setDataLayout(impl_->jit->getDataLayout());
  m->setTargetTriple(impl_->triple.str());
  return m;
}

void Engine::add_target_attributes(llvm::Function& f) const {
  f.addFnAttr("target-cpu", impl_->cpu);
  f.addFnAttr("target-features", impl_->features);
  // The width vector_bytes() reports is the one the vectoriser and codegen use.
  f.addFnAttr("prefer-vector-width", std::to_string(impl_->vector_bytes * 8));
  f.addFnAttr("no-trapping-math", "true");
  f.addFnAttr(llvm::Attribute::NoUnwind);
}

const llvm::DataLayout& Engine::data_layout() const { return impl_->jit->getDataLayout(); }
const std::string& Engine::cpu() const { return impl_->cpu; }
const std::string& Engine::features() const { return impl_->features; }
unsigned Engine::vector_bytes() const { return impl_->vector_bytes; }

std::string Engine::cache_dir() const {
  std::lock_guard lock(impl_->mu);
  return impl_->disk.dir();
}

void Engine::set_cache_dir(std::string dir) {
  std::lock_guard lock(impl_->mu);
  impl_->disk.set_dir(std::move(dir));
}

void Engine::set_cache_max_bytes(uint64_t bytes) {
  std::lock_guard lock(impl_->mu);
  impl_->disk.set_max_bytes(bytes);
}

size_t Engine::live_modules() const {
  std::lock_guard lock(impl_->mu);
  return impl_->live;
}

Code::~Code() { Engine::instance().release(dylib_); }

void Engine::release(llvm::orc::JITDylib* dylib) {
  std::lock_guard lock(impl_->mu);
  // Clears the dylib (its memory goes back through the JIT's memory manager) and forgets it.
  if (llvm::Error e = impl_->jit->getExecutionSession().removeJITDylib(*dylib))
    llvm::consumeError(std::move(e));  // nothing to do about it at this point
  --impl_->live;
}

void Engine::set_keep_ir(bool on) {
  std::lock_guard lock(impl_->mu);
  impl_->keep_ir = on;
  if (!on) impl_->last_ir.clear();
}

std::string Engine::last_optimized_ir() const {
  std::lock_guard lock(impl_->mu);
  return impl_->last_ir;
}

CodePtr Engine::compile(std::unique_ptr<llvm::LLVMContext> ctx_arg,
                        std::unique_ptr<llvm::Module> m_arg, const std::string& symbol,
                        CompileInfo* info, Tier tier) {
  const auto t0 = Clock::now();
  // Locals, so that the module dies before its context on every path, a throw included (the
  // order in which parameters are destroyed is up to the compiler).
  std::unique_ptr<llvm::LLVMContext> ctx = std::move(ctx_arg);
  std::unique_ptr<llvm::Module> m = std::move(m_arg);
  EMBER_ASSERT(ctx && m, "jit: compile() needs a module and its context");
  ctx->setDiagnosticHandler(std::make_unique<QuietRemarks>());
  std::lock_guard lock(impl_->mu);
  Impl& d = *impl_;
  CompileInfo local;
  CompileInfo& ci = info ? *info : local;
  ci = CompileInfo{};
  const std::string name = m->getModuleIdentifier();
  const bool dump_llvm = dump_enabled("llvm"), dump_asm = dump_enabled("asm");

  std::string problems;
  llvm::raw_string_ostream ps(problems);
  if (llvm::verifyModule(*m, &ps))
    throw InternalError("jit: invalid LLVM module '" + name + "': " + problems);
  const llvm::Function* fn = m->getFunction(symbol);
  EMBER_ASSERT(fn && !fn->isDeclaration(), "jit: module '", name, "' defines no function '", symbol,
               "'");

  std::string ir;
  llvm::raw_string_ostream(ir) << *m;
  if (dump_llvm)
    llvm::errs() << "; ---- " << symbol << ": LLVM IR before optimisation ----\n" << ir;

  // A dump or kept IR needs the pipeline to run, so those skip reading the cache.
  const std::string key = d.disk.dir().empty() ? "" : d.cache_key(ir, tier);
  std::unique_ptr<llvm::MemoryBuffer> object;
  if (!key.empty() && !dump_llvm && !dump_asm && !d.keep_ir) object = d.disk.read(key);
  ci.disk_hit = object != nullptr;

  if (!object) {
    auto t1 = Clock::now();
    d.optimize(*m);
    ci.opt_ms = ms_since(t1);
    if (dump_llvm || d.keep_ir) {
      std::string opt;
      llvm::raw_string_ostream(opt) << *m;
      if (dump_llvm)
        llvm::errs() << "; ---- " << symbol << ": LLVM IR after optimisation ----\n" << opt;
      if (d.keep_ir) d.last_ir = std::move(opt);
    }
    llvm::TargetMachine& target = tier == Tier::Quick ? *d.tm_quick : *d.tm;
    if (dump_asm)
      llvm::errs() << "# ---- " << symbol << (tier == Tier::Quick ? " (quick)" : "")
                   << ": assembly ----\n"
                   << d.assembly(*m, target);
    auto t2 = Clock::now();
    llvm::orc::SimpleCompiler codegen(target);
    object = unwrap(codegen(*m), "codegen of '" + symbol + "' failed");
    ci.codegen_ms = ms_since(t2);
    if (!key.empty()) d.disk.write(key, object->getBuffer());
  }
  m.reset();  // the module before its context
  ctx.reset();

  // A dylib per module: kernels never clash by name, and the same IR may be compiled again.
  llvm::orc::JITDylib& jd = unwrap(
      d.jit->createJITDylib("ember.kernel." + std::to_string(d.dylibs++)), "cannot add a dylib");
  jd.addToLinkOrder(d.jit->getMainJITDylib());
  {
    std::lock_guard report_lock(d.report_mu);
    d.reported.clear();
  }
  llvm::Expected<llvm::orc::ExecutorAddr> addr = [&]() -> llvm::Expected<llvm::orc::ExecutorAddr> {
    if (llvm::Error e = d.jit->addObjectFile(jd, std::move(object))) return e;
    return d.jit->lookup(jd, symbol);
  }();
  if (!addr) {
    llvm::consumeError(d.jit->getExecutionSession().removeJITDylib(jd));
    std::string why = llvm::toString(addr.takeError());
    std::lock_guard report_lock(d.report_mu);
    if (!d.reported.empty()) why = d.reported + " (" + why + ")";
    throw InternalError("jit: cannot link '" + symbol + "': " + why);
  }
  ci.total_ms = ms_since(t0);
  ++d.live;
  return CodePtr(new Code(addr->toPtr<void*>(), &jd));
}

}  // namespace ember::jit
