#!/usr/bin/env bash
# Session 56 (one H200): EQ=1 SERVERS="pat flashinfer" WORKLOADS=mooncake-conversation at
# f30f96a; the machine went back after the equality check and pat's warm pass, and the re-run
# (SERVERS="pat flashinfer", pat's first server 279 s to healthy, flashinfer's 63 s; a
# Mooncake pass about 110 s plus its flush) ran out of device time in flashinfer's second
# measured pass (session56.md). Session 55: SERVERS="pat flashinfer"
# WORKLOADS="gsp-4x32-4096 random-ids-2048-256" at d79190f (session55.md; pat's first server
# 263 s to healthy, flashinfer's 75 s; the chain about 14 minutes). Session
# 53's run (at 9d629ec: pat's first server 223 s to healthy, flashinfer's 57 s; two workloads
# about 6 minutes a server) is in fdf8164's version.
# SERVERS: the servers in order, each `pat`, `sglstore` (pat, SGLANG_PAT_STORE_IN_KERNEL=0),
#   `sm90`, `noswitch`, `flashinfer` or `gclog` (default "pat sglstore flashinfer"); run i
#   writes /tmp/r0/<i>-<server>/. `sm90` is pat with SGLANG_PAT_SM90_SHARED=1 (session 49);
#   `noswitch` pat with SGLANG_PAT_GRAPH_SWITCH=0: every graph runs the pair, never the
#   all-items launch (in graphs of ten calls the switched graph took 5-8 µs more a call than
#   the pair on gsp 4 x 32's batches, sessions 26-27; session 62 served it beside pat on gsp
#   4 x 32: 0.3% slower decode, 1.3% shorter median ITL, both within the noise; session 79 on
#   gsp defaults and random-ids: level, and 0.86% slower; session 80 on gsp 4 x 32: 0.84%
#   faster decode, a longer median ITL; session 81: level, 16,535 against 16,505); `nodes`,
#   the node switch (SGLANG_PAT_GRAPH_FORMS=0, both forms in one graph), served beside the
#   graphs by form in sessions 81-82 (forms +0.07% on gsp 4 x 32, +0.50% on random-ids,
#   +0.39% on gsp defaults), went with it in session 82 (175c548's version); `gclog`
#   is pat with SGLANG_LOG_GC=1 (session 50 found no collection inside a pass's full-batch
#   decode lines). `patprof` and `fiprof` run experiments/server_profile/run.py for pat or
#   flashinfer instead (a warm pass, then 24 full-batch steps traced; the trace is kept).
# WORKLOADS (default gsp-4x32-4096; several separated by commas or spaces), PASSES measured
#   passes each (default 2).
# SERVER_FLAGS: extra flags for every server (bench_serving.py --server-flags). Session 76's
#   open question, how SGLang's scheduler cuts the Mooncake replay's opening burst (session76.md
#   section 3), wants SERVER_FLAGS="--log-requests --log-requests-level 0" with SGLANG_LOG_MS=1
#   exported (millisecond stamps; the servers inherit the environment).
# KERNELS=1 first runs the store_in_kernel experiment and the store's GPU tests (about 2
#   minutes); EQ=1 then the server equality check with a pat server storing through SGLang
#   (check_equality.py --plain-pat --sglang-store, four servers at once, about 5 minutes).
# Times on session 49's machine: pat's first server 215 s to healthy (the JIT compiles, for
# flashinfer's prefill too), later servers 55-75 s; gsp 4 x 32 about 25 s a pass, its warm
# pass 25-30 s. flashinfer's server first on a fresh machine took 249 s. TESTS=1 runs the GPU
# suite first (sm90_tests.sh, about 3 minutes).
# Session 50's chain (SERVERS="pat flashinfer gclog" PASSES=3) is in baecf2a's version.
# Since session 77: `bash benchmarks/device_parts.sh` here makes .wheelhouse/q0..q8 (about 7.5 MB
# each beside a 55 MB tree; the three biggest archives cut in chunks that device_env.sh
# joins), then one call each, `bash benchmarks/device_env.sh .wheelhouse/qN`, the last with
# this chain. (Sessions 56-76 carried larger parts, q0..q5 at the end, which a 55 MB tree
# no longer leaves room for.) The chain call carries .whl and .wheelhouse/install.sh (which installs .whl; without it
# device_env.sh exits 1), and .mooncake for Mooncake; then poll at once, call after call: a machine
# left idle 30 s goes back with the chain (session 56 lost one so, half through Mooncake).
cd "$(dirname "$0")/../../.." || exit 1
# Each device call sends the working tree again, over this one. A step that starts while a later
# call (poll.sh) is being copied in can find files missing: in session 59 flashinfer's server
# step failed at once on `from servers import`, most likely so. So the chain runs from a copy
# of its own, the project installed from there; a new directory each time, so that a chain
# still running keeps its files. A later call that sources device_env.sh installs the project
# from the sent tree again, under the chain's later steps: while a chain runs, call poll.sh
# alone.
tree=$(mktemp -d /tmp/chain-tree.XXXXXX) \
  && tar cf - --exclude=./.git --exclude='./.wheelhouse/part*' . | tar xf - -C "$tree" \
  && cd "$tree" || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
