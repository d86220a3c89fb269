#!/usr/bin/env bash
# Session 13's run: the gsp multi-turn row of the serving table again, pat (the launcher's
# default: FlashInfer prefill) on GPU 0 beside flashinfer on GPU 1, detached (setsid) so the
# chains outlive one device call. (Session 12's three workloads: git history at 1a61640.)
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
rm -rf /tmp/r0 /tmp/r1; mkdir -p /tmp/r0 /tmp/r1
W="--workloads gsp-multiturn-16x8-2048"
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0
python3 benchmarks/bench_serving.py --backends pat $W --port 30400 --out /tmp/r0/sp > /tmp/r0/sp.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
setsid bash -c "
export CUDA_VISIBLE_DEVICES=1
python3 benchmarks/bench_serving.py --backends flashinfer $W --port 30500 --out /tmp/r1/sf > /tmp/r1/sf.out 2>&1
touch /tmp/r1/done" >/tmp/r1/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
