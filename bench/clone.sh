#!/usr/bin/env bash
# Compare `tart clone` with `cp --sparse=always` on a 20 GiB sparse disk that
# holds 1 GiB of data, and check that the clone keeps the holes.
#
# usage: bench/clone.sh [path/to/tart]     (default ./build/tart)
# BENCH_DIR picks where the scratch files go (default /var/tmp); it should be
# on the file system tart is meant for, as copy speed depends on it.
# ROUNDS sets the number of measured rounds (default 3).
set -euo pipefail

TART=${1:-./build/tart}
# Absolute, because the script changes directory.
if [[ $TART == */* ]]; then
  TART="$(cd "$(dirname "$TART")" && pwd)/$(basename "$TART")"
fi
command -v "$TART" >/dev/null || { echo "clone.sh: $TART is not executable" >&2; exit 1; }

WORK=$(mktemp -d -p "${BENCH_DIR:-/var/tmp}" tart-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
WORK=$PWD # absolute even if BENCH_DIR is not
export TART_HOME="$WORK/home"

ROUNDS=${ROUNDS:-3}
RUN_MIB=64
RUNS=16

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
allocated() {
  local blocks unit
  read -r blocks unit < <(stat -c '%b %B' "$1")
  echo $((blocks * unit))
}
median() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
    END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

noted_cache=0
drop_caches() {
  sync
  if ! { echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null; then
    if ((!noted_cache)); then
      echo "note: cannot write /proc/sys/vm/drop_caches, measuring with warm caches"
      noted_cache=1
    fi
  fi
}

echo "setup: $(df --output=fstype "$WORK" | tail -n 1) at $WORK"
"$TART" create src --linux --disk-size 22 >/dev/null
DISK="$TART_HOME/vms/src/disk.img"
[[ -f $DISK ]] || { echo "clone.sh: $DISK was not created" >&2; exit 1; }
rm -f "$DISK"
truncate -s 20G "$DISK"
# One random chunk written at 16 places: fast setup, and data that neither
# compresses nor deduplicates within a run.
dd if=/dev/urandom of=chunk bs=1M count=$RUN_MIB iflag=fullblock status=none
stride=$((20 * 1024 / RUNS)) # MiB
for ((i = 0; i < RUNS; i++)); do
  # Odd, uneven offsets so that runs do not line up with any large alignment.
  dd if=chunk of="$DISK" bs=1M seek=$((i * stride + (i * 37) % 500 + 3)) conv=notrunc status=none
done
rm -f chunk
sync
src_alloc=$(allocated "$DISK")
src_size=$(stat -c %s "$DISK")
echo "source: $src_size B apparent, $src_alloc B allocated"

cp_raw=() cp_sync=() tart_t=()
measure_cp() {
  drop_caches
  local t0 t1 t2
  t0=$(now)
  cp --sparse=always "$DISK" copy.img
  t1=$(now)
  sync -f copy.img
  t2=$(now)
  rm -f copy.img
  cp_raw+=("$(elapsed "$t0" "$t1")")
  cp_sync+=("$(elapsed "$t0" "$t2")")
  echo "round $1: cp --sparse=always ${cp_raw[-1]} s, +sync ${cp_sync[-1]} s"
}
measure_tart() {
  drop_caches
  local t0 t1 img="$TART_HOME/vms/dst-$1/disk.img"
  t0=$(now)
  "$TART" clone src "dst-$1"
  t1=$(now)
  tart_t+=("$(elapsed "$t0" "$t1")")
  [[ $(stat -c %s "$img") == "$src_size" ]] || { echo "clone.sh: $img has the wrong size" >&2; exit 1; }
  clone_alloc=$(allocated "$img")
  "$TART" delete "dst-$1"
  echo "round $1: tart clone ${tart_t[-1]} s"
}

# One untimed copy first: the first read of fresh data is much slower (below
# the page cache, e.g. a VM's host cache, still cold), which would penalise
# whichever side happened to run first.
cp --sparse=always "$DISK" copy.img
rm -f copy.img

# Alternate the order so that neither side always runs on a warmer system.
for ((r = 1; r <= ROUNDS; r++)); do
  if ((r % 2)); then
    measure_cp "$r"
    measure_tart "$r"
  else
    measure_tart "$r"
    measure_cp "$r"
  fi
done

m_raw=$(median "${cp_raw[@]}")
m_sync=$(median "${cp_sync[@]}")
m_tart=$(median "${tart_t[@]}")
echo "copy: cp --sparse=always without sync $m_raw s (median of $ROUNDS)"
awk -v t="$m_tart" -v c="$m_sync" 'BEGIN {
  printf "clone: tart %.2f s, cp --sparse=always+sync %.2f s, ratio %s (target <= 1.10)\n",
    t, c, (c > 0) ? sprintf("%.2f", t / c) : "n/a" }'
awk -v s="$src_alloc" -v c="$clone_alloc" 'BEGIN {
  d = c - s; if (d < 0) d = -d
  printf "allocated: source %.0f B, clone %.0f B, diff %.2f %% (target <= 1 %%)\n", s, c, (s > 0) ? 100 * d / s : 0 }'
