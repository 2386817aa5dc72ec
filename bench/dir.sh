#!/usr/bin/env bash
# `run --dir`: how fast the guest reads a shared directory over virtio-fs
# (tart's default as root when virtiofsd exists) and over 9p (other users,
# --suspendable), in one run, with the tiny test guest.  Two workloads,
# timed inside the guest from /proc/uptime: reading one big file, and
# walking plus reading many small files.  Prints both and the ratio
# 9p/virtio-fs (above 1: virtio-fs is faster).
#
# Usage: bench/dir.sh [path/to/tart]      BIG_MIB=128 SMALL_FILES=2000 ROUNDS=3
set -euo pipefail
cd "$(dirname "$0")/.."
TART=$(realpath "${1:-build/tart}")
BIG_MIB=${BIG_MIB:-128}
SMALL_FILES=${SMALL_FILES:-2000}
ROUNDS=${ROUNDS:-3}
[ "$(id -u)" -eq 0 ] || { echo "bench/dir.sh: virtio-fs needs root" >&2; exit 1; }
tests/guest/build-guest.sh "$PWD/build/test-guest" >/dev/null

work=$(mktemp -d -p "${BENCH_DIR:-/var/tmp}" tart-bench-dir.XXXXXX)
rpid=
cleanup() {
  [ -n "$rpid" ] && "$TART" stop vm --timeout 0 >/dev/null 2>&1
  [ -n "$rpid" ] && wait "$rpid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
export TART_HOME="$work/home"
"$TART" create vm --linux --firmware bios --from-image build/test-guest/guest.img >/dev/null
"$TART" set vm --cpu 2 --memory 1024
mkdir -p "$work/share/small"
head -c "$((BIG_MIB * 1024 * 1024))" /dev/urandom >"$work/share/big"
for i in $(seq "$SMALL_FILES"); do printf 'file %d\n' "$i" >"$work/share/small/f$i"; done
sync

# Seconds (centiseconds resolution) a guest shell command takes.
guest_time() {
  "$TART" exec vm /bin/sh -c "a=\$(cut -d' ' -f1 /proc/uptime); $1 >/dev/null; b=\$(cut -d' ' -f1 /proc/uptime); echo \"\$a \$b\"" |
    awk '{printf "%.2f", $2 - $1}'
}
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

declare -A big small
for mode in virtiofs 9p; do
  TART_DIR_SHARING=$mode "$TART" run vm --no-graphics --net-user --dir "$work/share:ro" >"$work/run.out" 2>&1 &
  rpid=$!
  for _ in $(seq 120); do
    grep -q GUEST-READY "$TART_HOME/vms/vm/logs/console.log" 2>/dev/null && "$TART" exec vm /bin/true 2>/dev/null && break
    sleep 1
  done
  fs=$("$TART" exec vm /bin/sh -c "grep ' /mnt/shared ' /proc/mounts | cut -d' ' -f3")
  [ "$fs" = "$mode" ] || { echo "bench/dir.sh: expected $mode in the guest, it has '$fs'" >&2; exit 1; }
  b=() s=()
  for _ in $(seq "$ROUNDS"); do
    # Drop the guest's page cache so each round reads through the share.
    "$TART" exec vm /bin/sh -c 'echo 3 >/proc/sys/vm/drop_caches'
    b+=("$(guest_time 'cat /mnt/shared/big')")
    "$TART" exec vm /bin/sh -c 'echo 3 >/proc/sys/vm/drop_caches'
    s+=("$(guest_time 'cat /mnt/shared/small/*')")
  done
  big[$mode]=$(median "${b[@]}")
  small[$mode]=$(median "${s[@]}")
  "$TART" stop vm --timeout 0 >/dev/null
  wait "$rpid" 2>/dev/null || true
  rpid=
done

accel=$([ -w /dev/kvm ] && echo KVM || echo TCG)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
echo "dir: read one ${BIG_MIB} MiB file: virtio-fs ${big[virtiofs]} s, 9p ${big[9p]} s, 9p/virtio-fs $(ratio "${big[9p]}" "${big[virtiofs]}") ($accel, median of $ROUNDS)"
echo "dir: read ${SMALL_FILES} small files: virtio-fs ${small[virtiofs]} s, 9p ${small[9p]} s, 9p/virtio-fs $(ratio "${small[9p]}" "${small[virtiofs]}") ($accel, median of $ROUNDS)"
