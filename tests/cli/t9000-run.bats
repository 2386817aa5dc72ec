#!/usr/bin/env bats
# tart run under TCG with the tiny test guest (tests/guest): boot with
# SeaBIOS and with OVMF, exec with exit codes, ip through the agent, the
# running state seen by other verbs, graceful and hard stop, suspend and
# restore, and recovery from a SIGKILLed `tart run`.

load lib
load guest

# start NAME: tart run in the background; RUN_PID is the run process.
start() {
  "$TART" run "$1" --no-graphics --net-user >"$BATS_TEST_TMPDIR/run-$1.out" 2>&1 3>&- &
  RUN_PID=$!
}

# wait_ready NAME [SECONDS] [restored|no-console-log]: until the guest printed
# GUEST-READY (not after a restore: the guest does not boot again; not with
# --serial: the console is a pty) and its agent answers.
wait_ready() {
  local log="$TART_HOME/vms/$1/logs/console.log" i
  for i in $(seq "${2:-90}"); do
    if { [ -n "${3:-}" ] || grep -q GUEST-READY "$log" 2>/dev/null; } &&
      tart exec "$1" /bin/true 2>/dev/null; then
      return 0
    fi
    kill -0 "$RUN_PID" 2>/dev/null || { cat "$BATS_TEST_TMPDIR/run-$1.out" >&2; return 1; }
    sleep 1
  done
  echo "guest $1 not ready; console:" >&2
  tail -5 "$log" >&2
  return 1
}

@test "bios guest: runs, exec gives output and exit codes, ip via agent, then a graceful stop" {
  make_guest vm --firmware bios
  start vm
  wait_ready vm

  run tart list --format json
  [[ "$output" == *'"State": "running"'* ]]
  run tart exec vm /bin/sh -c 'echo out; echo err >&2; exit 3'
  [ "$status" -eq 3 ]
  [[ "$output" == *out* && "$output" == *err* ]]
  run tart exec vm /bin/true
  [ "$status" -eq 0 ]
  # A command that does not exist exits 127, as in a shell.
  run -127 --separate-stderr tart exec vm /no/such/program
  [ "$status" -eq 127 ]
  [[ "$stderr" == *"/no/such/program"*"not found"* ]]
  run -126 --separate-stderr tart exec vm /proc/version
  [ "$status" -eq 126 ]
  # Only the devices tart gives: no empty CD-ROM from QEMU's defaults.
  [ "$(tart exec vm /bin/sh -c 'ls /sys/block')" = vda ]
  # Output as it is written, not when the command ends.
  "$TART" exec vm /bin/sh -c 'echo first; sleep 4; echo second' >"$BATS_TEST_TMPDIR/stream.out" &
  local ex=$!
  sleep 2
  [ "$(cat "$BATS_TEST_TMPDIR/stream.out")" = first ]
  wait "$ex"
  [ "$(cat "$BATS_TEST_TMPDIR/stream.out")" = "$(printf 'first\nsecond')" ]
  # Nothing is left in the guest's /tmp: only this command's own two files.
  [ "$(tart exec vm /bin/sh -c 'ls -a /tmp | grep -c tart-exec')" = 2 ]
  run -127 tart exec vm /bin/sh -c 'exit 127'
  [ "$status" -eq 127 ]
  run --separate-stderr tart ip vm --resolver agent --wait 30
  [ "$status" -eq 0 ]
  [[ "$output" =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]]
  # A --net-user VM: the default resolver asks the agent; dhcp explains.
  local agent_ip=$output
  run --separate-stderr tart ip vm
  [ "$status" -eq 0 ] && [ "$output" = "$agent_ip" ]
  [[ "$stderr" == *"not reachable from the host"* ]]
  [ "$(json_eval "$(cat "$TART_HOME/vms/vm/net.json")" 'd["mode"]')" = user ]
  run --separate-stderr tart ip vm --resolver dhcp
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"user-mode networking (--net-user)"* ]]

  # stdin with -i
  run bash -c "printf 'from host' | '$TART' exec -i vm /bin/cat"
  [ "$status" -eq 0 ]
  [ "$output" = "from host" ]
  # ...passed on as it comes: the first line is answered before the second
  # is written.
  { echo one; sleep 4; echo two; } | "$TART" exec -i vm /bin/sh -c 'while read l; do echo "got $l"; done' \
    >"$BATS_TEST_TMPDIR/stdin.out" &
  local fe=$!
  sleep 2.5
  [ "$(cat "$BATS_TEST_TMPDIR/stdin.out")" = "got one" ]
  wait "$fe"
  [ "$(cat "$BATS_TEST_TMPDIR/stdin.out")" = "$(printf 'got one\ngot two')" ]
  # A command that ignores its stdin still ends, and so does tart exec.
  run bash -c "yes | head -c 300000 | timeout 60 '$TART' exec -i vm /bin/true"
  [ "$status" -eq 0 ]

  run tart stop vm --timeout 30
  [ "$status" -eq 0 ]
  wait_exit 10
  [ "$RUN_STATUS" -eq 0 ]
  grep -q 'guest has stopped the virtual machine' "$BATS_TEST_TMPDIR/run-vm.out"
  [ ! -e "$TART_HOME/vms/vm/qmp.sock" ]
  run tart get vm --format json
  [[ "$output" == *'"State": "stopped"'* ]]
}

