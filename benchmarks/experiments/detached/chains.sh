#!/usr/bin/env bash
# Prepared in session 42 for the next session (one H200, about 25 device minutes), at the
# product state since session 41 (fine private chunks on by default, e901cff):
# 1. whole_or_halves.py on no-sharing batches of 20-28 equal requests: session 42 measured the
#    default's four chunks a request of 24_L 4-10% slower than the whole requests the powers
#    of two keep (one_wave.py), and FlashInfer decode 5-14% faster than either; whether two
#    or three chunks a request (or whole ones, forced) beat both, and where the planner flips
#    from cut to whole (20_2300 cut in three, 28_2300 whole), says what to change; about 60 s
#    a batch;
# 2. pat, then flashinfer, served on gsp 4 x 32, gsp defaults and random-ids (issue 4's three
#    other targets, last served in session 35 at 659211c: 1.949x with ITL 0.518x, 1.347x,
#    1.012x; the planner has changed since: 4708dec's chunk cost, 0caf6d1, e901cff);
# 3. the equality check (pat against triton in a server, outputs token for token), default
#    variant with the negative control, last (last run in session 36 at c1800d2).
# The first server's prefill-graph capture takes ~3 of those minutes.
# Session 41's chain (one_wave.py on eleven batches, the Mooncake conversation replay at the
# new default by pat and flashinfer, paired), which ran in session 42 at 1787a06
# (../../results/2026-12-02-NVIDIA-H200/session42.md), is in 1787a06.
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
rm -rf /tmp/r0; mkdir -p /tmp/r0
W="--workloads gsp-4x32-4096,gsp-64x16-2048,random-ids-2048-256"
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0
timeout 390 python3 benchmarks/experiments/chunks/whole_or_halves.py 24_2300 24_1536 24_3000 \
  20_2300 28_2300 > /tmp/r0/whole_or_halves.jsonl 2>/tmp/r0/whole_or_halves.err
python3 benchmarks/bench_serving.py --backends pat $W --port 30500 --out /tmp/r0/so \
  > /tmp/r0/so.out 2>&1
python3 benchmarks/bench_serving.py --backends flashinfer $W --port 30600 --out /tmp/r0/sf \
  > /tmp/r0/sf.out 2>&1
timeout 420 python3 benchmarks/check_equality.py --out /tmp/r0/eq --variant default \
  --negative-control 1.05 --parallel 2 > /tmp/r0/eq.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
