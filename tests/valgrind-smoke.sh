#!/usr/bin/env bash
# Run each verb of the real binary under valgrind (memcheck, full leak
# check) on a throw-away TART_HOME, success and failure paths alike.
# Prints "ok"/"not ok" per command in TAP form; exit status 1 if any failed.
# Usage: tests/valgrind-smoke.sh [path/to/tart]
set -uo pipefail
TART=$(realpath "${1:-build/tart}")
work=$(mktemp -d)
reg_pid=
# The network verbs run in a network namespace of their own (as root).
ns=
cleanup() {
  if [ -n "$reg_pid" ]; then
    kill "$reg_pid" 2>/dev/null
    wait "$reg_pid" 2>/dev/null
  fi
  if [ -n "$ns" ]; then
    [ -f "$work/net/dnsmasq.pid" ] && kill "$(cat "$work/net/dnsmasq.pid")" 2>/dev/null
    ip netns del "$ns" 2>/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# A plain local registry so that push and pull run under valgrind too.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/registry"
printf 'version: 0.1\nlog: {level: error}\nstorage:\n  filesystem: {rootdirectory: %s}\nhttp: {addr: 127.0.0.1:%s}\n' \
  "$work/registry" "$port" >"$work/registry.yml"
env -u REGISTRY docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
reg_pid=$!
for _ in $(seq 50); do
  curl -fs "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break
  sleep 0.1
done
R=127.0.0.1:$port

# A small disk keeps valgrind's pass over it short: 24 MiB, some data.
truncate -s 24M "$work/small.raw"
echo "hostname: x" >"$work/not-user-data.txt"
head -c 3000000 /dev/urandom | dd of="$work/small.raw" bs=1M seek=2 conv=notrunc status=none
yes "valgrind smoke text" | head -c 2000000 | dd of="$work/small.raw" bs=1M seek=20 conv=notrunc status=none
export TART_HOME="$work/home" TART_NO_AUTO_PRUNE=1 TART_RETRY_DELAY_MS=10
VG=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect
    --show-leak-kinds=definite,indirect)

cache="$TART_HOME/cache/OCIs/127.0.0.1%3A5000/org/img"
digest=sha256:$(printf '%064d' 7)

cases=(
  "0|create a --linux --from-image $work/small.raw"
  "0|create b --linux --disk-size 1 --firmware bios"
  "0|clone a c"
  "0|list"
  "0|list --format json"
  "0|list -q --source local"
  "0|get a"
  "0|get a --format json"
  "0|set c --cpu 2 --memory 512 --display 800x600px --random-mac --disk-size 2 --display-refit"
  "1|set c --disk-size 1"
  "0|rename c d"
  "2|delete nope"
  "0|delete d b"
  "64|create x --linux --bogus"
  "64|create ../x --linux"
  "1|create a --linux"
  "2|get nope"
  "0|fqn 127.0.0.1:5000/org/img:latest"
  "0|list --source oci --format json"
  "0|clone 127.0.0.1:5000/org/img:latest fromcache"
  "0|delete 127.0.0.1:5000/org/img:latest"
  "0|--help"
  "0|create --help"
  "0|export a $work/a.tvm"
  "0|import $work/a.tvm imported"
  "0|push a $R/vg/a:v1 $R/vg/a:v2 --insecure --label k=v"
  "0|pull $R/vg/a:v1 --insecure"
  "0|clone $R/vg/a:v2 fromreg --insecure"
  "0|push $R/vg/a:v1 $R/vg/a:v3 --insecure"
  "1|pull $R/vg/missing:v1 --insecure"
  "0|prune --gc"
  "0|prune --older-than 0"
  "64|network set"
  "64|network bogus"
  "0|--generate-completion-script bash"
  "0|--generate-completion-script zsh"
  "0|--generate-completion-script fish"
  "64|--generate-completion-script"
  "64|run a --net-softnet --net-host"
  "64|run a --net-user --cloud-init $work/not-user-data.txt"
  "64|run a --net-user --dir $work/no-such-dir"
  "1|run a --net-user --dir http://$R/v2/none.tar.gz"
)
export TART_NETWORK_DIR="$work/net"
if [ "$(id -u)" -eq 0 ] && ip netns add "tart-vg-$$" 2>/dev/null; then
  ns="tart-vg-$$"
  ip -n "$ns" link set lo up
  cases+=(
    "ns:1|network status"
    "ns:0|network up"
    "ns:0|network status --format json"
    "ns:0|network set --address 192.168.77.1 --lease-time 300"
    "ns:1|ip a --resolver arp"
    "ns:1|ip a"
    "ns:0|network down"
  )
fi

i=0
failed=0
for c in "${cases[@]}"; do
  want=${c%%|*}
  args=${c#*|}
  pre=()
  if [[ "$want" == ns:* ]]; then
    want=${want#ns:}
    pre=(ip netns exec "$ns")
  fi
  i=$((i + 1))
  if [ "$args" = "fqn 127.0.0.1:5000/org/img:latest" ]; then
    # A hand-made cache entry, as pull will create it.
    mkdir -p "$cache"
    cp -a "$TART_HOME/vms/a" "$cache/$digest"
    ln -s "$cache/$digest" "$cache/latest"
  fi
  # shellcheck disable=SC2086
  "${pre[@]}" "${VG[@]}" "$TART" $args >"$work/out" 2>"$work/err"
  rc=$?
  if [ "$rc" = "$want" ]; then
    echo "ok $i - tart $args"
  else
    failed=$((failed + 1))
    echo "not ok $i - tart $args (exit $rc, expected $want)"
    sed 's/^/# /' "$work/err" | head -40
  fi
done
echo "1..$i"
[ "$failed" -eq 0 ]
