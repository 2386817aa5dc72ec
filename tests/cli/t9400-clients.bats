#!/usr/bin/env bats
# The tools that drive Tart, replayed with their exact calls against the
# real binary and the tiny guest (issue: drop-in for cirrus-cli, GitLab,
# Packer, Orchard, Buildkite).  Each test names the source it was read
# from.  Networking runs in a namespace of the test's own.

load lib
load guest
load registry

setup_file() {
  export GUEST="${TART_TEST_GUEST:-$TOP/build/test-guest/guest.img}"
  if [ ! -f "$GUEST" ]; then
    "$TOP/tests/guest/build-guest.sh" "$(dirname "$GUEST")" >&3 2>&1
  fi
  # A registry as CI hosts have them: TLS (a CA the host trusts) with a
  # login; the tools pass no --insecure.
  registry_start tls+htpasswd
  export SSL_CERT_FILE="$REGISTRY_CA_FILE"
  export IMAGE="$REGISTRY/ci/guest:latest"
  (
    export TART_HOME="$BATS_FILE_TMPDIR/src-home"
    "$TART" create src --linux --from-image "$GUEST" --firmware bios >/dev/null
    TART_REGISTRY_USERNAME=$REGISTRY_USERNAME TART_REGISTRY_PASSWORD=$REGISTRY_PASSWORD \
      "$TART" push src "$IMAGE" >/dev/null
  )
}

teardown_file() {
  registry_cleanup
}

# in_new_ns: a network namespace of the test's own, for the NAT network.
in_new_ns() {
  [ "$(id -u)" -eq 0 ] || skip "needs root (the NAT network in a namespace)"
  NS="tart-cli$$-${BATS_TEST_NUMBER}"
  ip netns add "$NS"
  ip -n "$NS" link set lo up
  export TART_NETWORK_DIR="$BATS_TEST_TMPDIR/net"
}

# agent_wait VM: until the guest agent answers (the test guest's stand-in
# for the ssh the tools connect with), 120 s at most.
agent_wait() {
  local i
  for i in $(seq 120); do
    in_ns exec "$1" /bin/true 2>/dev/null && return 0
    kill -0 "$RUN_PID" 2>/dev/null || break
    sleep 1
  done
  echo "the agent of $1 did not answer; the run's output:" >&2
  cat "$BATS_TEST_TMPDIR"/run.* >&2 2>/dev/null || true
  return 1
}

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
  in_new_ns
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

