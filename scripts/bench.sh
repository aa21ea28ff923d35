#!/usr/bin/env bash
# Builds ember's benchmarks (Release) if needed, runs them and the libtorch peer (with glibc's
# default heap and with a pre-warmed one) and prints the ratios against the targets, from the
# medians over repetitions. Takes about 3-4 minutes on 2 cores.
#
#   scripts/bench.sh [build-dir]           (default: build-bench next to this checkout's sources)
#   REPS=9 MIN_TIME=0.5 scripts/bench.sh   (more repetitions on a noisy machine)
#   RESULTS=/tmp/ember-bench.XXXX scripts/bench.sh   (reprint the table of an earlier run)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-bench}
reps=${REPS:-5}
min_time=${MIN_TIME:-0.3}
warm_heap='glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736'

if [[ -n ${RESULTS:-} ]]; then
  out=$RESULTS
  load_before=? load_after=?
else
  if [[ ! -f $build/build.ninja ]]; then
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DEMBER_BUILD_BENCH=ON \
      -DEMBER_BUILD_TESTS=OFF -DEMBER_BUILD_EXAMPLES=OFF >/dev/null
  fi
  targets=(bench_pointwise bench_matmul bench_overhead bench_autograd bench_dsl bench_jit)
  have_peer=0
  # (no grep -q: with pipefail, ninja dying of SIGPIPE would read as "no peer")
  if ninja -C "$build" -t targets all 2>/dev/null | grep '^peer_compare:' >/dev/null; then
    targets+=(peer_compare peer_autograd peer_block)
    have_peer=1
  fi
  out=$(mktemp -d /tmp/ember-bench.XXXXXX)
  echo "building ${targets[*]} in $build ..." >&2
  if ! ninja -C "$build" "${targets[@]}" >"$out/build.log" 2>&1; then
    cat "$out/build.log" >&2
    exit 1
  fi
  load_before=$(cut -d' ' -f1-3 /proc/loadavg)

  # run NAME BINARY [env...]: console output to NAME.txt, results to NAME.json.
  run() {
    local name=$1 bin=$2
    shift 2
    echo "running $name ..." >&2
    env "$@" "$build/$bin" --benchmark_min_time="$min_time" --benchmark_repetitions="$reps" \
      --benchmark_report_aggregates_only=true --benchmark_out="$out/$name.json" \
      --benchmark_out_format=json >"$out/$name.txt" 2>&1 ||
      echo "  $name failed (exit $?): see $out/$name.txt" >&2
  }

  run pointwise bench/bench_pointwise
  run matmul bench/bench_matmul
  run overhead bench/bench_overhead
  run autograd bench/bench_autograd
  run dsl bench/bench_dsl
  run jit bench/bench_jit
  if ((have_peer)); then
    run peer_default bench/peer/peer_compare
    run peer_warm bench/peer/peer_compare GLIBC_TUNABLES="$warm_heap"
    # libtorch's OpenMP threads spin-wait by default, which on a busy machine costs it dearly
    # (its MLP step slows ~20x); OMP_WAIT_POLICY=passive is its best setting here.
    run peer_autograd bench/peer/peer_autograd
    run peer_autograd_passive bench/peer/peer_autograd OMP_WAIT_POLICY=passive
    run peer_block bench/peer/peer_block OMP_WAIT_POLICY=passive
  fi
  load_after=$(cut -d' ' -f1-3 /proc/loadavg)
fi

python3 - "$out" "$reps" "$load_before" "$load_after" <<'PY'
import json, os, sys

out, reps, load_before, load_after = sys.argv[1:]
scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}

