// ember: the umbrella header.
#pragma once

#include "distributed/distributed.hpp"
#include "dsl/pointwise.hpp"
#include "jit/jit.hpp"
#include "jit/profiler.hpp"
#include "nn/data/data.hpp"
#include "nn/functional.hpp"
#include "nn/nn.hpp"
#include "nn/optim/optim.hpp"
#include "runtime/allocator.hpp"
#include "runtime/autograd/engine.hpp"
#include "runtime/autograd/function.hpp"
#include "runtime/autograd/gradcheck.hpp"
#include "runtime/dispatch.hpp"
#include "runtime/ops.hpp"
#include "runtime/parallel.hpp"
#include "runtime/tensor.hpp"
