#!/usr/bin/env bash
# Prepared for session 22 (one H200, ~15 of the 30 device minutes), one chain on GPU 0:
#   pat with the lean kernel on in the server (SGLANG_PAT_LEAN_KERNEL=1), then flashinfer's
#   server, on the two workloads the lean server last ran in session 19 (1.33x and 1.00x, with
#   it off 1.34x and 1.02x in session 12): gsp defaults (64 x 16, 2048, batch 256) and
#   random-ids (no sharing). Session 21 measured it on gsp 4 x 32 (1.88x
#   flashinfer, against 1.79x with it off in session 20) and Mooncake (mean TPOT 1.012x);
#   if these two hold (>= session 12's 1.34x and >= 0.95x), the lean kernel becomes the
#   server's default.
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
