#!/usr/bin/env bash
# Session 20's run on one H200 (only `nvidia-h200` is lent), one chain on GPU 0:
#   1. the tests of the lean kernel (LeanKernel.queue_late_programs' test among them);
#   2. benchmarks/experiments/kept_whole/ with the late-queued variant;
#   3. the Mooncake conversation replay and gsp 4 x 32 on three servers one after the other on
#      the same GPU: pat as served by default (lean kernel off), flashinfer, and pat with
#      SGLANG_PAT_LEAN_KERNEL=1 (session 19 ran only the last two; this splits its 1.046x).
# The Mooncake trace must be in /tmp/mc (the install call unpacks it there: it does not fit
# in the call that carries part 2). Detached (setsid) so the chain outlives one device call.
# (Earlier chains: git history, e.g. 97c8e1d for session 19's, c1f72e8 for session 18's,
# 1a61640 for session 12's serving pair on two GPUs.)
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
[ -f /tmp/mc/conversation_trace.jsonl ] || { echo "no /tmp/mc/conversation_trace.jsonl"; exit 4; }
rm -rf /tmp/r0; mkdir -p /tmp/r0
W="--workloads gsp-4x32-4096,mooncake-conversation --mooncake-dir /tmp/mc"
KEPT="1,2,64_1024,256,256@32,32 1,1024_2048,32@64,8 256_1024@64,8 64_4096
1,4,16,512_1024,256,128,32@32,32 8,16,32,256_256,128,64,32@16,8 1,10_4096,416 4,128_4096,256
1,64_4096,512 1,256_2048,32"
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0
python3 -m pytest -q -p no:cacheprovider tests/test_lean_gate.py tests/test_kernels.py -k 'late_programs or lean or gate' > /tmp/r0/tests.out 2>&1
python3 benchmarks/experiments/kept_whole/exp.py $(echo $KEPT) > /tmp/r0/kept_whole.jsonl 2> /tmp/r0/kept_whole.err
python3 benchmarks/bench_serving.py --backends pat $W --port 30400 --out /tmp/r0/sp > /tmp/r0/sp.out 2>&1
python3 benchmarks/bench_serving.py --backends flashinfer $W --port 30500 --out /tmp/r0/sf > /tmp/r0/sf.out 2>&1
SGLANG_PAT_LEAN_KERNEL=1 python3 benchmarks/bench_serving.py --backends pat $W --port 30600 --out /tmp/r0/sl > /tmp/r0/sl.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
