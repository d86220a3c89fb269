#!/usr/bin/env bash
# Session 12's second run: the serving table, pat (the launcher's default: FlashInfer prefill)
# on GPU 0 beside flashinfer on GPU 1, detached (setsid) so the chains outlive one device call.
# (The first run, kernel benchmarks and GPU tests, is in git history at 11c8fc1.)
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
rm -rf /tmp/r0 /tmp/r1; mkdir -p /tmp/r0 /tmp/r1
W="--workloads gsp-4x32-4096,gsp-64x16-2048,random-ids-2048-256"
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0
python3 benchmarks/bench_serving.py --backends pat $W --port 30400 --out /tmp/r0/sp > /tmp/r0/sp.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
setsid bash -c "
export CUDA_VISIBLE_DEVICES=1
python3 benchmarks/bench_serving.py --backends flashinfer $W --port 30500 --out /tmp/r1/sf > /tmp/r1/sf.out 2>&1
touch /tmp/r1/done" >/tmp/r1/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
