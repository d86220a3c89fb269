#!/usr/bin/env bash
# Session 32, fourth chain (one H200, about 6 device minutes): the private part alone on plans
# without shared items (LeanKernel.alone_programs_per_sm), on the GPU.
# 1. bench_kernels.py, pat and FlashInfer decode: the acceptance shapes, the tree suite at the
#    four head configs, the served batches (compare with the first chain's run at 68352c9,
#    results/2026-12-01-NVIDIA-H200/session32-kernels/); then all-private batches of 8-128
#    requests (random-ids' 128 x 2048 and 128 x 2304 among them, kernels-custom.csv).
# 2. The GPU suite.
# (The first chain, at 68352c9, the second and third, private_occupancy/run.py, at 42730a7
# and 72b9134; session 31's, run in session 32, in 6e566f3.)
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
rm -rf /tmp/r0; mkdir -p /tmp/r0/k /tmp/r0/c
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0
timeout 300 python3 benchmarks/bench_kernels.py --out /tmp/r0/k --commit $PAT_COMMIT \
  --providers pat,flashinfer-decode --part acceptance --part suite --part served > /tmp/r0/k.out 2>&1
python3 benchmarks/bench_kernels.py --summarize --out /tmp/r0/k >> /tmp/r0/k.out 2>&1
timeout 120 python3 benchmarks/bench_kernels.py --out /tmp/r0/c --commit $PAT_COMMIT \
  --providers pat,flashinfer-decode --workload 128_2048 --workload 128_2304 --workload 64_2048 \
  --workload 32_1024 --workload 16_3256 --workload 8_3256 > /tmp/r0/c.out 2>&1
timeout 300 python3 -m pytest -q -p no:cacheprovider -n 8 tests/test_kernels_gpu.py \
  tests/test_backend.py tests/test_graph_switch.py tests/test_lean_gate.py tests/test_kernels.py \
  > /tmp/r0/gpu-tests.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
