#!/usr/bin/env bash
# Session 16: the in-server profiles (benchmarks/experiments/server_profile/) of pat on GPU 0
# and flashinfer on GPU 1, side by side; then the GPU tests on GPU 0 and the acceptance shapes
# of the kernel benchmark on GPU 1. Detached (setsid) so the chains outlive one device call.
# (Session 14's kernel chains: git history at a6ee50b.)
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
rm -rf /tmp/r0 /tmp/r1; mkdir -p /tmp/r0 /tmp/r1
W=gsp-4x32-4096,gsp-64x16-2048
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0
python3 benchmarks/experiments/server_profile/run.py --backend pat --workloads $W --port 30400 --out /tmp/r0/sp > /tmp/r0/sp.out 2>&1
python3 -m pytest -q -p no:cacheprovider tests/test_kernels_gpu.py tests/test_kernels.py tests/test_backend.py > /tmp/r0/tests.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
setsid bash -c "
export CUDA_VISIBLE_DEVICES=1
python3 benchmarks/experiments/server_profile/run.py --backend flashinfer --workloads $W --port 30500 --out /tmp/r1/sp > /tmp/r1/sp.out 2>&1
python3 benchmarks/bench_kernels.py --out /tmp/r1/k --part acceptance > /tmp/r1/k.out 2>&1
touch /tmp/r1/done" >/tmp/r1/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
