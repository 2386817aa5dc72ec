#!/usr/bin/env bats
# The tools that drive Tart, replayed with their exact calls against the
# real binary and the tiny guest (issue: drop-in for cirrus-cli, GitLab,
# Packer, Orchard, Buildkite).  Each test names the source it was read
# from.  Networking runs in a namespace of the test's own.

load lib
load guest

setup() {
  export TART_HOME="$BATS_TEST_TMPDIR/home"
  export HOME="$BATS_TEST_TMPDIR/user"
  mkdir -p "$HOME"
  RUN_PID=
  NS=
}

teardown() {
  if [ -n "${RUN_PID:-}" ]; then
    kill -INT "$RUN_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$RUN_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$RUN_PID" 2>/dev/null || true
  fi
  if [ -n "$NS" ]; then
    [ -f "$TART_NETWORK_DIR/dnsmasq.pid" ] && kill "$(cat "$TART_NETWORK_DIR/dnsmasq.pid")" 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
  fi
}

# in_ns ARGS...: tart inside the test's network namespace.
in_ns() {
  ip netns exec "$NS" "$TART" "$@"
}

# cirrus-cli, tart isolation: internal/executor/instance/persistentworker/
# isolation/tart/vm.go of cirruslabs/cirrus-cli at 1769788a ("Bump Go
# dependencies (#1064)"): clone, set --random-mac/--cpu/--memory/--disk-size,
# run with its fixed flags and a --dir "name:path:tag=T,ro", ip --wait 30,
# get --format json (Info{OS `json:"os"`}), stop --timeout 5, delete.
@test "cirrus-cli: clone, set, run --no-graphics --no-clipboard --no-audio --root-disk-opts sync=none --dir, ip, get, stop, delete" {
  [ "$(id -u)" -eq 0 ] || skip "needs root (the NAT network in a namespace)"
  NS="tart-cli$$-${BATS_TEST_NUMBER}"
  ip netns add "$NS"
  ip -n "$NS" link set lo up
  export TART_NETWORK_DIR="$BATS_TEST_TMPDIR/net"
  make_guest base --firmware bios
  local vm="cirrus-task-1" share="$BATS_TEST_TMPDIR/work"
  mkdir -p "$share"
  echo from-host >"$share/hello"
  tart clone base "$vm"
  tart set "$vm" --random-mac
  tart set "$vm" --cpu 2
  tart set "$vm" --memory 512
  tart set "$vm" --disk-size 1
  TART_LOG=debug ip netns exec "$NS" "$TART" run --no-graphics --no-clipboard --no-audio --root-disk-opts sync=none \
    --dir "working-dir:$share:tag=tart.virtiofs.working-dir,ro" "$vm" >"$BATS_TEST_TMPDIR/run.out" 2>&1 3>&- &
  RUN_PID=$!
  run in_ns ip --wait 30 "$vm"
  if [ "$status" -ne 0 ]; then
    # A TCG boot of the tiny guest can take longer than cirrus-cli's 30 s here.
    run in_ns ip --wait 60 "$vm"
  fi
  [ "$status" -eq 0 ] || { cat "$BATS_TEST_TMPDIR/run.out" >&2; return 1; }
  [[ "$output" =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]]
  # sync=none reached QEMU as a cache mode that drops flushes.
  grep -q 'id=root,discard=unmap,detect-zeroes=unmap,cache=unsafe' "$BATS_TEST_TMPDIR/run.out"
  run --separate-stderr tart get --format json "$vm"
  [ "$status" -eq 0 ]
  [ "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["OS"])' <<<"$output")" = linux ]
  # What the task's script sees, through the agent (cirrus-cli uses ssh).
  run in_ns exec "$vm" /bin/sh -c 'mkdir -p /mnt/w && mount -t virtiofs tart.virtiofs.working-dir /mnt/w 2>/dev/null ||
    mount -t 9p -o trans=virtio,version=9p2000.L tart.virtiofs.working-dir /mnt/w
    cat /mnt/w/working-dir/hello 2>/dev/null || cat /mnt/w/hello'
  [ "$status" -eq 0 ] || { echo "$output" >&2; return 1; }
  [ "$output" = from-host ]
  run in_ns stop --timeout 5 "$vm"
  [ "$status" -eq 0 ]
  wait "$RUN_PID"
  RUN_PID=
  run tart delete "$vm"
  [ "$status" -eq 0 ]
}