@test "efi guest boots; a second run exits 2; delete and set --disk-size are refused while it runs" {
  make_guest vm
  start vm
  wait_ready vm
  run --separate-stderr tart run vm --no-graphics --net-user
  [ "$status" -eq 2 ]
  [ "$stderr" = 'tart: error: VM "vm" is already running!' ]
  run tart delete vm
  [ "$status" -eq 1 ]
  [ -d "$TART_HOME/vms/vm" ]
  run tart set vm --disk-size 2
  [ "$status" -eq 1 ]
  run tart stop vm --timeout 0
  [ "$status" -eq 0 ]
  wait_exit 10
  run tart stop vm
  [ "$status" -eq 2 ]
}

@test "suspend then run: the guest's memory survives and its uptime goes on" {
  make_guest vm --firmware bios
  start vm
  wait_ready vm
  run tart exec vm /bin/sh -c 'echo kept > /tmp/marker; cut -d. -f1 /proc/uptime'
  [ "$status" -eq 0 ]
  local before=$output
  run tart suspend vm
  [ "$status" -eq 0 ]
  wait_exit 30
  run tart get vm --format json
  [[ "$output" == *'"State": "suspended"'* ]]
  [ -s "$TART_HOME/vms/vm/state.qemusave" ]

  start vm
  wait_ready vm 60 restored
  grep -q 'restoring VM state from a snapshot' "$BATS_TEST_TMPDIR/run-vm.out"
  run tart exec vm /bin/sh -c 'cat /tmp/marker; cut -d. -f1 /proc/uptime'
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = kept ]
  [ "${lines[1]}" -ge "$before" ]
  [ ! -e "$TART_HOME/vms/vm/state.qemusave" ] && [ ! -e "$TART_HOME/vms/vm/state.devices.json" ]
  run tart stop vm --timeout 0
  wait_exit 10
}

@test "a resumed guest's clock follows the host's: it is set when the run resumes" {
  make_guest vm --firmware bios
  start vm
  wait_ready vm
  tart suspend vm
  wait_exit 30
  # Suspended long enough that a clock left where it stood is visibly behind.
  sleep 12
  start vm
  wait_ready vm 60 restored
  local guest host
  guest=$(tart exec vm /bin/date +%s)
  host=$(date +%s)
  (( host - guest <= 3 && guest - host <= 3 )) || { echo "guest $guest, host $host" >&2; return 1; }
  tart stop vm --timeout 0
  wait_exit 10
}

@test "stop at once after run: pressed again until the guest powers off; a guest that ignores it is stopped hard, in one line" {
  make_guest vm --firmware bios
  start vm
  # The firmware is still starting: the first press is lost.
  sleep 0.5
  run --separate-stderr tart stop vm --timeout 90
  [ "$status" -eq 0 ]
  [ -z "$stderr" ] || { echo "$stderr" >&2; return 1; }
  wait_exit 10
  [ "$(grep -c 'Requesting guest OS to stop' "$BATS_TEST_TMPDIR/run-vm.out")" -ge 2 ]

  # A guest with neither an ACPI daemon nor an agent cannot power off.
  start vm
  wait_ready vm
  tart exec vm /bin/sh -c '(sleep 1; killall acpid qemu-ga) </dev/null >/dev/null 2>&1 &'
  sleep 3
  local t0=$SECONDS
  run --separate-stderr tart stop vm --timeout 5
  [ "$status" -eq 0 ]
  [ "$stderr" = 'tart: notice: VM "vm" did not power off within 5 s: stopping it hard (as pulling the plug)' ]
  (( SECONDS - t0 < 15 ))
  wait_exit 10
}

