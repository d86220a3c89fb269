#!/usr/bin/env bash
# Session 16, second run: the GPU tests on GPU 0; on GPU 1 the kernel benchmark on the batches
# the gsp servers decode (64 prompts' prefixes, 4 requests each, early and mid-wave; 4 x 32).
# The first run (the in-server profiles of pat and flashinfer, side by side, then the tests and
# the acceptance shapes) is at 58f7f1a in git history. Detached (setsid) so the chains outlive one device call.
# (Session 14's kernel chains: git history at a6ee50b.)
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
rm -rf /tmp/r0 /tmp/r1; mkdir -p /tmp/r0 /tmp/r1
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0
python3 -m pytest -q -p no:cacheprovider tests/test_kernels_gpu.py tests/test_kernels.py tests/test_backend.py > /tmp/r0/tests.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
setsid bash -c "
export CUDA_VISIBLE_DEVICES=1
python3 benchmarks/bench_kernels.py --out /tmp/r1/k --workload 64,256_2048,178 --workload 64,256_2048,256 --workload 4,128_4096,256 > /tmp/r1/k.out 2>&1
touch /tmp/r1/done" >/tmp/r1/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
