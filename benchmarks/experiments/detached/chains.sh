#!/usr/bin/env bash
# Session 22's chain (one H200, ~12 of the 30 device minutes), on GPU 0: pat with the lean
#   kernel on in the server (SGLANG_PAT_LEAN_KERNEL=1), then flashinfer's server, on gsp
#   defaults (64 x 16, 2048, batch 256) and random-ids (no sharing). With the lean-off server
#   run after it, it kept the lean kernel opt-in: 1.323x / 1.002x flashinfer on, 1.351x /
#   1.013x off (benchmarks/results/2026-12-01-NVIDIA-H200/session22-serving/).
# Detached (setsid) so the chain outlives one device call. (Earlier chains: git history, e.g.
# 850d61f for session 21's GPU tests, two_shared experiment and lean server; 7deb495 for
# session 20's three servers; f10982e for session 18's kernel benchmark.)
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
rm -rf /tmp/r0; mkdir -p /tmp/r0
W="--workloads gsp-64x16-2048,random-ids-2048-256"
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0
SGLANG_PAT_LEAN_KERNEL=1 python3 benchmarks/bench_serving.py --backends pat $W --port 30400 --out /tmp/r0/sl > /tmp/r0/sl.out 2>&1
python3 benchmarks/bench_serving.py --backends flashinfer $W --port 30500 --out /tmp/r0/sf > /tmp/r0/sf.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
