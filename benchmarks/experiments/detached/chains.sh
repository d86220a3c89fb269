#!/usr/bin/env bash
# Branch merge-slots, session 33 (one H200, about 5 device minutes), after its first chain
# (results/2026-12-01-NVIDIA-H200/session33-merge-slots/: profile, kernel benchmark, GPU suite):
# 1. merge_slots/ab.py: the two merge builds on the same plan, side by side in one process
#    (the first chain compared against session 32's figures, another machine);
# 2. chunks/plan_variants.py: other plans of the suite's GQA-16 shapes where pat trails.
# Then (chain 3, below): plan_variants.py with PackScheduler.min_shared_chunk_tokens on the
# shapes whose plans it changes (small batches sharing one prefix; CPU check in session33.md),
# and the merge A/B on four more small batches.
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
rm -rf /tmp/r0; mkdir -p /tmp/r0
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0
timeout 330 python3 benchmarks/experiments/chunks/plan_variants.py 1,10_4096,416 \
  1,10_4096,416@64,8 1,10_4096,416@16,8 1,6_4096,416 1,8_2048,64 1,8_8192,416 1,12_4096,64 \
  1,16_4096,416 1,24_2048,416 1,32_1024,416 1,32_4096,64 1,4_8192,416@64,8 \
  1,16_4096,416@64,8 4,16_2048,100@64,8 1,32_4096,416@16,8 1,12_8192,416@16,8 \
  1,2,64_1024,256,256@16,8 > /tmp/r0/plans2.jsonl 2>/tmp/r0/plans2.err
timeout 100 python3 benchmarks/experiments/merge_slots/ab.py 2_1000 1_2000 2_8000 3_3256 \
  > /tmp/r0/ab2.jsonl 2>/tmp/r0/ab2.err
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
