#!/usr/bin/env bash
# Optional, outside CI: builds the libFuzzer target of the safetensors and IDX readers with
# clang-19 (ASan + UBSan, ember instrumented) in build-fuzz/ and runs it.
# Usage: scripts/fuzz.sh [seconds (default 600)] [more libFuzzer flags...]
# Needs clang-19 and libfuzzer-19-dev (apt-get install clang-19 libfuzzer-19-dev).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang++-19 >/dev/null ||
  { echo "scripts/fuzz.sh needs clang-19 and libfuzzer-19-dev (apt-get install ...)"; exit 1; }
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
[ -f build-fuzz/build.ninja ] || cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++-19 \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEMBER_FUZZ=ON -DEMBER_WITH_DNNL=OFF \
  -DEMBER_BUILD_TESTS=OFF -DEMBER_BUILD_EXAMPLES=OFF -DEMBER_BUILD_BENCH=OFF > build-fuzz.configure.log
cmake --build build-fuzz --target ember_fuzz_readers -j"${EMBER_JOBS:-$(nproc)}"
seconds=${1:-600}
shift || true
mkdir -p build-fuzz/corpus build-fuzz/crashes
EMBER_FUZZ_SEEDS=build-fuzz/corpus \
  build-fuzz/tests/fuzz/ember_fuzz_readers build-fuzz/corpus -max_total_time="$seconds" \
  -artifact_prefix=build-fuzz/crashes/ -max_len=65536 -rss_limit_mb=4096 -print_final_stats=1 "$@"