# vnc_url FILE: the first vnc:// URL in FILE matched with Packer's
# vncRegexp (Go RE2, leftmost-first like Python's re): "password host
# port".  Polled for 30 s as Packer polls tart's stdout.
vnc_url() {
  local i m
  for i in $(seq 300); do
    m=$(python3 -c '
import re, sys
m = re.search("vnc://.*:(.*)@(.*):([0-9]{1,5})", open(sys.argv[1]).read())
if m: print(*m.groups())' "$1")
    [ -n "$m" ] && { echo "$m"; return 0; }
    sleep 0.1
  done
  return 1
}

# packer_ip VM: TartMachineIP of builder/tart/ssh.go without ip_extra_args:
# ip --wait 1, then --resolver agent, then --resolver arp, each --wait 1,
# then ip --wait 120; the first non-empty output.  StepConnect asks again
# until its ssh_timeout.
packer_ip() {
  local out args
  for args in "--wait 1" "--wait 1 --resolver agent" "--wait 1 --resolver arp" "--wait 120"; do
    # shellcheck disable=SC2086
    out=$(in_ns ip $args "$1" 2>/dev/null) || true
    [ -n "$out" ] && { echo "$out"; return 0; }
  done
  return 1
}

# packer-plugin-tart, Linux from_iso: builder/tart/step_create_vm.go,
# step_set_vm.go, step_disk_file_prepare.go, step_run.go (its argv, CI=true
# with VNC, vncRegexp, the cmd.Wait goroutine: an exit with an error or
# "Stopping VM..." on stdout fails the build), ssh.go (TartMachineIP) and
# vnc.go of cirruslabs/packer-plugin-tart at c10d6114 (2026-07-09).  The
# template: from_iso = [ISO], disk_size_gb = 1, cpu_count = 2, memory_gb =
# 1, headless and disable_vnc unset (false).  What Packer would do over ssh
# (the test guest has none) goes through the agent: the installer writes
# the system onto the root disk and reboots, with the ISO still attached,
# into it; provisioning ends with the shutdown Packer sends.
@test "packer from_iso: create --linux, run --graphics --vnc-experimental --disk=ISO:ro, install, reboot into the root disk" {
  in_new_ns
  local iso="$BATS_TEST_TMPDIR/installer.iso" vm=packer-linux
  "$TOP/tests/guest/make-installer-iso.sh" "$GUEST" "$iso"
  tart create --linux --disk-size 1 "$vm"
  tart set "$vm" --cpu 2 --memory 1024
  tart set --disk-size 1 "$vm"
  # No display here, as on a CI host: --graphics becomes VNC with a notice.
  CI=true ip netns exec "$NS" env -u DISPLAY -u WAYLAND_DISPLAY "$TART" run "$vm" --graphics --vnc-experimental \
    "--disk=$iso:ro" >"$BATS_TEST_TMPDIR/run.out" 2>"$BATS_TEST_TMPDIR/run.err" 3>&- &
  RUN_PID=$!
  local vnc
  vnc=$(vnc_url "$BATS_TEST_TMPDIR/run.out") || { cat "$BATS_TEST_TMPDIR"/run.* >&2; return 1; }
  read -r pw host port <<<"$vnc"
  [ "$host" = 127.0.0.1 ]
  grep -q 'no display to open a window on .*: VNC only' "$BATS_TEST_TMPDIR/run.err"
  # go-vnc's PasswordAuth with the URL's password, from the host Packer
  # runs on (tart's namespace).
  run ip netns exec "$NS" python3 "$TOP/tests/cli/vnc-auth.py" "$host" "$port" "$pw"
  [ "$status" -eq 0 ] || { echo "$output" >&2; return 1; }
  [[ "$output" =~ ^[0-9]+x[0-9]+$ ]]

  # The empty root disk comes first in the boot order and has nothing to
  # boot: the firmware goes on to the ISO.
  run packer_ip "$vm"
  [ "$status" -eq 0 ]
  [[ "$output" =~ ^192\.168\.64\.[0-9]+$ ]]
  agent_wait "$vm"
  [[ "$(in_ns exec "$vm" /bin/cat /proc/cmdline)" == *tart.installer=1* ]]
  run in_ns exec "$vm" /bin/sh -c 'mkdir -p /cdrom && mount -t iso9660 -o ro /dev/vdb /cdrom &&
    gunzip -c /cdrom/guest.img.gz >/dev/vda && sync && umount /cdrom && echo installed'
  [ "$output" = installed ] || { echo "$output" >&2; return 1; }
  # The connection may end with the guest: as over ssh, that is no failure.
  in_ns exec "$vm" /bin/sh -c reboot || true
  # The installed system comes up from the root disk, the ISO still there.
  local cmdline="" i
  for i in $(seq 120); do
    cmdline=$(in_ns exec "$vm" /bin/cat /proc/cmdline 2>/dev/null) || true
    [[ -n "$cmdline" && "$cmdline" != *tart.installer=1* ]] && break
    kill -0 "$RUN_PID" || break
    sleep 1
  done
  [[ "$cmdline" == *"panic=-1"* && "$cmdline" != *tart.installer=1* ]] || { cat "$BATS_TEST_TMPDIR"/run.* >&2; return 1; }
  run packer_ip "$vm"
  [ "$status" -eq 0 ]
  # Provisioning's end: Packer's `shutdown -h now`; then it waits for tart.
  in_ns exec "$vm" /bin/sh -c poweroff || true
  wait_exit 60
  [ "$RUN_STATUS" -eq 0 ] || { cat "$BATS_TEST_TMPDIR"/run.* >&2; return 1; }
  grep -q '^guest has stopped the virtual machine$' "$BATS_TEST_TMPDIR/run.out"
  ! grep -q 'Stopping VM\.\.\.' "$BATS_TEST_TMPDIR/run.out"
  # The artifact: a VM that boots its root disk without the ISO.
  run tart get --format json "$vm"
  [ "$(json_eval "$output" 'd["Disk"]')" = 1 ]
}

# packer-plugin-tart, clone path (vm_base_name): step_clone_vm.go (clone
# SOURCE NAME, no --insecure or --concurrency unless the template sets
# them), step_set_vm.go, step_disk_file_prepare.go, step_run.go with
# headless = true (run NAME --no-graphics --vnc-experimental) at c10d6114.
# Without a communicator Packer ends the build by SIGINT to tart run
# (stepRun.Cleanup) and waits for it.
@test "packer clone: clone, set, run --no-graphics --vnc-experimental, ip, SIGINT at the end" {
  in_new_ns
  make_guest base --firmware bios
  local vm=packer-clone
  tart clone base "$vm"
  tart set "$vm" --cpu 1 --memory 1024 --display 1024x768
  tart set --disk-size 1 "$vm"
  CI=true ip netns exec "$NS" "$TART" run "$vm" --no-graphics --vnc-experimental \
    >"$BATS_TEST_TMPDIR/run.out" 2>"$BATS_TEST_TMPDIR/run.err" 3>&- &
  RUN_PID=$!
  local vnc
  vnc=$(vnc_url "$BATS_TEST_TMPDIR/run.out")
  read -r pw host port <<<"$vnc"
  run ip netns exec "$NS" python3 "$TOP/tests/cli/vnc-auth.py" "$host" "$port" "$pw"
  [ "$status" -eq 0 ] || { echo "$output" >&2; return 1; }
  run packer_ip "$vm"
  [ "$status" -eq 0 ]
  [[ "$output" =~ ^192\.168\.64\.[0-9]+$ ]]
  kill -INT "$RUN_PID"
  wait_exit 60
  [ "$RUN_STATUS" -eq 0 ]
}

# gitlab-tart-executor: internal/commands/prepare/prepare.go,
# cleanup/cleanup.go, internal/tart/vm.go and config.go of
# cirruslabs/gitlab-tart-executor at 6e163f8e (2026-02-23).  The job's
# registry login reaches pull and clone as TART_REGISTRY_HOSTNAME/
# USERNAME/PASSWORD; set --cpu, --memory, --random-mac one call each; run
# detached (setsid) with its output appended to
# $TMPDIR/<vm>-tart-run-output.log, TART_EXECUTOR_ROOT_DISK_OPTS as
# --root-disk-opts, the builds and cache dirs as --dir PATH:tag=...; ip
# --wait 60 --resolver dhcp (retried 10 times, 1 s apart, stdout trimmed);
# get --format json ("os"); the job through the guest; stop, delete.
@test "gitlab executor: pull and clone with the job's login, set, run detached with --root-disk-opts and dirs, ip --resolver dhcp, stop, delete" {
  in_new_ns
  local job=4711 vm=gitlab-4711 builds="$BATS_TEST_TMPDIR/builds" cache="$BATS_TEST_TMPDIR/cache"
  local log="$BATS_TEST_TMPDIR/$vm-tart-run-output.log"
  mkdir -p "$builds" "$cache"
  local login=(TART_REGISTRY_HOSTNAME="$REGISTRY" TART_REGISTRY_USERNAME="$REGISTRY_USERNAME"
    TART_REGISTRY_PASSWORD="$REGISTRY_PASSWORD")
  env "${login[@]}" "$TART" pull "$IMAGE"
  env "${login[@]}" "$TART" clone "$IMAGE" "$vm"
  # Without the login the registry refuses: the variables were what worked.
  run --separate-stderr env TART_HOME="$BATS_TEST_TMPDIR/other" "$TART" pull "$IMAGE"
  [ "$status" -ne 0 ]
  tart set --cpu 2 "$vm"
  tart set --memory 512 "$vm"
  tart set --random-mac "$vm"
  local opts="sync=none"
  setsid ip netns exec "$NS" "$TART" run --root-disk-opts "$opts" --no-graphics \
    --dir "$builds:tag=tart.virtiofs.buildsdir.$job" --dir "$cache:tag=tart.virtiofs.cachedir.$job" "$vm" \
    >>"$log" 2>&1 3>&- &
  RUN_PID=$!
  local ip="" i
  for i in $(seq 10); do
    ip=$(in_ns ip --wait 60 --resolver dhcp "$vm" 2>/dev/null | xargs) && [ -n "$ip" ] && break
    sleep 1
  done
  [[ "$ip" =~ ^192\.168\.64\.[0-9]+$ ]] || { cat "$log" >&2; return 1; }
  run --separate-stderr tart get --format json "$vm"
  [ "$(python3 -c 'import json,sys; print({k.lower(): v for k, v in json.load(sys.stdin).items()}["os"])' <<<"$output")" = linux ]
  agent_wait "$vm"
  # The job: mount the dirs by their tags (the executor's Linux mount
  # command), write into the builds dir.
  run in_ns exec "$vm" /bin/sh -c "
    for d in builds:tart.virtiofs.buildsdir.$job cache:tart.virtiofs.cachedir.$job; do
      p=/var/tmp/\${d%%:*}; t=\${d#*:}; mkdir -p \$p
      mount -t virtiofs \$t \$p 2>/dev/null || mount -t 9p -o trans=virtio,version=9p2000.L \$t \$p || exit 1
    done
    echo job-output >/var/tmp/builds/artifact && sync && cat /proc/mounts | grep -c /var/tmp/"
  [ "$status" -eq 0 ] || { echo "$output" >&2; return 1; }
  [ "$output" = 2 ]
  [ "$(cat "$builds/artifact")" = job-output ]
  run in_ns stop "$vm"
  [ "$status" -eq 0 ]
  wait_exit 60
  run tart delete "$vm"
  [ "$status" -eq 0 ]
  [ ! -d "$TART_HOME/vms/$vm" ]
}

# tart-buildkite-plugin: hooks/pre-command, hooks/command, hooks/pre-exit
# and lib/shared of cirruslabs/tart-buildkite-plugin at e7dc3519
# (2023-12-01): pull, clone IMAGE buildkite-<step>, `nohup tart run
# ${RUN_ARGS[*]} NAME >/dev/null 2>&1 &` with RUN_ARGS ("--dir <checkout>"
# "--no-graphics") word-split, VM_IP=$(tart ip --wait 60 NAME), ssh, stop,
# delete.
@test "buildkite plugin: pull, clone, nohup run --dir CHECKOUT --no-graphics, ip --wait 60, stop, delete" {
  in_new_ns
  export TART_REGISTRY_USERNAME=$REGISTRY_USERNAME TART_REGISTRY_PASSWORD=$REGISTRY_PASSWORD
  local vm=buildkite-0188c1a2 checkout="$BATS_TEST_TMPDIR/checkout"
  mkdir -p "$checkout"
  echo source >"$checkout/README"
  tart pull "$IMAGE"
  tart clone "$IMAGE" "$vm"
  local RUN_ARGS=("--dir $checkout" "--no-graphics")
  # shellcheck disable=SC2068,SC2048,SC2086
  nohup ip netns exec "$NS" "$TART" run ${RUN_ARGS[*]} "$vm" >/dev/null 2>&1 3>&- &
  RUN_PID=$!
  local VM_IP
  VM_IP=$(in_ns ip --wait 60 "$vm")
  [[ "$VM_IP" =~ ^192\.168\.64\.[0-9]+$ ]]
  agent_wait "$vm"
  # The checkout, shared under the default tag the guest mounts.
  [ "$(in_ns exec "$vm" /bin/cat /mnt/shared/README)" = source ]
  run in_ns stop "$vm"
  [ "$status" -eq 0 ]
  wait_exit 60
  run tart delete "$vm"
  [ "$status" -eq 0 ]
}

@test "run --graphics without a display serves the screen over VNC, with one notice" {
  make_guest vm
  env -u DISPLAY -u WAYLAND_DISPLAY "$TART" run vm --graphics --net-user \
    >"$BATS_TEST_TMPDIR/run.out" 2>"$BATS_TEST_TMPDIR/run.err" 3>&- &
  RUN_PID=$!
  local vnc
  vnc=$(vnc_url "$BATS_TEST_TMPDIR/run.out") || { cat "$BATS_TEST_TMPDIR"/run.* >&2; return 1; }
  read -r pw host port <<<"$vnc"
  run python3 "$TOP/tests/cli/vnc-auth.py" "$host" "$port" "$pw"
  [ "$status" -eq 0 ]
  [ "$(grep -c 'notice: no display to open a window on ($DISPLAY and $WAYLAND_DISPLAY are unset): serving the screen over VNC instead' "$BATS_TEST_TMPDIR/run.err")" -eq 1 ]
  tart stop vm --timeout 0
  wait_exit 30
}
