#!/usr/bin/env bash
# Prepared for session 21 (one H200, ~24 of the 30 device minutes), one chain on GPU 0:
#   1. the GPU tests at this commit (the decoder and backend changed in session 20: 5b531ce);
#   2. benchmarks/experiments/two_shared/: the lean kernel's shared part on two programs per SM
#      beside one private program, against today's pair and the one launch (the lead toward
#      gsp 4 x 32's 2x);
#   3. pat with the lean kernel on in the server (SGLANG_PAT_LEAN_KERNEL=1), graphs of fewer
#      than 16 requests now capturing the one launch (LeanKernel.min_graph_batch), then
#      flashinfer's server, on gsp 4 x 32 and the Mooncake conversation replay. The lean
#      kernel can become the server's default if Mooncake's mean TPOT comes back to ~1.01x
#      (session 20: 1.050x with the pair in every graph, 1.010x with the lean kernel off);
#      gsp defaults and random-ids would then need a run too.
# The Mooncake trace must be in /tmp/mc (the install call unpacks it there: it does not fit
# in the call that carries part 2). Detached (setsid) so the chain outlives one device call.
# (Earlier chains: git history, e.g. 7deb495 for session 20's three servers, 97c8e1d for
# session 19's, c1f72e8 for session 18's, 1a61640 for session 12's pair on two GPUs.)
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
[ -f /tmp/mc/conversation_trace.jsonl ] || { echo "no /tmp/mc/conversation_trace.jsonl"; exit 4; }
rm -rf /tmp/r0; mkdir -p /tmp/r0
W="--workloads gsp-4x32-4096,mooncake-conversation --mooncake-dir /tmp/mc"
TWO="4,128_4096,256 1,64_4096,512 1,128_4096,384 1,256_2048,32 1,4,16,512_1024,256,128,32
64,256_2048,178 1,10_4096,416"
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0
python3 -m pytest -q -p no:cacheprovider tests/test_kernels_gpu.py tests/test_backend.py tests/test_lean_gate.py tests/test_kernels.py > /tmp/r0/tests.out 2>&1
python3 benchmarks/experiments/two_shared/exp.py $(echo $TWO) > /tmp/r0/two_shared.jsonl 2> /tmp/r0/two_shared.err
SGLANG_PAT_LEAN_KERNEL=1 python3 benchmarks/bench_serving.py --backends pat $W --port 30400 --out /tmp/r0/sl > /tmp/r0/sl.out 2>&1
python3 benchmarks/bench_serving.py --backends flashinfer $W --port 30500 --out /tmp/r0/sf > /tmp/r0/sf.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
