#!/usr/bin/env bash
# Session 27's chain (one H200, about 26 of the 30 device minutes), on GPU 0: whether the
#   lean kernel with the graph switch can be the server's default. First the GPU tests of the
#   graph switch (a590d8d's node_enabled() had run on the CPU only), then the three servers
#   side by side on all four workloads (session 26 ran random-ids and Mooncake on the lean
#   and flashinfer servers only, or not at all), then node_toggle.py on gsp 4 x 32's batches
#   (the switched graph's 5-8 us there: does the flush-only baseline explain it?) last, so
#   that running out of device time loses only it.
# Session 26's chain (778150f): every GPU test, node_toggle.py, the lean server with the
#   switch, a lean server with SGLANG_PAT_VERIFY=1, the default server, flashinfer.
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
# 778150f for session 26's, 065fd1d for session 23's, 9814111 for session 22's, f10982e for session
# 18's kernel run.)
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
mkdir -p /tmp/mc
for t in conversation synthetic; do gunzip -c .mooncake/${t}_trace.jsonl.gz > /tmp/mc/${t}_trace.jsonl; done
rm -rf /tmp/r0; mkdir -p /tmp/r0
W="--workloads gsp-4x32-4096,gsp-64x16-2048,random-ids-2048-256,mooncake-conversation --mooncake-dir /tmp/mc"
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0 PAT_MOONCAKE_DIR=/tmp/mc
touch /tmp/triton-mark
python3 -m pytest -q -p no:cacheprovider -n 4 tests/test_graph_switch.py tests/test_kernels_gpu.py::test_switched_graph_replays_each_plan_in_its_form > /tmp/r0/gpu-tests.out 2>&1
SGLANG_PAT_LEAN_KERNEL=1 python3 benchmarks/bench_serving.py --backends pat $W --port 30400 --out /tmp/r0/sl > /tmp/r0/sl.out 2>&1
bash benchmarks/experiments/detached/triton_cache.sh save /tmp/triton-cache.tgz /tmp/triton-mark > /tmp/r0/triton-cache.out 2>&1
python3 benchmarks/bench_serving.py --backends pat $W --port 30500 --out /tmp/r0/so > /tmp/r0/so.out 2>&1
python3 benchmarks/bench_serving.py --backends flashinfer $W --port 30600 --out /tmp/r0/sf > /tmp/r0/sf.out 2>&1
python3 benchmarks/experiments/kept_whole/node_toggle.py gsp:4x32:4096+128:b128:s0 gsp:4x32:4096+200:b128:s1 4,128_4096,256 1,2,64_1024,256,256@32,32 > /tmp/r0/node_toggle.jsonl 2> /tmp/r0/node_toggle.out
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
