#!/usr/bin/env bash
# Prepared in session 45 for the next session (one H200, about 4 device minutes after the
# install), at e841059's product (a31ce54's): ../merge_variants/run.py, the merge with 4-32
# heads a program and 1-4 slots loaded at once, swapped into the product's decoder. The
# shapes: gsp 4 x 32's batch (three tail lengths), gsp defaults' batch, the worked example,
# the wide fan-out and two suite trees. The merge took 4.4 us a layer of gsp 4 x 32's 65.8
# in session 45's in-server profile (about 1.45 TB/s). 2 us a layer less there would be about
# 0.9% of the step, most of what the 2x target lacks (session45.md, section 3). If a variant
# wins there without losing elsewhere, it replaces _merge_states_kernel's slot loop; then the
# GPU suite, and gsp served by pat and flashinfer.
# Install part1, part2 and part2b, then part3 with this chain. Session 45's own chains are in
# 5e04859 (exp.py and tail_tile at a31ce54) and db95fef (pat's profile).
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
rm -rf /tmp/r0; mkdir -p /tmp/r0
SHAPES="4,128_4096,256 gsp:4x32:4096+140:b128:s0 gsp:4x32:4096+384:b128:s0
gsp:64x16:2048+256:b256:s0 1,64_4096,512 1,256_2048,32 1,8,512_32,2048,256
2,8,16,256_256,128,64,32"
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0
timeout 400 python3 benchmarks/experiments/merge_variants/run.py $(echo $SHAPES) \
  > /tmp/r0/merge.jsonl 2> /tmp/r0/merge.err
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
