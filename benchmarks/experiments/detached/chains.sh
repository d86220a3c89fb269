#!/usr/bin/env bash
# Session 12 device chains, one per GPU, detached (setsid) so they outlive one device call:
# the kernel benchmarks and the GPU tests on the kernel with the ticket-reset queue (1115435).
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
rm -rf /tmp/r0 /tmp/r1; mkdir -p /tmp/r0 /tmp/r1
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0
python3 benchmarks/bench_kernels.py --out /tmp/r0/k --part acceptance --part suite --heads 32,8 > /tmp/r0/k0.out 2>&1
python3 benchmarks/bench_kernels.py --out /tmp/r0/k32 --part suite --heads 32,32 > /tmp/r0/k32.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
setsid bash -c "
export CUDA_VISIBLE_DEVICES=1
python3 -m pytest -q -p no:cacheprovider tests/test_kernels_gpu.py tests/test_kernels.py tests/test_backend.py > /tmp/r1/gpu-tests.out 2>&1
python3 benchmarks/bench_kernels.py --out /tmp/r1/k --part suite --heads 64,8 --heads 16,8 > /tmp/r1/k.out 2>&1
touch /tmp/r1/done" >/tmp/r1/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
