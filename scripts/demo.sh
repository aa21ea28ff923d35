#!/usr/bin/env bash
# README command 1: install what is missing, build, run the demo: a tour of tensors, then the
# residual network trained on Fashion-MNIST (3 epochs by default; arguments go to the trainer,
# e.g. `bash scripts/demo.sh --epochs 1`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh build -DCMAKE_BUILD_TYPE=Release -DEMBER_BUILD_TESTS=OFF -DEMBER_BUILD_BENCH=OFF
./build/examples/demo --smoke
./build/examples/resnet_fashion "$@"
