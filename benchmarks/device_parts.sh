#!/usr/bin/env bash
# Re-pack the offline SGLang bundle (../shared/device/make-bundle.sh's .wheelhouse/part*) into
# parts small enough to travel beside this repository's tracked tree: a device call carries at
# most 64 MiB in all, and the tracked tree (mostly benchmarks/results/) is over 46 MiB since
# session 67, so the bundle's 58 MiB parts, and later the 22 MiB ones, no longer fit.
#
# A wheel with no `.data/` folder is a plain tree to unpack into site-packages, so it becomes a
# tar.xz (xz -9 shrinks sglang's wheel from 22.3 to 12.3 MB); install.sh unpacks those into
# /tmp/site. Wheels with a `.data/` folder stay wheels, installed by pip.
#
# usage (project root, after make-bundle.sh):  bash benchmarks/device_parts.sh [BUNDLE=.wheelhouse]
# then one device call per part, back to back: bash benchmarks/device_env.sh BUNDLE/qN
set -euo pipefail
bundle=${1:-.wheelhouse}
shopt -s nullglob
inputs=("$bundle"/part*/*)
(( ${#inputs[@]} )) || { echo "device_parts.sh: no $bundle/part*/ files: run make-bundle.sh first" >&2; exit 1; }

# What travels besides a part: the tracked tree in 1 KiB blocks as du counts them (the device
# tool refused 42.5 MB of tracked bytes plus a 22.3 MB part, 64.8 MB < 64 MiB), the install
# script and a 2 MiB margin for files that results add before the call.
tree_kib=$(git ls-files -z | du -c --files0-from=- | tail -1 | cut -f1)
limit=$(( (64 * 1024 - tree_kib - 2 * 1024) * 1024 ))
(( limit > 4 * 1024 * 1024 )) || { echo "device_parts.sh: tracked tree ${tree_kib} KiB leaves no room for a part" >&2; exit 1; }

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
echo "tracked tree ${tree_kib} KiB; each part at most $((limit / 1024)) KiB"
du -s --apparent-size -k "$bundle"/q*
