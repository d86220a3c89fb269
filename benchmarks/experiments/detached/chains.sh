#!/usr/bin/env bash
# Branch merge-slots, session 33 (one H200, about 5 device minutes), after its first chain
# (results/2026-12-01-NVIDIA-H200/session33-merge-slots/: profile, kernel benchmark, GPU suite):
# 1. merge_slots/ab.py: the two merge builds on the same plan, side by side in one process
#    (the first chain compared against session 32's figures, another machine);
# 2. chunks/plan_variants.py: other plans of the suite's GQA-16 shapes where pat trails.
# Chain 3: : plan_variants.py with PackScheduler.min_shared_chunk_tokens on the
# shapes whose plans it changes (small batches sharing one prefix; CPU check in session33.md),
# and the merge A/B on four more small batches.
# Chain 4 (below): the GPU suite at the product state (one request merges its slots at once,
# MERGE_SLOTS_AT_ONCE_MAX_BATCH); the merge A/B on shared shapes whose shared floor of 512
# won or lost (is it the merge?); plan_variants with the server's partial budget on the three
# 8,192-token prefixes (chain 3's defaults fell back to no sharing) and three acceptance shapes.
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
rm -rf /tmp/r0; mkdir -p /tmp/r0
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0
timeout 300 python3 -m pytest -q -p no:cacheprovider -n 8 tests/test_kernels_gpu.py \
  tests/test_backend.py tests/test_graph_switch.py tests/test_lean_gate.py tests/test_kernels.py \
  > /tmp/r0/gpu-tests.out 2>&1
timeout 100 python3 benchmarks/experiments/merge_slots/ab.py 1,10_4096,416 \
  1,32_4096,416@16,8 1,32_4096,64 1,8_2048,64 > /tmp/r0/ab3.jsonl 2>/tmp/r0/ab3.err
timeout 240 python3 benchmarks/experiments/chunks/plan_variants.py 1,8_8192,416 \
  1,4_8192,416@64,8 1,12_8192,416@16,8 1,64_4096,512 1,256_2048,32 4,128_4096,256 \
  > /tmp/r0/plans3.jsonl 2>/tmp/r0/plans3.err
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
