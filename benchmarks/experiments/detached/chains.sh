#!/usr/bin/env bash
# Prepared in session 39 for the next session (one H200, about 25 device minutes).
# Session 39 charged a private-only chunk class ceil(units / programs) waves (4708dec: the
# pack kernel's early ticket deals units past the first wave in start order) and measured
# three of the 12 batches it moves 20-27% faster (ticket_waves.py). This chain:
# 1. the GPU suite at the new planner;
# 2. ticket_waves.py (new rule / before / knob on) on the other moved batches: the knob-off
#    movers (synthetic 400x4, 3200x16, 400x64 at 64 q heads, 6_3300 and 3_5000 at G = 1) and
#    four the rule moves with the knob on;
# 3. the Mooncake conversation replay at the shipped defaults (knob off), pat then flashinfer,
#    two passes each, and tpot_paired.py (session 39 with the knob on: 1.011x, decode 1.005x).
# Here afterwards: steps_by_batch.py and replay_timeline/timeline.py as in session39.md.
# Session 38's chain (its fine_chunks.py run and the knob served) is in be30684.
# The Mooncake traces come in as .mooncake/*.jsonl.gz (carried), unpacked to /tmp/mc.
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
mkdir -p /tmp/mc
for t in conversation synthetic; do gunzip -c .mooncake/${t}_trace.jsonl.gz > /tmp/mc/${t}_trace.jsonl; done
rm -rf /tmp/r0; mkdir -p /tmp/r0
W="--workloads mooncake-conversation --mooncake-dir /tmp/mc --passes 2"
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0 PAT_MOONCAKE_DIR=/tmp/mc
timeout 300 python3 -m pytest -q -p no:cacheprovider --durations=10 -n 8 \
  tests/test_kernels_gpu.py tests/test_backend.py tests/test_graph_switch.py \
  tests/test_lean_gate.py tests/test_kernels.py > /tmp/r0/gpu-tests.out 2>&1
timeout 420 python3 benchmarks/experiments/chunks/ticket_waves.py mooncake:synthetic:400x4 \
  mooncake:synthetic:3200x16 mooncake:synthetic:400x64@64,8 6_3300@32,32 3_5000@32,32 \
  10_4000 mooncake:synthetic:0x16 mooncake:synthetic:2400x16 mooncake:synthetic:1600x16 \
  > /tmp/r0/ticket_waves.jsonl 2>/tmp/r0/ticket_waves.err
python3 benchmarks/bench_serving.py --backends pat $W --port 30500 --out /tmp/r0/so > /tmp/r0/so.out 2>&1
python3 benchmarks/bench_serving.py --backends flashinfer $W --port 30600 --out /tmp/r0/sf > /tmp/r0/sf.out 2>&1
python3 benchmarks/tpot_paired.py /tmp/r0/so/mooncake-conversation-pat.jsonl \
  /tmp/r0/sf/mooncake-conversation-flashinfer.jsonl --out /tmp/r0/paired.json > /tmp/r0/paired.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
