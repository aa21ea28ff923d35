// jit/orc/engine.cpp and jit/codegen/math.cpp: kernels built with IRBuilder, compiled by the
// engine and checked against the dsl's eager evaluation; vectorisation through libmvec; the
// disk cache (hits, corrupt entries), error paths, dumps and compile latency.
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <unistd.h>

#include <bit>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "dsl/expr.hpp"
#include "jit/codegen/math.hpp"
#include "jit/dump.hpp"
#include "jit/jit_support.hpp"
#include "jit/orc/engine.hpp"
#include "runtime/error.hpp"

using namespace ember;
using dsl::Fn;
using jit::CodePtr;
using jit::CompileInfo;
using jit::Engine;
namespace fs = std::filesystem;

namespace {

int arity(Fn f) { return f <= Fn::Erf ? 1 : f <= Fn::Ne ? 2 : 3; }

/// Sets the engine's disk cache directory for a scope and restores the previous one.
struct CacheDirGuard {
  std::string saved = Engine::instance().cache_dir();
  explicit CacheDirGuard(const std::string& dir) { Engine::instance().set_cache_dir(dir); }
  ~CacheDirGuard() { Engine::instance().set_cache_dir(saved); }
};

/// A fresh, empty directory under the temp dir, removed at scope end.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& tag) {
    path = fs::temp_directory_path() / ("ember_orc_" + tag + "_" + std::to_string(::getpid()));
    fs::remove_all(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

/// The module of `void symbol(const T* noalias x0, ..., T* noalias y, i64 n)` computing
/// y[i] = fn(x0[i], ...) for i < n.
std::pair<std::unique_ptr<llvm::LLVMContext>, std::unique_ptr<llvm::Module>> kernel_module(
    Fn fn, bool f64, const std::string& symbol) {
  Engine& e = Engine::instance();
  auto ctx = std::make_unique<llvm::LLVMContext>();
  auto m = e.new_module(symbol, *ctx);
  llvm::Type* t = f64 ? llvm::Type::getDoubleTy(*ctx) : llvm::Type::getFloatTy(*ctx);
  llvm::Type* ptr = llvm::PointerType::getUnqual(*ctx);
  llvm::Type* i64 = llvm::Type::getInt64Ty(*ctx);
  const int k = arity(fn);
  std::vector<llvm::Type*> params(k + 1, ptr);
  params.push_back(i64);
  auto* f =
      llvm::Function::Create(llvm::FunctionType::get(llvm::Type::getVoidTy(*ctx), params, false),
                             llvm::Function::ExternalLinkage, symbol, m.get());
  e.add_target_attributes(*f);
  for (int j = 0; j <= k; ++j) f->addParamAttr(j, llvm::Attribute::NoAlias);
  llvm::Value* n = f->getArg(k + 1);

  auto* entry = llvm::BasicBlock::Create(*ctx, "entry", f);
  auto* loop = llvm::BasicBlock::Create(*ctx, "loop", f);
  auto* exit = llvm::BasicBlock::Create(*ctx, "exit", f);
  llvm::IRBuilder<> b(entry);
  b.CreateCondBr(b.CreateICmpSGT(n, b.getInt64(0)), loop, exit);
  b.SetInsertPoint(loop);
  llvm::PHINode* i = b.CreatePHI(i64, 2, "i");
  i->addIncoming(b.getInt64(0), entry);
  std::vector<llvm::Value*> xs;
  for (int j = 0; j < k; ++j)
    xs.push_back(b.CreateLoad(t, b.CreateInBoundsGEP(t, f->getArg(j), i)));
  b.CreateStore(jit::emit_fn(b, fn, xs), b.CreateInBoundsGEP(t, f->getArg(k), i));
  llvm::Value* next = b.CreateAdd(i, b.getInt64(1), "next", /*HasNUW=*/true, /*HasNSW=*/true);
  i->addIncoming(next, loop);
  b.CreateCondBr(b.CreateICmpEQ(next, n), exit, loop);
  b.SetInsertPoint(exit);
  b.CreateRetVoid();
  return {std::move(ctx), std::move(m)};
}

CodePtr compile_kernel(Fn fn, bool f64, const std::string& symbol, CompileInfo* info = nullptr) {
  auto [ctx, m] = kernel_module(fn, f64, symbol);
  return Engine::instance().compile(std::move(ctx), std::move(m), symbol, info);
}

/// Runs a compiled kernel of arity k over inputs xs (each of n values).
template <class T>
std::vector<T> run(const CodePtr& code, const std::vector<std::vector<T>>& xs) {
  void* fn = code->address();
  const int64_t n = static_cast<int64_t>(xs[0].size());
  std::vector<T> y(n, T(-12345));
  switch (xs.size()) {
    case 1:
      reinterpret_cast<void (*)(const T*, T*, int64_t)>(fn)(xs[0].data(), y.data(), n);
      break;
    case 2:
      reinterpret_cast<void (*)(const T*, const T*, T*, int64_t)>(fn)(xs[0].data(), xs[1].data(),
                                                                      y.data(), n);
      break;
    default:
      reinterpret_cast<void (*)(const T*, const T*, const T*, T*, int64_t)>(fn)(
          xs[0].data(), xs[1].data(), xs[2].data(), y.data(), n);
  }
  return y;
}

/// The dsl's eager value of fn (dsl/expr.hpp's apply and Where).
template <class T>
T reference(Fn fn, const std::vector<T>& a) {
  // clang-format off
#define EMBER_REF1(F) case Fn::F: return dsl::apply<Fn::F, T>(a[0]);
#define EMBER_REF2(F) case Fn::F: return dsl::apply<Fn::F, T>(a[0], a[1]);
  switch (fn) {
    EMBER_REF1(Neg) EMBER_REF1(Exp) EMBER_REF1(Log) EMBER_REF1(Log1p) EMBER_REF1(Expm1)
    EMBER_REF1(Sqrt) EMBER_REF1(Rsqrt) EMBER_REF1(Abs) EMBER_REF1(Sign) EMBER_REF1(Sin)
    EMBER_REF1(Cos) EMBER_REF1(Tanh) EMBER_REF1(Sigmoid) EMBER_REF1(Erf)
    EMBER_REF2(Add) EMBER_REF2(Sub) EMBER_REF2(Mul) EMBER_REF2(Div) EMBER_REF2(Pow)
    EMBER_REF2(Min) EMBER_REF2(Max) EMBER_REF2(Lt) EMBER_REF2(Le) EMBER_REF2(Gt)
    EMBER_REF2(Ge) EMBER_REF2(Eq) EMBER_REF2(Ne)
    case Fn::Where: return dsl::select(a[0] != T(0), a[1], a[2]);
  }
#undef EMBER_REF1
#undef EMBER_REF2
  // clang-format on
  return T(0);
}

/// Distance in units in the last place (±0 are one point; saturates for far-apart values).
template <class T>
double ulps(T a, T b) {
  using I = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;
  auto key = [](T v) -> __int128 {
    I i = std::bit_cast<I>(v);
    return i < 0 ? -static_cast<__int128>(i & std::numeric_limits<I>::max()) : i;
  };
  __int128 d = key(a) - key(b);
  return static_cast<double>(d < 0 ? -d : d);
}

/// Edge values, then random ones of every magnitude and in the range where functions bend.
template <class T>
std::vector<T> test_values(size_t n, uint32_t seed) {
  const T inf = std::numeric_limits<T>::infinity();
  std::vector<T> v = {T(0),
                      -T(0),
                      inf,
                      -inf,
                      std::numeric_limits<T>::quiet_NaN(),
                      T(1),
                      T(-1),
                      T(0.5),
                      T(-0.5),
                      T(2),
                      T(-2),
                      T(1e-30),
                      T(-1e-30),
                      T(30),
                      T(-30),
                      T(88.5),
                      T(-88.5),
                      T(89),
                      T(-104),
                      T(710),
                      T(-746),
                      T(1e30),
                      T(-1e30),
                      std::numeric_limits<T>::max(),
                      std::numeric_limits<T>::lowest(),
                      std::numeric_limits<T>::min(),
                      std::numeric_limits<T>::denorm_min(),
                      T(-0.9999),
                      T(-1.0001),
                      T(3.14159265),
                      T(1e5),
                      T(-1e5)};
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> small(-6, 6), exponent(-20, 20);
  while (v.size() < n) {
    v.push_back(static_cast<T>(small(gen)));
    double s = gen() % 2 ? 1 : -1;
    v.push_back(static_cast<T>(s * std::pow(10.0, exponent(gen))));
  }
  v.resize(n);
  return v;
}

bool exact_fn(Fn f) {
  switch (f) {
    case Fn::Exp:
    case Fn::Log:
    case Fn::Log1p:
    case Fn::Expm1:
    case Fn::Sin:
    case Fn::Cos:
    case Fn::Tanh:
    case Fn::Sigmoid:
    case Fn::Erf:
    case Fn::Pow:
      return false;
    default:
      return true;
  }
}

/// float exp, erf and sigmoid are the dsl's polynomials (dsl::math::poly), whose last bits
/// depend on where the compiler fuses multiply-adds: the JIT's are checked against double-
/// precision libm with the polynomials' error bounds (tests/dsl/test_fastmath.cpp), the rest
/// against the eager value within 4 ulp.
template <class T>
bool poly_fn(Fn f) {
  return std::is_same_v<T, float> && (f == Fn::Exp || f == Fn::Erf || f == Fn::Sigmoid);
}
double poly_ulp_bound(Fn f) { return f == Fn::Erf ? 7 : f == Fn::Exp ? 1.5 : 3; }
float libm_reference(Fn f, float x) {
  const double d = x;
  if (f == Fn::Exp) return static_cast<float>(std::exp(d));
  if (f == Fn::Erf) return static_cast<float>(std::erf(d));
  // 1 / (1 + e^-x) with e^-x in float, as the kernel has it: below -88.7 it overflows and the
  // result is 0 rather than a subnormal (PyTorch's float sigmoid does the same).
  return static_cast<float>(1 / (1 + double(static_cast<float>(std::exp(-d)))));
}

template <class T>
void check_fn(Fn fn) {
  const bool f64 = std::is_same_v<T, double>;
  const std::string name = std::string(dsl::fn_name(fn)) + (f64 ? "_f64" : "_f32");
  const int k = arity(fn);
  std::vector<std::vector<T>> xs;
  const size_t n = 3001;  // not a multiple of any vector width: the remainder loop runs too
  for (int j = 0; j < k; ++j) xs.push_back(test_values<T>(n, 17 + j));
  if (k >= 2) {  // every pair of edge values
    const std::vector<T> edge = test_values<T>(32, 1);
    for (size_t p = 0; p < edge.size() * edge.size() && p < n; ++p) {
      xs[0][p] = edge[p / edge.size()];
      xs[1][p] = edge[p % edge.size()];
    }
  }
  if (fn == Fn::Where)
    for (size_t p = 0; p < n; p += 3) xs[0][p] = T(0);  // both branches taken often

  CodePtr f = compile_kernel(fn, f64, "orc_" + name);
  const std::vector<T> y = run<T>(f, xs);
  using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  double worst = 0;
  for (size_t p = 0; p < n; ++p) {
    std::vector<T> a;
    for (int j = 0; j < k; ++j) a.push_back(xs[j][p]);
    const T ref = poly_fn<T>(fn) ? T(libm_reference(fn, float(a[0]))) : reference<T>(fn, a);
    const double bound = poly_fn<T>(fn) ? poly_ulp_bound(fn) : 4;
    bool ok;
    if (std::isnan(ref)) {
      ok = std::isnan(y[p]);
    } else if (exact_fn(fn)) {
      ok = std::bit_cast<U>(y[p]) == std::bit_cast<U>(ref);
    } else {
      worst = std::max(worst, ulps(y[p], ref));
      ok = ulps(y[p], ref) <= bound;
    }
    if (!ok) {
      std::ostringstream what;
      what.precision(std::numeric_limits<T>::max_digits10);
      what << name << " at";
      for (T v : a) what << ' ' << v;
      what << ": jit " << y[p] << ", eager " << ref << " (" << ulps(y[p], ref) << " ulp)";
      FAIL(what.str());
    }
  }
  INFO(name << ": worst " << worst << " ulp over " << n << " values");
  CHECK(worst <= (exact_fn(fn) ? 0 : poly_fn<T>(fn) ? poly_ulp_bound(fn) : 4));
}

/// The lane count of the libmvec call for `fname` in optimised IR, or 0 if there is none.
int libmvec_lanes(const std::string& ir, const std::string& fname) {
  std::smatch m;
  if (std::regex_search(ir, m, std::regex("call [^\\n]*@_ZGV[bcde]N([0-9]+)v_" + fname + "\\(")))
    return std::stoi(m[1]);
  return 0;
}

/// The message of the ember::Error f throws ("" if it throws none).
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const InternalError& e) {  // LLVM refusing a module is a JIT bug, not bad input
    return e.what();
  }
  return "";
}

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  if (fs::exists(dir))
    for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path());
  return out;
}

}  // namespace

