#!/usr/bin/env bash
# The main job on a small built-in example: set up, build, create a VM with
# a little data on its disk, clone it, push it to a local registry, pull it
# back, and check the pulled disk is identical.  (Booting it, showing its IP
# and exec'ing in it arrive with `tart run`.)
#
# It uses its own TART_HOME (build/demo-home) and a docker-registry on a
# random loopback port, so your ~/.tart is untouched.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
scripts/build.sh build

export TART_HOME="$PWD/build/demo-home"
rm -rf "$TART_HOME"
mkdir -p "$TART_HOME"
tart=build/tart

run() {
  echo "+ tart $*"
  "$tart" "$@"
}

# A throw-away registry on loopback.
reg_dir=$(mktemp -d)
reg_pid=
cleanup() {
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
run create demo --linux --disk-size 2
# Some data on the disk: text and random bytes, the rest stays a hole.
disk="$TART_HOME/vms/demo/disk.img"
# (process substitution: yes's SIGPIPE must not count as a failure)
dd of="$disk" bs=1M seek=1 conv=notrunc status=none < <(yes 'hello from tart' | head -c 4000000 || true)
dd of="$disk" bs=1M seek=700 conv=notrunc status=none < <(head -c 8000000 /dev/urandom)
run set demo --cpu 2 --memory 1024
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
