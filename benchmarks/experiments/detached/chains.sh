#!/usr/bin/env bash
# Prepared in session 17 (no device time was left to run it): the opt-in lean kernel
# (cost_model.LeanKernel) on the H200. GPU 0: the in-server profile of pat with
# SGLANG_PAT_LEAN_KERNEL=1 on gsp 4 x 32 (benchmarks/experiments/server_profile/), then the GPU
# tests (the lean kernel's included). GPU 1: the same profile of pat as it is by default, side
# by side, then the kernel benchmark's acceptance shapes, (32, 8) suite and served batches,
# where the "pat-lean" provider is pat with the lean kernel. Detached (setsid) so the chains
# outlive one device call. (Earlier chains: git history, e.g. ec802d3 for session 16's.)
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
rm -rf /tmp/r0 /tmp/r1; mkdir -p /tmp/r0 /tmp/r1
W=gsp-4x32-4096
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0
SGLANG_PAT_LEAN_KERNEL=1 python3 benchmarks/experiments/server_profile/run.py --backend pat --workloads $W --port 30400 --out /tmp/r0/sp > /tmp/r0/sp.out 2>&1
python3 -m pytest -q -p no:cacheprovider tests/test_kernels_gpu.py tests/test_kernels.py tests/test_backend.py > /tmp/r0/tests.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
setsid bash -c "
export CUDA_VISIBLE_DEVICES=1
python3 benchmarks/experiments/server_profile/run.py --backend pat --workloads $W --port 30500 --out /tmp/r1/sp > /tmp/r1/sp.out 2>&1
python3 benchmarks/bench_kernels.py --out /tmp/r1/k --part acceptance --part suite --heads 32,8 --part served > /tmp/r1/k.out 2>&1
touch /tmp/r1/done" >/tmp/r1/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
