#!/usr/bin/env bash
# The main job on a small built-in example: set up, build, make the tiny test
# guest, boot it, run a command in it, show its IP, stop it, clone it, push
# it to a local registry, pull it back, and check the disk is identical.
#
# It uses its own TART_HOME (build/demo-home) and a docker-registry on a
# random loopback port, so your ~/.tart is untouched.  As root, the VM runs on
# the NAT network (bridge, dnsmasq, nftables), set up inside a network
# namespace of the demo's own so that the host's network is left alone;
# otherwise it uses user-mode networking.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
scripts/build.sh build

export TART_HOME="$PWD/build/demo-home"
rm -rf "$TART_HOME"
mkdir -p "$TART_HOME"
# TART=/usr/bin/tart runs the job against an installed tart (scripts/test.sh
# does, with the .deb of scripts/deb.sh).
tart=${TART:-build/tart}

run() {
  echo "+ tart $*"
  "$tart" "$@"
}

# A throw-away registry on loopback.
reg_dir=$(mktemp -d)
reg_pid=
run_pid=
ns=
cleanup() {
  if [ -n "$run_pid" ] && kill -0 "$run_pid" 2>/dev/null; then
    kill -INT "$run_pid" 2>/dev/null || true
    wait "$run_pid" 2>/dev/null || true
  fi
  if [ -n "$ns" ]; then
    ip netns exec "$ns" "$tart" network down >/dev/null 2>&1 || true
    ip netns del "$ns" 2>/dev/null || true
  fi
  if [ -n "$reg_pid" ]; then
    kill "$reg_pid" 2>/dev/null || true
    wait "$reg_pid" 2>/dev/null || true
  fi
  rm -rf "$reg_dir"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'version: 0.1\nlog: {level: error}\nstorage:\n  filesystem: {rootdirectory: %s}\nhttp: {addr: 127.0.0.1:%s}\n' \
  "$reg_dir/data" "$port" >"$reg_dir/config.yml"
env -u REGISTRY docker-registry serve "$reg_dir/config.yml" >"$reg_dir/log" 2>&1 &
reg_pid=$!
for _ in $(seq 50); do
  curl -fs "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break
  sleep 0.1
done
image="127.0.0.1:$port/demo/vm:latest"

run --version
tests/guest/build-guest.sh "$PWD/build/test-guest"
run create demo --linux --from-image build/test-guest/guest.img
run set demo --cpu 2 --memory 512
netrun=()
net_flag=--net-user
if [ "$(id -u)" -eq 0 ] && ip netns add "tart-demo-$$" 2>/dev/null; then
  ns="tart-demo-$$"
  ip -n "$ns" link set lo up
  export TART_NETWORK_DIR="$PWD/build/demo-net"
  rm -rf "$TART_NETWORK_DIR"
  netrun=(ip netns exec "$ns")
  net_flag=
  echo "+ (in network namespace $ns) tart network up"
  "${netrun[@]}" "$tart" network up
fi
echo "+ tart run demo --no-graphics $net_flag &"
"${netrun[@]}" "$tart" run demo --no-graphics $net_flag &
run_pid=$!
# Bounded: the guest answers within seconds under KVM and within about 15 s
# under TCG; a run that ends (it says why in one line) ends the demo.
ready=
for _ in $(seq 120); do
  if "$tart" exec demo /bin/true 2>/dev/null; then
    ready=1
    break
  fi
  if ! kill -0 "$run_pid" 2>/dev/null; then
    wait "$run_pid" || true
    run_pid=
    echo "demo: tart run ended before the guest answered (its error is above)" >&2
    exit 1
  fi
  sleep 1
done
if [ -z "$ready" ]; then
  echo "demo: the guest's agent did not answer within 120 s; see $TART_HOME/vms/demo/logs/" >&2
  exit 1
fi
run exec demo /bin/sh -c 'echo "hello from $(hostname), kernel $(uname -r)"'
echo "+ tart ip demo --wait 30"
"${netrun[@]}" "$tart" ip demo --wait 30
if [ -n "$ns" ]; then
  run exec demo /bin/sh -c 'ping -c 1 -W 2 192.168.64.1 | head -2'
  echo "+ tart network status"
  "${netrun[@]}" "$tart" network status
fi
echo "+ tart stop demo"
"${netrun[@]}" "$tart" stop demo
wait "$run_pid"
disk="$TART_HOME/vms/demo/disk.img"
run clone demo demo-clone
run get demo-clone
run push demo "$image" --insecure
run delete demo-clone
run clone "$image" from-registry --insecure
run list --format json
cmp "$disk" "$TART_HOME/vms/from-registry/disk.img"
echo "demo: the VM pulled back from $image has the same disk as the one pushed"
echo "demo: allocated bytes: pushed $(($(stat -c %b "$disk") * 512)), pulled" \
  "$(($(stat -c %b "$TART_HOME/vms/from-registry/disk.img") * 512))"