// First in the file, so that "[orc]" alone measures the first kernel of the process.
TEST_CASE("orc: compile latency (reported, not asserted)", "[jit][orc]") {
  using Clock = std::chrono::steady_clock;
  auto t0 = Clock::now();
  Engine& e = Engine::instance();
  double create_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  TempDir dir("latency");
  CacheDirGuard guard(dir.path.string());
  CompileInfo first, second, third, hit;
  REQUIRE(compile_kernel(Fn::Sigmoid, false, "orc_latency_a", &first));
  REQUIRE(compile_kernel(Fn::Tanh, false, "orc_latency_b", &second));
  REQUIRE(compile_kernel(Fn::Exp, true, "orc_latency_c", &third));
  REQUIRE(compile_kernel(Fn::Sigmoid, false, "orc_latency_a", &hit));
  CHECK_FALSE(first.disk_hit);
  CHECK(hit.disk_hit);
  auto show = [](const CompileInfo& c) {
    std::ostringstream os;
    os.precision(3);
    os << c.total_ms << " ms (optimiser " << c.opt_ms << ", codegen " << c.codegen_ms << ")";
    return os.str();
  };
  WARN("JIT on " << e.cpu() << ", " << e.vector_bytes() << "-byte vectors; engine created in "
                 << create_ms << " ms; first kernel " << show(first) << "; later " << show(second)
                 << ", " << show(third) << "; disk hit " << hit.total_ms << " ms");
}

