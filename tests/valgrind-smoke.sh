#!/usr/bin/env bash
# Run each verb of the real binary under valgrind (memcheck, full leak
# check) on a throw-away TART_HOME, success and failure paths alike.
# Prints "ok"/"not ok" per command in TAP form; exit status 1 if any failed.
# Usage: tests/valgrind-smoke.sh [path/to/tart]
set -uo pipefail
TART=$(realpath "${1:-build/tart}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export TART_HOME="$work/home"
VG=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect
    --show-leak-kinds=definite,indirect)

cache="$TART_HOME/cache/OCIs/127.0.0.1%3A5000/org/img"
digest=sha256:$(printf '%064d' 7)

cases=(
  "0|create a --linux --disk-size 1"
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
)

i=0
failed=0
for c in "${cases[@]}"; do
  want=${c%%|*}
  args=${c#*|}
  i=$((i + 1))
  if [ "$args" = "fqn 127.0.0.1:5000/org/img:latest" ]; then
    # A hand-made cache entry, as pull will create it.
    mkdir -p "$cache"
    cp -a "$TART_HOME/vms/a" "$cache/$digest"
    ln -s "$cache/$digest" "$cache/latest"
  fi
  # shellcheck disable=SC2086
  "${VG[@]}" "$TART" $args >"$work/out" 2>"$work/err"
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
