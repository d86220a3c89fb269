#!/usr/bin/env bash
# Prepared in session 49 for the next session (one H200): the opt-in sm90 shared part
# (SGLANG_PAT_SM90_SHARED=1) against pat without it, alternating, then flashinfer. Session 49
# served them once each in turn (pat, sm90, flashinfer; session49.md): the sm90 part was +0.39%
# on gsp 4 x 32 and +0.67% on gsp defaults, within one server's spread between its passes
# (0.47% and 1.8%). Alternating servers measure that spread where the two are compared.
# SERVERS: the servers in order, each `pat`, `sm90`, `flashinfer` or `gclog` (default "pat sm90
#   pat sm90 flashinfer"); run i writes /tmp/r0/<i>-<server>/. `gclog` is pat with
#   SGLANG_LOG_GC=1: the scheduler logs each garbage collection, its generation and duration
#   (a diagnosis: session 50 found no collection inside a pass's full-batch decode lines).
# Session 50 ran SERVERS="pat flashinfer gclog" PASSES=3 at baecf2a (session50.md): both
#   servers decode at the H200's 700 W power cap, pat's SM clock 12% below flashinfer's. The
#   sm90 shared part does the shared items in fewer instructions, so the A/B now also asks
#   whether it lowers pat's power and raises its clock
#   (../power_cap/clocks_by_server.py /tmp/r0 680).
# WORKLOADS (default gsp-4x32-4096), PASSES measured passes each (default 3).
# Times on session 49's machine: pat's first server 215 s to healthy (the JIT compiles, for
# flashinfer's prefill too), later servers 55-75 s; gsp 4 x 32 about 25 s a pass, its warm
# pass 25-30 s. The default takes about 17 device minutes after the install. flashinfer's server
# first on a fresh machine took 249 s. TESTS=1 runs the GPU suite first (sm90_tests.sh,
# about 3 minutes).
# Session 49's chain (TESTS=1, pat, sm90 and flashinfer in turn, two passes) is in e5c189d.
# Install part1, part2 and part2b, then part3 with this chain; then poll at once, call after
# call: a machine left idle 30 s goes back with the chain.
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
rm -rf /tmp/r0; mkdir -p /tmp/r0
W="--workloads ${WORKLOADS:-gsp-4x32-4096} --passes ${PASSES:-3}"
steps=()
if [ "${TESTS:-0}" = 1 ]; then
  steps+=("OUT=/tmp/r0 bash benchmarks/experiments/detached/sm90_tests.sh 180 190 12 >/dev/null")
fi
i=0
SERVERS=${SERVERS:-pat sm90 pat sm90 flashinfer}
for server in $SERVERS; do
  i=$((i + 1)); dir=/tmp/r0/$i-$server; port=$((30500 + 100 * i))
  case $server in
    pat) run="python3 benchmarks/bench_serving.py --backends pat" ;;
    sm90) run="SGLANG_PAT_SM90_SHARED=1 python3 benchmarks/bench_serving.py --backends pat" ;;
    flashinfer) run="python3 benchmarks/bench_serving.py --backends flashinfer" ;;
    gclog) run="SGLANG_LOG_GC=1 python3 benchmarks/bench_serving.py --backends pat" ;;
    *) echo "unknown server $server (pat, sm90, flashinfer or gclog)"; exit 1 ;;
  esac
  steps+=("$run $W --port $port --out $dir > $dir.out 2>&1")
done
# The GPU's clocks, power and temperature every 0.5 s (clocks.csv; throttle.csv in a logger of
# its own, should the driver refuse the field): in session 49 pat's step grew twice as fast in
# the last 40-step interval of each gsp 4 x 32 pass (tails 328-368) as the plan's KV does,
# with the same plan shape throughout; flashinfer's did not. The servers' decode lines carry
# timestamps to line these up with.
Q="--format=csv -lms 500 --query-gpu=timestamp"
chain="export CUDA_VISIBLE_DEVICES=0
nvidia-smi $Q,clocks.sm,clocks.mem,power.draw,temperature.gpu > /tmp/r0/clocks.csv 2>&1 &
loggers=\$!
nvidia-smi $Q,clocks_throttle_reasons.active > /tmp/r0/throttle.csv 2>&1 &
loggers=\"\$loggers \$!\""
for step in "${steps[@]}"; do chain+=$'\n'"$step"; done
setsid bash -c "$chain
kill \$loggers
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched: "$SERVERS"
