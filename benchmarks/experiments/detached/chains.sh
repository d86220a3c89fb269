#!/usr/bin/env bash
# Session 32 (one H200, about 6-8 of the 30 device minutes): issue 2's figures at this commit.
# The last kernel benchmark with the suite ran at d05665a (session 23); the gate refit, the
# graph switch, the PDL merge of small batches and PrefixForest.no_sharing landed since.
# 1. bench_kernels.py, pat and FlashInfer decode: the acceptance shapes, the tree suite at the
#    four head configs, the served batches; then --summarize (summary.json, PNG).
# 2. The GPU suite at this commit.
# (Session 31's chain, run in session 32, is in 6e566f3; session 30's in ebbd329.)
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
rm -rf /tmp/r0; mkdir -p /tmp/r0/k
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0
timeout 420 python3 benchmarks/bench_kernels.py --out /tmp/r0/k --commit $PAT_COMMIT \
  --providers pat,flashinfer-decode --part acceptance --part suite --part served > /tmp/r0/k.out 2>&1
python3 benchmarks/bench_kernels.py --summarize --out /tmp/r0/k >> /tmp/r0/k.out 2>&1
timeout 400 python3 -m pytest -q -p no:cacheprovider -n 8 tests/test_kernels_gpu.py \
  tests/test_backend.py tests/test_graph_switch.py tests/test_lean_gate.py tests/test_kernels.py \
  > /tmp/r0/gpu-tests.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
