#!/usr/bin/env bash
# Session 45's first chain (one H200, about 9 device minutes after the install), at a31ce54's
# product (G = 4 packs tails of up to 512 tokens where the packed units cover the SMs; the
# lean gate of 018c26f):
# 1. ../lean_gate/exp.py on the rows fit.py left out as stale (4,128_4096,256,
#    1,10_4096,416@64,8, 1,2,64_1024,256,256@64,8, gsp 4 x 32 at tails of 140 and 384), the
#    suite and acceptance rows whose choice the refit changed (the worked example,
#    1,2,64_1024,256,256, 1,8,512_32,2048,256, 1,10_4096,416 at (16, 8) and (32, 32),
#    8,16,32,... at (16, 8)) and the long-tail threshold's batches: then refit on the CPU
#    (fit.py results/session18.jsonl results/session24.jsonl results/session44.jsonl
#    results/session45.jsonl: a shape measured again replaces its earlier row);
# 2. ../tail_tile/run.py default against T0/256 (the rule before 85a39cc) on the threshold's
#    batches (136-192 packed units, where the packed split lost 2-7% in session 44) and on
#    gsp defaults' draws of fewer running requests (224, 192, 160, 128: the drain of a gsp
#    run), which decides the rule by waves (session44.md, section 2).
# random-ids (no shared items, so no change applies) and the equality check are left to a
# later chain. Install part1, part2 and part2b, then part3 with this chain.
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
rm -rf /tmp/r0; mkdir -p /tmp/r0
STALE="4,128_4096,256 1,10_4096,416@64,8 1,2,64_1024,256,256@64,8 gsp:4x32:4096+140:b128:s0
gsp:4x32:4096+384:b128:s0"
CHANGED="1,64_4096,512 1,2,64_1024,256,256 1,8,512_32,2048,256 1,10_4096,416@16,8
1,10_4096,416@32,32 8,16,32,256_256,128,64,32@16,8"
EDGE="1,68_4096,448 1,96_4096,320 1,96_4096,448 gsp:64x16:2048+320:b192:s0
gsp:64x16:2048+320:b128:s4"
MORE="1,64_4096,448 1,128_4096,448 gsp:64x16:2048+320:b224:s0 gsp:64x16:2048+256:b160:s2
gsp:64x16:2048+384:b192:s3"
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0
timeout 400 python3 benchmarks/experiments/lean_gate/exp.py $(echo $STALE $CHANGED $EDGE) \
  > /tmp/r0/gate.jsonl 2> /tmp/r0/gate.err
timeout 200 python3 benchmarks/experiments/tail_tile/run.py --variants default,T0/256 \
  $(echo $EDGE $MORE) > /tmp/r0/edge.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
