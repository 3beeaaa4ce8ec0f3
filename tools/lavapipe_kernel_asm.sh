#!/usr/bin/env bash
# Shows the x86 code that lavapipe (llvmpipe) JIT-compiled for a kernel while it runs, and the size and
# instruction mix of its hottest-looking loop (the longest backward jump). Lavapipe has no release-build
# switch that prints its machine code, so this attaches gdb to the running process, dumps the anonymous
# executable mapping where llvmpipe puts its code, and disassembles it with objdump. Needs gdb and binutils.
#
#   tools/lavapipe_kernel_asm.sh OUT_DIR SECONDS COMMAND...
#   e.g. tools/lavapipe_kernel_asm.sh /tmp/mm 8 ./build/lattice-bench \
#          --benchmark_filter='matmul/f32/1024x1024x1024/vulkan_packed' --benchmark_min_time=30
#
# COMMAND must keep running one kernel past SECONDS (only that kernel's pipelines should be compiled by then).
# Writes OUT_DIR/jit.bin, OUT_DIR/jit.s (all JIT code), OUT_DIR/pcs.txt (each thread's program counter at the
# dump: repeat the run to sample where time goes) and prints the loop summary.
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 OUT_DIR SECONDS COMMAND..." >&2
  exit 2
fi
out=$1 wait_s=$2
shift 2
mkdir -p "$out"
"$@" > "$out/command.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
sleep "$wait_s"
# llvmpipe's code lives in private anonymous r-x mappings (offset 0, no file).
region=$(awk '$2 == "r-xp" && $3 == "00000000" && $5 == "0" && NF == 5 {print $1; exit}' "/proc/$pid/maps")
if [ -z "$region" ]; then
  echo "no anonymous executable mapping in process $pid: is it running a lavapipe kernel?" >&2
  exit 4
fi
start=0x${region%-*} end=0x${region#*-}
gdb -p "$pid" -batch -ex "dump binary memory $out/jit.bin $start $end" -ex 'thread apply all p/x $pc' 2>/dev/null |
  awk '/^\$/ {print $3}' > "$out/pcs.txt"
kill "$pid" 2>/dev/null || true
objdump -D -b binary -mi386:x86-64 --adjust-vma="$start" "$out/jit.bin" > "$out/jit.s"
echo "JIT code $start-$end ($(stat -c %s "$out/jit.bin") bytes); program counters in $out/pcs.txt"
python3 - "$out/jit.s" <<'EOF'
import collections, re, sys
addr, ops = [], []
for line in open(sys.argv[1]):
    m = re.match(r'\s*([0-9a-f]+):\t[0-9a-f ]+\t(\S+)\s*(.*)', line)
    if m:
        addr.append(int(m.group(1), 16))
        ops.append((m.group(2), m.group(3)))
best = None  # (bytes, first index, last index) of the longest backward jump
for k, (op, arg) in enumerate(ops):
    t = re.match(r'0x([0-9a-f]+)', arg) if op.startswith('j') else None
    if t and int(t.group(1), 16) < addr[k] and (best is None or addr[k] - int(t.group(1), 16) > best[0]):
        target = int(t.group(1), 16)
        best = (addr[k] - target, next(i for i, a in enumerate(addr) if a >= target), k)
if best is None:
    sys.exit("no loop found")
body = [op for op, _ in ops[best[1]:best[2] + 1]]
print(f"longest loop: {best[0]} bytes, {len(body)} instructions, {body.count('call')} calls")
print("mix:", ", ".join(f"{op} {n}" for op, n in collections.Counter(body).most_common(12)))
EOF
