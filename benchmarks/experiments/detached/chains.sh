#!/usr/bin/env bash
# Prepared in session 38 for the next session (one H200, about 26 device minutes): is
# PackScheduler.fine_private_chunks (chunks between the powers of two for private-only
# classes, off by default) worth turning on? Session 38 measured forced 640/768-token chunks
# 7-9% faster on three small batches (fine_chunks.py); on the CPU the knob moves 107 of
# plan_digests.py's 760 batches (86 of them Mooncake batches, the benchmark's served
# 1,3_256,3000 and 1,4_256,3000, small private batches), none of issue 2's acceptance or suite.
# 1. the GPU suite (session 38 added CPU tests of the knob, kernel and backend);
# 2. the Mooncake conversation replay, pat with SGLANG_PAT_FINE_CHUNKS=1, then flashinfer,
#    two measured passes each; tpot_paired.py. Session 38 at cbe6768 (knob off): mean TPOT
#    1.047x (one 3-token request decided pass 1), decode part 1.013x;
# 3. last, as time allows (one JSON line a shape): fine_chunks.py (default / fine / forced)
#    on batches whose plans the knob moves. The shared:256:... ones are three of the
#    replay's own batches of 10-11 requests (session 38, read off its client timeline:
#    experiments/replay_timeline/timeline.py), where pat's steps ran 4-8% over
#    flashinfer's; the third is one the knob leaves as it is (a control).
# Here afterwards: steps_by_batch.py on the two server logs; tpot_paired's deciding requests.
# Session 38's chain (GPU suite, tails_apart.py, profile_pat.py, the replay) is in cbe6768.
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
SGLANG_PAT_FINE_CHUNKS=1 python3 benchmarks/bench_serving.py --backends pat $W --port 30500 \
  --out /tmp/r0/so > /tmp/r0/so.out 2>&1
python3 benchmarks/bench_serving.py --backends flashinfer $W --port 30600 --out /tmp/r0/sf > /tmp/r0/sf.out 2>&1
python3 benchmarks/tpot_paired.py /tmp/r0/so/mooncake-conversation-pat.jsonl \
  /tmp/r0/sf/mooncake-conversation-flashinfer.jsonl --out /tmp/r0/paired.json > /tmp/r0/paired.out 2>&1
timeout 420 python3 benchmarks/experiments/chunks/fine_chunks.py 1,3_256,3000 1,4_256,3000 \
  shared:256:583,1101,3173,3173,3432,4986,6022,6799,7058,7835 \
  shared:256:570,1088,3160,3160,3419,3937,4973,6009,6786,7045,7822 \
  shared:256:571,571,1351,2651,2911,3431,3951,4731,5771,7331 \
  6_3300 10_4000 2_6000 mooncake:conversation:0x4 mooncake:conversation:2000x4 \
  mooncake:conversation:2800x16 mooncake:conversation:2400x64 1,9_256,5000 1,10_256,4000 \
  > /tmp/r0/fine_chunks.jsonl 2>/tmp/r0/fine_chunks.err
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
