#!/usr/bin/env bash
# On the H200 machine: install one part of the offline SGLang bundle (see ../shared/device;
# benchmarks/device_parts.sh re-packs it into parts q0.. that fit beside the tracked tree),
# or, with no argument, make the installed bundle and this project importable.
# usage: bash benchmarks/device_env.sh .wheelhouse/q0      # one call per part, fresh machine
#        source benchmarks/device_env.sh                   # later: PYTHONPATH + project install
if [ -n "${1:-}" ]; then
  bash .wheelhouse/install.sh "$1" || exit 1
fi
# Extra wheels for the GPU runs when carried (.whl: pytest-xdist and execnet, so that the GPU
# tests compile their kernels in parallel processes on the machine's 16 cores), installed by
# .wheelhouse/install.sh: carry both
if [ -d .whl ] && [ -d /tmp/site ] && [ ! -d /tmp/site/xdist ]; then
  [ -f .wheelhouse/install.sh ] || { echo "device_env.sh: .whl needs .wheelhouse/install.sh carried" >&2; exit 1; }
  bash .wheelhouse/install.sh .whl || exit 1
fi
if [ -d /tmp/site/sglang ]; then
  export PYTHONPATH=/tmp/site
  python3 -m pip install -q --no-deps --no-build-isolation -e . >/tmp/pat-install.log 2>&1 \
    || { cat /tmp/pat-install.log; exit 1; }
fi
