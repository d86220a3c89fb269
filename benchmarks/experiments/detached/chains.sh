#!/usr/bin/env bash
# Session 11 device chains, one per GPU, detached (setsid) so they outlive one device call.
# Inputs are copied to /tmp first: a later call re-syncs the tree and drops uncarried paths.
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1
rm -rf /tmp/r0 /tmp/r1; mkdir -p /tmp/r0 /tmp/r1 /tmp/mc && cp .mooncake/*.jsonl /tmp/mc/
M="--model-shape llama-3.1-8b --server-flags=--max-running-requests=64 --workloads mooncake-synthetic-512 --mooncake-dir /tmp/mc"
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0
python3 benchmarks/bench_serving.py --backends pat $M --port 30400 --out /tmp/r0/ms > /tmp/r0/ms.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
setsid bash -c "
export CUDA_VISIBLE_DEVICES=1
python3 benchmarks/bench_serving.py --backends flashinfer $M --port 30401 --out /tmp/r1/ms > /tmp/r1/ms.out 2>&1
touch /tmp/r1/done" >/tmp/r1/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
