#!/usr/bin/env bash
# Trains the Fashion-MNIST examples with ember and their libtorch twins (bench/peer/) for the
# same number of epochs, one program at a time, and prints time per epoch and test accuracy of
# both, with the ratio ember / libtorch. libtorch runs with its best heap setting (glibc keeps
# freed pages instead of returning them to the kernel); both use 2 threads.
#
#   scripts/train_compare.sh [EPOCHS] [build-dir]     (default: 1 epoch, build-bench)
#   MODELS="mlp" scripts/train_compare.sh 3           (only one trainer)
#   THREADS=2 scripts/train_compare.sh                (compute threads of both)
#
# Needs libtorch-dev (for the twins) and dataset-fashion-mnist. The resnet takes minutes per
# epoch on 2 cores; logs are kept in a temporary directory, printed at the end.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
epochs=${1:-1}
build=${2:-$root/build-bench}
models=${MODELS:-mlp resnet}
threads=${THREADS:-2}
warm_heap='glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736'

if [[ ! -f $build/build.ninja ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DEMBER_BUILD_BENCH=ON \
    -DEMBER_BUILD_EXAMPLES=ON -DEMBER_BUILD_TESTS=OFF >/dev/null
fi
targets=()
for m in $models; do
  targets+=("${m}_fashion")
done
have_peer=1
for m in $models; do
  # (no grep -q: with pipefail, ninja dying of SIGPIPE would read as "no peer")
  if ! ninja -C "$build" -t targets all 2>/dev/null | grep "^peer_${m}_fashion:" >/dev/null; then
    have_peer=0
  fi
done
if ((have_peer)); then
  for m in $models; do targets+=("peer_${m}_fashion"); done
else
  echo "libtorch twins are not configured in $build (apt-get install libtorch-dev, then" \
    "reconfigure): running ember only" >&2
fi
out=$(mktemp -d /tmp/ember-train.XXXXXX)
echo "building ${targets[*]} in $build ..." >&2
if ! ninja -C "$build" "${targets[@]}" >"$out/build.log" 2>&1; then
  cat "$out/build.log" >&2
  exit 1
fi

# run NAME BINARY [env...]: output shown (plain lines, not a tty) and kept in NAME.log.
run() {
  local name=$1 bin=$2
  shift 2
  echo "== $name: $bin --epochs $epochs --threads $threads" >&2
  if ! env "$@" "$bin" --epochs "$epochs" --threads "$threads" 2>&1 | tee "$out/$name.log" |
    grep -E '^(epoch [0-9]+:|test accuracy|libtorch)' >&2; then
    echo "  $name failed: see $out/$name.log" >&2
  fi
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for m in $models; do
  run "ember_$m" "$build/examples/${m}_fashion"
  if ((have_peer)); then
    run "torch_$m" "$build/bench/peer/peer_${m}_fashion" GLIBC_TUNABLES="$warm_heap"
  fi
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$out" "$epochs" "$threads" "$load_before" "$load_after" $models <<'PY'
import os, re, sys

out, epochs, threads, load_before, load_after, *models = sys.argv[1:]
pat = re.compile(r"test accuracy ([0-9.]+), time per epoch ([0-9.]+) s")

def result(name):
    path = os.path.join(out, name + ".log")
    if not os.path.exists(path):
        return None
    found = pat.findall(open(path).read())
    return (float(found[-1][0]), float(found[-1][1])) if found else None

print(f"\nFashion-MNIST, {epochs} epoch(s), {threads} threads; libtorch with "
      f"GLIBC_TUNABLES=mmap_max=0:trim_threshold=64G")
print(f"{'model':<8} {'ember s/epoch':>14} {'libtorch s/epoch':>17} {'ratio':>7}"
      f" {'ember acc':>10} {'libtorch acc':>13}")
for m in models:
    e, t = result("ember_" + m), result("torch_" + m)
    es = f"{e[1]:.1f}" if e else "failed"
    ts = f"{t[1]:.1f}" if t else "-"
    ratio = f"{e[1] / t[1]:.2f}" if e and t and t[1] > 0 else "-"
    ea = f"{e[0]:.4f}" if e else "-"
    ta = f"{t[0]:.4f}" if t else "-"
    print(f"{m:<8} {es:>14} {ts:>17} {ratio:>7} {ea:>10} {ta:>13}")
print(f"(ratio = ember time / libtorch time; below 1 means ember is faster)")
print(f"load average before {load_before}, after {load_after}; logs in {out}")
PY
