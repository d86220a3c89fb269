#!/usr/bin/env bash
# Session 19's run on one H200 (only `nvidia-h200` is lent), one chain on GPU 0:
#   1. the serving comparison with the gated lean kernel on in the server
#      (SGLANG_PAT_LEAN_KERNEL=1), then flashinfer's server on the same GPU: gsp 4 x 32,
#      gsp defaults, random-ids and the Mooncake conversation replay;
#   2. the GPU tests;
#   3. benchmarks/experiments/kept_whole/: what a plan the gate keeps whole pays under graphs.
# The Mooncake trace must be in /tmp/mc (the install call unpacks it there: it does not fit
# in the call that carries part 2). Detached (setsid) so the chain outlives one device call.
# (Earlier chains: git history, e.g. c1f72e8 for session 18's, 1a61640 for session 12's
# serving pair on two GPUs.)
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
[ -f /tmp/mc/conversation_trace.jsonl ] || { echo "no /tmp/mc/conversation_trace.jsonl"; exit 4; }
rm -rf /tmp/r0; mkdir -p /tmp/r0
W="--workloads gsp-4x32-4096,gsp-64x16-2048,random-ids-2048-256,mooncake-conversation --mooncake-dir /tmp/mc"
KEPT="1,2,64_1024,256,256@32,32 1,4,16,512_1024,256,128,32@32,32 8,16,32,256_256,128,64,32@16,8
1,10_4096,416 1,1024_2048,32@64,8 256_1024@64,8 64_4096"
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0
SGLANG_PAT_LEAN_KERNEL=1 python3 benchmarks/bench_serving.py --backends pat $W --port 30400 --out /tmp/r0/sp > /tmp/r0/sp.out 2>&1
python3 benchmarks/bench_serving.py --backends flashinfer $W --port 30500 --out /tmp/r0/sf > /tmp/r0/sf.out 2>&1
python3 -m pytest -q -p no:cacheprovider tests/test_kernels_gpu.py tests/test_backend.py tests/test_lean_gate.py tests/test_kernels.py > /tmp/r0/tests.out 2>&1
python3 benchmarks/experiments/kept_whole/exp.py $(echo $KEPT) > /tmp/r0/kept_whole.jsonl 2> /tmp/r0/kept_whole.err
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
