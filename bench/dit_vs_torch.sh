#!/usr/bin/env bash
# A DiT forward, small config: Lattice on the Vulkan device vs PyTorch on the CPU, same weights, same run.
# usage: bench/dit_vs_torch.sh MODEL [BUILD_DIR]   MODEL: flux, wan or ltx (needs python3-torch)
#   runs lattice-bench's MODEL/dit_forward (which writes $TMPDIR/lattice_MODEL_small.safetensors), then
#   bench/torch/MODEL_dit.py on those weights, and prints both times and the ratio, and both processes' CPU-seconds
#   per forward (OMP_WAIT_POLICY=PASSIVE keeps PyTorch's idle OpenMP threads from spinning into its count).
set -euo pipefail
model=$1
src=$(cd "$(dirname "$0")/.." && pwd)
build=${2:-$src/build}
out=$("$build/lattice-bench" --benchmark_filter="^$model/dit_forward/" --benchmark_format=json)
lattice_ms=$(printf '%s' "$out" | /usr/bin/python3 -c 'import json,sys; b=json.load(sys.stdin)["benchmarks"][0]; print(b["real_time"])')
lattice_cpu=$(printf '%s' "$out" | /usr/bin/python3 -c 'import json,sys; b=json.load(sys.stdin)["benchmarks"][0]; print(b.get("cpu_s_per_forward", 0))')
torch=$(/usr/bin/python3 "$src/bench/torch/${model}_dit.py" "${TMPDIR:-/tmp}/lattice_${model}_small.safetensors" --threads "$(nproc)")
torch_ms=$(printf '%s' "$torch" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["torch_ms"])')
/usr/bin/python3 - "$lattice_ms" "$torch_ms" "$torch" "$lattice_cpu" <<'PY'
import sys, json, os
l, t = float(sys.argv[1]), float(sys.argv[2])
info = json.loads(sys.argv[3])
lc, tc = float(sys.argv[4]), info.get("torch_cpu_s", 0.0)
print(f"lattice (vulkan): {l:.1f} ms   pytorch {info['torch']} (cpu, {info['threads']} threads): {t:.1f} ms   "
      f"ratio torch/lattice = {t / l:.2f} (>= 1 means Lattice is no slower)   torch model vs fixture: {info['fixture_max_error']:.2g}")
if lc > 0 and tc > 0:  # CPU-seconds per forward of each process: the same comparison, less moved by other load
    print(f"cpu-seconds per forward: lattice {lc:.2f}   pytorch {tc:.2f}   ratio torch/lattice = {tc / lc:.2f}" +
          ("" if os.environ.get("OMP_WAIT_POLICY", "").lower() == "passive" else
           "   (PyTorch's count includes OpenMP spin-waiting, large under load: OMP_WAIT_POLICY=PASSIVE leaves it out)"))
PY
