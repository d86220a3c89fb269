#!/usr/bin/env bash
# Prepared in session 40 for the next session (one H200, about 26 device minutes): the
# fine-chunks knob (PackScheduler.fine_private_chunks, SGLANG_PAT_FINE_CHUNKS) served beside
# the default, at the same code, so that the two servers pair request by request. Since
# 4708dec's chunk cost the knob was at or under the default on nine timed batches (geometric
# mean 0.949, session 40), 1.005x on eight with private tails behind a few shared units
# (occupancy_wait.py), and since 0caf6d1 it costs the lazy planner about 2 us. Served at
# be30684 (session 39) it cut pat's steady-step excess over flashinfer from about +0.95% of
# the mean gap to +0.35-0.51%, but beside a flashinfer run, not the default.
# 1. the GPU suite at this commit (0caf6d1's planner change leaves every plan as it was);
# 2. the Mooncake conversation replay, pat with SGLANG_PAT_FINE_CHUNKS=1, then pat at the
#    default (knob off), two measured passes each; tpot_paired.py (knob on over knob off).
# 3. as time allows, ticket_waves.py (default / before / fine / fine before) on the five
#    batches where model_regret.py puts the default furthest from the fitted model's best
#    (1.20-1.48 of it; the knob 1.00-1.15), none of them timed yet.
# Here afterwards: steps_by_batch.py on the two server logs and replay_timeline/timeline.py on
# the two JSONLs, as in session40.md; flashinfer's replay of session 40
# (results/2026-12-02-NVIDIA-H200/session40-serving/fi) pairs with either.
# The carry: the tracked tree is about 27 MB since session 40, so part2 (38 MB) no longer fits
# one 64 MiB call: move its transformers wheel to a part2b and install part1, part2, part2b,
# then part3 with this chain (.mooncake carried with part3).
# Session 39's chain (the GPU suite, ticket_waves.py, the replay at the shipped defaults
# beside flashinfer), which ran in session 40, is in 38a8b6d.
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
SGLANG_PAT_FINE_CHUNKS=1 python3 benchmarks/bench_serving.py --backends pat $W --port 30500 \
  --out /tmp/r0/son > /tmp/r0/son.out 2>&1
python3 benchmarks/bench_serving.py --backends pat $W --port 30600 --out /tmp/r0/sof \
  > /tmp/r0/sof.out 2>&1
python3 benchmarks/tpot_paired.py /tmp/r0/son/mooncake-conversation-pat.jsonl \
  /tmp/r0/sof/mooncake-conversation-pat.jsonl --out /tmp/r0/paired.json > /tmp/r0/paired.out 2>&1
timeout 240 python3 benchmarks/experiments/chunks/ticket_waves.py mooncake:conversation:4800x16 \
  mooncake:conversation:0x16 mooncake:synthetic:3200x4 mooncake:conversation:4000x4 \
  mooncake:synthetic:2000x4 > /tmp/r0/ticket_waves.jsonl 2>/tmp/r0/ticket_waves.err
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
