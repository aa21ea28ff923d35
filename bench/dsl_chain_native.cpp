// bench/dsl_chain.hpp's kernel compiled with -march=native (bench/CMakeLists.txt).
#include "bench/dsl_chain.hpp"

namespace ember::bench {

Tensor dsl_chain_native(const Tensor& x) { return dsl_chain(x); }

}  // namespace ember::bench
