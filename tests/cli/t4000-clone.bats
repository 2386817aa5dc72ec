#!/usr/bin/env bats
# tart clone (docs/upstream.md, "Clone and MAC addresses"; docs/design.md, "Storage layout"): content, holes, MAC rules, failures leave no
# trace.

load lib

HOSTDIR="127.0.0.1%3A5000"
HOST="127.0.0.1:5000"

# Source VM with data written at a few offsets of a 1 GB sparse disk.
make_src() {
  make_vm src
  local disk="$TART_HOME/vms/src/disk.img" off
  for off in 0 7 300 999; do # MiB
    head -c 262144 /dev/urandom | dd of="$disk" bs=1M seek="$off" conv=notrunc status=none
  done
}

@test "clone copies disk.img and nvram.bin identically and keeps holes" {
  make_src
  run --separate-stderr tart clone src dst
  [ "$status" -eq 0 ]
  [ -z "$output" ]
  [ -z "$stderr" ]
  local s="$TART_HOME/vms/src" d="$TART_HOME/vms/dst"
  same_content "$s/disk.img" "$d/disk.img"
  cmp "$s/nvram.bin" "$d/nvram.bin"
  [ "$(stat -c %s "$d/disk.img")" -eq "$(stat -c %s "$s/disk.img")" ]
  [ "$(allocated_bytes "$d/disk.img")" -le $(( $(allocated_bytes "$s/disk.img") + 65536 )) ]
  # only upstream's files are copied
  [ "$(ls -A "$d" | sort | tr '\n' ' ')" = "config.json disk.img nvram.bin " ]
  assert_tmp_empty
}

@test "clone local->local gets a new locally administered MAC, the rest of the config is the same" {
  make_vm src
  run tart set src --cpu 3 --memory 3072
  local old
  old="$(vm_cfg src macAddress)"
  run tart clone src dst
  [ "$status" -eq 0 ]
  local new
  new="$(vm_cfg dst macAddress)"
  [ "$new" != "$old" ]
  is_local_unicast_mac "$new"
  [ "$(vm_cfg src macAddress)" = "$old" ]
  [ "$(vm_cfg dst cpuCount)" = 3 ]
  [ "$(vm_cfg dst memorySize)" = $((3072 * 1048576)) ]
  [ "$(json_get "$TART_HOME/vms/dst/config.json" 'sorted(d.keys())')" = \
    "$(json_get "$TART_HOME/vms/src/config.json" 'sorted(d.keys())')" ]
}

@test "clone keeps unknown config keys" {
  make_vm src
  "$PYTHON" - "$TART_HOME/vms/src/config.json" <<'PY'
import json, sys
p = sys.argv[1]
d = json.load(open(p))
d["fooBar"] = {"x": [1, 2]}
json.dump(d, open(p, "w"))
PY
  run tart clone src dst
  [ "$status" -eq 0 ]
  [ "$(json_get "$TART_HOME/vms/dst/config.json" 'd["fooBar"]')" = '{"x": [1, 2]}' ]
}

@test "clone of a suspended VM keeps the MAC and copies the saved state" {
  make_vm src
  head -c 100000 /dev/urandom >"$TART_HOME/vms/src/state.qemusave"
  local mac
  mac="$(vm_cfg src macAddress)"
  run --separate-stderr tart clone src dst
  [ "$status" -eq 0 ]
  [ "$(vm_cfg dst macAddress)" = "$mac" ]
  cmp "$TART_HOME/vms/src/state.qemusave" "$TART_HOME/vms/dst/state.qemusave"
  run tart get dst --format json
  [ "$(json_eval "$output" 'd["State"]')" = suspended ]
}

@test "clone does not copy logs, sockets or other extra files" {
  make_vm src
  mkdir "$TART_HOME/vms/src/logs"
  echo log >"$TART_HOME/vms/src/logs/qemu.log"
  echo x >"$TART_HOME/vms/src/manifest.json"
  touch "$TART_HOME/vms/src/.explicitly-pulled"
  run tart clone src dst
  [ "$status" -eq 0 ]
  [ "$(ls -A "$TART_HOME/vms/dst" | sort | tr '\n' ' ')" = "config.json disk.img nvram.bin " ]
}

@test "clone onto an existing name: exit 1, the target is untouched" {
  make_vm src
  make_vm dst 2
  echo mine | dd of="$TART_HOME/vms/dst/disk.img" conv=notrunc status=none
  local before
  before="$(sha "$TART_HOME/vms/dst/config.json")"
  run --separate-stderr tart clone src dst
  [ "$status" -eq 1 ]
  one_error_line "already exists"
  [ "$(sha "$TART_HOME/vms/dst/config.json")" = "$before" ]
  [ "$(head -c 4 "$TART_HOME/vms/dst/disk.img")" = mine ]
  [ "$(stat -c %s "$TART_HOME/vms/dst/disk.img")" -eq 2000000000 ]
  assert_tmp_empty
}

