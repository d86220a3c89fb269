#!/usr/bin/env bash
# Prepared in session 30 for the next session (one H200, about 15-18 of the 30 device minutes:
# the first server spends about 4 minutes capturing prefill graphs),
# on GPU 0: where pat's small-batch decode steps lose to flashinfer's.
# Session 30's Mooncake replay (session30.md in the results): pat's ordinary decode gaps sum
# to 1.029x flashinfer's (95%: 1.025-1.032), a 1% margin under the 1.03x mean TPOT target.
# The server logs put pat's step 1.7% over at one request, level at two, and 5-6% over at three
# and four. The kernel benchmark has pat only 1.5 us a layer behind at 4 x 8000 (about 50 us of
# a 5.3 ms step), and the replay's per-size medians mix different requests on the two servers.
# So, at fixed batches of private requests of about the replay's length:
# 1. bench_kernels, pat and FlashInfer decode, the same shapes at their mean length (3,256);
# 2. pat's server, then flashinfer's, each on random-ids-{1,2,3,4,8}x3000 (3,000 tokens in,
#    512 out, two waves of n) through server_profile/run.py: each workload's row (decode tok/s
#    at full batch, so the step time) and a 24-step torch-profiler trace of the GPU kernels
#    (attention per layer, GEMMs, the rest, idle per step).
# If the servers' steps differ by more than the kernels' attention does, the rest of the step
# (idle, host waits, per-step ops) is where pat's small-batch time goes, and the traces say
# which. Session 31 added gsp 4 x 32 to both servers (the step's split at batch 128, last
# profiled in session 16, before the lean kernel and the PDL merge) and, last, the GPU suite
# (9f10c86's PrefixForest.no_sharing had run on the CPU only).
# (Session 29's chain, run in session 30, is in a07c801; session 28's in 99176cc.)
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
rm -rf /tmp/r0; mkdir -p /tmp/r0
W=gsp-4x32-4096,random-ids-1x3000,random-ids-2x3000,random-ids-3x3000,random-ids-4x3000,random-ids-8x3000
K="--workload 1_3256 --workload 2_3256 --workload 3_3256 --workload 4_3256 --workload 8_3256"
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0
python3 benchmarks/bench_kernels.py --out /tmp/r0/k --providers pat,flashinfer-decode $K > /tmp/r0/k.out 2>&1
python3 benchmarks/experiments/server_profile/run.py --backend pat --workloads $W --port 30500 --out /tmp/r0/pp > /tmp/r0/pp.out 2>&1
python3 benchmarks/experiments/server_profile/run.py --backend flashinfer --workloads $W --port 30600 --out /tmp/r0/pf > /tmp/r0/pf.out 2>&1
python3 -m pytest -q -p no:cacheprovider -n 8 tests/test_kernels_gpu.py tests/test_backend.py tests/test_graph_switch.py tests/test_lean_gate.py tests/test_kernels.py > /tmp/r0/gpu.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