@test "a suspended VM resumed without its devices says which to pass; stop discards its state" {
  make_guest vm --firmware bios
  truncate -s 4M "$BATS_TEST_TMPDIR/extra disk.img"
  "$TART" run vm --no-graphics --net-user --disk "$BATS_TEST_TMPDIR/extra disk.img:ro" \
    >"$BATS_TEST_TMPDIR/run-vm.out" 2>&1 3>&- &
  RUN_PID=$!
  wait_ready vm
  run tart suspend vm
  [ "$status" -eq 0 ]
  wait_exit 30
  [ -s "$TART_HOME/vms/vm/state.devices.json" ]
  # Without the disk, QEMU could not restore it: one line naming the option.
  run --separate-stderr tart run vm --no-graphics --net-user
  [ "$status" -eq 1 ]
  [ "$(wc -l <<<"$stderr")" -eq 1 ]
  [[ "$stderr" == *"was suspended with 2 CPUs, 512 MiB, 1 NIC, extra disks [ro], TCG, but this run gives it 2 CPUs, 512 MiB, 1 NIC, TCG:"* ]]
  [[ "$stderr" == *"; run it with --disk '$BATS_TEST_TMPDIR/extra disk.img:ro', or discard"* ]]
  # Other memory too: tart set is named as well.
  tart set vm --memory 640
  run --separate-stderr tart run vm --no-graphics --net-user --disk "$BATS_TEST_TMPDIR/extra disk.img:ro"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"but this run gives it 2 CPUs, 640 MiB, 1 NIC, extra disks [ro], TCG"* ]]
  [[ "$stderr" == *"set the CPU count and memory back with \"tart set\" and run it with --disk"* ]]
  tart set vm --memory 512
  # Nothing was lost: still suspended, state and record kept.
  run tart get vm --format json
  [[ "$output" == *'"State": "suspended"'* ]]
  # A clone of a suspended VM keeps both.
  run tart clone vm copy
  [ "$status" -eq 0 ]
  [ -s "$TART_HOME/vms/copy/state.qemusave" ] && [ -s "$TART_HOME/vms/copy/state.devices.json" ]
  run tart stop vm
  [ "$status" -eq 0 ]
  [ ! -e "$TART_HOME/vms/vm/state.qemusave" ] && [ ! -e "$TART_HOME/vms/vm/state.devices.json" ]
  run tart get vm --format json
  [[ "$output" == *'"State": "stopped"'* ]]
}

@test "tart run killed with SIGKILL takes QEMU along; the next run works" {
  make_guest vm --firmware bios
  start vm
  wait_ready vm
  kill -9 "$RUN_PID"
  wait "$RUN_PID" 2>/dev/null || true
  RUN_PID=
  for _ in $(seq 50); do
    pgrep -f "tart-vm" >/dev/null || break
    sleep 0.1
  done
  ! pgrep -f "guest=tart-vm" >/dev/null
  run tart get vm --format json
  [[ "$output" == *'"State": "stopped"'* ]]
  start vm
  wait_ready vm
  run tart exec vm /bin/true
  [ "$status" -eq 0 ]
  run tart stop vm --timeout 0
  wait_exit 10
}

@test "exec and ip of a stopped VM exit 2 / fail in one line; -t is refused" {
  make_guest vm --firmware bios
  run --separate-stderr tart exec vm /bin/true
  [ "$status" -eq 2 ]
  [ "$stderr" = 'tart: error: VM "vm" is not running' ]
  run --separate-stderr tart ip vm --resolver agent
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"no IP address found"* ]]
  run tart exec -t vm /bin/true
  [ "$status" -eq 1 ]
  run tart run vm --recovery
  [ "$status" -eq 1 ]
}

