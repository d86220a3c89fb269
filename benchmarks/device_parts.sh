#!/usr/bin/env bash
# Re-pack the offline SGLang bundle (../shared/device/make-bundle.sh's .wheelhouse/part*) into
# parts small enough to travel beside this repository's tracked tree: a device call carries at
# most 64 MiB in all, and the tracked tree (mostly benchmarks/results/) was over 46 MiB from
# session 67 to 82, so the bundle's 58 MiB parts, and later the 22 MiB ones, no longer fit.
# (Session 83 re-saved the results' plots as palette PNGs: a tar of the tree 46.9 -> 39.4 MiB.)
#
# A wheel with no `.data/` folder is a plain tree to unpack into site-packages, so it becomes a
# tar.xz (xz -9 shrinks sglang's wheel from 22.3 to 12.3 MB); install.sh unpacks those into
# /tmp/site. Wheels with a `.data/` folder stay wheels, installed by pip.
#
# usage (project root, after make-bundle.sh):  bash benchmarks/device_parts.sh [BUNDLE=.wheelhouse]
# then one device call per part, back to back: bash benchmarks/device_env.sh BUNDLE/qN
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/chunks.sh"
bundle=${1:-.wheelhouse}
shopt -s nullglob
inputs=("$bundle"/part*/*)
(( ${#inputs[@]} )) || { echo "device_parts.sh: no $bundle/part*/ files: run make-bundle.sh first" >&2; exit 1; }

# What travels besides a part: the tracked tree, counted as a tar of it (session 77: the device
# tool took a 53.6 MB tar of the tree beside a 12.7 MB one of a part, and refused 55.2 MB
# beside the same part, 67.9 MB > 64 MiB), the install script, and a margin of
# ${MARGIN_MIB:-4} MiB for the results that sessions add before the parts are made again (about
# 1.5 MB a session).
tree_bytes=$(git ls-files -z | tar cf - --null -T - | wc -c)
limit=$(( 64 * 1024 * 1024 - tree_bytes - ${MARGIN_MIB:-4} * 1024 * 1024 ))
(( limit > 4 * 1024 * 1024 )) || { echo "device_parts.sh: a tracked tree of $tree_bytes bytes leaves no room for a part" >&2; exit 1; }

work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mkdir "$work/files"
for f in "${inputs[@]}"; do
  name=$(basename "$f")
  if [[ $name == *.whl ]] && ! unzip -Z1 "$f" | grep -q '^[^/]*\.data/'; then
    mkdir "$work/tree"; unzip -q "$f" -d "$work/tree"
    (cd "$work/tree" && tar cf - . | xz -T0 -9 > "$work/files/${name%.whl}.tar.xz")
    rm -rf "$work/tree"
  else
    cp "$f" "$work/files/"
  fi
done

# An archive over the limit is cut into equal chunks, NAME.tar.xz.chunkI-of-N (one file in
# sgl_kernel's archive compresses to more than a part may hold, so its tree cannot be split by
# files). install.sh passes them over; device_env.sh keeps them until all N have come, then
# joins and unpacks them into /tmp/site.
for f in "$work"/files/*.tar.xz; do
  s=$(stat -c %s "$f")
  (( s > limit )) || continue
  cut_in_chunks "$f" $(( (s + limit - 1) / limit ))
done

# Biggest first into the first part with room, as make-bundle.sh packs.
rm -rf "$bundle"/q*; sizes=()
for f in $(ls -S "$work/files"); do
  s=$(stat -c %s "$work/files/$f")
  (( s <= limit )) || { echo "device_parts.sh: $f ($s bytes) is over the $limit a part may hold" >&2; exit 1; }
  placed=
  for i in "${!sizes[@]}"; do
    if (( sizes[i] + s <= limit )); then sizes[i]=$((sizes[i] + s)); cp "$work/files/$f" "$bundle/q$i/"; placed=1; break; fi
  done
  if [[ -z $placed ]]; then mkdir "$bundle/q${#sizes[@]}"; cp "$work/files/$f" "$bundle/q${#sizes[@]}/"; sizes+=("$s"); fi
done
echo "tracked tree $tree_bytes bytes as a tar; each part at most $((limit / 1024)) KiB"
du -s --apparent-size -k "$bundle"/q*