TEST_CASE("orc: every dsl function matches eager, f32 and f64", "[jit][orc]") {
  CacheDirGuard guard("");
  for (int i = 0; i <= static_cast<int>(Fn::Where); ++i) {
    const Fn fn = static_cast<Fn>(i);
    SECTION(std::string(dsl::fn_name(fn))) {
      check_fn<float>(fn);
      check_fn<double>(fn);
    }
  }
}

TEST_CASE("orc: transcendental loops vectorise", "[jit][orc]") {
  CacheDirGuard guard("");
  Engine& e = Engine::instance();
  e.set_keep_ir(true);
  const unsigned lanes = e.vector_bytes() / 4;
  // Through libmvec: the widest variant the CPU runs (16 lanes with AVX-512, 8 with AVX2).
  for (auto [fn, callee] : {std::pair{Fn::Tanh, "tanhf"}, std::pair{Fn::Log1p, "log1pf"}}) {
    compile_kernel(fn, false, std::string("orc_vec_") + dsl::fn_name(fn));
    const std::string ir = e.last_optimized_ir();
    INFO(dsl::fn_name(fn) << " after optimisation:\n" << ir);
    REQUIRE(!ir.empty());
    CHECK(libmvec_lanes(ir, callee) == static_cast<int>(lanes));
  }
  // float exp and erf are inline polynomials: vector FMAs, no call at all.
  for (Fn fn : {Fn::Exp, Fn::Erf, Fn::Sigmoid}) {
    compile_kernel(fn, false, std::string("orc_vec_") + dsl::fn_name(fn));
    const std::string ir = e.last_optimized_ir();
    INFO(dsl::fn_name(fn) << " after optimisation:\n" << ir);
    REQUIRE(!ir.empty());
    CHECK(ir.find("@llvm.fmuladd.v" + std::to_string(lanes) + "f32(") != std::string::npos);
    CHECK(ir.find("@_ZGV") == std::string::npos);
    CHECK(ir.find("@expf") == std::string::npos);
    CHECK(ir.find("@erff") == std::string::npos);
  }
  compile_kernel(Fn::Exp, true, "orc_vec_exp_f64");
  {
    const std::string ir = e.last_optimized_ir();
    INFO(ir);
    CHECK(libmvec_lanes(ir, "exp") == static_cast<int>(lanes / 2));
  }
  e.set_keep_ir(false);
  CHECK(e.last_optimized_ir().empty());
}

