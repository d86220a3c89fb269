#!/usr/bin/env bash
# Session 41, after the fine-chunks knob became the default (one H200, about 5 device minutes,
# in the same call as part3's install): the GPU suite at the new default, then issue 2's kernel
# benchmark on the batches whose plans the flip moves (on the CPU, of the benchmark's 75
# batches: mooncake-conversation@0x64, 1,3_256,3000 and 1,4_256,3000; the Mooncake part's other
# three batches come along), pat (fine) beside pat-powers (the old default) and FlashInfer
# decode. Outputs under $OUT.
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 CUDA_VISIBLE_DEVICES=0
mkdir -p /tmp/mc "$OUT/k"
for t in conversation synthetic; do gunzip -c .mooncake/${t}_trace.jsonl.gz > /tmp/mc/${t}_trace.jsonl; done
export PAT_MOONCAKE_DIR=/tmp/mc
timeout 260 python3 -m pytest -q -p no:cacheprovider --durations=10 -n 8 \
  tests/test_kernels_gpu.py tests/test_backend.py tests/test_graph_switch.py \
  tests/test_lean_gate.py tests/test_kernels.py > "$OUT/gpu-tests.out" 2>&1
tail -3 "$OUT/gpu-tests.out"
timeout ${BENCH_TIMEOUT:-150} python3 benchmarks/bench_kernels.py --out "$OUT/k" \
  --commit "${PAT_COMMIT:-unknown}" --providers pat,pat-powers,flashinfer-decode --part mooncake \
  --workload 1,3_256,3000 --workload 1,4_256,3000 > "$OUT/k.out" 2>&1
python3 benchmarks/bench_kernels.py --summarize --out "$OUT/k" >> "$OUT/k.out" 2>&1
tail -30 "$OUT/k.out"
