#!/usr/bin/env bash
# Prepared for session 21 (one H200, ~26 of the 30 device minutes), one chain on GPU 0:
#   1. the GPU tests at this commit (the decoder and backend changed in session 20: 5b531ce);
#   2. the serving comparison with the lean kernel on in the server (SGLANG_PAT_LEAN_KERNEL=1),
#      now that graphs of fewer than 16 requests capture the one launch
#      (LeanKernel.min_graph_batch), then flashinfer's server on the same GPU: gsp 4 x 32,
#      gsp defaults, random-ids and the Mooncake conversation replay. The lean kernel can become
#      the server's default if Mooncake's mean TPOT comes back to ~1.01x (session 20: 1.050x
#      with the pair in every graph, 1.010x with the lean kernel off) and nothing else loses.
# The Mooncake trace must be in /tmp/mc (the install call unpacks it there: it does not fit
# in the call that carries part 2). Detached (setsid) so the chain outlives one device call.
# (Earlier chains: git history, e.g. 7deb495 for session 20's three servers, 97c8e1d for
# session 19's, c1f72e8 for session 18's, 1a61640 for session 12's pair on two GPUs.)
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
[ -f /tmp/mc/conversation_trace.jsonl ] || { echo "no /tmp/mc/conversation_trace.jsonl"; exit 4; }
rm -rf /tmp/r0; mkdir -p /tmp/r0
W="--workloads gsp-4x32-4096,gsp-64x16-2048,random-ids-2048-256,mooncake-conversation --mooncake-dir /tmp/mc"
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0
python3 -m pytest -q -p no:cacheprovider tests/test_kernels_gpu.py tests/test_backend.py tests/test_lean_gate.py tests/test_kernels.py > /tmp/r0/tests.out 2>&1
SGLANG_PAT_LEAN_KERNEL=1 python3 benchmarks/bench_serving.py --backends pat $W --port 30400 --out /tmp/r0/sl > /tmp/r0/sl.out 2>&1
python3 benchmarks/bench_serving.py --backends flashinfer $W --port 30500 --out /tmp/r0/sf > /tmp/r0/sf.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
