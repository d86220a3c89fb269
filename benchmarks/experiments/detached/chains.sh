#!/usr/bin/env bash
# Prepared in session 48 for the next session (one H200): the opt-in sm90 shared part
# (SGLANG_PAT_SM90_SHARED=1) served beside pat without it and flashinfer. Its GPU tests
# passed in full in session 48 (tests/test_sm90_shared.py 91 passed in 69 s, the rest of the
# suite 247 in 119 s, at 5a37003; benchmarks/results/2026-12-02-NVIDIA-H200/session48.md).
# WORKLOADS (default gsp 4 x 32) with two measured passes each, in turn: pat, pat with the sm90
# part, flashinfer. pat starts first and pays the fresh machine's JIT compilation (about 275 s
# to healthy); each gsp 4 x 32 run then takes about 112 s, flashinfer's server 83 s to start.
# About 15 device minutes for gsp 4 x 32; gsp-64x16-2048 adds about 2.5 minutes a backend.
# TESTS=1 runs the GPU suite first (sm90_tests.sh's two commands, about 4 minutes): for a
# product change since 5a37003.
# Session 47's chain (the GPU suite, then pat and flashinfer on gsp) is in c2840be.
# Install part1, part2 and part2b, then part3 with this chain; then poll at once, call after
# call: a machine left idle 30 s goes back with the chain.
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
rm -rf /tmp/r0; mkdir -p /tmp/r0
W="--workloads ${WORKLOADS:-gsp-4x32-4096} --passes 2"
TESTS_CMD=true
if [ "${TESTS:-0}" = 1 ]; then
  TESTS_CMD="OUT=/tmp/r0 bash benchmarks/experiments/detached/sm90_tests.sh 180 190 12 >/dev/null"
fi
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0
$TESTS_CMD
python3 benchmarks/bench_serving.py --backends pat $W --port 30500 --out /tmp/r0/so \
  > /tmp/r0/so.out 2>&1
SGLANG_PAT_SM90_SHARED=1 python3 benchmarks/bench_serving.py --backends pat $W --port 30600 \
  --out /tmp/r0/s9 > /tmp/r0/s9.out 2>&1
python3 benchmarks/bench_serving.py --backends flashinfer $W --port 30700 --out /tmp/r0/sf \
  > /tmp/r0/sf.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
