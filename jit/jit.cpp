#include "jit/jit.hpp"

#include "jit/trace/trace.hpp"

namespace ember::jit {

Region::Region(std::string name) : outermost_(begin_region(name)) {}
Region::~Region() { end_region(outermost_); }

void sync() { flush_current(); }

}  // namespace ember::jit
