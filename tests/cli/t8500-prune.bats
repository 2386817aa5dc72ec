#!/usr/bin/env bats
# tart prune and automatic pruning before pull (docs/design.md, "Pruning and caches",
# docs/upstream.md, "Pruning"): least recently accessed first, never a running or local VM unless
# asked for VMs, never a running one.

load lib
load registry
load ../helpers/oci-common

# Three small images with different content: $R/p/img:a, :b, :c.
setup_file() {
  registry_start plain
  export FILE_HOME="$BATS_FILE_TMPDIR/src-home"
  (
    export TART_HOME="$FILE_HOME" TART_NO_AUTO_PRUNE=1
    for t in a b c; do
      make_small_vm "vm-$t"
      "$TART" push "vm-$t" --insecure "$REGISTRY/p/img:$t" >/dev/null
    done
  )
}

teardown_file() {
  registry_cleanup
}

# Digest directory of a cached tag.
digest_dir() {
  readlink -f "$(cache_path "$REGISTRY/p/img:$1")"
}

# Make a cache or VM directory look last accessed N days ago.
age() {
  touch -a -d "$2 days ago" "$1"
}

@test "prune without a criterion is a usage error" {
  run --separate-stderr tart prune
  [ "$status" -eq 64 ]
  [[ "${stderr_lines[0]}" == "tart: error: "*"at least one pruning criteria must be specified"* ]]
  run --separate-stderr tart prune --entries vms
  [ "$status" -eq 64 ]
}

@test "prune --older-than: only entries last accessed that long ago; 0 takes every entry" {
  local t
  for t in a b; do
    run tart pull --insecure "$REGISTRY/p/img:$t"
    [ "$status" -eq 0 ]
  done
  local da db
  da="$(digest_dir a)"
  db="$(digest_dir b)"
  age "$da" 3
  run --separate-stderr tart prune --older-than 2
  [ "$status" -eq 0 ]
  [ ! -e "$da" ]
  [ -d "$db" ]
  # The tag of the removed entry went with it.
  run tart list --source oci -q
  [ "$output" = "$REGISTRY/p/img:b"$'\n'"$REGISTRY/p/img@$(basename "$db")" ]
  run --separate-stderr tart prune --older-than 0
  [ "$status" -eq 0 ]
  run tart list --source oci -q
  [ -z "$output" ]
}

@test "prune --space-budget: a budget that fits keeps everything, 0 empties the cache; local VMs untouched" {
  make_vm local
  local t
  for t in a b; do
    run tart pull --insecure "$REGISTRY/p/img:$t"
    [ "$status" -eq 0 ]
  done
  run --separate-stderr tart prune --space-budget 1
  [ "$status" -eq 0 ]
  run tart list --source oci -q
  [ "${#lines[@]}" -eq 4 ]
  run --separate-stderr tart prune --space-budget 0
  [ "$status" -eq 0 ]
  run tart list --source oci -q
  [ -z "$output" ]
  [ -d "$TART_HOME/vms/local" ]
}

@test "prune --entries vms --older-than 1: an old stopped VM goes, a running or recent one stays, caches stay" {
  make_vm old
  make_vm running
  make_vm recent
  run tart pull --insecure "$REGISTRY/p/img:a"
  [ "$status" -eq 0 ]
  local da
  da="$(digest_dir a)"
  age "$da" 5
  age "$TART_HOME/vms/old" 5
  age "$TART_HOME/vms/running" 5
  hold_run_lock running
  run --separate-stderr tart prune --entries vms --older-than 1
  [ "$status" -eq 0 ]
  [ ! -e "$TART_HOME/vms/old" ]
  [ -d "$TART_HOME/vms/running" ]
  [ -d "$TART_HOME/vms/recent" ]
  [ -d "$da" ]
  run tart list --source local -q
  [ "$output" = "recent"$'\n'"running" ]
  # --space-budget 0 on VMs spares the running one too.
  run --separate-stderr tart prune --entries vms --space-budget 0
  [ "$status" -eq 0 ]
  run tart list --source local -q
  [ "$output" = "running" ]
}