@test "run accepts every upstream flag: macOS-only ones with one notice each, --root-disk-opts checked" {
  make_guest vm
  run --separate-stderr tart run vm --root-disk-opts sync=maybe
  [ "$status" -eq 64 ]
  one_error_line 'invalid --root-disk-opts: unknown option "sync=maybe"'
  TART_LOG=debug "$TART" run vm --no-graphics --net-user --no-audio --no-clipboard --no-keyboard --no-pointer \
    --no-trackpad --capture-system-keys --rosetta=ROSETTA --root-disk-opts ro,caching=uncached \
    >"$BATS_TEST_TMPDIR/run.out" 2>&1 3>&- &
  RUN_PID=$!
  local i
  for i in $(seq 100); do grep -q 'tart: debug: qemu: ' "$BATS_TEST_TMPDIR/run.out" && break; sleep 0.1; done
  local out="$BATS_TEST_TMPDIR/run.out"
  [ "$(grep -c 'tart: notice: --no-trackpad has no effect on Linux hosts' "$out")" -eq 1 ]
  [ "$(grep -c 'tart: notice: --capture-system-keys has no effect on Linux hosts' "$out")" -eq 1 ]
  [ "$(grep -c 'tart: notice: --rosetta .* has no effect on Linux hosts' "$out")" -eq 1 ]
  local line
  line=$(sed -n 's/^tart: debug: qemu: //p' "$out" | tail -n 1)
  [[ "$line" == *"id=root,discard=unmap,detect-zeroes=unmap,cache=none,readonly=on"* ]]
  [[ "$line" != *"usb-tablet"* ]]
  tart stop vm --timeout 0
  wait "$RUN_PID" || true
  RUN_PID=
}

# Orchard's worker sends `tart stop` right after `tart run` starts
# (internal/worker/vmmanager/tart of cirruslabs/orchard): a request that
# comes at any moment of the start-up is handled as one, never a kill.
# exec_wait PID: until PID is tart holding the run-control signals (its
# first step, before anything else).  Before that the process is the shell
# about to exec it, or tart's C runtime start-up: a background job inherits
# SIGINT ignored, and an ignored signal is dropped by the kernel before any
# code of ours could take it.
exec_wait() {
  local i blk
  for i in $(seq 5000); do
    blk=$(sed -n 's/^SigBlk:[[:space:]]*//p' "/proc/$1/status" 2>/dev/null)
    # SIGINT is bit 1, SIGUSR1 bit 9, SIGUSR2 bit 11, SIGTERM bit 14.
    [ -n "$blk" ] && (((0x$blk & 0x4A02) == 0x4A02)) && return 0
    kill -0 "$1" 2>/dev/null || return 0
  done
}

@test "stop, suspend and SIGINT at any moment of the start-up are requests, never a kill" {
  make_guest vm
  local d sig status
  for d in 0 0.001 0.005 0.02 0.05 0.1 0.3 0.6 1.2; do
    for sig in INT TERM USR1 USR2; do
      "$TART" run vm --no-graphics --net-user >"$BATS_TEST_TMPDIR/run.out" 2>&1 3>&- &
      RUN_PID=$!
      exec_wait "$RUN_PID"
      sleep "$d"
      kill -"$sig" "$RUN_PID" 2>/dev/null || true
      # A suspend request may come before there is anything to save, and a
      # booting guest may ignore the power button: the run goes on, and a
      # stop ends it (as `tart stop` escalates).
      if [ "$sig" = USR1 ] || [ "$sig" = USR2 ]; then
        sleep 0.5
        kill -INT "$RUN_PID" 2>/dev/null || true
      fi
      status=0
      wait_exit 60 || { echo "delay $d SIG$sig: the run did not end" >&2; return 1; }
      # Killed by the signal would be 128 + its number.
      [ "$RUN_STATUS" -lt 128 ] || { echo "delay $d SIG$sig: exit $RUN_STATUS" >&2; cat "$BATS_TEST_TMPDIR/run.out" >&2; return 1; }
      [ ! -e "$TART_HOME/vms/vm/state.qemusave" ] || rm -f "$TART_HOME/vms/vm/state.qemusave" "$TART_HOME/vms/vm/state.devices.json"
      ! pgrep -f "guest=tart-vm( |$)" >/dev/null
    done
  done
  # And through tart stop, as Orchard does it.
  for d in 0 0.05 0.2 0.5; do
    "$TART" run vm --no-graphics --net-user >"$BATS_TEST_TMPDIR/run.out" 2>&1 3>&- &
    RUN_PID=$!
    sleep "$d"
    for _ in $(seq 100); do tart stop vm --timeout 0 2>/dev/null && break; kill -0 "$RUN_PID" || break; sleep 0.05; done
    wait_exit 60
    [ "$RUN_STATUS" -eq 0 ] || { cat "$BATS_TEST_TMPDIR/run.out" >&2; return 1; }
  done
}

@test "exec -- cmd: the -- ends tart's options, it is not the guest's program" {
  make_guest vm
  "$TART" run vm --no-graphics --net-user >"$BATS_TEST_TMPDIR/run.out" 2>&1 3>&- &
  RUN_PID=$!
  local i
  for i in $(seq 120); do tart exec vm /bin/true 2>/dev/null && break; sleep 1; done
  run tart exec vm -- /bin/echo hello
  [ "$status" -eq 0 ]
  [ "$output" = hello ]
  run tart exec -- vm /bin/echo two
  [ "$status" -eq 0 ]
  [ "$output" = two ]
  run --separate-stderr tart exec vm --
  [ "$status" -eq 64 ]
  one_error_line "missing expected argument: <command>"
  tart stop vm --timeout 0
}
