# Files cut in chunks to travel to the device machine and back, NAME.chunkI-of-N (I from 1):
# a device call carries at most 64 MiB with the tracked tree and returns at most 16 MiB a file.
# Sourced by device_parts.sh (the bundle's biggest archives), device_env.sh (joins them) and
# jit_cache.sh (the JIT builds).

# cut_in_chunks FILE N: FILE cut into N pieces of equal size beside it, FILE removed
cut_in_chunks() {
  local file=$1 n=$2 i
  split -n "$n" -d -a 2 "$file" "$file.cut" || return 1
  for i in $(seq 0 $((n - 1))); do
    mv "$file.cut$(printf %02d "$i")" "$file.chunk$((i + 1))-of-$n" || return 1
  done
  rm "$file"
}

# join_chunks DIR NAME N: DIR/NAME.chunk1-of-N .. chunkN-of-N, in order, on standard output
join_chunks() {
  local i
  for i in $(seq 1 "$3"); do cat "$1/$2.chunk$i-of-$3" || return 1; done
}
