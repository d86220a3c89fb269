#!/usr/bin/env bash
# Prepared in session 41 for the next session (one H200, about 26 device minutes), after the
# fine-chunks knob became the default (e901cff):
# 1. one_wave.py (default = fine chunks, powers, one wave = fine chunks with OneWave's charge
#    for one underfilled wave) on the batches where the fitted launch model (model_regret.py's)
#    puts the fine chunks furthest from the powers of two, both ways, none of them timed yet:
#    no-sharing batches of 24 equal requests (model: fine 1.15-1.22x slower: one underfilled
#    wave of whole requests against three near-full waves of shorter units with partials; the
#    chunk cost rounds the first up to a full wave; OneWave takes them back), 80 and 112
#    requests of 1,536 tokens (1.03-1.04x), 1,20_256,2048 and 1,48_256,2300 (1.07x), 16_2300
#    and 1,32_256,2300 (0.86x: fine faster), and two where the model has OneWave 4-6% slower
#    (16_3000, mooncake:synthetic:800x16); about 45 s a batch (session 41's ticket_waves.py),
#    so the most telling come first and the timeout may cut the last;
# 2. the Mooncake conversation replay at the new default, pat then flashinfer, two passes each,
#    tpot_paired.py (issue 4's Mooncake target at the shipped default).
# Here afterwards: steps_by_batch.py and replay_timeline/timeline.py as in session41.md.
# Install part1, part2, part2b, then part3 with this chain (.mooncake carried with part3).
# Session 40's chain (the knob served beside the old default, ticket_waves.py on five
# Mooncake batches), which ran in session 41 at 1d20b3d, is in 1d20b3d.
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
timeout 480 python3 benchmarks/experiments/chunks/one_wave.py 24_2300 24_1536 16_2300 \
  1,32_256,2300 mooncake:synthetic:800x16 16_3000 24_3000 1,20_256,2048 1,48_256,2300 \
  112_1536 80_1536 > /tmp/r0/one_wave.jsonl 2>/tmp/r0/one_wave.err
python3 benchmarks/bench_serving.py --backends pat $W --port 30500 --out /tmp/r0/so > /tmp/r0/so.out 2>&1
python3 benchmarks/bench_serving.py --backends flashinfer $W --port 30600 --out /tmp/r0/sf > /tmp/r0/sf.out 2>&1
python3 benchmarks/tpot_paired.py /tmp/r0/so/mooncake-conversation-pat.jsonl \
  /tmp/r0/sf/mooncake-conversation-flashinfer.jsonl --out /tmp/r0/paired.json > /tmp/r0/paired.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
