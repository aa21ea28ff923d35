// PLACEHOLDER: replaced by the movement implementation (not part of any release).
#include "runtime/dispatch.hpp"
#include "runtime/ops.hpp"

namespace ember {
#define EMBER_TODO(name) throw Error(std::string(name) + ": not implemented yet")
namespace detail {
void register_movement_kernels() {}
}  // namespace detail

Tensor view(const Tensor&, const Dims&) { EMBER_TODO("view"); }
Tensor reshape(const Tensor&, const Dims&) { EMBER_TODO("reshape"); }
Tensor flatten(const Tensor&, int64_t, int64_t) { EMBER_TODO("flatten"); }
Tensor squeeze(const Tensor&) { EMBER_TODO("squeeze"); }
Tensor squeeze(const Tensor&, int64_t) { EMBER_TODO("squeeze"); }
Tensor unsqueeze(const Tensor&, int64_t) { EMBER_TODO("unsqueeze"); }
Tensor transpose(const Tensor&, int64_t, int64_t) { EMBER_TODO("transpose"); }
Tensor t(const Tensor&) { EMBER_TODO("t"); }
Tensor permute(const Tensor&, const Dims&) { EMBER_TODO("permute"); }
Tensor expand(const Tensor&, const Dims&) { EMBER_TODO("expand"); }
Tensor narrow(const Tensor&, int64_t, int64_t, int64_t) { EMBER_TODO("narrow"); }
Tensor slice(const Tensor&, int64_t, int64_t, int64_t, int64_t) { EMBER_TODO("slice"); }
Tensor select(const Tensor&, int64_t, int64_t) { EMBER_TODO("select"); }
Tensor index_select(const Tensor&, int64_t, const Tensor&) { EMBER_TODO("index_select"); }
Tensor gather(const Tensor&, int64_t, const Tensor&) { EMBER_TODO("gather"); }
Tensor cat(const std::vector<Tensor>&, int64_t) { EMBER_TODO("cat"); }
Tensor stack(const std::vector<Tensor>&, int64_t) { EMBER_TODO("stack"); }
std::vector<Tensor> split(const Tensor&, int64_t, int64_t) { EMBER_TODO("split"); }
std::vector<Tensor> split(const Tensor&, const std::vector<int64_t>&, int64_t) { EMBER_TODO("split"); }
std::vector<Tensor> chunk(const Tensor&, int64_t, int64_t) { EMBER_TODO("chunk"); }
std::vector<Tensor> unbind(const Tensor&, int64_t) { EMBER_TODO("unbind"); }

}  // namespace ember
