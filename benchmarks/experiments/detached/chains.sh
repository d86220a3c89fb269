#!/usr/bin/env bash
# Prepared for session 28 (one H200, about 20 of the 30 device minutes), on GPU 0: the server's
#   new default (the lean kernel on, e9491be) checked. Every GPU test at that tree; then the
#   kernels on Mooncake-like small batches (1-8 requests, 2.5-8k tokens: pat's step at 1-7
#   running was 2.3% over flashinfer's in session 27, 5.27 against 5.15 ms; last measured per
#   kernel at 64fefaa); the equality check in its four one-GPU variants (pat as served now
#   against triton, every pat layer verified, plus the negative control; --tp 2 needs two
#   GPUs); then pat as served and flashinfer again on gsp 4 x 32 and Mooncake conversation
#   (session 27's Mooncake margin: 1.017x against the 1.03x target).
# Also: which cache the first server's ~190 s go to. Session 27's first pat server spent 198 s
#   in "Capture target prefill CUDA graph" (the next servers 9 s), not in pat's kernels:
#   caches.txt lists, after each step, every cache directory's size and files newer than
#   the chain's start, so that a later session can carry the one that matters. (Sessions
#   26-27 carried pat's own compiled kernels, triton_cache.sh, removed after session 27: at most
#   ~13 s of that server's start, git history at 11aee86.)
# Session 27's chain (e212491): the graph switch's GPU tests, the lean, lean-off and
#   flashinfer servers on all four workloads, node_toggle.py with the baselines swapped.
# Session 26's chain (778150f): every GPU test, node_toggle.py, the lean server with the
#   switch, a lean server with SGLANG_PAT_VERIFY=1, the default server, flashinfer.
# The Mooncake traces come in as .mooncake/*.jsonl.gz (carried), unpacked to /tmp/mc.
# Detached (setsid) so the chain outlives one device call. (Earlier chains: git history, e.g.
# e212491 for session 27's, 778150f for session 26's, 065fd1d for session 23's, f10982e for
# session 18's kernel run.)
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
mkdir -p /tmp/mc
for t in conversation synthetic; do gunzip -c .mooncake/${t}_trace.jsonl.gz > /tmp/mc/${t}_trace.jsonl; done
rm -rf /tmp/r0; mkdir -p /tmp/r0
touch /tmp/chain-mark
W="--workloads gsp-4x32-4096,mooncake-conversation --mooncake-dir /tmp/mc"
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0 PAT_MOONCAKE_DIR=/tmp/mc
caches() {
  echo \"== after \$1\"
  du -sh ~/.cache/* ~/.triton /tmp/torchinductor_* /tmp/site/flashinfer* 2>/dev/null
  find ~ /tmp -xdev -type f -newer /tmp/chain-mark -not -path '/tmp/r0/*' -not -path '/tmp/mc/*' \
    2>/dev/null | awk -F/ '{print \"/\"\$2\"/\"\$3\"/\"\$4}' | sort | uniq -c | sort -rn | head -15
}
caches start > /tmp/r0/caches.txt 2>&1
python3 -m pytest -q -p no:cacheprovider --durations=10 -n 8 tests/test_kernels_gpu.py tests/test_backend.py tests/test_graph_switch.py tests/test_lean_gate.py tests/test_kernels.py > /tmp/r0/gpu-tests.out 2>&1
caches gpu-tests >> /tmp/r0/caches.txt 2>&1
python3 benchmarks/bench_kernels.py --out /tmp/r0/k --providers pat,pat-one-launch,flashinfer-decode --workload 1_3300 --workload 2_8000 --workload 4_8000 --workload 6_3300 --workload 8_2500 > /tmp/r0/k.out 2>&1
python3 benchmarks/check_equality.py --out /tmp/r0/eq --variant default --variant eager --variant no-overlap --variant page64 --negative-control 1.05 --parallel 5 > /tmp/r0/eq.out 2>&1
caches check_equality >> /tmp/r0/caches.txt 2>&1
python3 benchmarks/bench_serving.py --backends pat $W --port 30500 --out /tmp/r0/so > /tmp/r0/so.out 2>&1
python3 benchmarks/bench_serving.py --backends flashinfer $W --port 30600 --out /tmp/r0/sf > /tmp/r0/sf.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