rm -rf /tmp/r0; mkdir -p /tmp/r0
workloads=${WORKLOADS:-gsp-4x32-4096}
W="--workloads ${workloads// /,} --passes ${PASSES:-2}"
[ -n "${SERVER_FLAGS:-}" ] && W="$W --server-flags='$SERVER_FLAGS'"
# Mooncake workloads: the traces come gzipped in .mooncake/ (git-ignored; carry it, made here
# with `gzip -9c ../shared/data/mooncake/<t>_trace.jsonl > .mooncake/<t>_trace.jsonl.gz`)
if [[ $workloads == *mooncake* ]]; then
  mkdir -p /tmp/mc
  for t in conversation synthetic; do
    gunzip -c .mooncake/${t}_trace.jsonl.gz > /tmp/mc/${t}_trace.jsonl || { echo "no .mooncake/${t}_trace.jsonl.gz"; exit 1; }
  done
  W="$W --mooncake-dir /tmp/mc"
fi
steps=()
# patched PATCH "COMMANDS" FILE: the step that runs COMMANDS with PATCH applied in place, then
# reverts it and checks kernels/ and tests/ are as before (else REVERT FAILED in FILE)
tree_sum='cat kernels/*.py tests/*.py | md5sum'
patched() {
  echo "git apply $1 && { $2; }; git apply -R $1; [ \"\$($tree_sum)\" = \"$(eval "$tree_sum")\" ] || echo REVERT FAILED >> $3"
}
if [ "${TESTS:-0}" = 1 ]; then
  steps+=("OUT=/tmp/r0 bash benchmarks/experiments/detached/sm90_tests.sh 180 190 12 >/dev/null")
fi
# PYTESTS="FILES": those test files (pytest -n 12) before the rest, into /tmp/r0/pytests.out
if [ -n "${PYTESTS:-}" ]; then
  steps+=("timeout 300 python3 -m pytest -p no:cacheprovider -q -rs -n 12 $PYTESTS > /tmp/r0/pytests.out 2>&1")
fi
# EXPERIMENT="SCRIPT [ARGS]": that script (python3, 300 s at most) after PYTESTS, into
#   /tmp/r0/experiment.out; session 77 ran experiments/sm90_split_pair/run.py so.
if [ -n "${EXPERIMENT:-}" ]; then
  steps+=("timeout 300 python3 $EXPERIMENT > /tmp/r0/experiment.out 2>&1")
fi
if [ "${KERNELS:-0}" = 1 ]; then
  steps+=("timeout 200 python3 benchmarks/experiments/store_in_kernel/run.py > /tmp/r0/store_in_kernel.out 2>&1")
  steps+=("timeout 240 python3 -m pytest -q -p no:cacheprovider -n 8 tests/test_new_kv_store.py tests/test_kernels_gpu.py > /tmp/r0/gpu_tests.out 2>&1")
fi
# PDL=1: experiments/pdl_after_rope with its dependent-launch.patch applied in place (reverted
#   and checked after): the pack launches as programmatic dependents of the kernel before
#   them, with eager plans (a plan kept whole takes the all-items launch, as in a server's
#   switchable graph), then split plans' pairs with the "ordered" variant, then the patch's
#   GPU test; about 2 minutes. Session 54 ran it so (not adopted).
if [ "${PDL:-0}" = 1 ]; then
  xp=benchmarks/experiments/pdl_after_rope
  shapes=${PDL_SHAPES:-gsp:64x16:2048+256:b256:s0 1,64_4096,512 1,256_2048,32 128_2176 64_4096 gsp:4x32:4096+208:b128:s0}
  pairs=${PDL_PAIR_SHAPES:-gsp:4x32:4096+140:b128:s0 gsp:4x32:4096+208:b128:s0 gsp:4x32:4096+300:b128:s0 gsp:4x32:4096+368:b128:s0 4,128_4096,256}
  steps+=("$(patched $xp/dependent-launch.patch "EAGER=1 timeout 240 python3 $xp/run.py $shapes > /tmp/r0/pdl_eager.out 2>&1; timeout 240 python3 $xp/run.py $pairs > /tmp/r0/pdl_pair.out 2>&1; timeout 120 python3 -m pytest -q -p no:cacheprovider -rs tests/test_kernels.py -k dependent > /tmp/r0/pdl_tests.out 2>&1" /tmp/r0/pdl_tests.out)")
