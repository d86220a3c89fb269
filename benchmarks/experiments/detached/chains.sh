#!/usr/bin/env bash
# Session 46's chain (one H200, about 14 device minutes after the install). Three changes: a
# replay of a graph that pat decodes skips triton's decode metadata (4 kernels, ~12 us a step
# at gsp 4 x 32 in session 45's profile); the plan's header and merge ranges go up in one
# copy; the layer's new-K/V store runs beside the shared part, on the private part's stream.
# 1. the equality check with a pat server without verification (--plain-pat: verification
#    keeps triton's metadata, so only that server replays the new path), beside the GPU
#    suite (new: the store inside replayed graphs, NaN in the newest slots until stored);
# 2. ../kv_store/run.py on four shapes: the store before the layer, beside, none;
# 3. pat and flashinfer served on gsp 4 x 32 (issue 4's 2x row: 1.980x in session 44; gsp
#    defaults is left out for the device time this session has left).
# Install part1, part2 and part2b, then part3 with this chain. Session 45's merge chain
# (../merge_variants/run.py on eight shapes), which ran in session 46, is in e11ee6d.
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
rm -rf /tmp/r0 /tmp/r1; mkdir -p /tmp/r0 /tmp/r1
W="--workloads gsp-4x32-4096"
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0
timeout 330 python3 -m pytest -q -p no:cacheprovider -n 8 tests/test_kernels_gpu.py \
  tests/test_backend.py tests/test_graph_switch.py tests/test_lean_gate.py tests/test_kernels.py \
  > /tmp/r1/gpu_tests.out 2>&1
touch /tmp/r1/done" >/tmp/r1/chain.log 2>&1 < /dev/null &
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0
timeout 560 python3 benchmarks/check_equality.py --out /tmp/r0/eq --variant default --plain-pat \
  --negative-control 1.05 --parallel 4 > /tmp/r0/eq.out 2>&1
while [ ! -e /tmp/r1/done ]; do sleep 5; done
timeout 150 python3 benchmarks/experiments/kv_store/run.py 4,128_4096,256 \
  gsp:4x32:4096+140:b128:s0 gsp:4x32:4096+384:b128:s0 1,64_4096,512 \
  > /tmp/r0/kv_store.jsonl 2> /tmp/r0/kv_store.err
python3 benchmarks/bench_serving.py --backends pat $W --port 30500 --out /tmp/r0/so \
  > /tmp/r0/so.out 2>&1
python3 benchmarks/bench_serving.py --backends flashinfer $W --port 30600 --out /tmp/r0/sf \
  > /tmp/r0/sf.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
