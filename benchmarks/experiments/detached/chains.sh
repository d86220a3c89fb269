#!/usr/bin/env bash
# Session 26's chain (one H200, about 27 of the 30 device minutes: the last step may not
#   finish; poll.sh returns what exists), on GPU 0, in order of priority for the graph switch
#   (sglang_pat/graph_switch.py, session 25, never run on a GPU before): every GPU test in one
#   run; node_toggle.py's `switched` variant (does a kept-whole plan now take the one launch's
#   time, a split one the pair's?); the lean server with the switch on gsp 4 x 32, gsp
#   defaults and random-ids; one lean server with SGLANG_PAT_VERIFY=1 on gsp 4 x 32 (its
#   throughput is not a result: the log's `pat verify` lines check that switched graphs
#   compute what triton does); the default server on the two gsp workloads; flashinfer on all
#   three (whether the lean kernel can be the server's default).
# Session 25's chain (5c19f59): node_toggle.py, then the lean, default and flashinfer servers
#   on the two gsp workloads, then the GPU tests.
# Session 24's chain (220f806) was the same three servers with session 18's gate, then the
#   GPU tests.
# Session 23's chain (ea7327b): gsp 4 x 32 on pat and flashinfer through the split
#   bench_serving.py, then the kernel benchmark at every part with every peer.
# The Mooncake traces come in as .mooncake/*.jsonl.gz (carried), unpacked to /tmp/mc.
# After the pat servers, the Triton kernels they compiled are saved to /tmp/triton-cache.tgz
#   (triton_cache.sh; poll.sh returns it beside r.tgz): carried as .triton-cache.tgz, a later
#   machine starts its first pat server without the ~3 minutes of compiling (device_env.sh).
# Detached (setsid) so the chain outlives one device call. (Earlier chains: git history, e.g.
# 065fd1d for session 23's, 9814111 for session 22's, f10982e for session 18's kernel run.)
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
mkdir -p /tmp/mc
for t in conversation synthetic; do gunzip -c .mooncake/${t}_trace.jsonl.gz > /tmp/mc/${t}_trace.jsonl; done
rm -rf /tmp/r0; mkdir -p /tmp/r0
W="--workloads gsp-4x32-4096,gsp-64x16-2048,random-ids-2048-256"
W2="--workloads gsp-4x32-4096,gsp-64x16-2048"  # random-ids: lean against flashinfer only (time)
# The GPU tests in 8 processes when pytest-xdist came along (.whl, device_env.sh): session 25's
# 184 tests took 510 s in one, much of it compiling Triton specializations on one core.
T="-q -p no:cacheprovider --durations=15"
python3 -c "import xdist" 2>/dev/null && T="$T -n 8"
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0 PAT_MOONCAKE_DIR=/tmp/mc
python3 -m pytest $T tests/test_kernels_gpu.py tests/test_backend.py tests/test_graph_switch.py tests/test_lean_gate.py tests/test_kernels.py > /tmp/r0/gpu-tests.out 2>&1
python3 benchmarks/experiments/kept_whole/node_toggle.py gsp:64x16:2048+250:b256:s0 gsp:64x16:2048+128:b128:s4 1,2,64_1024,256,256@32,32 64_4096 4,128_4096,256 > /tmp/r0/node_toggle.jsonl 2> /tmp/r0/node_toggle.err
touch /tmp/triton-mark
SGLANG_PAT_LEAN_KERNEL=1 python3 benchmarks/bench_serving.py --backends pat $W --port 30400 --out /tmp/r0/sl > /tmp/r0/sl.out 2>&1
SGLANG_PAT_LEAN_KERNEL=1 SGLANG_PAT_VERIFY=1 python3 benchmarks/bench_serving.py --backends pat --workloads gsp-4x32-4096 --port 30700 --out /tmp/r0/sv > /tmp/r0/sv.out 2>&1
python3 benchmarks/bench_serving.py --backends pat $W2 --port 30500 --out /tmp/r0/so > /tmp/r0/so.out 2>&1
bash benchmarks/experiments/detached/triton_cache.sh save /tmp/triton-cache.tgz /tmp/triton-mark > /tmp/r0/triton-cache.out 2>&1
python3 benchmarks/bench_serving.py --backends flashinfer $W --port 30600 --out /tmp/r0/sf > /tmp/r0/sf.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
