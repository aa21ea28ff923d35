// PLACEHOLDER: replaced by the reductions implementation (not part of any release).
#include "runtime/dispatch.hpp"
#include "runtime/ops.hpp"

namespace ember {
#define EMBER_TODO(name) throw Error(std::string(name) + ": not implemented yet")
namespace detail {
void register_reduce_kernels() {}
}  // namespace detail

Tensor sum(const Tensor&, const Dims&, bool) { EMBER_TODO("sum"); }
Tensor mean(const Tensor&, const Dims&, bool) { EMBER_TODO("mean"); }
Tensor prod(const Tensor&, const Dims&, bool) { EMBER_TODO("prod"); }
Tensor amax(const Tensor&, const Dims&, bool) { EMBER_TODO("amax"); }
Tensor amin(const Tensor&, const Dims&, bool) { EMBER_TODO("amin"); }
Tensor max(const Tensor&) { EMBER_TODO("max"); }
Tensor min(const Tensor&) { EMBER_TODO("min"); }
ValuesIndices max(const Tensor&, int64_t, bool) { EMBER_TODO("max"); }
ValuesIndices min(const Tensor&, int64_t, bool) { EMBER_TODO("min"); }
Tensor argmax(const Tensor&) { EMBER_TODO("argmax"); }
Tensor argmax(const Tensor&, int64_t, bool) { EMBER_TODO("argmax"); }
Tensor argmin(const Tensor&) { EMBER_TODO("argmin"); }
Tensor argmin(const Tensor&, int64_t, bool) { EMBER_TODO("argmin"); }
Tensor var(const Tensor&, const Dims&, bool, int64_t) { EMBER_TODO("var"); }
Tensor std(const Tensor&, const Dims&, bool, int64_t) { EMBER_TODO("std"); }
Tensor logsumexp(const Tensor&, const Dims&, bool) { EMBER_TODO("logsumexp"); }

}  // namespace ember
