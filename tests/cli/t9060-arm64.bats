#!/usr/bin/env bats
# An arm64 guest on this amd64 host: the arm64 variant of the tiny test
# guest (tests/guest/build-guest.sh --arch arm64: Debian's arm64 kernel,
# busybox and qemu-ga, systemd-boot for AAVMF) through create --arch
# arm64, run (TCG, qemu-system-aarch64), exec, ip, stop and suspend.
# Cirrus Labs' own Linux images are arm64: this is how they run here.

load lib
load guest # its teardown stops what a test left running (RUN_PID)

# Instead of guest.bash's: the arm64 guest.
setup_file() {
  [ "$(uname -m)" = x86_64 ] || skip "the emulated case is an arm64 guest on an x86 host"
  export GUEST_ARM64="${TART_TEST_GUEST_ARM64:-$TOP/build/test-guest-arm64/guest.img}"
  if [ ! -f "$GUEST_ARM64" ]; then
    "$TOP/tests/guest/build-guest.sh" --arch arm64 "$(dirname "$GUEST_ARM64")" >&3 2>&1
  fi
  [ -f "$GUEST_ARM64" ]
}

# agent_up VM SECONDS: until the guest agent answers; the seconds it took.
agent_up() {
  local i t0=$SECONDS
  for i in $(seq "$2"); do
    tart exec "$1" /bin/true 2>/dev/null && { echo "$((SECONDS - t0))"; return 0; }
    kill -0 "$RUN_PID" 2>/dev/null || break
    sleep 1
  done
  echo "no agent; the run said:" >&2
  cat "$BATS_TEST_TMPDIR/run.out" >&2
  tail -20 "$TART_HOME/vms/$1/logs/console.log" >&2
  return 1
}

@test "arm64 guest under TCG: create --arch arm64, run, exec, ip, suspend, resume, stop" {
  tart create arm --linux --arch arm64 --from-image "$GUEST_ARM64"
  tart set arm --cpu 2 --memory 1024
  [ "$(vm_cfg arm arch)" = arm64 ]
  "$TART" run arm --no-graphics --net-user >"$BATS_TEST_TMPDIR/run.out" 2>&1 3>&- &
  RUN_PID=$!
  local took
  took=$(agent_up arm 180)
  echo "# arm64 guest to its agent under TCG: ${took} s" >&3
  grep -q 'this is an arm64 VM on an amd64 host: it runs under TCG emulation' "$BATS_TEST_TMPDIR/run.out"
  [ "$(tart exec arm /bin/uname -m)" = aarch64 ]
  [[ "$(tart exec arm /bin/cat /proc/cmdline)" == *console=ttyAMA0* ]]
  run --separate-stderr tart ip arm --resolver agent --wait 60
  [ "$status" -eq 0 ]
  [[ "$output" =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]]
  # Suspend and resume: the memory survives.
  tart exec arm /bin/sh -c 'echo kept >/tmp/marker'
  run tart suspend arm
  [ "$status" -eq 0 ]
  for _ in $(seq 300); do kill -0 "$RUN_PID" 2>/dev/null || break; sleep 0.1; done
  wait "$RUN_PID" || true
  [ "$(json_eval "$(tart get arm --format json)" 'd["State"]')" = suspended ]
  "$TART" run arm --no-graphics --net-user >"$BATS_TEST_TMPDIR/run.out" 2>&1 3>&- &
  RUN_PID=$!
  agent_up arm 120 >/dev/null
  [ "$(tart exec arm /bin/cat /tmp/marker)" = kept ]
  # A graceful stop: the power button reaches the guest (ACPI on AAVMF).
  run --separate-stderr tart stop arm --timeout 60
  [ "$status" -eq 0 ]
  [ -z "$stderr" ]
  for _ in $(seq 100); do kill -0 "$RUN_PID" 2>/dev/null || break; sleep 0.1; done
  ! kill -0 "$RUN_PID" 2>/dev/null
  wait "$RUN_PID"
  RUN_PID=
  grep -q 'guest has stopped the virtual machine' "$BATS_TEST_TMPDIR/run.out"
}