fi
# FORKSIDE=1 (sessions 61-62: kept_whole/fork_side.py, the shared part forked instead of the
#   private part) went with the node switch in session 82; it is in 175c548's version.
# GRID=1: experiments/shared_grid (the lean pair's shared part on a grid of its active
#   programs only, gsp 4 x 32's split plans), about 1 minute. Session 55: not adopted (0 to
#   +0.7 us a layer).
if [ "${GRID:-0}" = 1 ]; then
  steps+=("timeout 200 python3 benchmarks/experiments/shared_grid/run.py > /tmp/r0/shared_grid.out 2>&1")
fi
if [ "${EQ:-0}" = 1 ]; then
  steps+=("timeout 420 python3 benchmarks/check_equality.py --out /tmp/r0/eq --plain-pat --sglang-store --parallel 4 > /tmp/r0/eq.out 2>&1")
fi
i=0
SERVERS=${SERVERS:-pat sglstore flashinfer}
for server in $SERVERS; do
  i=$((i + 1)); dir=/tmp/r0/$i-$server; port=$((30500 + 100 * i))
  case $server in
    pat) run="python3 benchmarks/bench_serving.py --backends pat" ;;
    sglstore) run="SGLANG_PAT_STORE_IN_KERNEL=0 python3 benchmarks/bench_serving.py --backends pat" ;;
    sm90) run="SGLANG_PAT_SM90_SHARED=1 python3 benchmarks/bench_serving.py --backends pat" ;;
    noswitch) run="SGLANG_PAT_GRAPH_SWITCH=0 python3 benchmarks/bench_serving.py --backends pat" ;;
    flashinfer) run="python3 benchmarks/bench_serving.py --backends flashinfer" ;;
    gclog) run="SGLANG_LOG_GC=1 python3 benchmarks/bench_serving.py --backends pat" ;;
    patprof|fiprof)  # experiments/server_profile: GPU trace of 24 full-batch steps, kept
      backend=pat; [ $server = fiprof ] && backend=flashinfer
      steps+=("python3 benchmarks/experiments/server_profile/run.py --backend $backend --workloads ${workloads// /,} --port $port --out $dir > $dir.out 2>&1")
      continue ;;
    *) echo "unknown server $server (pat, sglstore, sm90, noswitch, flashinfer, gclog, patprof or fiprof)"; exit 1 ;;
  esac
  steps+=("$run $W --port $port --out $dir > $dir.out 2>&1")
done
# LATE=1 after the servers: store_in_kernel/run.py on LATE_SHAPES, then, with LATE_PATCH (a
#   patch of kernels/, applied in place, reverted and checked after), the same again, then the
#   GPU graph replay tests that store (about 3 minutes). Session 53 timed parallel-loads.patch
#   so (adopted in session 53; the patch is in 9d629ec's tree).
if [ "${LATE:-0}" = 1 ]; then
  xp=benchmarks/experiments/store_in_kernel
  shapes=${LATE_SHAPES:-gsp:64x16:2048+256:b256:s0 gsp:4x32:4096+208:b128:s0 128_2176}
  steps+=("timeout 200 python3 $xp/run.py $shapes > /tmp/r0/late-stock.out 2>&1")
  if [ -n "${LATE_PATCH:-}" ]; then
    steps+=("$(patched $LATE_PATCH "timeout 200 python3 $xp/run.py $shapes > /tmp/r0/late-patched.out 2>&1" /tmp/r0/late-patched.out)")
  fi
  steps+=("timeout 200 python3 -m pytest -q -p no:cacheprovider -n 8 tests/test_kernels_gpu.py -k store > /tmp/r0/late-tests.out 2>&1")
fi
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
