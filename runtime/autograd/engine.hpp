// The backward engine and the public autograd entry points.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "runtime/autograd/node.hpp"

namespace ember::autograd {

/// Computes gradients of `outputs` (weighted by grad_outputs; scalar outputs may omit theirs)
/// and accumulates them into the .grad of the leaves they depend on.
void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs = {},
              bool retain_graph = false, bool create_graph = false);

/// Gradients of `outputs` with respect to `inputs`, returned without touching any .grad.
/// An input the outputs do not depend on is an error unless allow_unused (then undefined).
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {},
                         std::optional<bool> retain_graph = std::nullopt, bool create_graph = false,
                         bool allow_unused = false);

/// The graph behind t as Graphviz dot: a node per grad_fn, tensor shapes on the edges.
std::string to_dot(const Tensor& t);

/// Installs the dispatcher hook that records nodes (done once, before the first op).
void install();

}  // namespace ember::autograd
