#!/usr/bin/env bash
# Session 23's chain (one H200), on GPU 0:
#   1. pat (the server's default, lean kernel off) then flashinfer on gsp 4 x 32 (last side by
#      side in session 20), which also runs bench_serving.py as split in 6d2772c on a server;
#   2. the kernel benchmark at every part, with every peer (SGLang triton, FlashInfer decode and
#      cascade), at this commit: the first full refresh since session 14 (session 18 ran pat
#      and FlashInfer decode only), and the providers' first run since their move to
#      providers.py (deea490).
# The Mooncake traces come in as .mooncake/*.jsonl.gz (carried), unpacked to /tmp/mc.
# Detached (setsid) so the chain outlives one device call. (Earlier chains: git history, e.g.
# 9814111 for session 22's, 850d61f for session 21's, f10982e for session 18's kernel run.)
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
mkdir -p /tmp/mc
for t in conversation synthetic; do gunzip -c .mooncake/${t}_trace.jsonl.gz > /tmp/mc/${t}_trace.jsonl; done
rm -rf /tmp/r0; mkdir -p /tmp/r0
P=pat,sglang-triton,flashinfer-decode,flashinfer-cascade
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0 PAT_MOONCAKE_DIR=/tmp/mc
python3 benchmarks/bench_serving.py --backends pat,flashinfer --workloads gsp-4x32-4096 --port 30400 --out /tmp/r0/s > /tmp/r0/s.out 2>&1
python3 benchmarks/bench_kernels.py --out /tmp/r0/k --commit $PAT_COMMIT --providers $P > /tmp/r0/k.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