def load(name):
    """{benchmark: {"real": median ns, "cpu": median ns, "cv": cv of real}} or an error text."""
    path = os.path.join(out, name + ".json")
    res = {}
    if not os.path.exists(path):
        return res
    for b in json.load(open(path))["benchmarks"]:
        run = b.get("run_name", b["name"])
        run = run.replace("/process_time", "").replace("/real_time", "")
        if b.get("error_occurred"):
            res[run] = b.get("error_message", "error")
            continue
        agg = b.get("aggregate_name")
        f = scale[b.get("time_unit", "ns")]
        if agg == "median":
            res.setdefault(run, {}).update(real=b["real_time"] * f, cpu=b["cpu_time"] * f)
            for c in ("compile_ms_median", "disk_hits", "fused", "kernels", "ratio_wall",
                      "ratio_cpu"):
                if c in b:
                    res[run][c] = b[c]
        elif agg == "cv":
            res.setdefault(run, {})["cv"] = b["real_time"]  # a fraction
    return res

data = {n: load(n) for n in ("pointwise", "matmul", "overhead", "autograd", "dsl", "jit",
                             "peer_default",
                             "peer_warm", "peer_autograd", "peer_autograd_passive",
                             "peer_block")}

def get(file, bench):
    v = data[file].get(bench)
    if v is None:
        return None, "missing"
    if isinstance(v, str):
        return None, v
    return v, None

def fmt_time(ns):
    for unit, f in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= f:
            return f"{ns / f:.3g} {unit}"
    return f"{ns:.3g} ns"

rows = []
worst_cv = 0.0
def ratio(label, file, num, den, target, higher_better=True):
    """ratio = time(num) / time(den), by wall time and by CPU time."""
    short = lambda n: n.split("/")[0].removeprefix("BM_")
    global worst_cv
    a, ea = get(file, num)
    b, eb = get(file, den)
    if ea or eb:
        rows.append((label, "n/a", "", target, "-", (ea or eb)[:64]))
        return
    r = a["real"] / b["real"]
    rc = a["cpu"] / b["cpu"]
    worst_cv = max(worst_cv, a.get("cv", 0), b.get("cv", 0))
    ok = r >= target if higher_better else r <= target
    op = ">=" if higher_better else "<="
    rows.append((label, f"{r:.2f}", f"{rc:.2f}", f"{op} {target}", "yes" if ok else "NO",
                 f"{short(num)} {fmt_time(a['real'])}, {short(den)} {fmt_time(b['real'])}"))

for op in ("add", "exp"):
    for t in (1, 2):
        ratio(f"{op} 16M, {t} thr: ember speed / plain loop", "pointwise",
              f"BM_{op}_plain/threads:{t}", f"BM_{op}_ember/threads:{t}", 0.8)
ratio("chain 16M: libtorch time / ember, default heap", "peer_default",
      "BM_chain_torch", "BM_chain_ember", 10)
ratio("chain 16M: libtorch time / ember, warm heap", "peer_warm",
      "BM_chain_torch", "BM_chain_ember", 1.0)
for t in (1, 2):
    ratio(f"matmul 1024^3, {t} thr: ember speed / cblas", "matmul",
          f"BM_matmul_cblas/threads:{t}", f"BM_matmul_ember/threads:{t}", 0.9)
for t in (1, 2):
    ratio(f"dsl chain 16M, {t} thr: eager time / dsl", "dsl",
          f"BM_chain_eager/threads:{t}", f"BM_chain_dsl/threads:{t}", 3)
    ratio(f"dsl chain 16M, {t} thr: dsl time / hand loop", "dsl",
          f"BM_chain_dsl/threads:{t}", f"BM_chain_plain/threads:{t}", 1.2, higher_better=False)
    ratio(f"dsl chain backward, {t} thr: eager time / dsl", "dsl",
          f"BM_chain_backward_eager/threads:{t}", f"BM_chain_backward_dsl/threads:{t}", 3)
    ratio(f"dsl chain backward, {t} thr: dsl time / hand loop (context)", "dsl",
          f"BM_chain_backward_dsl/threads:{t}", f"BM_chain_backward_plain/threads:{t}", 1.2,
          higher_better=False)
def limit(label, file, bench, value, shown, target, extra, counter):
    """An absolute target: value(median results) <= target, counted only when the JIT did the
    work (the benchmark's counter, per iteration, is ~1)."""
    v, e = get(file, bench)
    if e:
        rows.append((label, "n/a", "", f"<= {target}", "-", e[:64]))
        return
    x = value(v)
    ok = x <= target and v.get(counter, 0) >= 0.99
    rows.append((label, shown(x), "", f"<= {target}", "yes" if ok else "NO", extra(v)))