TEST_CASE("orc: the disk cache hits, and ignores corrupt entries", "[jit][orc]") {
  TempDir dir("cache");
  CacheDirGuard guard(dir.path.string());
  const std::vector<std::vector<float>> xs = {test_values<float>(100, 3)};
  std::vector<float> want;
  for (float v : xs[0]) want.push_back(dsl::apply<Fn::Tanh, float>(v));
  auto check_values = [&](const CodePtr& f) {
    std::vector<float> y = run<float>(f, xs);
    for (size_t i = 0; i < y.size(); ++i)
      if (!std::isnan(want[i])) REQUIRE(ulps(y[i], want[i]) <= 4);
  };

  CompileInfo info;
  check_values(compile_kernel(Fn::Tanh, false, "orc_cached", &info));
  CHECK_FALSE(info.disk_hit);
  CHECK(info.opt_ms > 0);
  std::vector<fs::path> files = files_in(dir.path);
  REQUIRE(files.size() == 1);  // one entry, no temporary left behind
  const fs::path entry = files[0];
  CHECK(entry.extension() == ".o");

  // The same IR again (the symbol lives in another dylib): loaded, no optimisation, no codegen.
  check_values(compile_kernel(Fn::Tanh, false, "orc_cached", &info));
  CHECK(info.disk_hit);
  CHECK(info.opt_ms == 0);
  CHECK(info.codegen_ms == 0);

  // Different IR, different key.
  compile_kernel(Fn::Tanh, true, "orc_cached", &info);
  CHECK_FALSE(info.disk_hit);
  CHECK(files_in(dir.path).size() == 2);

  SECTION("a truncated entry is recompiled and rewritten") {
    fs::resize_file(entry, fs::file_size(entry) / 2);
  }
  SECTION("an entry with a flipped byte is recompiled and rewritten") {
    std::fstream f(entry, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(64);
    char c = 0;
    f.read(&c, 1);
    f.seekp(64);
    c = static_cast<char>(c ^ 0x5a);
    f.write(&c, 1);
  }
  SECTION("garbage is recompiled and rewritten") {
    std::ofstream(entry, std::ios::binary | std::ios::trunc) << "not an object file";
  }
  check_values(compile_kernel(Fn::Tanh, false, "orc_cached", &info));
  CHECK_FALSE(info.disk_hit);
  check_values(compile_kernel(Fn::Tanh, false, "orc_cached", &info));
  CHECK(info.disk_hit);
}

TEST_CASE("orc: bad modules throw ember::InternalError", "[jit][orc]") {
  CacheDirGuard guard("");
  Engine& e = Engine::instance();

  SECTION("verifier failure") {
    auto ctx = std::make_unique<llvm::LLVMContext>();
    auto m = e.new_module("broken", *ctx);
    auto* f = llvm::Function::Create(llvm::FunctionType::get(llvm::Type::getVoidTy(*ctx), false),
                                     llvm::Function::ExternalLinkage, "orc_broken", m.get());
    llvm::BasicBlock::Create(*ctx, "entry", f);  // no terminator
    CHECK_THAT(error_of([&] { e.compile(std::move(ctx), std::move(m), "orc_broken"); }),
               Catch::Contains("invalid LLVM module 'broken'"));
  }
  SECTION("missing symbol") {
    auto [ctx, m] = kernel_module(Fn::Exp, false, "orc_present");
    CHECK_THAT(error_of([&] { e.compile(std::move(ctx), std::move(m), "orc_absent"); }),
               Catch::Contains("defines no function 'orc_absent'"));
  }
  SECTION("unresolved external") {
    auto ctx = std::make_unique<llvm::LLVMContext>();
    auto m = e.new_module("unresolved", *ctx);
    auto* fty = llvm::FunctionType::get(llvm::Type::getVoidTy(*ctx), false);
    auto* f = llvm::Function::Create(fty, llvm::Function::ExternalLinkage, "orc_caller", m.get());
    llvm::IRBuilder<> b(llvm::BasicBlock::Create(*ctx, "entry", f));
    b.CreateCall(m->getOrInsertFunction("ember_orc_no_such_function", fty));
    b.CreateRetVoid();
    std::string msg = error_of([&] { e.compile(std::move(ctx), std::move(m), "orc_caller"); });
    CHECK_THAT(msg, Catch::Contains("cannot link 'orc_caller'") &&
                        Catch::Contains("ember_orc_no_such_function"));
  }
  SECTION("null module") { REQUIRE_THROWS_AS(e.compile(nullptr, nullptr, "x"), InternalError); }
}

TEST_CASE("orc: EMBER_JIT_DUMP=llvm,asm prints IR and machine code", "[jit][orc]") {
  CacheDirGuard guard("");
  const char* old = std::getenv("EMBER_JIT_DUMP");
  jit::set_dump_words("graph, llvm,asm");
  test::StderrCapture capture;
  CodePtr f;
  try {
    f = compile_kernel(Fn::Neg, false, "orc_dumped");
  } catch (...) {
  }
  std::string text = capture.finish();
  jit::set_dump_words(old ? old : "");
  REQUIRE(f);
  CHECK_THAT(text, Catch::Contains("orc_dumped: LLVM IR before optimisation"));
  CHECK_THAT(text, Catch::Contains("orc_dumped: LLVM IR after optimisation"));
  CHECK_THAT(text, Catch::Contains("orc_dumped: assembly"));
  CHECK_THAT(text, Catch::Contains("define void @orc_dumped("));
  CHECK_THAT(text, Catch::Contains("orc_dumped:\n"));  // the asm label
}

TEST_CASE("orc: concurrent compiles from two threads", "[jit][orc]") {
  CacheDirGuard guard("");
  std::vector<CodePtr> got(4);
  std::vector<std::string> errors(2);
  auto work = [&](int t) {
    try {
      for (int j = 0; j < 2; ++j)
        got[t * 2 + j] = compile_kernel(j ? Fn::Mul : Fn::Add, t != 0,
                                        "orc_thread_" + std::to_string(t * 2 + j));
    } catch (const std::exception& ex) {
      errors[t] = ex.what();
    }
  };
  std::thread a(work, 0), b(work, 1);
  a.join();
  b.join();
  CHECK(errors[0].empty());
  CHECK(errors[1].empty());
  for (const CodePtr& p : got) REQUIRE(p);
  auto y = run<float>(got[1], {{1.5f, 2.f}, {2.f, -3.f}});
  CHECK(y == std::vector<float>{3.f, -6.f});
  auto z = run<double>(got[2], {{1.5, 2}, {2, -3}});
  CHECK(z == std::vector<double>{3.5, -1});
}

// The mappings of this process (Linux): a leak of JIT code shows here, and running out of them
// (vm.max_map_count) is what stopped a long-running process before code was freed.
size_t mapping_count() {
  std::ifstream maps("/proc/self/maps");
  size_t n = 0;
  for (std::string line; std::getline(maps, line);) ++n;
  return n;
}

TEST_CASE("orc: code is freed with its last handle", "[jit][orc]") {
  CacheDirGuard guard("");
  Engine& e = Engine::instance();
  const size_t live0 = e.live_modules();
  {
    CodePtr a = compile_kernel(Fn::Exp, false, "orc_freed_a");
    CodePtr b = compile_kernel(Fn::Exp, false, "orc_freed_a");  // the same name, another dylib
    CHECK(e.live_modules() == live0 + 2);
    CodePtr a2 = a;
    a.reset();
    CHECK(e.live_modules() == live0 + 2);  // a2 holds it
    a2.reset();
    CHECK(e.live_modules() == live0 + 1);
    CHECK(run<float>(b, {{0.f}}) == std::vector<float>{1.f});  // the other is unharmed
  }
  CHECK(e.live_modules() == live0);
  // Many compile-and-free cycles leave the mappings flat (each module maps code and data).
  for (int i = 0; i < 20; ++i) compile_kernel(Fn::Tanh, i % 2 == 0, "orc_cycle");
  const size_t maps0 = mapping_count();
  for (int i = 0; i < 300; ++i) compile_kernel(Fn::Tanh, i % 2 == 0, "orc_cycle");
  CHECK(e.live_modules() == live0);
  CHECK(mapping_count() <= maps0 + 16);
}

TEST_CASE("orc: the disk cache is bounded and refuses a directory others can write", "[jit][orc]") {
  Engine& e = Engine::instance();
  SECTION("bounded: least recently used entries go first") {
    TempDir dir("bounded");
    CacheDirGuard guard(dir.path.string());
    CompileInfo info;
    compile_kernel(Fn::Tanh, false, "orc_bound_0", &info);
    const uint64_t one = fs::file_size(files_in(dir.path).at(0));
    e.set_cache_max_bytes(3 * one + one / 2);  // room for three entries of that size
    // Every unary function in both dtypes: 28 different entries.
    size_t written = 0;
    for (int f = static_cast<int>(Fn::Neg); f <= static_cast<int>(Fn::Erf); ++f)
      for (bool f64 : {false, true}) {
        compile_kernel(static_cast<Fn>(f), f64, "orc_bound", &info);
        written += info.disk_hit ? 0 : 1;
      }
    e.set_cache_max_bytes(512ull << 20);
    // Trimmed to three quarters of the bound every 16th write: at most 3 + 15 entries remain.
    const size_t kept = files_in(dir.path).size();
    CHECK(written >= 27);
    CHECK(kept >= 1);
    CHECK(kept <= 18);
  }
  SECTION("a directory other users can write is refused, with a warning") {
    TempDir dir("shared");
    fs::create_directories(dir.path);
    fs::permissions(dir.path, fs::perms::group_write | fs::perms::others_write,
                    fs::perm_options::add);
    CacheDirGuard guard(dir.path.string());
    test::StderrCapture capture;
    CompileInfo info;
    CodePtr f = compile_kernel(Fn::Exp, false, "orc_shared", &info);
    std::string text = capture.finish();
    REQUIRE(f);  // compiled all the same
    CHECK(files_in(dir.path).empty());
    CHECK_THAT(text, Catch::Contains("is writable by other users"));
    CHECK_THAT(text, Catch::Contains(dir.path.string()));
  }
  SECTION("a directory it makes is its owner's alone") {
    TempDir dir("made");
    const fs::path sub = dir.path / "a" / "jit";
    CacheDirGuard guard(sub.string());
    compile_kernel(Fn::Exp, false, "orc_made");
    REQUIRE(fs::is_directory(sub));
    CHECK((fs::status(sub).permissions() & (fs::perms::group_all | fs::perms::others_all)) ==
          fs::perms::none);
    CHECK(files_in(sub).size() == 1);
  }
}

TEST_CASE("orc: the optimiser's remarks stay off stderr", "[jit][orc]") {
  // for (i = 1; i < n; i *= 2) y[i] = 1 with a vectorize.width hint: the vectoriser cannot
  // identify the induction and, hinted, would print "remark: ... loop not vectorized".
  CacheDirGuard guard("");
  Engine& e = Engine::instance();
  auto ctx = std::make_unique<llvm::LLVMContext>();
  auto m = e.new_module("remarks", *ctx);
  llvm::Type* i64 = llvm::Type::getInt64Ty(*ctx);
  llvm::Type* ptr = llvm::PointerType::getUnqual(*ctx);
  auto* f = llvm::Function::Create(
      llvm::FunctionType::get(llvm::Type::getVoidTy(*ctx), {ptr, i64}, false),
      llvm::Function::ExternalLinkage, "orc_remarks", m.get());
  e.add_target_attributes(*f);
  auto* entry = llvm::BasicBlock::Create(*ctx, "entry", f);
  auto* loop = llvm::BasicBlock::Create(*ctx, "loop", f);
  auto* exit = llvm::BasicBlock::Create(*ctx, "exit", f);
  llvm::IRBuilder<> b(entry);
  b.CreateCondBr(b.CreateICmpSGT(f->getArg(1), b.getInt64(1)), loop, exit);
  b.SetInsertPoint(loop);
  llvm::PHINode* i = b.CreatePHI(i64, 2, "i");
  i->addIncoming(b.getInt64(1), entry);
  b.CreateStore(llvm::ConstantFP::get(b.getFloatTy(), 1.0),
                b.CreateInBoundsGEP(b.getFloatTy(), f->getArg(0), i));
  llvm::Value* next = b.CreateMul(i, b.getInt64(2), "next", true, true);
  i->addIncoming(next, loop);
  auto* latch = b.CreateCondBr(b.CreateICmpSLT(next, f->getArg(1)), loop, exit);
  llvm::Metadata* kv[] = {llvm::MDString::get(*ctx, "llvm.loop.vectorize.width"),
                          llvm::ConstantAsMetadata::get(b.getInt32(8))};
  llvm::Metadata* ops[] = {nullptr, llvm::MDNode::get(*ctx, kv)};
  auto* self = llvm::MDNode::getDistinct(*ctx, ops);
  self->replaceOperandWith(0, self);
  latch->setMetadata(llvm::LLVMContext::MD_loop, self);
  b.SetInsertPoint(exit);
  b.CreateRetVoid();

  test::StderrCapture capture;
  CodePtr code;
  try {
    code = e.compile(std::move(ctx), std::move(m), "orc_remarks");
  } catch (...) {
  }
  std::string text = capture.finish();
  REQUIRE(code);
  CHECK(text.empty());
  std::vector<float> y(9, 0.f);
  reinterpret_cast<void (*)(float*, int64_t)>(code->address())(y.data(), 9);
  CHECK(y == std::vector<float>{0, 1, 1, 0, 1, 0, 0, 0, 1});
}