@test "clone onto a non-VM directory of that name fails and leaves it" {
  make_vm src
  mkdir -p "$TART_HOME/vms/dst"
  echo keep >"$TART_HOME/vms/dst/notes"
  run --separate-stderr tart clone src dst
  [ "$status" -eq 1 ]
  one_error_line
  [ "$(cat "$TART_HOME/vms/dst/notes")" = keep ]
  [ ! -e "$TART_HOME/vms/dst/disk.img" ]
  assert_tmp_empty
}

@test "clone of a missing VM: exit 2, nothing created" {
  run --separate-stderr tart clone nope dst
  [ "$status" -eq 2 ]
  [ "$stderr" = 'tart: error: the specified VM "nope" does not exist' ]
  [ ! -e "$TART_HOME/vms/dst" ]
  assert_tmp_empty
}

@test "clone to an invalid new name: 64, nothing created" {
  make_vm src
  local name long
  long="$(printf 'n%.0s' {1..256})"
  for name in "a/b" ".." "." $'a\tb' "$long" "" "$HOST/org/img:latest"; do
    run --separate-stderr tart clone src "$name"
    [ "$status" -eq 64 ] || { echo "new name '$name': status $status" >&2; return 1; }
    one_error_line
  done
  [ "$(ls -A "$TART_HOME/vms")" = src ]
  assert_tmp_empty
}

@test "clone of a VM dir missing its files fails and creates nothing" {
  make_vm src
  rm "$TART_HOME/vms/src/disk.img"
  run --separate-stderr tart clone src dst
  [ "$status" -ne 0 ]
  one_error_line
  [ ! -e "$TART_HOME/vms/dst" ]
  assert_tmp_empty
}

@test "clone of a running VM is refused in one line; --allow-running makes the crash-consistent copy" {
  make_vm src
  hold_run_lock src
  run --separate-stderr tart clone src dst
  [ "$status" -eq 1 ]
  one_error_line 'VM "src" is running: stop it before cloning it, or clone with --allow-running for a crash-consistent copy'
  [ ! -e "$TART_HOME/vms/dst" ]
  assert_tmp_empty
  run --separate-stderr tart clone src dst --allow-running
  [ "$status" -eq 0 ]
  [ -f "$TART_HOME/vms/dst/disk.img" ]
  # the clone itself is not running
  run tart get dst --format json
  [ "$(json_eval "$output" 'd["State"]')" = stopped ]
}

@test "clone from the OCI cache keeps the image's MAC when no local VM has it" {
  make_vm tmpl
  local hex mac
  hex="$(fake_hex img)"
  mac="$(vm_cfg tmpl macAddress)"
  make_oci_entry tmpl "$HOSTDIR" org/img "$hex" latest
  run tart delete tmpl
  [ "$status" -eq 0 ]
  run --separate-stderr tart clone "$HOST/org/img:latest" vm
  [ "$status" -eq 0 ]
  [ "$(vm_cfg vm macAddress)" = "$mac" ]
  same_content "$TART_HOME/cache/OCIs/$HOSTDIR/org/img/sha256:$hex/disk.img" "$TART_HOME/vms/vm/disk.img"
  # manifest.json of the cache entry is not copied
  [ ! -e "$TART_HOME/vms/vm/manifest.json" ]
  # the cache entry is still there
  [ -f "$TART_HOME/cache/OCIs/$HOSTDIR/org/img/sha256:$hex/config.json" ]
  assert_tmp_empty
}

@test "clone from the OCI cache gets a new MAC when a local VM already has it" {
  make_vm tmpl
  local hex mac
  hex="$(fake_hex img)"
  mac="$(vm_cfg tmpl macAddress)"
  make_oci_entry tmpl "$HOSTDIR" org/img "$hex" latest
  run tart clone "$HOST/org/img@sha256:$hex" vm
  [ "$status" -eq 0 ]
  [ "$(vm_cfg vm macAddress)" != "$mac" ]
  is_local_unicast_mac "$(vm_cfg vm macAddress)"
  # and a second clone (now two local VMs) differs from both
  run tart delete tmpl
  run tart clone "$HOST/org/img:latest" vm2
  [ "$status" -eq 0 ]
  [ "$(vm_cfg vm2 macAddress)" = "$mac" ]
}

@test "clone bumps the source's access time" {
  make_vm src
  touch -a -d '2 days ago' "$TART_HOME/vms/src"
  run tart clone src dst
  [ "$status" -eq 0 ]
  [ $(( $(date +%s) - $(stat -c %X "$TART_HOME/vms/src") )) -lt 60 ]
}

@test "clone bad flag values are usage errors" {
  make_vm src
  run --separate-stderr tart clone src dst --concurrency 0
  [ "$status" -eq 64 ]
  one_error_line "--concurrency"
  run --separate-stderr tart clone src dst --prune-limit -5
  [ "$status" -eq 64 ]
  one_error_line "--prune-limit"
  [ ! -e "$TART_HOME/vms/dst" ]
  # accepted flags
  run tart clone src dst --insecure --concurrency 2 --prune-limit 10
  [ "$status" -eq 0 ]
}

