#!/usr/bin/env bash
# The main job on a small built-in example: set up, build, create a VM,
# clone it, and list everything as JSON.  Later capabilities (boot, exec,
# push, pull) extend this script.
#
# It uses its own TART_HOME (build/demo-home) so your ~/.tart is untouched.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
scripts/build.sh build

export TART_HOME="$PWD/build/demo-home"
rm -rf "$TART_HOME"
tart=build/tart

run() {
  echo "+ tart $*"
  "$tart" "$@"
}

run --version
run create demo --linux --disk-size 2
# A little data on the disk so the clone has something to copy.
printf 'hello from tart\n' | dd of="$TART_HOME/vms/demo/disk.img" bs=1 seek=1048576 conv=notrunc status=none
run set demo --cpu 2 --memory 1024
run clone demo demo-clone
run get demo-clone
run list --format json
cmp "$TART_HOME/vms/demo/disk.img" "$TART_HOME/vms/demo-clone/disk.img"
echo "demo: the clone's disk is identical to the source's; its MAC differs:"
grep -h macAddress "$TART_HOME"/vms/*/config.json
