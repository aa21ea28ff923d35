#include "jit/orc/vector_library.hpp"

#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>

#include <vector>

namespace ember::jit {
namespace {

// Vector variants of libm that LLVM 19's LIBMVEC_X86 table lacks (glibc 2.35+ exports
// them all: check `nm -D libmvec.so.1`). ISA letters of the x86 vector ABI: b = SSE4, d = AVX2,
// e = AVX-512. String literals, so the VecDescs' StringRefs outlive the JIT.

struct VecFunc {
  const char* scalar;  // a libm name or an LLVM intrinsic
  const char* vector;  // libmvec's symbol
  unsigned lanes;
  char isa;
  const char* abi;  // LLVM's VFABI prefix for the mapping
};

#define EMBER_VF(S, F, I, N) {S, "_ZGV" #I "N" #N "v_" #F, N, #I[0], "_ZGV_LLVM_N" #N "v"}
#define EMBER_VF2(S, F, I, N) {S, "_ZGV" #I "N" #N "vv_" #F, N, #I[0], "_ZGV_LLVM_N" #N "vv"}
// Every width of a function LLVM does not map at all.
#define EMBER_VF_ALL(F)                                                                      \
  EMBER_VF(#F "f", F##f, b, 4), EMBER_VF(#F "f", F##f, d, 8), EMBER_VF(#F "f", F##f, e, 16), \
      EMBER_VF(#F, F, b, 2), EMBER_VF(#F, F, d, 4), EMBER_VF(#F, F, e, 8)
// The AVX-512 widths of a function LLVM maps for SSE and AVX2 only (libm name and intrinsic).
#define EMBER_VF_AVX512(F)                                                                        \
  EMBER_VF(#F "f", F##f, e, 16), EMBER_VF("llvm." #F ".f32", F##f, e, 16), EMBER_VF(#F, F, e, 8), \
      EMBER_VF("llvm." #F ".f64", F, e, 8)

constexpr VecFunc kExtraVecFuncs[] = {
    EMBER_VF_ALL(tanh),
    EMBER_VF_ALL(erf),
    EMBER_VF_ALL(log1p),
    EMBER_VF_ALL(expm1),
    // llvm.tanh exists since LLVM 19; map it too in case a pass forms it from tanhf.
    EMBER_VF("llvm.tanh.f32", tanhf, b, 4),
    EMBER_VF("llvm.tanh.f32", tanhf, d, 8),
    EMBER_VF("llvm.tanh.f32", tanhf, e, 16),
    EMBER_VF("llvm.tanh.f64", tanh, b, 2),
    EMBER_VF("llvm.tanh.f64", tanh, d, 4),
    EMBER_VF("llvm.tanh.f64", tanh, e, 8),
    EMBER_VF_AVX512(exp),
    EMBER_VF_AVX512(log),
    EMBER_VF_AVX512(sin),
    EMBER_VF_AVX512(cos),
    EMBER_VF2("powf", powf, e, 16),
    EMBER_VF2("llvm.pow.f32", powf, e, 16),
    EMBER_VF2("pow", pow, e, 8),
    EMBER_VF2("llvm.pow.f64", pow, e, 8),
};

#undef EMBER_VF
#undef EMBER_VF2
#undef EMBER_VF_ALL
#undef EMBER_VF_AVX512

}  // namespace

bool has_cpu_feature(std::string_view features, std::string_view name) {
  while (true) {
    size_t comma = features.find(',');
    std::string_view f = features.substr(0, comma);
    if (f.size() == name.size() + 1 && f[0] == '+' && f.substr(1) == name) return true;
    if (comma == std::string_view::npos) return false;
    features.remove_prefix(comma + 1);
  }
}

std::string add_vector_library(llvm::orc::LLJIT& jit, llvm::TargetLibraryInfoImpl& tlii,
                               const llvm::Triple& triple, std::string_view features) {
  // libm's scalar functions come from the process (LLJIT's ProcessSymbols dylib, linked by
  // default); the vector variants from libmvec, searched from the main dylib.
  char prefix = jit.getDataLayout().getGlobalPrefix();
  auto mvec = llvm::orc::DynamicLibrarySearchGenerator::Load("libmvec.so.1", prefix);
  if (!mvec) {
    llvm::consumeError(mvec.takeError());
    return "none";
  }
  if (triple.getArch() != llvm::Triple::x86_64) return "none";
  jit.getMainJITDylib().addGenerator(std::move(*mvec));
  tlii.addVectorizableFunctionsFromVecLib(llvm::TargetLibraryInfoImpl::LIBMVEC_X86, triple);
  std::vector<llvm::VecDesc> extra;
  for (const VecFunc& f : kExtraVecFuncs) {
    if ((f.isa == 'd' && !has_cpu_feature(features, "avx2")) ||
        (f.isa == 'e' && !has_cpu_feature(features, "avx512f")))
      continue;
    extra.emplace_back(f.scalar, f.vector, llvm::ElementCount::getFixed(f.lanes),
                       /*Masked=*/false, f.abi);
  }
  tlii.addVectorizableFunctions(extra);
  return "libmvec";
}

}  // namespace ember::jit
