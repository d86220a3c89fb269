#!/usr/bin/env bash
# Session 14's second run, after the queued_end planner: the kernel benchmarks at (32, 8) with
# the acceptance shapes, then at (64, 8) and (16, 8), on GPU 0; the GPU tests on GPU 1; detached
# (setsid) so the chains outlive one device call. The (32, 32) suite is not re-run: its plans and
# kernel are those of 599a8fa's run. (Session 13's serving pair: git history at bd6092a.)
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
rm -rf /tmp/r0 /tmp/r1; mkdir -p /tmp/r0 /tmp/r1
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0
python3 benchmarks/bench_kernels.py --out /tmp/r0/k --part acceptance --part suite --heads 32,8 > /tmp/r0/k0.out 2>&1
python3 benchmarks/bench_kernels.py --out /tmp/r0/k1 --part suite --heads 64,8 --heads 16,8 > /tmp/r0/k1.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
setsid bash -c "
export CUDA_VISIBLE_DEVICES=1
python3 -m pytest -q -p no:cacheprovider tests/test_kernels_gpu.py tests/test_kernels.py tests/test_backend.py > /tmp/r1/tests.out 2>&1
touch /tmp/r1/done" >/tmp/r1/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
