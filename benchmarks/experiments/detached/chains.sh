#!/usr/bin/env bash
# Prepared in session 43 for the next session (one H200, about 6 device minutes after the
# install), at the product state since session 41 (fine private chunks on by default,
# e901cff):
# 1. ../tail_tile/run.py at G = 4 (32 q / 8 KV heads, Llama-3-8B's), on gsp 4 x 32's batch at
#    four points of its decode (tails of 128-320 tokens) and gsp defaults' shuffled batch at
#    two, and three suite trees with 256-token tails: whether the packed tails (four
#    requests' tails of up to 256 tokens a unit, T0/256, the default at G = 4) still beat
#    one-request items (T0/128: tails over 128 tokens whole, one request a unit) and eight a
#    unit (T1/256) now that the lean kernel runs the private part beside the shared one
#    (session 14 measured the limit before the lean kernel: packed 5% faster on gsp's
#    batch). T0/128 moves 32 of gsp 4 x 32's 48 items at tails of 192 and 256 tokens, 128
#    of the 1,8,512 trees' 160 and 16 of 1,2,64_1024,256,256's 28 (CPU plans, session 43);
#    the 128-token tails are packed by T0/128 too, the 320-token ones by no variant.
#    The target it serves: issue 4's gsp rows (1.921x and 1.349x in session 43);
# 2. issue 2's kernel benchmark on the Mooncake batches (pat and FlashInfer decode), which
#    session 43 did not carry the traces for (all four last run in session 23; session 41
#    timed the one the fine chunks moved).
# Install part1, part2 and part2b, then part3 with this chain (.mooncake carried with part3:
# ../../../README.md, "On this workplace's H200"; device_env.sh installs the project only
# where sglang is).
# Session 42's chain (whole_or_halves.py, gsp and random-ids served by pat and flashinfer,
# the equality check), which ran in session 43 at bb462f3
# (../../results/2026-12-02-NVIDIA-H200/session43.md), is in bb462f3.
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
mkdir -p /tmp/mc
for t in conversation synthetic; do gunzip -c .mooncake/${t}_trace.jsonl.gz > /tmp/mc/${t}_trace.jsonl; done
rm -rf /tmp/r0; mkdir -p /tmp/r0
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0 PAT_MOONCAKE_DIR=/tmp/mc
timeout 420 python3 benchmarks/experiments/tail_tile/run.py --variants default,T0/128,T1/256 \
  4,128_4096,128 4,128_4096,192 4,128_4096,256 4,128_4096,320 gsp:64x16:2048+178:b256:s0 \
  gsp:64x16:2048+256:b256:s0 1,2,64_1024,256,256 1,8,512_32,512,256 1,8,512_512,512,256 \
  > /tmp/r0/tails.out 2>&1
timeout 240 python3 benchmarks/bench_kernels.py --out /tmp/r0/k --commit \$PAT_COMMIT \
  --providers pat,flashinfer-decode --part mooncake > /tmp/r0/k.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