@test "a long TART_HOME (sockets past 108 bytes), --dir over virtio-fs read-only, --disk attached and locked" {
  export TART_HOME="$BATS_TEST_TMPDIR/$(printf 'long-directory-name-%.0s' 1 2 3 4 5 6)/home"
  [ "${#TART_HOME}" -gt 108 ]
  make_guest vm --firmware bios
  mkdir -p "$BATS_TEST_TMPDIR/share"
  echo "shared from the host" >"$BATS_TEST_TMPDIR/share/hello.txt"
  truncate -s 8M "$BATS_TEST_TMPDIR/extra.img"
  printf 'DISK-MARKER' | dd of="$BATS_TEST_TMPDIR/extra.img" conv=notrunc status=none

  "$TART" run vm --no-graphics --net-user --dir "$BATS_TEST_TMPDIR/share:ro" --disk "$BATS_TEST_TMPDIR/extra.img" \
    >"$BATS_TEST_TMPDIR/run-vm.out" 2>&1 3>&- &
  RUN_PID=$!
  wait_ready vm
  run tart exec vm /bin/cat /mnt/shared/hello.txt
  [ "$status" -eq 0 ]
  [ "$output" = "shared from the host" ]
  # As root with virtiofsd, the share is virtio-fs (the guest's init mounts
  # the default tag), served through a socket past sun_path's length, and
  # :ro holds in the guest.
  run tart exec vm /bin/grep ' /mnt/shared ' /proc/mounts
  [[ "$output" == "com.apple.virtio-fs.automount /mnt/shared virtiofs "* ]]
  run tart exec vm /bin/sh -c 'echo x >/mnt/shared/new'
  [ "$status" -ne 0 ]
  [[ "$output" == *"Read-only file system"* ]]
  [ ! -e "$BATS_TEST_TMPDIR/share/new" ]
  [ -S "$TART_HOME/vms/vm/vfs0.sock" ]
  # The bind mount exists only in virtiofsd's namespace.
  run findmnt -n "$TART_HOME/vms/vm/virtiofs/0"
  [ "$status" -ne 0 ]
  run tart exec vm /bin/sh -c 'head -c 11 /dev/vdb'
  [ "$status" -eq 0 ]
  [ "$output" = "DISK-MARKER" ]

  # The same writable disk cannot go to a second VM while this one runs.
  make_guest other --firmware bios
  run --separate-stderr tart run other --no-graphics --net-user --disk "$BATS_TEST_TMPDIR/extra.img"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"seems to be already in use"* ]]

  run tart stop vm --timeout 0
  [ "$status" -eq 0 ]
  wait_exit 10
  # Nothing of virtiofsd is left.
  [ ! -e "$TART_HOME/vms/vm/vfs0.sock" ] && [ ! -e "$TART_HOME/vms/vm/virtiofs" ]
  run pgrep -f -- "source=$TART_HOME/vms/vm/virtiofs"
  [ "$status" -eq 1 ]
}

