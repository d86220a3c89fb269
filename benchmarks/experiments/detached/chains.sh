#!/usr/bin/env bash
# Prepared in session 34 for the next session (one H200, about 25 device minutes), at the
# product state after session 34: shared units capped at one per SM (46d6740) and private
# tails kept whole beside the shared units (054a5e3).
# 1. tails_beside_shared.py on twelve of the 123 synthetic batches whose plans 054a5e3 moved
#    (experiments/chunks/README.md): tails behind short prefixes at (32, 8), where the whole
#    tails lost 1.0-2.2 us in session 34; 800-1,200-token tails now kept whole at (64, 8),
#    not measured; two batches it cuts finer than before;
# 2. pat, then flashinfer, served on gsp 4 x 32 (46d6740: 1.896x, ITL 0.520x), gsp defaults
#    (session 27: 1.328x) and random-ids (1.013x). Mooncake conversation (session 30: 0.975x
#    paired) is left out for time: 054a5e3 moved none of the 180 Mooncake cuts planned on the
#    CPU (chunks/plan_digests.py);
# 3. the equality check (pat against triton in a server, outputs token for token), default
#    variant with the negative control, last.
# The first server's prefill-graph capture takes ~3 of those minutes.
# Session 34's chain (the cap against uncapped, GPU suite, gsp 4 x 32, issue 2's kernel
# benchmark at 46d6740) is in 150424e.
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
rm -rf /tmp/r0; mkdir -p /tmp/r0
W="--workloads gsp-4x32-4096,gsp-64x16-2048,random-ids-2048-256"
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0
timeout 360 python3 benchmarks/experiments/chunks/tails_beside_shared.py 1,10_2048,416 \
  1,12_1024,416 1,10_512,416 1,14_1024,300 1,6_8192,416 1,20_4096,1200@64,8 \
  1,16_8192,1200@64,8 1,14_8192,800@64,8 1,24_8192,800@64,8 1,8_4096,480@64,8 \
  1,12_1024,480@64,8 1,12_512,300@64,8 > /tmp/r0/tails.jsonl 2>/tmp/r0/tails.err
python3 benchmarks/bench_serving.py --backends pat $W --port 30500 --out /tmp/r0/so \
  > /tmp/r0/so.out 2>&1
python3 benchmarks/bench_serving.py --backends flashinfer $W --port 30600 --out /tmp/r0/sf \
  > /tmp/r0/sf.out 2>&1
timeout 420 python3 benchmarks/check_equality.py --out /tmp/r0/eq --variant default \
  --negative-control 1.05 --parallel 2 > /tmp/r0/eq.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
