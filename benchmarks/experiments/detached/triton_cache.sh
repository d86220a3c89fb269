#!/usr/bin/env bash
# pat's compiled Triton kernels, from one device machine to the next. Made because the first
# pat server on a fresh machine is healthy ~3 minutes later than the next (session 25: 295 s
# against 89 s). But those minutes are not pat's kernels: session 27's first server spent
# 198 s in SGLang's "Capture target prefill CUDA graph" (the next one 9 s) and 5.7 s
# capturing the decode graphs; session 28's chain lists which cache that capture fills.
#   bash triton_cache.sh save FILE.tgz [MARK]   # on the machine, after a pat server ran;
#                                             # MARK: only kernels compiled after MARK's mtime
#   bash triton_cache.sh restore FILE.tgz   # on a fresh machine, before the first one
# Only the pack, merge and gather kernels' groups are kept, and of each only what a cache hit
# loads (the group index, the metadata JSON and the cubin), so that the archive fits what a
# device call brings back and carries (16 MiB a file). Triton keys each entry by the kernel's
# source, its specialization and the compiler: a changed kernel just compiles again. The
# group index holds absolute paths, so both machines use the same cache directory.
set -euo pipefail
cache=${TRITON_CACHE_DIR:-$HOME/.triton/cache}
case "${1:-}" in
  save)
    cd "$cache"
    newer=()
    [ -n "${3:-}" ] && newer=(-newer "$3")
    dirs=$(find . -name '__grp__*' "${newer[@]}" -print0 \
      | xargs -0 -r grep -l -e _pack_decode_kernel -e _merge_states_kernel -e _gather_kv \
      | xargs -r -n1 dirname | sort -u) || true  # grep -l exits 1 on a batch without them
    [ -n "$dirs" ] || { echo "no pat kernels in $cache"; exit 0; }
    find $dirs -type f \( -name '__grp__*' -o -name '*.json' -o -name '*.cubin' \) -print0 \
      | tar czf "$2" --null -T -
    echo "saved $(echo "$dirs" | wc -l) kernels, $(du -h "$2" | cut -f1), to $2"
    ;;
  restore)
    mkdir -p "$cache"
    tar xzf "$2" -C "$cache"
    echo "restored $(tar tzf "$2" | grep -c __grp__) kernels into $cache"
    ;;
  *) echo "usage: $0 save|restore FILE.tgz" >&2; exit 2 ;;
esac
