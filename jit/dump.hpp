// EMBER_JIT_DUMP (internal): which stages of compilation print what they made, to stderr. One
// parser for the whole JIT: comma-separated words, spaces around them ignored.
//   graph   each compiled graph: as traced, after the passes, and its steps
//   passes  the graph after each pass of jit/passes/pipeline.cpp
//   llvm    each kernel's LLVM IR before and after optimisation
//   asm     each kernel's machine code
//   breaks  each graph break: the region, the op and its operands
#pragma once

#include <string_view>

namespace ember::jit {

/// Whether EMBER_JIT_DUMP names `word` (read once).
bool dump_enabled(std::string_view word);
/// Replaces the words EMBER_JIT_DUMP gave (tests: the environment is read once per process).
void set_dump_words(std::string_view list);

}  // namespace ember::jit
