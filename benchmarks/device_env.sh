#!/usr/bin/env bash
# On the H200 machine: install one part of the offline SGLang bundle (see ../shared/device;
# benchmarks/device_parts.sh re-packs it into parts q0.. that fit beside the tracked tree),
# or, with no argument, make the installed bundle and this project importable.
# usage: bash benchmarks/device_env.sh .wheelhouse/q0      # one call per part, fresh machine
#        source benchmarks/device_env.sh                   # later: PYTHONPATH + project install
source "$(dirname "${BASH_SOURCE[0]}")/chunks.sh"
if [ -n "${1:-}" ]; then
  bash .wheelhouse/install.sh "$1" || exit 1
  # Chunks of an archive too big for one part (device_parts.sh), NAME.tar.xz.chunkI-of-N: kept
  # in /tmp/chunks until all N have come, then joined and unpacked into /tmp/site.
  for chunk in "$1"/*.tar.xz.chunk*-of-*; do
    [ -e "$chunk" ] || continue
    mkdir -p /tmp/chunks && cp "$chunk" /tmp/chunks/ || exit 1
    base=${chunk##*/}; name=${base%.chunk*}; n=${base##*-of-}
    have=$(ls /tmp/chunks/"$name".chunk*-of-"$n" | wc -l)
    if [ "$have" -eq "$n" ]; then
      join_chunks /tmp/chunks "$name" "$n" > "/tmp/chunks/$name" \
        && tar xJf "/tmp/chunks/$name" -C /tmp/site && rm -f "/tmp/chunks/$name"* || exit 1
      echo "joined $name from $n chunks into /tmp/site"
    fi
  done
fi
# Extra wheels for the GPU runs when carried (.whl: pytest-xdist and execnet, so that the GPU
# tests compile their kernels in parallel processes on the machine's 16 cores), installed by
# .wheelhouse/install.sh: carry both
if [ -d .whl ] && [ -d /tmp/site ] && [ ! -d /tmp/site/xdist ]; then
  [ -f .wheelhouse/install.sh ] || { echo "device_env.sh: .whl needs .wheelhouse/install.sh carried" >&2; exit 1; }
  bash .wheelhouse/install.sh .whl || exit 1
fi
# JIT builds kept from an earlier machine (jit_cache.sh), when carried in .jitcache: put in
# place once all chunks have come and FlashInfer is installed; a failure costs only the builds
bash benchmarks/jit_cache.sh restore .jitcache || echo "device_env.sh: jit cache not restored" >&2
if [ -d /tmp/site/sglang ]; then
  export PYTHONPATH=/tmp/site
  python3 -m pip install -q --no-deps --no-build-isolation -e . >/tmp/pat-install.log 2>&1 \
    || { cat /tmp/pat-install.log; exit 1; }
fi
