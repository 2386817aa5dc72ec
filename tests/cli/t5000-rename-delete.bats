#!/usr/bin/env bats
# tart rename / tart delete (docs/upstream.md, "Command line and flags").

load lib

@test "rename: the old name is gone, the new one has the same contents" {
  make_vm a
  echo data | dd of="$TART_HOME/vms/a/disk.img" conv=notrunc status=none
  local cfg mac
  cfg="$(sha "$TART_HOME/vms/a/config.json")"
  mac="$(vm_cfg a macAddress)"
  run --separate-stderr tart rename a b
  [ "$status" -eq 0 ]
  [ -z "$output" ]
  [ -z "$stderr" ]
  [ ! -e "$TART_HOME/vms/a" ]
  [ "$(sha "$TART_HOME/vms/b/config.json")" = "$cfg" ]
  [ "$(head -c 4 "$TART_HOME/vms/b/disk.img")" = data ]
  [ "$(vm_cfg b macAddress)" = "$mac" ]
  run tart list -q
  [ "$output" = b ]
  assert_tmp_empty
}

@test "rename keeps extra files of the VM dir (saved state, logs)" {
  make_vm a
  echo state >"$TART_HOME/vms/a/state.qemusave"
  run tart rename a b
  [ "$status" -eq 0 ]
  [ "$(cat "$TART_HOME/vms/b/state.qemusave")" = state ]
}

@test "rename onto an existing VM: exit 1, upstream's message, both untouched" {
  make_vm a
  make_vm b
  local ca cb
  ca="$(sha "$TART_HOME/vms/a/config.json")"
  cb="$(sha "$TART_HOME/vms/b/config.json")"
  run --separate-stderr tart rename a b
  [ "$status" -eq 1 ]
  [ "$stderr" = "tart: error: failed to rename VM a, target VM b already exists, delete it first!" ]
  [ "$(sha "$TART_HOME/vms/a/config.json")" = "$ca" ]
  [ "$(sha "$TART_HOME/vms/b/config.json")" = "$cb" ]
}

@test "rename onto a non-VM directory of that name fails and leaves both" {
  make_vm a
  mkdir -p "$TART_HOME/vms/b"
  echo keep >"$TART_HOME/vms/b/notes"
  run --separate-stderr tart rename a b
  [ "$status" -eq 1 ]
  one_error_line
  [ -f "$TART_HOME/vms/a/config.json" ]
  [ "$(cat "$TART_HOME/vms/b/notes")" = keep ]
}

@test "rename of a missing VM: exit 2" {
  run --separate-stderr tart rename nope b
  [ "$status" -eq 2 ]
  one_error_line "nope"
  [ ! -e "$TART_HOME/vms/b" ]
}

@test "rename to a name with '/' or another invalid name: 64, nothing moves" {
  make_vm a
  local name
  for name in "x/y" ".." "." $'a\tb' "" "127.0.0.1:5000/org/img:latest"; do
    run --separate-stderr tart rename a "$name"
    [ "$status" -eq 64 ] || { echo "new name '$name': status $status" >&2; return 1; }
    one_error_line
  done
  [ "$(ls -A "$TART_HOME/vms")" = a ]
}

@test "rename of a remote name is refused" {
  make_vm tmpl
  make_oci_entry tmpl "127.0.0.1%3A5000" org/img "$(fake_hex img)" latest
  run --separate-stderr tart rename 127.0.0.1:5000/org/img:latest b
  [ "$status" -eq 2 ]
  one_error_line
  [ ! -e "$TART_HOME/vms/b" ]
  [ -L "$TART_HOME/cache/OCIs/127.0.0.1%3A5000/org/img/latest" ]
}

@test "rename of a running VM is refused or keeps it running (never a half state)" {
  make_vm a
  hold_run_lock a
  run --separate-stderr tart rename a b
  if [ "$status" -eq 0 ]; then
    [ -f "$TART_HOME/vms/b/config.json" ]
  else
    [ "$status" -eq 2 ]
    one_error_line "running"
    [ -f "$TART_HOME/vms/a/config.json" ]
    [ ! -e "$TART_HOME/vms/b" ]
  fi
}

