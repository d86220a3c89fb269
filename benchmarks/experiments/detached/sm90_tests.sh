#!/usr/bin/env bash
# Session 48: why the GPU suite with tests/test_sm90_shared.py ran past its timeout (session
# 47: 45 of 96 selected in 190 s; session 48: about 119 of some 340 in 420 s, no summary).
# 1. tests/test_sm90_shared.py alone, verbose, each test's duration; SIGINT at the timeout so
#    pytest still prints its summary; a test past 90 s dumps its stacks (faulthandler).
# 2. the rest of the GPU suite, as session 47 ran it (243 passed in 152 s at f83d86a).
# GPU use every 20 s beside them.
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
mkdir -p "$OUT"
(while sleep 20; do nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader; done) \
  > "$OUT/smi.log" 2>&1 &
smi=$!
PYTEST="python3 -m pytest -p no:cacheprovider -rfE --durations=40 -o faulthandler_timeout=90"
timeout -s INT -k 20 ${1:-230} $PYTEST -v -n ${3:-12} tests/test_sm90_shared.py > "$OUT/sm90.out" 2>&1
# Only processes that are pytest itself: "-f pytest" also matched (and killed) a calling
# shell whose command line named pytest further on (session 58)
pkill -9 -f "^[^ ]*python3? -m pytest" ; sleep 2
timeout -s INT -k 20 ${2:-250} $PYTEST -q -n 12 tests/test_kernels_gpu.py tests/test_backend.py \
  tests/test_graph_switch.py tests/test_lean_gate.py tests/test_kernels.py > "$OUT/rest.out" 2>&1
kill $smi
tail -n 45 "$OUT/sm90.out"; tail -n 15 "$OUT/rest.out"
