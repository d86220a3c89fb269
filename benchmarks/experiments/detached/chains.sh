#!/usr/bin/env bash
# Session 18's run on one H200 (only `nvidia-h200` was lent): the opt-in lean kernel
# (cost_model.LeanKernel) measured, in one chain on GPU 0, most decisive first:
#   1. the kernel benchmark's acceptance shapes, (32, 8) suite and served batches, where the
#      "pat-lean" provider is pat with the lean kernel, side by side with pat and the peers;
#   2. the GPU tests (the lean kernel's included);
#   3. the in-server profile (benchmarks/experiments/server_profile/) of gsp 4 x 32 with
#      SGLANG_PAT_LEAN_KERNEL=1, then of pat as it is by default.
# Detached (setsid) so the chain outlives one device call. (Earlier chains: git history, e.g.
# a371eb0 for session 17's two-GPU one, ec802d3 for session 16's.)
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
rm -rf /tmp/r0; mkdir -p /tmp/r0
W=gsp-4x32-4096
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0
python3 benchmarks/bench_kernels.py --out /tmp/r0/k --commit $PAT_COMMIT --part acceptance --part suite --heads 32,8 --part served > /tmp/r0/k.out 2>&1
python3 -m pytest -q -p no:cacheprovider tests/test_kernels_gpu.py tests/test_kernels.py tests/test_backend.py > /tmp/r0/tests.out 2>&1
SGLANG_PAT_LEAN_KERNEL=1 python3 benchmarks/experiments/server_profile/run.py --backend pat --workloads $W --port 30400 --out /tmp/r0/sp-lean > /tmp/r0/sp-lean.out 2>&1
python3 benchmarks/experiments/server_profile/run.py --backend pat --workloads $W --port 30500 --out /tmp/r0/sp > /tmp/r0/sp.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
