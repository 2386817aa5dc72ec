#!/usr/bin/env bats
# Garbage collection of $TART_HOME/tmp (docs/upstream.md, "Locks and running state"): abandoned entries are
# removed before every command except pull and clone; entries flock'ed by
# their owner are left alone.

load lib

# Hold a flock on $1 in the background until teardown (own process group,
# fd 3 closed so bats does not wait for it).
hold_flock() {
  setsid flock -o "$1" sleep 3600 </dev/null >/dev/null 2>&1 3>&- &
  LOCK_PIDS+=("$!")
  local i
  for i in $(seq 100); do
    flock -n "$1" true || return 0 # taken: the holder has it
    sleep 0.05
  done
  echo "the background flock never took $1" >&2
  return 1
}

# Initialize TART_HOME.
init_home() {
  run tart list
  [ "$status" -eq 0 ]
}

@test "a stale directory in tmp/ is removed by the next tart list" {
  init_home
  mkdir -p "$TART_HOME/tmp/stale/sub"
  echo x >"$TART_HOME/tmp/stale/sub/disk.img"
  run --separate-stderr tart list
  [ "$status" -eq 0 ]
  [ -z "$stderr" ]
  [ ! -e "$TART_HOME/tmp/stale" ]
  assert_tmp_empty
}

@test "stale files in tmp/ (set-disk-*, *.ipsw) are removed too" {
  init_home
  echo x >"$TART_HOME/tmp/set-disk-0B7C1D3E-0000-4000-8000-000000000000"
  echo x >"$TART_HOME/tmp/9A6D5C4B-0000-4000-8000-000000000000.ipsw"
  run tart get nope
  [ "$status" -eq 2 ]
  assert_tmp_empty
}

@test "a tmp dir held with flock survives tart list" {
  init_home
  mkdir "$TART_HOME/tmp/x"
  echo data >"$TART_HOME/tmp/x/disk.img"
  mkdir "$TART_HOME/tmp/stale"
  hold_flock "$TART_HOME/tmp/x"
  run --separate-stderr tart list
  [ "$status" -eq 0 ]
  [ -z "$stderr" ]
  [ "$(cat "$TART_HOME/tmp/x/disk.img")" = data ]
  [ ! -e "$TART_HOME/tmp/stale" ]
  # once released, it is collected
  kill -- "-${LOCK_PIDS[0]}"
  wait "${LOCK_PIDS[0]}" || true
  run tart list
  [ "$status" -eq 0 ]
  assert_tmp_empty
}

@test "a tmp file held with flock survives tart list" {
  init_home
  echo data >"$TART_HOME/tmp/set-disk-1"
  hold_flock "$TART_HOME/tmp/set-disk-1"
  run tart list
  [ "$status" -eq 0 ]
  [ "$(cat "$TART_HOME/tmp/set-disk-1")" = data ]
}

@test "every verb that is not pull or clone collects tmp/" {
  make_vm a
  local cmd
  for cmd in "list" "get a" "set a --cpu 2" "create b --linux --disk-size 1" "rename b c" "delete c" \
    "fqn a"; do
    mkdir -p "$TART_HOME/tmp/stale"
    # shellcheck disable=SC2086
    run tart $cmd
    [ "$status" -eq 0 ] || { echo "tart $cmd: $output" >&2; return 1; }
    [ ! -e "$TART_HOME/tmp/stale" ] || { echo "tart $cmd left tmp/stale" >&2; return 1; }
  done
}

@test "tart clone does not collect tmp/ (an interrupted pull may resume from it)" {
  make_vm src
  mkdir -p "$TART_HOME/tmp/0123456789abcdef0123456789abcdef"
  echo partial >"$TART_HOME/tmp/0123456789abcdef0123456789abcdef/disk.img"
  run --separate-stderr tart clone src dst
  [ "$status" -eq 0 ]
  [ -f "$TART_HOME/vms/dst/disk.img" ]
  [ "$(cat "$TART_HOME/tmp/0123456789abcdef0123456789abcdef/disk.img")" = partial ]
  # clone's own working dir is gone: only the stale entry is left
  [ "$(ls -A "$TART_HOME/tmp")" = 0123456789abcdef0123456789abcdef ]
  # the next list collects it
  run tart list
  assert_tmp_empty
}

@test "tmp GC does not follow a symlink in tmp/ out of it" {
  init_home
  mkdir "$BATS_TEST_TMPDIR/outside"
  echo keep >"$BATS_TEST_TMPDIR/outside/file"
  ln -s "$BATS_TEST_TMPDIR/outside" "$TART_HOME/tmp/link"
  run tart list
  [ "$status" -eq 0 ]
  [ "$(cat "$BATS_TEST_TMPDIR/outside/file")" = keep ]
}

@test "a GC failure is reported but not fatal" {
  init_home
  mkdir -p "$TART_HOME/tmp/stale/locked"
  touch "$TART_HOME/tmp/stale/locked/f"
  # Make the entry impossible to remove: an immutable file stops even root;
  # without root, a read-only directory does.
  local undo
  if [ "$(id -u)" -eq 0 ]; then
    chattr +i "$TART_HOME/tmp/stale/locked/f" 2>/dev/null || skip "chattr +i does not work here"
    undo=(chattr -i "$TART_HOME/tmp/stale/locked/f")
  else
    chmod 500 "$TART_HOME/tmp/stale/locked"
    undo=(chmod 700 "$TART_HOME/tmp/stale/locked")
  fi
  run --separate-stderr tart list -q
  "${undo[@]}"
  [ "$status" -eq 0 ]
  [[ "$stderr" == *"Failed to perform garbage collection"* ]]
  [ "${#stderr_lines[@]}" -eq 1 ]
}
