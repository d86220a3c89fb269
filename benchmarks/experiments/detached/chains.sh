#!/usr/bin/env bash
# Prepared in session 37 for the next session (one H200, about 23 device minutes), at the
# product state after session 37: private tails get chunk classes of their own when they hold
# most of the launch's work (978909e, ChunkRule.tile_classes). On the Mooncake replay's 3-4
# request batches (one ~260-token prefix shared by all) that took 21-27% off the kernel
# (tails_apart.py, session 37); the replay itself has not been served with it.
# 1. the GPU suite (the new rule changes plans; its tests ran on the CPU only);
# 2. tails_apart.py on the three Mooncake kernel batches whose plans the rule changed, not yet
#    measured (98 -> 416, 149 -> 417 and 141 -> 270 items), two small batches again, and
#    1,4_272,3000: the replay's prefix is ~260 tokens, whose pack the plan cuts into 256 + a
#    few (here 256 + 16), and a pack of 256 tokens was 0.7-1.4 us slower than no pack;
#    then profile_pat.py (pack kernel against merge) on 1,3_256,3000 and on 3_3256, the same
#    batch without the prefix, to say which part that is;
# 3. the Mooncake conversation replay, pat then flashinfer, two measured passes each, then
#    tpot_paired.py and (here, on the logs) steps_by_batch.py. Session 37 at 755683d: mean
#    TPOT 1.040x, decode part 1.026x, steps 5-6% over at 3-4 requests.
# Session 37's chain (the same replay at 755683d, then the GPU suite) is in 755683d.
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
timeout 240 python3 benchmarks/experiments/chunks/tails_apart.py mooncake:synthetic:0x64 \
  mooncake:conversation:5000x128 mooncake:synthetic:2000x128 1,4_256,3000 1,4_272,3000 \
  1,3_256,6000 \
  > /tmp/r0/tails_apart.jsonl 2>/tmp/r0/tails_apart.err
for w in 1,3_256,3000 3_3256; do timeout 90 python3 benchmarks/profile_pat.py --workload \$w; done \
  > /tmp/r0/profile.out 2>&1
python3 benchmarks/bench_serving.py --backends pat $W --port 30500 --out /tmp/r0/so > /tmp/r0/so.out 2>&1
python3 benchmarks/bench_serving.py --backends flashinfer $W --port 30600 --out /tmp/r0/sf > /tmp/r0/sf.out 2>&1
python3 benchmarks/tpot_paired.py /tmp/r0/so/mooncake-conversation-pat.jsonl \
  /tmp/r0/sf/mooncake-conversation-flashinfer.jsonl --out /tmp/r0/paired.json > /tmp/r0/paired.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