@test "--dir: named shares are subdirectories of their tag over virtio-fs; suspend says why it cannot; 9p on demand" {
  # A comma in the VM's path (virtiofsd's option syntax) and relative
  # share paths (QEMU runs elsewhere) must both work.
  export TART_HOME="$BATS_TEST_TMPDIR/ho,me"
  make_guest vm --firmware bios
  mkdir -p "$BATS_TEST_TMPDIR/src" "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/solo"
  echo source >"$BATS_TEST_TMPDIR/src/s.txt"
  echo solo >"$BATS_TEST_TMPDIR/solo/x.txt"
  (cd "$BATS_TEST_TMPDIR" && exec "$TART" run vm --no-graphics --net-user --dir "src:src:ro,tag=work" \
    --dir "out:./out:tag=work" --dir solo) >"$BATS_TEST_TMPDIR/run-vm.out" 2>&1 3>&- &
  RUN_PID=$!
  wait_ready vm
  run tart exec vm /bin/sh -c 'mkdir -p /w && mount -t virtiofs work /w && ls /w && cat /w/src/s.txt &&
    echo result >/w/out/r.txt && cat /mnt/shared/x.txt'
  [ "$status" -eq 0 ]
  [ "$output" = "$(printf 'out\nsrc\nsource\nsolo')" ]
  [ "$(cat "$BATS_TEST_TMPDIR/out/r.txt")" = result ]
  # ro for src only; the root holding the names is read-only too.
  run tart exec vm /bin/sh -c 'touch /w/src/no'
  [ "$status" -ne 0 ]
  run tart exec vm /bin/sh -c 'mkdir /w/extra'
  [ "$status" -ne 0 ]
  [ ! -e "$BATS_TEST_TMPDIR/src/no" ]
  # Two daemons, one per tag.
  # (virtiofsd gets the path with the comma escaped for its option parser)
  [ "$(pgrep -fc -- 'source=.*/ho\\,me/vms/vm/virtiofs/')" -ge 2 ]

  # QEMU cannot save virtio-fs: one line naming the way out; the VM goes on.
  run --separate-stderr tart suspend vm
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"use virtio-fs, which QEMU cannot save; run it with --suspendable"* ]]
  [ "$(wc -l <<<"$stderr")" -eq 1 ]
  run tart exec vm /bin/cat /w/src/s.txt
  [ "$output" = source ]
  run tart stop vm --timeout 0
  wait_exit 10

  # TART_DIR_SHARING=9p (as --suspendable would): 9p, names as tags.
  TART_DIR_SHARING=9p "$TART" run vm --no-graphics --net-user --dir "src:$BATS_TEST_TMPDIR/src:ro,tag=work" \
    --dir "out:$BATS_TEST_TMPDIR/out:tag=work" >"$BATS_TEST_TMPDIR/run-vm.out" 2>&1 3>&- &
  RUN_PID=$!
  wait_ready vm
  run tart exec vm /bin/sh -c 'mkdir -p /p && mount -t 9p -o trans=virtio,version=9p2000.L src /p && cat /p/s.txt'
  [ "$status" -eq 0 ]
  [ "$output" = source ]
  run pgrep -f -- 'source=.*/ho\\,me/vms/vm/virtiofs/'
  [ "$status" -eq 1 ]
  run tart stop vm --timeout 0
  wait_exit 10

  # Errors, in one line: a missing directory, an unknown mode, virtio-fs
  # forced without a virtiofsd.
  run --separate-stderr tart run vm --no-graphics --net-user --dir "$BATS_TEST_TMPDIR/none"
  [ "$status" -eq 64 ]
  [[ "$stderr" == *"--dir $BATS_TEST_TMPDIR/none: No such file or directory"* ]]
  TART_DIR_SHARING=nfs run --separate-stderr tart run vm --no-graphics --net-user --dir "$BATS_TEST_TMPDIR/src"
  [ "$status" -eq 64 ]
  [[ "$stderr" == *"TART_DIR_SHARING must be 9p or virtiofs"* ]]
  TART_DIR_SHARING=virtiofs TART_VIRTIOFSD= run --separate-stderr tart run vm --no-graphics --net-user \
    --dir "$BATS_TEST_TMPDIR/src"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"cannot share directories over virtio-fs: no virtiofsd found"* ]]
}