fused = lambda v: f"fused/iter {v.get('fused', 0):.2g}"
for t in (1, 2):
    ratio(f"jit chain 16M, {t} thr: eager time / fused", "jit",
          f"BM_chain_eager/threads:{t}", f"BM_chain_fused/threads:{t}", 3)
    ratio(f"jit chain 16M, {t} thr: fused time / hand loop", "jit",
          f"BM_chain_fused/threads:{t}", f"BM_chain_plain/threads:{t}", 1.2, higher_better=False)
    ratio(f"jit softmax 4096^2, {t} thr: eager time / fused", "jit",
          f"BM_softmax_eager/threads:{t}", f"BM_softmax_fused/threads:{t}", 2)
    ratio(f"jit softmax 4096^2, {t} thr: fused time / plain copy of the matrix (limit)", "jit",
          f"BM_softmax_fused/threads:{t}", f"BM_softmax_copy/threads:{t}", 1.2,
          higher_better=False)
    ratio(f"jit softmax as ops (exp(x-max)/sum), {t} thr: eager time / fused", "jit",
          f"BM_softmax_composed_eager/threads:{t}", f"BM_softmax_composed_fused/threads:{t}", 2)
    ratio(f"jit column sum (m*m).sum(0), {t} thr: eager time / fused (context)", "jit",
          f"BM_column_sum_eager/threads:{t}", f"BM_column_sum_fused/threads:{t}", 1)
for arg, what in ((0, "first compile (quick tier)"), (1, "tier-up recompile (full tier)")):
    limit(f"jit compile latency per kernel, {what}, median (ms)", "jit",
          f"BM_compile_fresh/full:{arg}/iterations:30",
          lambda v: v.get("compile_ms_median", float("nan")), lambda x: f"{x:.3g}", 10,
          lambda v: f"kernels/iter {v.get('kernels', 0):.2g}, region {fmt_time(v['real'])}",
          "kernels")
limit("jit disk-cache hit latency (ms)", "jit", "BM_disk_cache_hit",
      lambda v: v["real"] / 1e6, lambda x: f"{x:.3g}", 1,
      lambda v: f"disk hits/iter {v.get('disk_hits', 0):.2g}", "disk_hits")
limit("jit hot region overhead, 8 floats (us)", "jit", "BM_overhead_fused",
      lambda v: v["real"] / 1e3, lambda x: f"{x:.3g}", 20,
      lambda v: f"{fused(v)}; eager ops "
                f"{fmt_time(data['jit'].get('BM_overhead_eager', {}).get('real', 0))}", "fused")
ratio("add 8 elems: ember time / libtorch", "peer_default",
      "BM_add8_ember", "BM_add8_torch", 0.5, higher_better=False)
ratio("add 8, requires_grad: ember time / libtorch", "peer_default",
      "BM_add8_grad_ember", "BM_add8_grad_torch", 0.5, higher_better=False)
# The autograd issue's three targets (bench/peer/peer_autograd.cpp).
for file, omp in (("peer_autograd", "OMP default"), ("peer_autograd_passive", "OMP passive")):
    ratio(f"autograd: add 8 grad, ember / libtorch ({omp})", file,
          "BM_add8_grad_ember", "BM_add8_grad_torch", 0.5, higher_better=False)
    ratio(f"autograd: 10-op chain fwd+bwd, ember / libtorch ({omp})", file,
          "BM_chain10_ember", "BM_chain10_torch", 0.5, higher_better=False)
    ratio(f"autograd: MLP step 2 thr, ember / libtorch ({omp})", file,
          "BM_mlp_ember/2", "BM_mlp_torch/2", 1.0, higher_better=False)
    ratio(f"autograd: MLP step 1 thr (context), ember / libtorch ({omp})", file,
          "BM_mlp_ember/1", "BM_mlp_torch/1", 1.0, higher_better=False)

