// PLACEHOLDER: replaced by the movement implementation (not part of any release).
#include "runtime/dispatch.hpp"
#include "runtime/ops.hpp"

namespace ember {
#define EMBER_TODO(name) throw Error(std::string(name) + ": not implemented yet")
namespace detail {
void register_movement_kernels() {}
}  // namespace detail

Tensor index_select(const Tensor&, int64_t, const Tensor&) { EMBER_TODO("index_select"); }
Tensor gather(const Tensor&, int64_t, const Tensor&) { EMBER_TODO("gather"); }
Tensor cat(const std::vector<Tensor>&, int64_t) { EMBER_TODO("cat"); }
Tensor stack(const std::vector<Tensor>&, int64_t) { EMBER_TODO("stack"); }
std::vector<Tensor> split(const Tensor&, int64_t, int64_t) { EMBER_TODO("split"); }
std::vector<Tensor> split(const Tensor&, const std::vector<int64_t>&, int64_t) { EMBER_TODO("split"); }
std::vector<Tensor> chunk(const Tensor&, int64_t, int64_t) { EMBER_TODO("chunk"); }
std::vector<Tensor> unbind(const Tensor&, int64_t) { EMBER_TODO("unbind"); }

}  // namespace ember
