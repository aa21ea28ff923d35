// Library steps of a compiled graph (internal to the JIT): a node computed by an op's eager
// kernel rather than by generated code.
#pragma once

#include <cstdint>
#include <vector>

#include "jit/ir/graph.hpp"
#include "runtime/tensor.hpp"

namespace ember::jit {

/// A contiguous copy of v by the Clone kernel (no autograd: the executor computes values only).
Tensor copy_of(const Tensor& v);
/// A Const node's value as a 0-d wrapped tensor.
Tensor constant(const IrNode& n);
/// Node n's operands: their values in `vals` (by node id), Const nodes as their value.
std::vector<Tensor> operands(const Graph& g, const IrNode& n, const std::vector<Tensor>& vals);
/// Library node n's value, by a call of its op's kernel (or a write through a view).
Tensor run_library(const Graph& g, const IrNode& n, std::vector<Tensor>& vals);
/// Per node: the library nodes of one kernel call's results that one call computes (itself
/// included), or empty.
std::vector<std::vector<int32_t>> joint_calls(const Graph& g);
/// Computes every node of one joint_calls group by one call, into `vals`.
void run_joint(const Graph& g, const std::vector<int32_t>& nodes, std::vector<Tensor>& vals);

}  // namespace ember::jit
