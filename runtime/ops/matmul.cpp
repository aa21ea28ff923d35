// PLACEHOLDER: replaced by the matmul implementation (not part of any release).
#include "runtime/dispatch.hpp"
#include "runtime/ops.hpp"

namespace ember {
#define EMBER_TODO(name) throw Error(std::string(name) + ": not implemented yet")
namespace detail {
void register_matmul_kernels() {}
}  // namespace detail

Tensor matmul(const Tensor&, const Tensor&) { EMBER_TODO("matmul"); }
Tensor mm(const Tensor&, const Tensor&) { EMBER_TODO("mm"); }
Tensor bmm(const Tensor&, const Tensor&) { EMBER_TODO("bmm"); }

}  // namespace ember
