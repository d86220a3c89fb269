#!/usr/bin/env bash
# On a fresh H200 machine (the bundle installed, no compile caches yet): start a pat server,
# run gsp 4 x 32's warm pass and one measured pass, then list every file written after the
# server first answered /health. The first pat server on a machine stalls 7-10 s in its first
# gsp pass (sessions 19-66); a later server on the same machine does not, so the stall is a
# compile whose result is cached on disk. The files name the compiler (Triton, numba, FlashInfer,
# TVM-FFI, Inductor) and the kernel. Output: $OUT/run (the bench's files), $OUT/new-files.txt,
# $OUT/triton-json/ (the metadata of each Triton kernel compiled after /health).
set -u
source benchmarks/device_env.sh
PORT=30610
rm -f /tmp/healthy_marker
python3 - "$PORT" <<'PY' &
import sys, time, requests
url = f"http://127.0.0.1:{sys.argv[1]}/health"
while True:
    try:
        if requests.get(url, timeout=2).ok:
            break
    except requests.RequestException:
        pass
    time.sleep(0.5)
open("/tmp/healthy_marker", "w").write(f"{time.time():.3f}\n")
print(f"first /health OK at {time.strftime('%H:%M:%S')}", flush=True)
PY
timeout 520 python3 benchmarks/bench_serving.py --backends pat --workloads gsp-4x32-4096 \
  --passes 1 --port "$PORT" --out "$OUT/run"
[ -f /tmp/healthy_marker ] || { echo "no /health marker"; exit 1; }
find / -xdev \( -path /proc -o -path /sys -o -path "$OUT" -o -path /tmp/r0 \) -prune -o -type f \
  -newer /tmp/healthy_marker -printf '%TT %10s %p\n' 2>/dev/null | sort > "$OUT/new-files.txt"
mkdir -p "$OUT/triton-json"
grep -o '/[^ ]*/triton/cache/[^ ]*\.json$' "$OUT/new-files.txt" | while read -r f; do
  cp "$f" "$OUT/triton-json/$(basename "$(dirname "$f")")-$(basename "$f")"
done
wc -l "$OUT/new-files.txt"; grep -v -E '\.(log|jsonl)$' "$OUT/new-files.txt" | head -80