@test "clone fails cleanly on a full disk: ENOSPC, no VM, tmp/ empty, source intact" {
  [ "$(id -u)" -eq 0 ] || skip "needs root for a private tmpfs"
  unshare -m true 2>/dev/null || skip "unshare -m does not work here"
  local home="$BATS_TEST_TMPDIR/small"
  mkdir -p "$home"
  run unshare -m bash -c '
    set -e
    mount -t tmpfs -o size=24m tmpfs "$0"
    export TART_HOME="$0"
    "$1" create src --linux --disk-size 1
    # 16 MiB of real data (a small disk.img keeps the checksums cheap)
    head -c 16777216 /dev/urandom >"$TART_HOME/vms/src/disk.img"
    before=$(sha256sum <"$TART_HOME/vms/src/disk.img" | cut -d" " -f1)
    set +e
    "$1" clone src dst
    echo "clone-status=$?"
    set -e
    "$1" list -q >/dev/null
    echo "vms=$(ls -A "$TART_HOME/vms" | tr "\n" " ")"
    echo "tmp=$(ls -A "$TART_HOME/tmp" | tr "\n" " ")"
    after=$(sha256sum <"$TART_HOME/vms/src/disk.img" | cut -d" " -f1)
    [ "$before" = "$after" ] && echo "source=intact" || echo "source=changed"
    "$1" list -q
  ' "$home" "$TART" 2>&1
  echo "$output"
  [ "$status" -eq 0 ]
  output_has "clone-status=1"
  output_has "No space left on device"
  output_has "vms=src "
  [[ "$output" == *$'\ntmp=\n'* ]]
  output_has "source=intact"
  [ "${lines[-1]}" = src ]
  # the error was one line
  [ "$(printf '%s\n' "${lines[@]}" | grep -c '^tart: error: ')" -eq 1 ]
}

@test "parallel clones onto one name: exactly one wins, tmp/ is left empty" {
  make_vm src
  mkdir -p "$BATS_TEST_TMPDIR/rc"
  local i
  for i in 1 2 3 4; do
    (rc=0
      "$TART" clone src dst >/dev/null 2>"$BATS_TEST_TMPDIR/rc/$i.err" || rc=$?
      echo "$rc" >"$BATS_TEST_TMPDIR/rc/$i") 3>&- &
  done
  wait
  local ok=0
  for i in 1 2 3 4; do
    case "$(cat "$BATS_TEST_TMPDIR/rc/$i")" in
    0) ok=$((ok + 1)) ;;
    1) grep -q "already exists" "$BATS_TEST_TMPDIR/rc/$i.err" ;;
    *) echo "clone $i: $(cat "$BATS_TEST_TMPDIR/rc/$i") $(cat "$BATS_TEST_TMPDIR/rc/$i.err")" >&2; return 1 ;;
    esac
  done
  [ "$ok" -eq 1 ]
  [ "$(ls -A "$TART_HOME/vms/dst" | sort | tr '\n' ' ')" = "config.json disk.img nvram.bin " ]
  [ "$(vm_cfg dst macAddress)" != "$(vm_cfg src macAddress)" ]
  assert_tmp_empty
}

@test "parallel clones of one source get distinct MACs" {
  make_vm src
  local i
  for i in 1 2 3 4; do
    ("$TART" clone src "c$i" >/dev/null 2>&1) 3>&- &
  done
  wait
  run tart list -q
  [ "${#lines[@]}" -eq 5 ]
  local macs
  macs="$(for i in src c1 c2 c3 c4; do vm_cfg "$i" macAddress; done | sort -u | wc -l)"
  [ "$macs" -eq 5 ]
}

@test "a VM file that is a symbolic link is never followed: set, clone, export and run refuse in one line" {
  make_vm src
  local outside="$BATS_TEST_TMPDIR/outside.img"
  mv "$TART_HOME/vms/src/disk.img" "$outside"
  ln -s "$outside" "$TART_HOME/vms/src/disk.img"
  local before
  before=$(stat -c %s "$outside")
  run --separate-stderr tart set src --disk-size 3
  [ "$status" -eq 1 ]
  one_error_line 'VM "src": disk.img is a symbolic link; VM files are never followed'
  run --separate-stderr tart clone src dst
  [ "$status" -eq 1 ]
  one_error_line 'disk.img is a symbolic link'
  [ ! -e "$TART_HOME/vms/dst" ]
  run --separate-stderr tart export src "$BATS_TEST_TMPDIR/src.tvm"
  [ "$status" -eq 1 ]
  one_error_line 'disk.img is a symbolic link'
  [ ! -e "$BATS_TEST_TMPDIR/src.tvm" ]
  run --separate-stderr tart run src --no-graphics --net-user
  [ "$status" -eq 1 ]
  one_error_line 'disk.img is a symbolic link'
  [ "$(stat -c %s "$outside")" = "$before" ]
  assert_tmp_empty
}
