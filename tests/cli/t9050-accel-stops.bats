#!/usr/bin/env bats
# The accelerator is chosen by what works (TART_ACCEL, a /dev/kvm that is
# missing, not KVM, or cannot run guests), and a guest that stops running on
# its own ends `tart run` with one line: a kernel panic (pvpanic), a disk
# with nothing to boot under SeaBIOS and OVMF, a host disk that fills during
# a guest write, a reset loop (triple fault).  `tart ip --wait` and `tart
# exec` return at once with the reason.

load lib
load guest

# start NAME [run flags...]: tart run in the background (RUN_PID); its
# output in $BATS_TEST_TMPDIR/run-NAME.out.
start() {
  local name=$1
  shift
  "$TART" run "$name" --no-graphics --net-user "$@" >"$BATS_TEST_TMPDIR/run-$name.out" 2>&1 3>&- &
  RUN_PID=$!
}

# Until the guest's agent answers (at most $2 s, default 90).
wait_agent() {
  local i
  for i in $(seq "${2:-90}"); do
    tart exec "$1" /bin/true 2>/dev/null && return 0
    kill -0 "$RUN_PID" 2>/dev/null || { cat "$BATS_TEST_TMPDIR/run-$1.out" >&2; return 1; }
    sleep 1
  done
  return 1
}