@test "--dir URL: a .tar.gz from a web server is unpacked and shared, cached and revalidated, removed at the end" {
  make_guest vm --firmware bios
  mkdir -p "$BATS_TEST_TMPDIR/web" "$BATS_TEST_TMPDIR/content/sub"
  echo "from the web" >"$BATS_TEST_TMPDIR/content/sub/page.txt"
  tar -czf "$BATS_TEST_TMPDIR/web/share.tar.gz" -C "$BATS_TEST_TMPDIR/content" .
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  python3 -m http.server "$port" --bind 127.0.0.1 --directory "$BATS_TEST_TMPDIR/web" \
    >"$BATS_TEST_TMPDIR/http.log" 2>&1 3>&- &
  local http_pid=$!
  for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
  local url="http://127.0.0.1:$port/share.tar.gz"

  "$TART" run vm --no-graphics --net-user --dir "$url:ro" >"$BATS_TEST_TMPDIR/run-vm.out" 2>&1 3>&- &
  RUN_PID=$!
  wait_ready vm
  run tart exec vm /bin/cat /mnt/shared/sub/page.txt
  [ "$status" -eq 0 ]
  [ "$output" = "from the web" ]
  run tart exec vm /bin/sh -c 'echo x >/mnt/shared/new'
  [ "$status" -ne 0 ]
  # The unpacked copy lives in tmp/ while the VM runs, and goes with it.
  run find "$TART_HOME/tmp" -name page.txt
  [ "$(wc -l <<<"$output")" -eq 1 ]
  run tart stop vm --timeout 0
  wait_exit 10
  run find "$TART_HOME/tmp" -name page.txt
  [ -z "$output" ]
  [ "$(ls "$TART_HOME/cache/URLs/"*.tar.gz | wc -l)" -eq 1 ]
  grep -q "\"url\": \"$url\"" "$TART_HOME/cache/URLs/"*.json

  # Next run: revalidated (304), not downloaded again.
  run --separate-stderr tart run vm --detach --no-graphics --net-user --dir "$url"
  [ "$status" -eq 0 ]
  run tart stop vm --timeout 0
  [ "$(grep -c 'GET /share.tar.gz HTTP/1.1" 200' "$BATS_TEST_TMPDIR/http.log")" -eq 1 ]
  grep -q 'GET /share.tar.gz HTTP/1.1" 304' "$BATS_TEST_TMPDIR/http.log"

  # A missing archive is one line with the HTTP status.
  run --separate-stderr tart run vm --no-graphics --net-user --dir "http://127.0.0.1:$port/none.tar.gz"
  [ "$status" -eq 1 ]
  [ "$stderr" = "tart: error: cannot download http://127.0.0.1:$port/none.tar.gz: HTTP 404" ]

  # Not a tar archive: an error, and the cached copy of another URL is
  # untouched.
  echo "<html>not found</html>" >"$BATS_TEST_TMPDIR/web/page.tar.gz"
  run --separate-stderr tart run vm --no-graphics --net-user --dir "http://127.0.0.1:$port/page.tar.gz"
  [ "$status" -eq 1 ]
  [[ "$stderr" == "tart: error: http://127.0.0.1:$port/page.tar.gz is not a tar archive (.tar.gz): "* ]]
  [ "$(ls "$TART_HOME/cache/URLs/"*.tar.gz | wc -l)" -eq 1 ]

  # The server gone: the cached copy serves, with a warning.
  kill "$http_pid"
  wait "$http_pid" 2>/dev/null || true
  run --separate-stderr tart run vm --detach --no-graphics --net-user --dir "$url"
  [ "$status" -eq 0 ]
  [[ "$stderr" == *"cannot reach $url"*"using the cached copy"* ]]
  run tart stop vm --timeout 0
  # Nothing downloaded and never reachable: an error.
  run --separate-stderr tart run vm --no-graphics --net-user --dir "http://127.0.0.1:$port/other.tar.gz"
  [ "$status" -eq 1 ]
  [[ "$stderr" == "tart: error: cannot download http://127.0.0.1:$port/other.tar.gz: "* ]]
}

@test "--detach --vnc --serial: returns once running, prints the URL and pty; screendump; a guest ignoring the button is forced" {
  make_guest vm --firmware bios
  run --separate-stderr tart run vm --detach --vnc --serial --net-user
  [ "$status" -eq 0 ]
  # Upstream's texts, with QEMU's VNC server behind a random password.
  [[ "$output" =~ VNC\ server\ is\ running\ at\ vnc://:([a-z0-9]{8})@127\.0\.0\.1:([0-9]+) ]]
  local port=${BASH_REMATCH[2]}
  [[ "$output" =~ Successfully\ open\ pty\ (/dev/pts/[0-9]+) ]]
  local pty=${BASH_REMATCH[1]}
  [ -c "$pty" ]
  RUN_PID=$(pgrep -f -- "run vm --detach --vnc --serial --net-user" | head -1)
  [ -n "$RUN_PID" ]
  run tart list --format json
  [ "$(json_eval "$output" '[x["State"] for x in d]')" = '["running"]' ]
  # The VNC port speaks RFB and offers only VNC authentication (type 2).
  python3 - "$port" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
banner = s.recv(12)
assert banner.startswith(b"RFB 003."), banner
s.sendall(b"RFB 003.008\n")
n = s.recv(1)[0]
types = s.recv(n)
assert types == b"\x02", types
PY
  # The guest console reaches the pty.
  timeout 60 grep -a -m1 -q 'Linux version\|GUEST-READY\|udhcpc' "$pty"
  wait_ready vm 120 no-console-log
  # The second monitor lets other programs talk QMP to a running VM.
  run python3 "$TOP/tests/guest/guestctl.py" qmp "$TART_HOME/vms/vm/monitor.sock" screendump \
    "{\"filename\": \"$BATS_TEST_TMPDIR/shot.png\", \"format\": \"png\"}"
  [ "$status" -eq 0 ]
  [ "$(head -c 8 "$BATS_TEST_TMPDIR/shot.png" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ]
  # A guest that ignores the power button: stop presses it, waits 3 s, then stops it hard.
  tart exec vm /bin/sh -c 'killall acpid; sleep 0.2; ! pidof acpid'
  local t0=$SECONDS
  run tart stop vm --timeout 3
  [ "$status" -eq 0 ]
  local took=$((SECONDS - t0))
  [ "$took" -ge 3 ] && [ "$took" -le 12 ]
  for _ in $(seq 50); do kill -0 "$RUN_PID" 2>/dev/null || break; sleep 0.1; done
  ! kill -0 "$RUN_PID" 2>/dev/null
  RUN_PID=
  [ ! -e "$TART_HOME/vms/vm/monitor.sock" ] && [ ! -e "$TART_HOME/vms/vm/qmp.sock" ]
  grep -q 'Requesting guest OS to stop' "$TART_HOME/vms/vm/logs/run.log"
  grep -q 'Stopping VM' "$TART_HOME/vms/vm/logs/run.log"
}

@test "--cloud-init: the guest sees a cidata seed with our user-data and meta-data; unknown user-data is refused" {
  make_guest vm --firmware bios
  printf 'hostname: x\n' >"$BATS_TEST_TMPDIR/bad.yaml"
  run --separate-stderr tart run vm --no-graphics --net-user --cloud-init "$BATS_TEST_TMPDIR/bad.yaml"
  [ "$status" -eq 64 ]
  [[ "$stderr" == *'start it with "#cloud-config"'* ]]
  run --separate-stderr tart run vm --no-graphics --net-user --cloud-init "$BATS_TEST_TMPDIR/missing.yaml"
  [ "$status" -eq 1 ]
  printf '#cloud-config\nhostname: seeded\n' >"$BATS_TEST_TMPDIR/ud.yaml"
  "$TART" run vm --no-graphics --net-user --cloud-init "$BATS_TEST_TMPDIR/ud.yaml" >"$BATS_TEST_TMPDIR/run-vm.out" 2>&1 3>&- &
  RUN_PID=$!
  wait_ready vm
  run tart exec vm /bin/sh -c 'mkdir -p /mnt/seed && mount -t iso9660 -o ro /dev/vdb /mnt/seed && cat /mnt/seed/user-data /mnt/seed/meta-data'
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "#cloud-config" ]
  [ "${lines[1]}" = "hostname: seeded" ]
  [[ "${lines[2]}" =~ ^instance-id:\ \"tart-[0-9a-f]{16}\"$ ]]
  [ "${lines[3]}" = "local-hostname: vm" ]
  local first_id=${lines[2]}
  # The seed is read-only for the guest.
  run tart exec vm /bin/sh -c 'echo x | dd of=/dev/vdb 2>&1'
  [ "$status" -ne 0 ]
  run tart stop vm --timeout 0
  [ "$status" -eq 0 ]
  wait_exit 10
  # A clone (a new MAC) with the same user-data is a new cloud-init
  # instance, so that cloud-init gives it its own SSH host keys.
  tart clone vm vm2
  "$TART" run vm2 --no-graphics --net-user --cloud-init "$BATS_TEST_TMPDIR/ud.yaml" >"$BATS_TEST_TMPDIR/run-vm.out" 2>&1 3>&- &
  RUN_PID=$!
  wait_ready vm2
  run tart exec vm2 /bin/sh -c 'mkdir -p /mnt/seed && mount -t iso9660 -o ro /dev/vdb /mnt/seed && cat /mnt/seed/meta-data'
  [[ "${lines[0]}" =~ ^instance-id:\ \"tart-[0-9a-f]{16}\"$ ]]
  [ "${lines[0]}" != "$first_id" ]
  run tart stop vm2 --timeout 0
  wait_exit 10

  # A relative TART_HOME, the user-data on stdin, --detach (whose run has
  # /dev/null for stdin): the seed is read first and reaches QEMU.
  printf '#cloud-config\nhostname: piped\n' >"$BATS_TEST_TMPDIR/piped.yaml"
  (cd "$BATS_TEST_TMPDIR" && TART_HOME=home "$TART" run vm --detach --no-graphics --net-user \
    --cloud-init /dev/stdin <piped.yaml) 3>&-
  local i
  for i in $(seq 90); do tart exec vm /bin/true 2>/dev/null && break; sleep 1; done
  run tart exec vm /bin/sh -c 'mkdir -p /mnt/seed && mount -t iso9660 -o ro /dev/vdb /mnt/seed && cat /mnt/seed/user-data'
  [ "$status" -eq 0 ]
  [ "${lines[1]}" = "hostname: piped" ]
  run tart stop vm --timeout 0
  [ "$status" -eq 0 ]
}
