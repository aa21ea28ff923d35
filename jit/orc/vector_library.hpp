// The vector variants of libm the loop vectoriser may call: glibc's libmvec, linked into the
// JIT's main dylib, and the mappings from scalar calls to its symbols (LLVM's LIBMVEC_X86 table
// and the ones it lacks). Internal: includes LLVM headers.
#pragma once

#include <llvm/Analysis/TargetLibraryInfo.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/TargetParser/Triple.h>

#include <string>
#include <string_view>

namespace ember::jit {

/// True when the comma-separated feature list has "+name".
bool has_cpu_feature(std::string_view features, std::string_view name);

/// Links libmvec into jit's main dylib and adds the mappings for this CPU's features to tlii
/// (never a variant the CPU cannot run). Returns "libmvec", or "none" when libmvec is absent
/// (not glibc, not x86-64): then loops call libm lane by lane.
std::string add_vector_library(llvm::orc::LLJIT& jit, llvm::TargetLibraryInfoImpl& tlii,
                               const llvm::Triple& triple, std::string_view features);

}  // namespace ember::jit
