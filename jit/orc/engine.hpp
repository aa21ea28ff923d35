// The one LLJIT of the process (internal: includes LLVM headers; never include it from a public
// header). It turns an LLVM module into machine code for the host CPU: a new-PM kernel pipeline
// (the passes of O3 that matter for kernels) with glibc's libmvec as the vector library
// (vector_library.cpp), and an on-disk object cache (disk_cache.cpp) keyed by the module's IR,
// the CPU, its features, LLVM's and ember's versions, so that a second process compiles
// nothing. Each module's code lives in a JITDylib of its own, freed with the last Code handle.
#pragma once

#include <llvm/IR/DataLayout.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <cstdint>
#include <memory>
#include <string>

#include "jit/orc/tier.hpp"

namespace llvm::orc {
class JITDylib;
}

namespace ember::jit {

/// The machine code of one compiled module. It stays mapped while a handle lives; the last
/// handle removes the module's JITDylib, which returns the memory to the process.
class Code {
 public:
  Code(const Code&) = delete;
  Code& operator=(const Code&) = delete;
  ~Code();
  /// The compiled function.
  void* address() const { return address_; }

 private:
  friend class Engine;
  Code(void* address, llvm::orc::JITDylib* dylib) : address_(address), dylib_(dylib) {}
  void* address_;
  llvm::orc::JITDylib* dylib_;
};
using CodePtr = std::shared_ptr<const Code>;

/// What compiling one module cost.
struct CompileInfo {
  double total_ms = 0;    ///< the whole compile() call
  double opt_ms = 0;      ///< the optimisation pipeline (0 on a disk-cache hit)
  double codegen_ms = 0;  ///< machine code (0 on a disk-cache hit)
  bool disk_hit = false;  ///< the object came from EMBER_JIT_CACHE
};

class Engine {
 public:
  /// The process's engine, made on first use (initialises LLVM's native target). Throws
  /// ember::Error if LLVM cannot be set up.
  static Engine& instance();

  /// For codegen: a fresh module with the host's data layout and triple.
  std::unique_ptr<llvm::Module> new_module(const std::string& name, llvm::LLVMContext& ctx) const;
  /// Sets "target-cpu"/"target-features" (and the other attributes kernels need) on f.
  void add_target_attributes(llvm::Function& f) const;
  const llvm::DataLayout& data_layout() const;
  /// The host CPU's name and features, as detectHost() found them ("znver5", "+avx512f,...").
  const std::string& cpu() const;
  const std::string& features() const;
  /// The native vector width in bytes (64 with AVX-512).
  unsigned vector_bytes() const;

  /// Optimises and compiles `m` and returns the code of its function `symbol`. Throws
  /// InternalError with LLVM's message on failure (the caller falls back to eager). Each module
  /// is linked into a JITDylib of its own, so names may repeat across calls. EMBER_JIT_DUMP=llvm
  /// prints the IR before and after optimisation, EMBER_JIT_DUMP=asm the machine code, to stderr
  /// (both bypass reading the disk cache). Thread-safe: calls are serialised.
  CodePtr compile(std::unique_ptr<llvm::LLVMContext> ctx, std::unique_ptr<llvm::Module> m,
                  const std::string& symbol, CompileInfo* info = nullptr, Tier tier = Tier::Full);
  /// Modules compiled whose code is still mapped (a Code handle lives).
  size_t live_modules() const;

  /// The disk cache directory: EMBER_JIT_CACHE if set ("" or "0" disables it), else
  /// $XDG_CACHE_HOME/ember/jit or ~/.cache/ember/jit. Empty when disabled. A directory other
  /// users can write is refused (with a warning). EMBER_JIT_CACHE_MB bounds its size.
  std::string cache_dir() const;
  void set_cache_dir(std::string dir);
  void set_cache_max_bytes(uint64_t bytes);

  /// For tests and tools: while on, compile() keeps the optimised IR of each module it compiles
  /// (reading no disk-cache entry, so that there is one); last_optimized_ir() returns it.
  void set_keep_ir(bool on);
  std::string last_optimized_ir() const;

  ~Engine();

 private:
  Engine();
  friend class Code;
  void release(llvm::orc::JITDylib* dylib);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ember::jit
