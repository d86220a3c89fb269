#!/usr/bin/env bash
# The JIT builds a fresh H200 machine makes before its first server is healthy, kept from one
# machine for the next. Session 79: the first server's prefill-graph capture took 171-237 s on
# a fresh machine (sessions 75, 77, 79), 8.5-11.4 s on the same machine's later servers, most
# likely FlashInfer's prefill modules being built; the first decode-graph capture 25 s more,
# pat's Triton kernels compiling. Three caches hold those builds:
#   - FlashInfer's: ~/.cache/flashinfer/<version>/<arch>/cached_ops/<name>/<name>.so. Left
#     there, a module is rebuilt through ninja whenever the installed headers look newer than
#     its objects, as on every fresh install; laid out as FlashInfer's AOT directory instead
#     (<package>/data/aot/<name>/<name>.so, flashinfer/jit/core.py's is_aot), it is loaded as
#     it is, no ninja;
#   - SGLang's tvm-ffi kernels: ${TVM_FFI_CACHE_DIR:-~/.cache/tvm-ffi}/<module>__arch_…/, whose
#     .so SGLang loads as it is when present (sglang/kernels/jit/utils/compile.py);
#   - Triton's: ${TRITON_CACHE_DIR:-~/.triton/cache}, keyed by each kernel's source and
#     options, so a kernel changed since is compiled again.
# (FlashInfer's own prebuilt modules, the flashinfer-jit-cache wheel, hold every module: 1.3-1.9
# GB a wheel for 0.6.16, far more than device calls carry; these are only the modules the
# servers built.)
#
# usage, on the device machine, after a server has run (its own call, $OUT otherwise empty):
#   bash benchmarks/jit_cache.sh save "$OUT" [CHUNK_MIB]
#     writes jit-cache.tar.xz.chunkI-of-N (CHUNK_MIB each, default 9: what a call carries beside
#     the tracked tree) and jit-cache.txt (what is in it, built with what); copy the chunks here
#     into .jitcache/ (git-ignored).
# then, on later machines, carry .jitcache's chunk files (one or more a call, with or without a
# bundle part): `bash benchmarks/device_env.sh` (either form) runs
#   bash benchmarks/jit_cache.sh restore .jitcache
#     which keeps the chunks in /tmp/jit-chunks until all N have come and FlashInfer is
#     installed, then puts each cache in place, once a machine. A cache built with another
#     FlashInfer, Triton or GPU is left out, said so.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/chunks.sh"
site=${PAT_SITE:-/tmp/site}
chunks_dir=${JIT_CHUNKS_DIR:-/tmp/jit-chunks}
flashinfer_cache=${FLASHINFER_WORKSPACE_BASE:-$HOME}/.cache/flashinfer
tvm_cache=${TVM_FFI_CACHE_DIR:-$HOME/.cache/tvm-ffi}
triton_cache=${TRITON_CACHE_DIR:-$HOME/.triton/cache}
name=jit-cache.tar.xz

# built_with: the versions a cache is valid for, one line (package versions as pip has them in
# $site, the GPU's name)
built_with() {
  PYTHONPATH=$site python3 - <<'EOF'
import importlib.metadata as md
import subprocess

def version(dist):
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return "none"

try:
    gpu = subprocess.run(
        ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True
    ).stdout.splitlines()
except OSError:  # no driver here
    gpu = []
print(
    f"flashinfer {version('flashinfer-python')}, triton {version('triton')}, "
    f"apache-tvm-ffi {version('apache-tvm-ffi')}, gpu {gpu[0] if gpu else 'none'}"
)
EOF
}

