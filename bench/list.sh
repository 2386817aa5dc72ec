#!/usr/bin/env bash
# `tart list --format json` with 1000 local VMs and 1000 cache entries
# (500 cached digests, each with a tag pointing at it).
# Target: under 100 ms.  For scale it also times `find` walking
# the same tree and stat'ing every file, which is the floor any lister pays.
#
# Usage: bench/list.sh [path/to/tart]   (default build/tart)
set -euo pipefail
cd "$(dirname "$0")/.."
TART=$(realpath "${1:-build/tart}")
N=${N:-1000}
RUNS=${RUNS:-11}

work=$(mktemp -d -p "${BENCH_DIR:-/var/tmp}" tart-bench-list.XXXXXX)
trap 'rm -rf "$work"' EXIT
export TART_HOME="$work/home"

"$TART" create proto --linux --disk-size 1 >/dev/null
proto="$TART_HOME/vms/proto"
for i in $(seq -w 1 "$N"); do
  cp -al "$proto" "$TART_HOME/vms/vm-$i"   # hard links: the sizes still add up
done
rm -rf "$proto"
cache="$TART_HOME/cache/OCIs/127.0.0.1%3A5000/bench/img"
mkdir -p "$cache"
for i in $(seq 1 $((N / 2))); do
  d=$(printf 'sha256:%064x' "$i")
  cp -al "$TART_HOME/vms/vm-$(printf "%0${#N}d" 1)" "$cache/$d"
  ln -s "$cache/$d" "$cache/tag-$i"
done

median_ms() {
  # runs "$@" RUNS times, prints the median wall time in ms
  local t=() s e
  for _ in $(seq 1 "$RUNS"); do
    s=$(date +%s%N)
    "$@" >/dev/null
    e=$(date +%s%N)
    t+=($(((e - s) / 1000)))
  done
  printf '%s\n' "${t[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}'
}

rows=$("$TART" list --format json | grep -c '"Name"')
tart_ms=$(median_ms "$TART" list --format json)
find_ms=$(median_ms find "$TART_HOME/vms" "$TART_HOME/cache" -printf '%s %b %A@\n')
ratio=$(awk -v a="$tart_ms" -v b="$find_ms" 'BEGIN {printf "%.2f", a / b}')
echo "list: $rows rows; tart list --format json ${tart_ms} ms (median of $RUNS), find+stat of the same tree ${find_ms} ms, ratio ${ratio}"
echo "list: target < 100 ms: $(awk -v a="$tart_ms" 'BEGIN {print (a < 100) ? "met" : "NOT met"}')"
