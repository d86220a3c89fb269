#!/usr/bin/env bash
# Branch shared-wave, prepared in session 33, run in session 34 at 46d6740 (one H200, about 15
# device minutes): the chunk choice keeps the shared units within one per SM where a chunk allows
# (PackScheduler shared_units_per_sm=1, the default here). Session 33 measured the same plans
# through min_shared_chunk_tokens (experiments/chunks/README.md): gsp 4 x 32's batch 75.0 ->
# 68.2 us, 8 requests sharing 8,192 tokens 49.2 -> 30.9; the suite's 1,2,64_1024,256,256@64,8
# (192 -> 128 shared units) was not measured.
# 1. plan_variants.py: capped (default) against uncapped, side by side, on every shape whose
#    plan the cap changes (CPU check in experiments/chunks/README.md), the worked example and
#    four more prefixes the cap re-cuts (256 -> 128 shared units; no Mooncake-cut batch of
#    4-64 requests changes, 210 checked on the CPU);
# 2. the GPU suite;
# 3. gsp 4 x 32 served by pat, then flashinfer (issue 4: 1.881x, median ITL 0.533x, session 28);
# 4. issue 2's kernel benchmark (acceptance, suite, served), then its summary.
# Session 33's fourth chain (GPU suite at f031d3f, merge A/B, plan variants) is in db69eea.
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
rm -rf /tmp/r0; mkdir -p /tmp/r0
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0
timeout 400 python3 benchmarks/experiments/chunks/plan_variants.py 1,2,64_1024,256,256@64,8 \
  4,128_4096,256 1,256_2048,32 1,64_4096,512 1,10_4096,416@64,8 1,8_8192,416 1,32_4096,64 \
  4,16_2048,100@64,8 1,16_8192,256 2,64_4096,256 1,64_8192,256 1,2_8192,256 \
  > /tmp/r0/plans.jsonl 2>/tmp/r0/plans.err
timeout 300 python3 -m pytest -q -p no:cacheprovider --durations=10 -n 8 \
  tests/test_kernels_gpu.py tests/test_backend.py tests/test_graph_switch.py \
  tests/test_lean_gate.py tests/test_kernels.py > /tmp/r0/gpu-tests.out 2>&1
python3 benchmarks/bench_serving.py --backends pat --workloads gsp-4x32-4096 --port 30500 \
  --out /tmp/r0/so > /tmp/r0/so.out 2>&1
python3 benchmarks/bench_serving.py --backends flashinfer --workloads gsp-4x32-4096 \
  --port 30600 --out /tmp/r0/sf > /tmp/r0/sf.out 2>&1
python3 benchmarks/bench_kernels.py --out /tmp/r0/k --commit $PAT_COMMIT \
  --providers pat,flashinfer-decode --part acceptance --part suite --part served \
  > /tmp/r0/k.out 2>&1
python3 benchmarks/bench_kernels.py --summarize --out /tmp/r0/k >> /tmp/r0/k.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