save() {
  local out=${1:?usage: jit_cache.sh save OUTDIR [CHUNK_MIB]} chunk_mib=${2:-9}
  local stage so module n size
  stage=$(mktemp -d) || return 1
  mkdir -p "$stage/flashinfer-aot" "$stage/tvm-ffi" "$stage/triton" "$out" || return 1
  for so in "$flashinfer_cache"/*/*/cached_ops/*/*.so; do
    [ -e "$so" ] || continue
    module=$(basename "$(dirname "$so")")
    [ "$(basename "$so")" = "$module.so" ] || continue  # a module's own library only
    mkdir -p "$stage/flashinfer-aot/$module" && cp "$so" "$stage/flashinfer-aot/$module/" || return 1
  done
  if [ -d "$tvm_cache" ]; then
    (cd "$tvm_cache" && find . -name '*.so' -print0 | xargs -0 -r cp --parents -t "$stage/tvm-ffi") || return 1
  fi
  [ -d "$triton_cache" ] && { cp -r "$triton_cache/." "$stage/triton/" || return 1; }
  built_with > "$stage/BUILT_WITH" || return 1
  {
    echo "built with: $(cat "$stage/BUILT_WITH")"
    for part in flashinfer-aot tvm-ffi triton; do
      echo "$part: $(find "$stage/$part" -type f | wc -l) files, $(du -sk "$stage/$part" | cut -f1) KiB"
    done
  } > "$out/jit-cache.txt"
  tar cf - -C "$stage" . | xz -T0 -6 > "$out/$name" || return 1
  rm -rf "$stage"
  size=$(stat -c %s "$out/$name")
  n=$(( (size + chunk_mib * 1048576 - 1) / (chunk_mib * 1048576) ))
  echo "archive: $size bytes, $n chunks of at most $chunk_mib MiB" >> "$out/jit-cache.txt"
  cat "$out/jit-cache.txt"
  # what comes back from a device call: at most 8 files, 64 MiB together (jit-cache.txt one)
  if (( n > 7 || size > 63 * 1048576 )); then
    echo "jit_cache.sh: the archive is too big to come back in one call's \$OUT" >&2
    rm -f "$out/$name"; return 1
  fi
  cut_in_chunks "$out/$name" "$n"
}

restore() {
  local from=${1:-.jitcache} chunk have n aot stage here
  [ -e "$chunks_dir/restored" ] && return 0
  mkdir -p "$chunks_dir" || return 1
  for chunk in "$from"/$name.chunk*-of-*; do
    [ -e "$chunk" ] && { cp "$chunk" "$chunks_dir/" || return 1; }
  done
  chunk=$(ls "$chunks_dir"/$name.chunk*-of-* 2>/dev/null | head -n 1)
  [ -n "$chunk" ] || return 0  # no cache carried on this machine
  n=${chunk##*-of-}
  have=$(ls "$chunks_dir"/$name.chunk*-of-"$n" | wc -l)
  if (( have < n )); then echo "jit cache: $have of $n chunks so far"; return 0; fi
  aot=$(PYTHONPATH=$site python3 -c "import importlib.util, pathlib
spec = importlib.util.find_spec('flashinfer')
print(pathlib.Path(spec.origin).parent / 'data' / 'aot' if spec else '')" 2>/dev/null)
  if [ -z "$aot" ]; then echo "jit cache: all $n chunks here, FlashInfer not installed yet"; return 0; fi
  stage=$(mktemp -d) || return 1
  join_chunks "$chunks_dir" "$name" "$n" | xz -d | tar xf - -C "$stage" \
    || { echo "jit cache: the chunks do not unpack" >&2; rm -rf "$stage"; return 1; }
  here=$(built_with)
  if [ "$(cat "$stage/BUILT_WITH")" != "$here" ]; then
    echo "jit cache: left out, built with $(cat "$stage/BUILT_WITH"); here $here"
  else
    mkdir -p "$aot" "$tvm_cache" "$triton_cache" \
      && cp -r "$stage/flashinfer-aot/." "$aot/" \
      && cp -r "$stage/tvm-ffi/." "$tvm_cache/" \
      && cp -r "$stage/triton/." "$triton_cache/" || { rm -rf "$stage"; return 1; }
    echo "jit cache: $(ls "$stage/flashinfer-aot" | wc -l) FlashInfer modules, $(find "$stage/tvm-ffi" -name '*.so' | wc -l) tvm-ffi modules and $(ls "$stage/triton" | wc -l) Triton kernels in place"
  fi
  rm -rf "$stage" "$chunks_dir"/$name.chunk*
  touch "$chunks_dir/restored"
}

case ${1:-} in
  save) shift; save "$@" ;;
  restore) shift; restore "$@" ;;
  *) echo "usage: jit_cache.sh save OUTDIR [CHUNK_MIB] | restore [DIR=.jitcache]" >&2; exit 2 ;;
esac
