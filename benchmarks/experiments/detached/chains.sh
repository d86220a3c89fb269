#!/usr/bin/env bash
# Branch merge-slots, session 33 (one H200, about 5 device minutes), after its first chain
# (results/2026-12-01-NVIDIA-H200/session33-merge-slots/: profile, kernel benchmark, GPU suite):
# 1. merge_slots/ab.py: the two merge builds on the same plan, side by side in one process
#    (the first chain compared against session 32's figures, another machine);
# 2. chunks/plan_variants.py: other plans of the suite's GQA-16 shapes where pat trails.
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
rm -rf /tmp/r0; mkdir -p /tmp/r0
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0
timeout 280 python3 benchmarks/experiments/merge_slots/ab.py 1_1000 1_3256 1_16000 2_3256 \
  4_3256 8_3256 15_3256 1_3256@64,8 8_3256@64,8 > /tmp/r0/ab.jsonl 2>/tmp/r0/ab.err
timeout 250 python3 benchmarks/experiments/chunks/plan_variants.py 1,10_4096,416@64,8 \
  1,10_4096,416 1,4,16,512_1024,256,128,32@64,8 1,2,64_1024,256,256@64,8 \
  1,8,512_32,512,256@64,8 > /tmp/r0/plans.jsonl 2>/tmp/r0/plans.err
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