# The transformer block issue's targets (bench/peer/peer_block.cpp, libtorch OMP passive).
for name, label in (("layer_norm_fwd", "layer_norm [16,128,256] fwd"),
                    ("layer_norm", "layer_norm [16,128,256] fwd+bwd"),
                    ("softmax_fwd", "softmax [16,4,128,128] fwd"),
                    ("softmax", "softmax [16,4,128,128] fwd+bwd"),
                    ("linear", "linear [16,128,256]->768 fwd+bwd")):
    ratio(f"block op: {label}, ember / libtorch", "peer_block", f"BM_{name}_ember",
          f"BM_{name}_torch", 1.0, higher_better=False)
ratio("transformer block step (fwd+bwd+AdamW), ember / libtorch", "peer_block",
      "BM_block_ember", "BM_block_torch", 0.9, higher_better=False)
v, e = get("peer_block", "BM_block_interleaved")
if v and "ratio_wall" in v:
    rows.append(("transformer block step, steps alternated: median ratio per pair",
                 f"{v['ratio_wall']:.2f}", f"{v['ratio_cpu']:.2f}", "<= 0.9",
                 "yes" if v["ratio_wall"] <= 0.9 else "NO", "ember and libtorch in one loop"))
else:
    rows.append(("transformer block step, steps alternated", "n/a", "", "<= 0.9", "-",
                 (e or "no ratio counters")[:64]))

head = ("measure", "wall", "cpu", "target", "met", "median wall times")
w = [max(len(str(r[i])) for r in rows + [head]) for i in range(5)]
print()
for r in [head] + rows:
    print(f"{r[0]:<{w[0]}}  {r[1]:>{w[1]}}  {r[2]:>{w[2]}}  {r[3]:<{w[3]}}  {r[4]:<{w[4]}}  {r[5]}")
print("(wall: ratio of wall times, what the targets mean; cpu: the same from process CPU time,"
      " steadier when other jobs share the cores)")

print("\ncontext (medians):")
for file, bench in (("peer_default", "BM_add16M_torch"),
                    ("peer_default", "BM_add16M_ember"),
                    ("peer_warm", "BM_add16M_torch"),
                    ("peer_default", "BM_add8_torch_inference_mode"),
                    ("peer_default", "BM_add8_grad_torch"),
                    ("matmul", "BM_matmul_cblas/threads:1"),
                    ("matmul", "BM_matmul_cblas/threads:2"),
                    ("overhead", "BM_add8_ember"), ("overhead", "BM_mul_scalar8_ember"),
                    ("overhead", "BM_exp8_ember"), ("overhead", "BM_add_broadcast32_ember"),
                    ("overhead", "BM_empty8_ember"),
                    ("autograd", "BM_add8_grad"), ("autograd", "BM_add8_nograd"),
                    ("autograd", "BM_mul8_grad"), ("autograd", "BM_add8_backward"),
                    ("autograd", "BM_chain10_forward"), ("autograd", "BM_chain10_forward_backward"),
                    ("autograd", "BM_deep100_backward"),
                    ("peer_autograd", "BM_mlp_torch/2"), ("peer_autograd_passive", "BM_mlp_torch/2")):
    v, e = get(file, bench)
    print(f"  {file:<21} {bench:<42} {fmt_time(v['real']) if v else e}")
for bench in ("BM_chain_fused/threads:1", "BM_chain_fused/threads:2", "BM_softmax_fused/threads:1",
              "BM_softmax_fused/threads:2", "BM_softmax_composed_fused/threads:1",
              "BM_softmax_composed_fused/threads:2", "BM_column_sum_fused/threads:1",
              "BM_column_sum_fused/threads:2", "BM_overhead_fused"):
    v, e = get("jit", bench)
    print(f"  {'jit':<21} {bench:<42} " + (f"fused graphs per iteration {v.get('fused', 0):.2g}"
                                           " (1: compiled kernels ran)" if v else e))
print(f"\n{reps} repetitions each; worst coefficient of variation among the ratio inputs: "
      f"{worst_cv:.1%} (wall);\nload average before {load_before}, after {load_after}")
print(f"raw results: {out}")
PY
