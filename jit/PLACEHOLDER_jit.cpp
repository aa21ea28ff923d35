// PLACEHOLDER: a trivial jit.hpp so tests and benches link before the real JIT lands. Regions
// do nothing (every op runs eagerly), stats stay zero. The integrator deletes this file.
#include "jit/jit.hpp"

namespace ember::jit {

namespace {
bool g_enabled = true;
int g_hot = 2;
}  // namespace

Region::Region(std::string) : outermost_(false) {}
Region::~Region() = default;

void sync() {}

bool enabled() { return g_enabled; }
void set_enabled(bool on) { g_enabled = on; }
int hot_threshold() { return g_hot; }
void set_hot_threshold(int n) { g_hot = n; }
void set_max_specializations(int) {}

Stats stats() { return {}; }
void reset_stats() {}
void clear_cache() {}

}  // namespace ember::jit
