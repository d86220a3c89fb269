#!/usr/bin/env bash
# Branch merge-slots, prepared in session 32 for the next session (one H200, about 6 device
# minutes): the small-batch merge build (kernels/pack_decode.py _merge_slots_kernel, chosen by
# the decoder under PDL_MAX_BATCH requests) against main's, where session 32 found one
# request's merge of 13 slots to be 3.1 of its 16.9 us (results/2026-12-01-NVIDIA-H200/
# session32.md, section 5).
# 1. profile_pat.py on small private batches and gsp 4 x 32's batch (which keeps main's merge);
#    compare with session32-kernels/profile-small.txt (main's merge, same method).
# 2. bench_kernels.py, pat and FlashInfer decode, on the same small batches (kernels-custom.csv).
# 3. The GPU suite.
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
rm -rf /tmp/r0; mkdir -p /tmp/r0/c
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0
timeout 150 python3 benchmarks/profile_pat.py --workload 1_1000 --workload 1_3256 \
  --workload 2_3256 --workload 4_3256 --workload 8_3256 --workload 12_3256 \
  --workload 4,128_4096,256 > /tmp/r0/profile.out 2>&1
timeout 150 python3 benchmarks/bench_kernels.py --out /tmp/r0/c --commit $PAT_COMMIT \
  --providers pat,flashinfer-decode --workload 1_1000 --workload 1_3256 --workload 2_3256 \
  --workload 4_3256 --workload 8_3256 --workload 12_3256 > /tmp/r0/c.out 2>&1
timeout 400 python3 -m pytest -q -p no:cacheprovider -n 8 tests/test_kernels_gpu.py \
  tests/test_backend.py tests/test_graph_switch.py tests/test_lean_gate.py tests/test_kernels.py \
  > /tmp/r0/gpu-tests.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
