#!/usr/bin/env bash
# Prepared in session 46 for the next session (one H200, about 15 device minutes after the
# install): pat and flashinfer served on gsp 4 x 32 and gsp defaults at 617d97b's metadata
# skip (a replay of a pat-decoded graph no longer refills triton's decode metadata: ~12 us of
# kernels a step at gsp 4 x 32 in session 45's profile) and 782d873's one copy fewer a step.
# Issue 4's 2x and 1.5x rows stood at 1.980x and 1.410x (session 44). pat starts first and
# pays the fresh machine's JIT compilation (about 300 s). Session 46's chain at 15a60b7 (GPU
# suite, equality with --plain-pat, ../kv_store, serving lost) is in 15a60b7.
# Install part1, part2 and part2b, then part3 with this chain; then poll at once, call after
# call: a machine left idle 30 s goes back with the chain.
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
rm -rf /tmp/r0; mkdir -p /tmp/r0
W="--workloads gsp-4x32-4096,gsp-64x16-2048"
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0
python3 benchmarks/bench_serving.py --backends pat $W --port 30500 --out /tmp/r0/so \
  > /tmp/r0/so.out 2>&1
python3 benchmarks/bench_serving.py --backends flashinfer $W --port 30600 --out /tmp/r0/sf \
  > /tmp/r0/sf.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