@test "delete removes a VM" {
  make_vm a
  make_vm keep
  run --separate-stderr tart delete a
  [ "$status" -eq 0 ]
  [ -z "$output" ]
  [ -z "$stderr" ]
  [ ! -e "$TART_HOME/vms/a" ]
  [ -f "$TART_HOME/vms/keep/disk.img" ]
  assert_tmp_empty
}

@test "delete several VMs at once" {
  make_vm a
  make_vm b
  make_vm c
  run --separate-stderr tart delete a c
  [ "$status" -eq 0 ]
  [ "$(ls -A "$TART_HOME/vms")" = b ]
  assert_tmp_empty
}

@test "delete a local VM and a cached image in one command" {
  make_vm a
  make_vm tmpl
  make_oci_entry tmpl "127.0.0.1%3A5000" org/img "$(fake_hex img)" latest
  run --separate-stderr tart delete a 127.0.0.1:5000/org/img:latest
  [ "$status" -eq 0 ]
  [ ! -e "$TART_HOME/vms/a" ]
  run tart list -q
  [ "$output" = tmpl ]
}

@test "delete of a running VM: exit 1, VM \"x\" is running, the VM stays" {
  # Exit 1, not 2: docs/design.md, "Exit codes" and upstream keep 2 for "does not
  # exist", "is not running" and "is already running"; "is running" is 1.
  make_vm x
  hold_run_lock x
  run --separate-stderr tart delete x
  [ "$status" -eq 1 ]
  [ "$stderr" = 'tart: error: VM "x" is running' ]
  [ -f "$TART_HOME/vms/x/config.json" ]
  [ -f "$TART_HOME/vms/x/disk.img" ]
  [ -f "$TART_HOME/vms/x/nvram.bin" ]
  # still running: the lock was not disturbed
  run tart get x --format json
  [ "$(json_eval "$output" 'd["State"]')" = running ]
  assert_tmp_empty
}

@test "delete of a suspended VM removes it and its saved state" {
  make_vm x
  echo state >"$TART_HOME/vms/x/state.qemusave"
  run --separate-stderr tart delete x
  [ "$status" -eq 0 ]
  [ ! -e "$TART_HOME/vms/x" ]
}

@test "delete of a missing VM: exit 2" {
  run --separate-stderr tart delete nope
  [ "$status" -eq 2 ]
  [ "$stderr" = 'tart: error: the specified VM "nope" does not exist' ]
}

@test "delete stops at the first missing name; the names before it are gone" {
  make_vm a
  make_vm c
  run --separate-stderr tart delete a nope c
  [ "$status" -eq 2 ]
  one_error_line '"nope"'
  [ ! -e "$TART_HOME/vms/a" ]
  [ -f "$TART_HOME/vms/c/config.json" ]
}

@test "delete of a broken VM dir (no disk.img) works" {
  make_vm broken
  rm "$TART_HOME/vms/broken/disk.img"
  run --separate-stderr tart delete broken
  [ "$status" -eq 0 ]
  [ ! -e "$TART_HOME/vms/broken" ]
  assert_tmp_empty
}

@test "delete of a VM dir with no files at all works" {
  mkdir -p "$TART_HOME/vms/empty/logs"
  run --separate-stderr tart delete empty
  [ "$status" -eq 0 ]
  [ ! -e "$TART_HOME/vms/empty" ]
}

@test "delete never follows names out of vms/" {
  make_vm a
  mkdir -p "$TART_HOME/victim"
  echo keep >"$TART_HOME/victim/file"
  local name
  for name in ".." "." "../victim" "" "a/.."; do
    run --separate-stderr tart delete "$name"
    [ "$status" -ne 0 ] || { echo "delete '$name' succeeded" >&2; return 1; }
    one_error_line
  done
  [ "$(cat "$TART_HOME/victim/file")" = keep ]
  [ -f "$TART_HOME/vms/a/config.json" ]
  [ -d "$TART_HOME/vms" ]
}

@test "delete of a symlink in vms/ does not remove its target" {
  make_vm real
  ln -s "$TART_HOME/vms/real" "$TART_HOME/vms/link"
  run --separate-stderr tart delete link
  # whatever the answer, the real VM's files survive
  [ -f "$TART_HOME/vms/real/config.json" ]
  [ -f "$TART_HOME/vms/real/disk.img" ]
}
