#!/usr/bin/env bash
# The compile-time cost of dsl kernels: builds bench/dsl_compile_probe.cpp, one translation unit
# holding 20 distinct dsl kernels (each called on tensors and backward'ed: every forward loop and
# fused backward instantiated, f32 and f64) as a user's project builds it (CMake's Release flags,
# nothing else: the kernels' per-ISA variants are all compiled), and the same TU without the
# kernels (the includes alone), and prints the seconds of each (median of REPS runs; wall and CPU
# time: on a shared machine the CPU time is the steadier one).
#
#   scripts/dsl_compile_time.sh                     (REPS=3 by default; CXX=g++)
#   OPT="-O2 -g" scripts/dsl_compile_time.sh        (RelWithDebInfo)
#   MARCH=native scripts/dsl_compile_time.sh        (a build with ember::native)
#   EMBER_ROOT=/other/checkout scripts/dsl_compile_time.sh   (another tree's headers and probe)
set -euo pipefail

root=${EMBER_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
cxx=${CXX:-g++}
reps=${REPS:-3}
src=$root/bench/dsl_compile_probe.cpp
# The flags CMake gives a consumer's Release target (OPT), plus -march=$MARCH when set and the
# warnings the library uses. No ccache: every run compiles.
read -r -a opt <<<"${OPT:--O3 -DNDEBUG}"
flags=(-std=c++20 "${opt[@]}" -Wall -Wextra -I"$root")
[[ -n ${MARCH:-} ]] && flags+=(-march="$MARCH")
tmp=$(mktemp -d /tmp/ember-dsl-compile.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# compile KERNELS: one compile; appends "wall cpu" seconds to $tmp/times.KERNELS.
compile() {
  local TIMEFORMAT='%R %U %S'
  if ! { time "$cxx" "${flags[@]}" -DEMBER_DSL_PROBE_KERNELS="$1" -c "$src" \
      -o "$tmp/probe$1.o" 2>"$tmp/err"; } 2>"$tmp/time"; then
    cat "$tmp/err" >&2
    exit 1
  fi
  if [[ -s $tmp/err ]]; then cat "$tmp/err" >&2; fi
  awk '{ printf "%.2f %.2f\n", $1, $2 + $3 }' "$tmp/time" >>"$tmp/times.$1"
}

for ((r = 0; r < reps; ++r)); do
  compile 1
  compile 0
done

python3 - "$tmp" "$reps" "$cxx" "${flags[*]}" <<'PY'
import statistics, sys
tmp, reps, cxx, flags = sys.argv[1:]
def med(k):
    rows = [tuple(map(float, l.split())) for l in open(f"{tmp}/times.{k}")]
    return statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)
kw, kc = med(1)
bw, bc = med(0)
print(f"{cxx} {flags}, median of {reps}:")
print(f"  20 dsl kernels, forward + backward: {kw:6.2f} s wall  {kc:6.2f} s cpu")
print(f"  the same TU without the kernels:    {bw:6.2f} s wall  {bc:6.2f} s cpu")
print(f"  the kernels' own cost:              {kw - bw:6.2f} s wall  {kc - bc:6.2f} s cpu"
      f"  ({(kc - bc) / 20:.2f} s cpu per kernel)")
PY
