#!/usr/bin/env bash
# Session 44's chain, at the long packed tails and the refitted lean gate (one H200, about
# 15 device minutes after the install): at G = 4 tails of 257-512 tokens are packed four a
# unit where the units cover the SMs (TileMenu.max_packed_long_tail), and LeanGate weighs a
# packed unit apart from a one-request one (lean_gate.py, fitted on session 44's 18 batches
# besides sessions 18 and 24's).
# 1. the GPU suite (the new packed-tail shapes against SGLang's triton decode included);
# 2. pat and flashinfer served on gsp 4 x 32 and gsp defaults, whose decodes reach tails of
#    257-384 tokens in their second half (issue 4's 2x and 1.5x rows; 1.921x and 1.349x in
#    session 43). random-ids (no shared items, so neither change applies) is not served;
# 3. issue 2's kernel benchmark, acceptance and suite (the gate chooses otherwise on seven
#    suite and acceptance shapes, the worked example among them).
# Install part1, part2 and part2b, then part3 with this chain (device_env.sh installs the
# project only where sglang is).
# Session 43's chain (../tail_tile/run.py at G = 4, the Mooncake kernel batches), which ran
# in session 44 at 0acf3cb (../../results/2026-12-02-NVIDIA-H200/session44.md), is in 0acf3cb.
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
rm -rf /tmp/r0; mkdir -p /tmp/r0
W="--workloads gsp-4x32-4096,gsp-64x16-2048"
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0
timeout 330 python3 -m pytest -q -p no:cacheprovider -n 8 tests/test_kernels_gpu.py \
  tests/test_backend.py tests/test_graph_switch.py tests/test_lean_gate.py tests/test_kernels.py \
  > /tmp/r0/gpu_tests.out 2>&1
python3 benchmarks/bench_serving.py --backends pat $W --port 30500 --out /tmp/r0/so \
  > /tmp/r0/so.out 2>&1
python3 benchmarks/bench_serving.py --backends flashinfer $W --port 30600 --out /tmp/r0/sf \
  > /tmp/r0/sf.out 2>&1
timeout 300 python3 benchmarks/bench_kernels.py --out /tmp/r0/k --commit \$PAT_COMMIT \
  --providers pat,flashinfer-decode --part acceptance --part suite > /tmp/r0/k.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
