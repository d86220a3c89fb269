#!/usr/bin/env bash
# Session 18's runs on one H200 (only `nvidia-h200` was lent), one chain on GPU 0.
# Second run (this file): the gated lean kernel as the default (sglang_pat/lean_gate.py):
#   1. the kernel benchmark's acceptance shapes, suite at every head config and served batches
#      for pat (the default, gated), pat-one-launch (no lean kernel) and FlashInfer decode;
#   2. the GPU tests (the gated, forced and off lean kernel included).
# The first run (ba023bf's version of this file) measured the opt-in lean kernel: the kernel
# benchmark, the GPU tests and the in-server profiles of gsp 4 x 32 with it and without.
# Detached (setsid) so the chain outlives one device call. (Earlier chains: git history, e.g.
# a371eb0 for session 17's two-GPU one, ec802d3 for session 16's.)
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
rm -rf /tmp/r0; mkdir -p /tmp/r0
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0
python3 benchmarks/bench_kernels.py --out /tmp/r0/k --commit $PAT_COMMIT --providers pat,pat-one-launch,flashinfer-decode --part acceptance --part suite --part served > /tmp/r0/k.out 2>&1
python3 -m pytest -q -p no:cacheprovider tests/test_kernels_gpu.py tests/test_backend.py tests/test_lean_gate.py tests/test_kernels.py > /tmp/r0/tests.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
