#!/usr/bin/env bash
# Prepared in session 47 for the next session (one H200, about 19 device minutes after the
# install): the opt-in sm90 shared part (SGLANG_PAT_SM90_SHARED=1, e04046c) checked in full,
# then served beside pat without it and flashinfer.
# 1. the GPU suite with tests/test_sm90_shared.py. Session 47 ran 45 of its 96 selected
#    tests before the device time ran out, and all passed.
# 2. pat, pat with SGLANG_PAT_SM90_SHARED=1, then flashinfer, each on gsp 4 x 32 with two
#    measured passes. pat starts first and pays the fresh machine's JIT compilation (about
#    275 s). Session 47 served gsp 4 x 32 at 1.998x flashinfer. In pair.py the sm90 part
#    gained 0.4-1.9 us a layer at serving's tails, about 0.4% of a step.
# Session 47's own chain (the GPU suite, then pat and flashinfer on gsp) is in c2840be.
# Install part1, part2 and part2b, then part3 with this chain; then poll at once, call after
# call: a machine left idle 30 s goes back with the chain.
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
rm -rf /tmp/r0; mkdir -p /tmp/r0
W="--workloads gsp-4x32-4096 --passes 2"
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0
timeout 420 python3 -m pytest -q -p no:cacheprovider -n 12 -rf tests/test_sm90_shared.py \
  tests/test_kernels_gpu.py tests/test_backend.py tests/test_graph_switch.py \
  tests/test_lean_gate.py tests/test_kernels.py > /tmp/r0/gpu_tests.out 2>&1
python3 benchmarks/bench_serving.py --backends pat $W --port 30500 --out /tmp/r0/so \
  > /tmp/r0/so.out 2>&1
SGLANG_PAT_SM90_SHARED=1 python3 benchmarks/bench_serving.py --backends pat $W --port 30600 \
  --out /tmp/r0/s9 > /tmp/r0/s9.out 2>&1
python3 benchmarks/bench_serving.py --backends flashinfer $W --port 30700 --out /tmp/r0/sf \
  > /tmp/r0/sf.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
