#!/usr/bin/env bash
# The NAT network, measured in a network namespace of its own (as root):
#   - `tart network up` from nothing (bridge, nftables, dnsmasq) and `down`;
#   - start to address: `tart run` until `tart ip` (dhcp resolver, our
#     dnsmasq lease) answers, against the same guest with --net-user (QEMU's
#     slirp) until the guest agent reports its address, in one run; the ratio
#     is NAT / user.  Under TCG both are dominated by the guest's boot.
# Usage: bench/network.sh [path/to/tart]   (ROUNDS=3)
set -euo pipefail
cd "$(dirname "$0")/.."
TART=$(realpath "${1:-build/tart}")
ROUNDS=${ROUNDS:-3}
[ "$(id -u)" -eq 0 ] || { echo "bench/network.sh: needs root (network namespace)" >&2; exit 1; }
GUEST=build/test-guest/guest.img
[ -f "$GUEST" ] || tests/guest/build-guest.sh build/test-guest >/dev/null

work=$(mktemp -d)
ns="tart-bench-$$"
run_pid=
cleanup() {
  [ -n "$run_pid" ] && kill -INT "$run_pid" 2>/dev/null && wait "$run_pid" 2>/dev/null
  [ -f "$work/net/dnsmasq.pid" ] && kill "$(cat "$work/net/dnsmasq.pid")" 2>/dev/null
  ip netns del "$ns" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
export TART_HOME="$work/home" TART_NETWORK_DIR="$work/net"
in_ns() { ip netns exec "$ns" "$@"; }
now() { date +%s.%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", (b - a) * 1000}'; }
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

"$TART" create vm --linux --from-image "$GUEST" --firmware bios >/dev/null
"$TART" set vm --cpu 2 --memory 512

up=() down=() nat=() user=()
for _ in $(seq "$ROUNDS"); do
  t0=$(now); in_ns "$TART" network up >/dev/null; t1=$(now)
  up+=("$(ms "$t0" "$t1")")
  t0=$(now); in_ns "$TART" network down; t1=$(now)
  down+=("$(ms "$t0" "$t1")")
done
in_ns "$TART" network up >/dev/null

# start_to_ip MODE: seconds from `tart run` to an address.
start_to_ip() {
  local flag=() resolver=dhcp
  if [ "$1" = user ]; then flag=(--net-user); resolver=agent; fi
  local t0 t1
  t0=$(now)
  in_ns "$TART" run vm --no-graphics "${flag[@]}" >/dev/null 2>&1 &
  run_pid=$!
  for _ in $(seq 600); do
    in_ns "$TART" ip vm --resolver "$resolver" >/dev/null 2>&1 && break
    sleep 0.1
  done
  t1=$(now)
  in_ns "$TART" stop vm --timeout 0 >/dev/null
  wait "$run_pid" 2>/dev/null || true
  run_pid=
  awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}'
}
for _ in $(seq "$ROUNDS"); do
  nat+=("$(start_to_ip nat)")
  user+=("$(start_to_ip user)")
done

u=$(printf '%s\n' "${up[@]}" | median)
d=$(printf '%s\n' "${down[@]}" | median)
n=$(printf '%s\n' "${nat[@]}" | median)
s=$(printf '%s\n' "${user[@]}" | median)
echo "network: up from nothing ${u} ms, down ${d} ms (median of $ROUNDS)"
echo "network: start to address under TCG: NAT (dhcp lease) ${n} s, --net-user (agent) ${s} s," \
  "ratio $(awk -v a="$n" -v b="$s" 'BEGIN {printf "%.2f", a / b}') (median of $ROUNDS)"
