#!/usr/bin/env bash
# README command 2: install what is missing, build, and run the whole test suite — a Release
# build, then the tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/format.sh --check
jobs=$(nproc)
scripts/build.sh build-test -DCMAKE_BUILD_TYPE=Release -DEMBER_BUILD_BENCH=ON -DEMBER_BUILD_PEER=OFF
(cd build-test && ctest --output-on-failure -j"$jobs")
if [ "${EMBER_SKIP_SANITIZE:-0}" != 1 ]; then
  scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEMBER_SANITIZE=ON \
    -DEMBER_BUILD_EXAMPLES=OFF -DEMBER_BUILD_BENCH=OFF -DEMBER_WITH_MPI=OFF
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --output-on-failure -j"$jobs")
fi
