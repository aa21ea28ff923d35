// libFuzzer entry point for the safetensors and IDX readers (scripts/fuzz.sh builds it with
// clang-19, ASan and UBSan, and runs it). With EMBER_FUZZ_SEEDS=dir, the first call writes the
// seed inputs into dir, to start a corpus from.
#include <filesystem>
#include <fstream>

#include "support/reader_fuzz.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("EMBER_FUZZ_SEEDS"); dir && *dir) {
    std::filesystem::create_directories(dir);
    int i = 0;
    for (const std::string& s : ember::fuzz::seeds())
      std::ofstream(std::string(dir) + "/seed" + std::to_string(i++), std::ios::binary) << s;
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static ember::fuzz::MemFile file;
  try {
    ember::fuzz::run_one(data, size, file);
  } catch (const ember::Error&) {
    // refused with a clear error: what must happen
  }
  return 0;
}
