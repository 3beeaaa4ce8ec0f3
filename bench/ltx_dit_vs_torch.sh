#!/usr/bin/env bash
# LTX-Video DiT forward, small config: Lattice on the Vulkan device vs PyTorch on the CPU, same weights, same run.
# usage: bench/ltx_dit_vs_torch.sh [BUILD_DIR]   (needs python3-torch: apt-get install python3-torch)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build}
out=$("$build/lattice-bench" --benchmark_filter='ltx/dit_forward' --benchmark_format=json)
lattice_ms=$(printf '%s' "$out" | /usr/bin/python3 -c 'import json,sys; b=json.load(sys.stdin)["benchmarks"][0]; print(b["real_time"])')
torch=$(/usr/bin/python3 "$src/bench/torch/ltx_dit.py" "${TMPDIR:-/tmp}/lattice_ltx_small.safetensors" --threads "$(nproc)")
torch_ms=$(printf '%s' "$torch" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["torch_ms"])')
/usr/bin/python3 - "$lattice_ms" "$torch_ms" "$torch" <<'PY'
import sys, json
l, t = float(sys.argv[1]), float(sys.argv[2])
info = json.loads(sys.argv[3])
print(f"lattice (vulkan): {l:.1f} ms   pytorch {info['torch']} (cpu, {info['threads']} threads): {t:.1f} ms   "
      f"ratio torch/lattice = {t / l:.2f} (>= 1 means Lattice is no slower)   torch model vs fixture: {info['fixture_max_error']:.2g}")
PY
