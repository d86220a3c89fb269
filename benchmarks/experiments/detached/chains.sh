#!/usr/bin/env bash
# Session 47's chain (one H200, about 20 device minutes after the install): the GPU suite at
# HEAD (71a5f75's hook order had not run on the GPU), then pat and flashinfer served on gsp
# 4 x 32 and gsp defaults with two measured passes each (session 44 had one) at 617d97b's
# metadata skip (a replay of a pat-decoded graph no longer refills triton's decode metadata:
# ~12 us of kernels a step at gsp 4 x 32 in session 45's profile) and 782d873's one copy fewer
# a step. Issue 4's 2x and 1.5x rows stood at 1.980x and 1.410x (session 44). pat starts first
# and pays the fresh machine's JIT compilation (about 300 s).
# Install part1, part2 and part2b, then part3 with this chain; then poll at once, call after
# call: a machine left idle 30 s goes back with the chain.
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
rm -rf /tmp/r0; mkdir -p /tmp/r0
W="--workloads gsp-4x32-4096,gsp-64x16-2048 --passes 2"
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0
timeout 330 python3 -m pytest -q -p no:cacheprovider -n 8 tests/test_kernels_gpu.py \
  tests/test_backend.py tests/test_graph_switch.py tests/test_lean_gate.py tests/test_kernels.py \
  > /tmp/r0/gpu_tests.out 2>&1
python3 benchmarks/bench_serving.py --backends pat $W --port 30500 --out /tmp/r0/so \
  > /tmp/r0/so.out 2>&1
python3 benchmarks/bench_serving.py --backends flashinfer $W --port 30600 --out /tmp/r0/sf \
  > /tmp/r0/sf.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
