// All of ember::nn: Module and reflection, layers, containers, losses, init, functional and
// safetensors serialization.
#pragma once

#include "nn/functional.hpp"
#include "nn/init.hpp"
#include "nn/layers/activation.hpp"
#include "nn/layers/containers.hpp"
#include "nn/layers/conv.hpp"
#include "nn/layers/dropout.hpp"
#include "nn/layers/embedding.hpp"
#include "nn/layers/flatten.hpp"
#include "nn/layers/linear.hpp"
#include "nn/layers/loss.hpp"
#include "nn/layers/norm.hpp"
#include "nn/layers/pooling.hpp"
#include "nn/layers/rnn.hpp"
#include "nn/layers/transformer.hpp"
#include "nn/layers/upsample.hpp"
#include "nn/module.hpp"
#include "nn/serialize.hpp"
#include "nn/utils/clip_grad.hpp"