# Until VM $1 holds its run lock (QMP is up).
wait_running() {
  local i
  for i in $(seq 300); do
    [ -S "$TART_HOME/vms/$1/qmp.sock" ] && return 0
    kill -0 "$RUN_PID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# The run's output ends with exactly one error line containing $2.
run_failed_with() {
  local out="$BATS_TEST_TMPDIR/run-$1.out"
  [ "$RUN_STATUS" -eq 1 ] || { echo "run exited $RUN_STATUS" >&2; cat "$out" >&2; return 1; }
  [ "$(grep -c '^tart: error: ' "$out")" -eq 1 ] || { cat "$out" >&2; return 1; }
  local last
  last=$(tail -n 1 "$out")
  [[ "$last" == "tart: error: "*"$2"* ]] || { echo "last line: $last" >&2; return 1; }
}

# The VM is stopped, nothing of the run is left, and it can run again.
stopped_and_clean() {
  run tart get "$1" --format json
  [[ "$output" == *'"State": "stopped"'* ]]
  [ ! -e "$TART_HOME/vms/$1/qmp.sock" ]
  ! pgrep -f "guest=tart-$1( |$)" >/dev/null
}

# The QEMU command line of a run, from its debug output.
qemu_line() {
  sed -n 's/^tart: debug: qemu: //p' "$BATS_TEST_TMPDIR/run-$1.out" | tail -n 1
}

# The reasons a KVM that cannot run the guest is given (an ERE).
KVM_CANNOT='(KVM stopped it at its first instructions|QEMU could not start under it \()'

# in_ns_without_kvm FILE CMD...: run CMD in a mount namespace where
# /dev/kvm is FILE bind-mounted over it (or absent, if the host has none).
in_ns_without_kvm() {
  local file=$1
  shift
  unshare -m bash -c '[ ! -e /dev/kvm ] || mount --bind "$0" /dev/kvm && exec "$@"' "$file" "$@"
}

@test "TART_ACCEL: a bad value is a usage error; tcg is used when asked, without a notice" {
  make_guest vm
  run --separate-stderr env TART_ACCEL=fast "$TART" run vm --no-graphics --net-user
  [ "$status" -eq 64 ]
  one_error_line 'TART_ACCEL must be auto, kvm or tcg, not "fast"'

  TART_ACCEL=tcg TART_LOG=debug start vm
  wait_agent vm
  [[ "$(qemu_line vm)" == *"-accel tcg -cpu max"* ]]
  ! grep -q 'tart: notice' "$BATS_TEST_TMPDIR/run-vm.out"
  tart stop vm --timeout 30
  wait_exit 20
  [ "$RUN_STATUS" -eq 0 ]
}

@test "no usable /dev/kvm: auto says why and runs under TCG; TART_ACCEL=kvm fails in one line" {
  [ "$(id -u)" -eq 0 ] || skip "needs root (a mount namespace hiding /dev/kvm)"
  make_guest vm
  : >"$BATS_TEST_TMPDIR/not-a-device"
  run --separate-stderr in_ns_without_kvm "$BATS_TEST_TMPDIR/not-a-device" env TART_ACCEL=kvm "$TART" run vm --net-user
  [ "$status" -eq 1 ]
  one_error_line "TART_ACCEL=kvm, but /dev/kvm is missing (no KVM on this host); unset TART_ACCEL to run under TCG"
  stopped_and_clean vm
  # A character device that is not KVM.
  if [ -e /dev/kvm ]; then
    run --separate-stderr in_ns_without_kvm /dev/null env TART_ACCEL=kvm "$TART" run vm --net-user
    [ "$status" -eq 1 ]
    one_error_line "TART_ACCEL=kvm, but /dev/kvm does not answer as KVM: Inappropriate ioctl for device"
  fi

  TART_LOG=debug in_ns_without_kvm "$BATS_TEST_TMPDIR/not-a-device" "$TART" run vm --no-graphics --net-user \
    >"$BATS_TEST_TMPDIR/run-vm.out" 2>&1 3>&- &
  RUN_PID=$!
  wait_agent vm
  grep -qx 'tart: notice: /dev/kvm is missing (no KVM on this host): running under TCG emulation, which is slow' \
    "$BATS_TEST_TMPDIR/run-vm.out"
  [[ "$(qemu_line vm)" == *"-accel tcg"* ]]
  tart stop vm --timeout 30
  wait_exit 20
  [ "$RUN_STATUS" -eq 0 ]
}

@test "a /dev/kvm that cannot run the guest: fallback to TCG, remembered this boot; TART_ACCEL=kvm names why" {
  [ -c /dev/kvm ] || skip "no /dev/kvm on this host: the fallback from a KVM that cannot run guests is not exercised here"
  [ -r /dev/kvm ] && [ -w /dev/kvm ] || skip "/dev/kvm is not accessible to this user"
  make_guest vm
  local verdict="$TART_HOME/cache/kvm-verdict.json"
  TART_LOG=debug start vm
  wait_agent vm
  local out="$BATS_TEST_TMPDIR/run-vm.out"
  if ! grep -q 'restarting it under TCG' "$out"; then
    # A KVM that runs guests: it was used, silently, and nothing was written.
    [[ "$(qemu_line vm)" == *"-accel kvm -cpu host"* ]]
    ! grep -q 'tart: notice' "$out"
    [ ! -e "$verdict" ]
    skip "KVM runs guests on this host (checked: used without a notice): no fallback to exercise"
  fi
  # One notice, naming the reason; the guest runs under TCG.  Such a KVM
  # either stops the guest at its first instructions (an internal error)
  # or makes QEMU give up at once (an assertion in its KVM code): the two
  # kvm_pvm hosts we have met.
  [ "$(grep -Ec "^tart: notice: /dev/kvm cannot run this guest: $KVM_CANNOT" "$out")" -eq 1 ]
  [[ "$(qemu_line vm)" == *"-accel tcg -cpu max"* ]]
  grep -q '"kvm": "cannot-run"' "$verdict"
  run tart exec vm /bin/sh -c 'echo alive'
  [ "$status" -eq 0 ] && [ "$output" = alive ]
  tart stop vm --timeout 30
  wait_exit 20
  [ "$RUN_STATUS" -eq 0 ]

  # The next run goes straight to TCG, saying so.
  TART_LOG=debug start vm
  wait_agent vm
  grep -q '^tart: notice: /dev/kvm cannot run this guest: .*(found earlier since this host booted): running under TCG' "$out"
  [ "$(grep -c 'tart: debug: qemu: ' "$out")" -eq 1 ]
  tart stop vm --timeout 30
  wait_exit 20

  # TART_ACCEL=kvm: at once from the verdict, and by trying without one.
  run --separate-stderr env TART_ACCEL=kvm "$TART" run vm --no-graphics --net-user
  [ "$status" -eq 1 ]
  one_error_line "TART_ACCEL=kvm, but /dev/kvm cannot run this guest: "
  [[ "$stderr" =~ "cannot run this guest: "$KVM_CANNOT ]]
  rm "$verdict"
  local t0=$SECONDS
  run --separate-stderr env TART_ACCEL=kvm "$TART" run vm --no-graphics --net-user
  [ "$status" -eq 1 ]
  one_error_line "TART_ACCEL=kvm, but KVM cannot run this guest: "
  [[ "$stderr" =~ "KVM cannot run this guest: "$KVM_CANNOT ]]
  [[ "$stderr" == *"logs/qemu.log)" ]]
  [ $((SECONDS - t0)) -lt 20 ]
  stopped_and_clean vm
  run tart exec vm /bin/true
  [ "$status" -eq 2 ]
  [[ "$output" == *"is not running (its last run ended: "*"TART_ACCEL=kvm, but KVM cannot run"* ]]
  # Forced, it says nothing for other runs: no verdict was written.
  [ ! -e "$verdict" ]

  # A run that hands out a pty (or a VNC URL, or returns with --detach)
  # must not restart afterwards: it asks KVM first (a probe of a second),
  # and starts under TCG at once.
  t0=$SECONDS
  run --separate-stderr env TART_LOG=debug "$TART" run vm --detach --serial --net-user
  [ "$status" -eq 0 ]
  [[ "$output" == "Successfully open pty /dev/pts/"* ]]
  [[ "$stderr" == *"KVM probe: cannot run guests"* ]]
  [[ "$stderr" =~ "tart: notice: /dev/kvm cannot run this guest: "$KVM_CANNOT ]]
  [[ "$stderr" == *"running under TCG emulation, which is slow (remembered until the host reboots)"* ]]
  [[ "$stderr" != *"restarting it"* ]]
  [ "$(grep -c 'tart: debug: qemu: ' <<<"$stderr")" -eq 1 ]
  [[ "$(grep 'tart: debug: qemu: ' <<<"$stderr")" == *"-accel tcg"* ]]
  [ $((SECONDS - t0)) -lt 10 ]
  grep -q '"kvm": "cannot-run"' "$verdict"
  tart stop vm --timeout 0
  for _ in $(seq 50); do [ -S "$TART_HOME/vms/vm/qmp.sock" ] || break; sleep 0.1; done
}

@test "QEMU failing on the user's own option is not KVM's failure: no fallback, no verdict, in any mode" {
  make_guest vm
  local verdict="$TART_HOME/cache/kvm-verdict.json" bad="$BATS_TEST_TMPDIR/kvm_imgs/kvm_missing.img"
  # A file name that speaks of kvm must not read as KVM giving up.
  for accel in auto kvm tcg; do
    [ "$accel" = kvm ] && { [ -r /dev/kvm ] && [ -w /dev/kvm ] || continue; }
    run --separate-stderr env TART_ACCEL=$accel "$TART" run vm --no-graphics --net-user --disk "$bad"
    [ "$status" -eq 1 ] || { echo "TART_ACCEL=$accel: exit $status: $stderr" >&2; return 1; }
    one_error_line "kvm_missing.img"
    [[ "$stderr" != *"cannot run this guest"* ]]
    [[ "$stderr" != *"restarting it under TCG"* ]]
    [ ! -e "$verdict" ] || ! grep -q cannot-run "$verdict"
    stopped_and_clean vm
  done
}

@test "a kernel panic (pvpanic) ends the run with one line; exec says why; the VM runs again" {
  make_guest vm
  start vm
  wait_agent vm
  # The guest dies under the command: exec tells why instead of a socket error.
  run --separate-stderr tart exec vm /bin/sh -c 'echo c > /proc/sysrq-trigger'
  [ "$status" -eq 1 ]
  one_error_line "VM \"vm\" stopped: the guest's kernel panicked (see $TART_HOME/vms/vm/logs/console.log)"
  wait_exit 20
  run_failed_with vm "VM \"vm\" stopped: the guest's kernel panicked (see $TART_HOME/vms/vm/logs/console.log)"
  grep -q 'Kernel panic' "$TART_HOME/vms/vm/logs/console.log"
  stopped_and_clean vm
  run --separate-stderr tart exec vm /bin/true
  [ "$status" -eq 2 ]
  one_error_line "is not running (its last run ended: VM \"vm\" stopped: the guest's kernel panicked"
  # Re-runnable, and a new run forgets the old end.
  start vm
  wait_agent vm
  [ ! -e "$TART_HOME/vms/vm/logs/run.error" ]
  tart stop vm --timeout 30
  wait_exit 20
  [ "$RUN_STATUS" -eq 0 ]
}

@test "nothing to boot: SeaBIOS and OVMF are reported within seconds; ip --wait and exec return at once" {
  tart create bios --linux --disk-size 1 --firmware bios
  tart create efi --linux --disk-size 1
  tart set efi --memory 512
  tart set bios --memory 512

  start bios
  wait_running bios
  local t0=$SECONDS
  run --separate-stderr tart ip bios --wait 300
  [ "$status" -eq 1 ]
  one_error_line 'VM "bios" stopped: the firmware found nothing to boot ("SeaBIOS: No bootable device")'
  [[ "$stderr" == *"(see $TART_HOME/vms/bios/logs/firmware.log)" ]]
  [ $((SECONDS - t0)) -lt 60 ]
  wait_exit 20
  run_failed_with bios 'the firmware found nothing to boot ("SeaBIOS: No bootable device")'
  stopped_and_clean bios

  start efi
  wait_running efi
  t0=$SECONDS
  run --separate-stderr tart exec efi /bin/true
  [ "$status" -eq 1 ]
  one_error_line 'VM "efi" stopped: the firmware found nothing to boot ("UEFI: '
  [[ "$stderr" == *"(see $TART_HOME/vms/efi/logs/console.log)" ]]
  [ $((SECONDS - t0)) -lt 90 ]
  wait_exit 20
  run_failed_with efi 'the firmware found nothing to boot ("UEFI: '
  stopped_and_clean efi

  # --detach returns once QEMU is up; ip --wait is told when the run ends.
  run --separate-stderr tart run efi --detach --net-user
  [ "$status" -eq 0 ]
  run --separate-stderr tart ip efi --wait 300
  [ "$status" -eq 1 ]
  one_error_line 'VM "efi" stopped: the firmware found nothing to boot'
}

@test "a host disk that fills during a guest write stops the run with one line naming the disk" {
  [ "$(id -u)" -eq 0 ] || skip "needs root (a small tmpfs in a mount namespace)"
  make_guest vm
  local small="$BATS_TEST_TMPDIR/small"
  mkdir -p "$small"
  unshare -m bash -c 'mount -t tmpfs -o size=24m tmpfs "$0" && truncate -s 128M "$0/extra.img" &&
    exec "$1" run vm --no-graphics --net-user --disk "$0/extra.img"' "$small" "$TART" \
    >"$BATS_TEST_TMPDIR/run-vm.out" 2>&1 3>&- &
  RUN_PID=$!
  wait_agent vm
  # Random bytes: zeros would be stored as holes (detect-zeroes=unmap).
  run --separate-stderr tart exec vm /bin/dd if=/dev/urandom of=/dev/vdb bs=1M count=64 conv=fsync
  [ "$status" -eq 1 ]
  one_error_line "VM \"vm\" stopped: writing disk \"$small/extra.img\" failed: the host's file system is full"
  wait_exit 30
  run_failed_with vm "writing disk \"$small/extra.img\" failed: the host's file system is full; free space there and run the VM again (see $TART_HOME/vms/vm/logs/qemu.log)"
  stopped_and_clean vm
}

@test "a guest that resets over and over (a triple fault at boot) ends the run" {
  tart create tf --linux --disk-size 1 --firmware bios
  tart set tf --memory 256
  # A boot sector that loads an empty interrupt table and raises int3:
  # #GP, #DF, triple fault, reset, again.
  printf '\xfa\x31\xc0\x8e\xd8\x0f\x01\x1e\x0d\x7c\xcc\xeb\xfe\x00\x00\x00\x00\x00\x00' |
    dd of="$TART_HOME/vms/tf/disk.img" conv=notrunc status=none
  printf '\x55\xaa' | dd of="$TART_HOME/vms/tf/disk.img" bs=1 seek=510 conv=notrunc status=none
  # Under TCG: a paravirtual kvm_pvm neither resets nor fails such a guest,
  # it leaves the vCPU where it is.
  TART_ACCEL=tcg start tf
  wait_exit 120
  run_failed_with tf 'VM "tf" stopped: the guest reset 5 times within 30 s (a triple fault, or a kernel that crashes while booting)'
  stopped_and_clean tf
}
