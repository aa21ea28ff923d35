// ember::data: datasets, transforms, samplers and the DataLoader.
#pragma once

#include "nn/data/dataloader.hpp"
#include "nn/data/dataset.hpp"
#include "nn/data/distributed_sampler.hpp"
#include "nn/data/fashion_mnist.hpp"
#include "nn/data/sampler.hpp"
#include "nn/data/transforms.hpp"