@test "prune --gc removes cached digests no tag refers to" {
  run tart pull --insecure "$REGISTRY/p/img:a"
  [ "$status" -eq 0 ]
  local da
  da="$(digest_dir a)"
  rm "$(cache_path "$REGISTRY/p/img:a")" # the tag alone
  [ -d "$da" ]
  run --separate-stderr tart prune --gc
  [ "$status" -eq 0 ]
  [ ! -e "$da" ]
}

# Automatic pruning needs a volume that is nearly full: TART_HOME on a tmpfs
# of our own in a private mount namespace (root only).
can_tmpfs() {
  [[ "$(id -u)" == 0 ]] && unshare -m --propagation private true 2>/dev/null
}

# Runs in the private mount namespace: $1 = "prune" or "noprune".
auto_prune_script() {
  cat <<'EOF'
set -eu
mode="$1"
mkdir -p "$TART_HOME"
mount -t tmpfs -o size=512M tmpfs "$TART_HOME"
pull() { "$TART" pull --insecure "$REGISTRY/p/img:$1" >/dev/null; }
pull a
pull b
da="$(readlink -f "$TART_HOME/cache/OCIs/${REGISTRY/:/%3A}/p/img/a")"
db="$(readlink -f "$TART_HOME/cache/OCIs/${REGISTRY/:/%3A}/p/img/b")"
# b is the least recently accessed, although pulled last.
touch -a -d '3 days ago' "$db"
touch -a -d '1 day ago' "$da"
# tart's size of an entry: allocated bytes of its three files.
alloc() { echo $(( ($(stat -c %b "$1/config.json") + $(stat -c %b "$1/disk.img") + $(stat -c %b "$1/nvram.bin")) * 512 )); }
sb="$(alloc "$db")"
# Shrink the volume so that c's need (its uncompressed-disk-size annotation
# + 128 MiB) exceeds the free space by half of b's size.
disk_size=$((64 << 20))
required=$((disk_size + (128 << 20)))
used=$(( $(stat -f -c '%b - %a' "$TART_HOME") ))
used=$(( used * $(stat -f -c %S "$TART_HOME") ))
want_avail=$(( required - sb / 2 ))
size=$(( used + want_avail ))
mount -o remount,size=$size "$TART_HOME"
avail=$(( $(stat -f -c %a "$TART_HOME") * $(stat -f -c %S "$TART_HOME") ))
echo "b=$sb used=$used avail=$avail required=$required" >&2
if [[ "$mode" == noprune ]]; then
  export TART_NO_AUTO_PRUNE=
else
  unset TART_NO_AUTO_PRUNE
fi
pull c
echo "a=$([[ -d "$da" ]] && echo kept || echo gone)"
echo "b=$([[ -d "$db" ]] && echo kept || echo gone)"
echo "c=$([[ -f "$(readlink -f "$TART_HOME/cache/OCIs/${REGISTRY/:/%3A}/p/img/c")/disk.img" ]] && echo kept || echo gone)"
"$TART" list --source oci -q | sed "s/^${REGISTRY}\///"
EOF
}

@test "auto-prune before pull: the least recently accessed image goes first, only as much as needed" {
  can_tmpfs || skip "needs root and mount namespaces"
  auto_prune_script >"$BATS_TEST_TMPDIR/auto.sh"
  run --separate-stderr env TART="$TART" unshare -m --propagation private bash "$BATS_TEST_TMPDIR/auto.sh" prune
  echo "$stderr" >&2
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = a=kept ]
  [ "${lines[1]}" = b=gone ]
  [ "${lines[2]}" = c=kept ]
  [ "${#lines[@]}" -eq 7 ] # a and c: tag + digest each
  [ "${lines[3]}" = p/img:a ]
  [ "${lines[4]}" = p/img:c ]
}

@test "auto-prune: TART_NO_AUTO_PRUNE (even empty) leaves the cache alone" {
  can_tmpfs || skip "needs root and mount namespaces"
  auto_prune_script >"$BATS_TEST_TMPDIR/auto.sh"
  run --separate-stderr env TART="$TART" unshare -m --propagation private bash "$BATS_TEST_TMPDIR/auto.sh" noprune
  echo "$stderr" >&2
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = a=kept ]
  [ "${lines[1]}" = b=kept ]
  [ "${lines[2]}" = c=kept ]
}
