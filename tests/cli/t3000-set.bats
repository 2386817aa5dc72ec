#!/usr/bin/env bats
# tart set (docs/upstream.md, "Command line and flags"): CPU, memory, display, MAC, disk replacement and growth.

load lib

GB=1000000000

@test "set --cpu changes cpuCount only" {
  make_vm vm
  local mac
  mac="$(vm_cfg vm macAddress)"
  run --separate-stderr tart set vm --cpu 2
  [ "$status" -eq 0 ]
  [ -z "$output" ]
  [ -z "$stderr" ]
  [ "$(vm_cfg vm cpuCount)" = 2 ]
  [ "$(vm_cfg vm cpuCountMin)" = 4 ]
  [ "$(vm_cfg vm memorySize)" = 4294967296 ]
  [ "$(vm_cfg vm macAddress)" = "$mac" ]
}

@test "set --memory takes MiB and stores bytes" {
  make_vm vm
  run tart set vm --memory 8192
  [ "$status" -eq 0 ]
  [ "$(vm_cfg vm memorySize)" = 8589934592 ]
  [ "$(vm_cfg vm memorySizeMin)" = 4294967296 ]
  run tart set vm --memory 1536
  [ "$status" -eq 0 ]
  [ "$(vm_cfg vm memorySize)" = $((1536 * 1048576)) ]
}

@test "set --display WxHpx stores width, height and unit" {
  make_vm vm
  run tart set vm --display 1920x1080px
  [ "$status" -eq 0 ]
  [ "$(vm_cfg vm display)" = '{"height": 1080, "unit": "px", "width": 1920}' ]
  run tart set vm --display 1280x800pt
  [ "$status" -eq 0 ]
  [ "$(vm_cfg vm display)" = '{"height": 800, "unit": "pt", "width": 1280}' ]
  run tart set vm --display 1024x768
  [ "$status" -eq 0 ]
  [ "$(json_get "$TART_HOME/vms/vm/config.json" '[d["display"]["width"], d["display"]["height"]]')" = "[1024, 768]" ]
}

@test "set --display 800x keeps the height, x600 keeps the width" {
  make_vm vm
  run tart set vm --display 1920x1080px
  run tart set vm --display 800x
  [ "$status" -eq 0 ]
  [ "$(json_get "$TART_HOME/vms/vm/config.json" '[d["display"]["width"], d["display"]["height"]]')" = "[800, 1080]" ]
  run tart set vm --display x600
  [ "$status" -eq 0 ]
  [ "$(json_get "$TART_HOME/vms/vm/config.json" '[d["display"]["width"], d["display"]["height"]]')" = "[800, 600]" ]
  run tart set vm --display 0x700
  [ "$status" -eq 0 ]
  [ "$(json_get "$TART_HOME/vms/vm/config.json" '[d["display"]["width"], d["display"]["height"]]')" = "[800, 700]" ]
}

@test "set --display with garbage is a usage error and changes nothing" {
  make_vm vm
  local before
  before="$(sha "$TART_HOME/vms/vm/config.json")"
  local v
  for v in big 1920*1080 1920x1080mm -1x5 99999999999x1; do
    run --separate-stderr tart set vm --display "$v"
    [ "$status" -eq 64 ] || { echo "--display '$v': status $status" >&2; return 1; }
    one_error_line "--display"
  done
  [ "$(sha "$TART_HOME/vms/vm/config.json")" = "$before" ]
}

@test "set --display-refit / --no-display-refit" {
  make_vm vm
  run tart set vm --display-refit
  [ "$status" -eq 0 ]
  [ "$(vm_cfg vm displayRefit)" = true ]
  run tart set vm --no-display-refit
  [ "$status" -eq 0 ]
  [ "$(vm_cfg vm displayRefit)" = false ]
}

@test "set --random-mac changes the MAC, still locally administered unicast" {
  make_vm vm
  local old
  old="$(vm_cfg vm macAddress)"
  run tart set vm --random-mac
  [ "$status" -eq 0 ]
  local new
  new="$(vm_cfg vm macAddress)"
  [ "$new" != "$old" ]
  is_local_unicast_mac "$new"
}

@test "set --random-serial is accepted on a Linux VM" {
  make_vm vm
  local mac
  mac="$(vm_cfg vm macAddress)"
  run --separate-stderr tart set vm --random-serial
  [ "$status" -eq 0 ]
  [ "$(vm_cfg vm macAddress)" = "$mac" ]
  [ "$(vm_cfg vm os)" = linux ]
}

@test "set --cpu 0 and bad numbers are usage errors, nothing changes" {
  make_vm vm
  local before
  before="$(sha "$TART_HOME/vms/vm/config.json")"
  local v
  for v in 0 -2 two 99999999999999999999999; do
    run --separate-stderr tart set vm --cpu "$v"
    [ "$status" -eq 64 ] || { echo "--cpu '$v': status $status" >&2; return 1; }
    one_error_line "--cpu"
  done
  [ "$(sha "$TART_HOME/vms/vm/config.json")" = "$before" ]
}

@test "set --memory that overflows a 64-bit byte count is a usage error" {
  make_vm vm
  local before
  before="$(sha "$TART_HOME/vms/vm/config.json")"
  local v
  # 2^44 MiB = 2^64 bytes; 2^64 MiB; far beyond
  for v in 17592186044416 18446744073709551616 99999999999999999999999 -1 0; do
    run --separate-stderr tart set vm --memory "$v"
    [ "$status" -eq 64 ] || { echo "--memory '$v': status $status" >&2; return 1; }
    one_error_line "--memory"
  done
  [ "$(sha "$TART_HOME/vms/vm/config.json")" = "$before" ]
}

@test "set --memory that config.json cannot hold (2^43 MiB = 2^63 bytes) is refused, not clamped" {
  make_vm vm
  local before
  before="$(sha "$TART_HOME/vms/vm/config.json")"
  run --separate-stderr tart set vm --memory 8796093022208
  if [ "$status" -eq 0 ]; then
    # Accepted: then it must have stored exactly what was asked for.
    [ "$(vm_cfg vm memorySize)" = 9223372036854775808 ]
  else
    [ "$status" -eq 64 ]
    one_error_line "--memory"
    [ "$(sha "$TART_HOME/vms/vm/config.json")" = "$before" ]
  fi
}

@test "set --memory below the 128 MiB floor fails and changes nothing" {
  make_vm vm
  local before
  before="$(sha "$TART_HOME/vms/vm/config.json")"
  run --separate-stderr tart set vm --memory 64 --cpu 2
  [ "$status" -ne 0 ]
  one_error_line "memory"
  [ "$(sha "$TART_HOME/vms/vm/config.json")" = "$before" ]
}

@test "set --disk-size grows the disk sparsely" {
  make_vm vm
  run --separate-stderr tart set vm --disk-size 3
  [ "$status" -eq 0 ]
  local disk="$TART_HOME/vms/vm/disk.img"
  [ "$(stat -c %s "$disk")" -eq $((3 * GB)) ]
  [ "$(allocated_bytes "$disk")" -le 65536 ]
  run tart get vm --format json
  [ "$(json_eval "$output" 'd["Disk"]')" = 3 ]
}

@test "set --disk-size keeps the data already on the disk" {
  make_vm vm
  local disk="$TART_HOME/vms/vm/disk.img"
  head -c 1048576 /dev/urandom >"$BATS_TEST_TMPDIR/data"
  dd if="$BATS_TEST_TMPDIR/data" of="$disk" bs=1M seek=5 conv=notrunc status=none
  run tart set vm --disk-size 2
  [ "$status" -eq 0 ]
  cmp -i $((5 * 1048576)):0 -n 1048576 "$disk" "$BATS_TEST_TMPDIR/data"
}

@test "set --disk-size to the same size is fine" {
  make_vm vm 2
  run --separate-stderr tart set vm --disk-size 2
  [ "$status" -eq 0 ]
  [ "$(stat -c %s "$TART_HOME/vms/vm/disk.img")" -eq $((2 * GB)) ]
}

@test "set --disk-size shrink: exit 1, message, nothing changes even with --cpu" {
  make_vm vm 3
  local before
  before="$(sha "$TART_HOME/vms/vm/config.json")"
  run --separate-stderr tart set vm --disk-size 2
  [ "$status" -eq 1 ]
  one_error_line "should be larger than the current disk size"
  [ "$(stat -c %s "$TART_HOME/vms/vm/disk.img")" -eq $((3 * GB)) ]

  run --separate-stderr tart set vm --cpu 2 --disk-size 1
  [ "$status" -eq 1 ]
  one_error_line "should be larger than the current disk size"
  [ "$(vm_cfg vm cpuCount)" = 4 ]
  [ "$(sha "$TART_HOME/vms/vm/config.json")" = "$before" ]
  [ "$(stat -c %s "$TART_HOME/vms/vm/disk.img")" -eq $((3 * GB)) ]
}

@test "set --disk-size with bad values is a usage error" {
  make_vm vm
  local v
  for v in 0 -1 x 65536 99999999999999999999999; do
    run --separate-stderr tart set vm --disk-size "$v"
    [ "$status" -eq 64 ] || { echo "--disk-size '$v': status $status" >&2; return 1; }
    one_error_line "--disk-size"
  done
  [ "$(stat -c %s "$TART_HOME/vms/vm/disk.img")" -eq $GB ]
}

@test "set --disk PATH replaces the disk contents, nothing left in tmp/" {
  make_vm vm
  local img="$BATS_TEST_TMPDIR/new.img"
  truncate -s 32M "$img"
  head -c 1048576 /dev/urandom | dd of="$img" bs=1M seek=3 conv=notrunc status=none
  run --separate-stderr tart set vm --disk "$img"
  [ "$status" -eq 0 ]
  local disk="$TART_HOME/vms/vm/disk.img"
  [ "$(sha "$disk")" = "$(sha "$img")" ]
  [ "$(stat -c %s "$disk")" -eq 33554432 ]
  [ "$(allocated_bytes "$disk")" -le $(( $(allocated_bytes "$img") + 65536 )) ]
  # the source is left alone
  [ -f "$img" ]
  assert_tmp_empty
}

@test "set --disk then --disk-size in one command: replaced, then grown" {
  make_vm vm
  local img="$BATS_TEST_TMPDIR/new.img"
  truncate -s 32M "$img"
  head -c 4096 /dev/urandom | dd of="$img" conv=notrunc status=none
  run --separate-stderr tart set vm --disk "$img" --disk-size 1
  [ "$status" -eq 0 ]
  local disk="$TART_HOME/vms/vm/disk.img"
  [ "$(stat -c %s "$disk")" -eq $GB ]
  cmp -n 33554432 "$img" "$disk"
  assert_tmp_empty
}

@test "set --disk with a missing file: exit 1, disk untouched, tmp/ empty" {
  make_vm vm
  echo keep | dd of="$TART_HOME/vms/vm/disk.img" conv=notrunc status=none
  run --separate-stderr tart set vm --disk "$BATS_TEST_TMPDIR/nope.img"
  [ "$status" -eq 1 ]
  one_error_line "nope.img"
  [ "$(head -c 4 "$TART_HOME/vms/vm/disk.img")" = keep ]
  [ "$(stat -c %s "$TART_HOME/vms/vm/disk.img")" -eq $GB ]
  assert_tmp_empty
}

@test "set --disk or --disk-size on a running VM: exit 1 'is running', nothing changes" {
  # 1 as upstream's "VM is running" (docs/design.md, "Exit codes" keeps 2 for does-not-exist,
  # not-running and already-running).
  make_vm vm
  hold_run_lock vm
  local img="$BATS_TEST_TMPDIR/new.img"
  truncate -s 16M "$img"
  run --separate-stderr tart set vm --disk "$img"
  [ "$status" -eq 1 ]
  one_error_line "is running"
  run --separate-stderr tart set vm --disk-size 2
  [ "$status" -eq 1 ]
  one_error_line "running"
  [ "$(stat -c %s "$TART_HOME/vms/vm/disk.img")" -eq $GB ]
  assert_tmp_empty
}

@test "set --cpu on a running VM does not make it look stopped" {
  make_vm vm
  hold_run_lock vm
  run --separate-stderr tart set vm --cpu 2
  if [ "$status" -eq 0 ]; then
    [ "$(vm_cfg vm cpuCount)" = 2 ]
  else
    # refusing is fine too, but then as "running", unchanged
    [ "$status" -eq 1 ] || [ "$status" -eq 2 ]
    one_error_line "running"
    [ "$(vm_cfg vm cpuCount)" = 4 ]
  fi
  # The run lock must still be visible: the VM is running...
  run --separate-stderr tart get vm --format json
  [ "$(json_eval "$output" '[d["Running"], d["State"]]')" = '[true, "running"]' ]
  # ...so it cannot be deleted under the running QEMU.
  run --separate-stderr tart delete vm
  [ "$status" -ne 0 ]
  one_error_line "is running"
  [ -f "$TART_HOME/vms/vm/disk.img" ]
}

@test "set keeps unknown keys of an upstream config.json" {
  make_vm vm
  cat >"$TART_HOME/vms/vm/config.json" <<'EOF'
{
  "memorySize" : 17179869184,
  "arch" : "arm64",
  "os" : "linux",
  "cpuCountMin" : 4,
  "display" : {
    "width" : 1024,
    "height" : 768
  },
  "cpuCount" : 4,
  "version" : 1,
  "macAddress" : "7e:1c:f2:4a:78:30",
  "memorySizeMin" : 4294967296,
  "fooBar" : {"x" : [1, 2]},
  "ecid" : "abc"
}
EOF
  run --separate-stderr tart set vm --cpu 8
  [ "$status" -eq 0 ]
  run json_get "$TART_HOME/vms/vm/config.json" \
    '[d["fooBar"], d["ecid"], d["cpuCount"], d["memorySize"], d["arch"], d["macAddress"], d["version"]]'
  [ "$output" = '[{"x": [1, 2]}, "abc", 8, 17179869184, "arm64", "7e:1c:f2:4a:78:30", 1]' ]
}

@test "set of a missing VM: exit 2" {
  run --separate-stderr tart set nope --cpu 2
  [ "$status" -eq 2 ]
  [ "$stderr" = 'tart: error: the specified VM "nope" does not exist' ]
  [ ! -e "$TART_HOME/vms/nope" ]
}

@test "set on a remote name: exit 2, the cache is not modified" {
  make_vm tmpl
  make_oci_entry tmpl "127.0.0.1%3A5000" org/img "$(fake_hex img)" latest
  local before
  before="$(sha "$TART_HOME/cache/OCIs/127.0.0.1%3A5000/org/img/latest/config.json")"
  run --separate-stderr tart set 127.0.0.1:5000/org/img:latest --cpu 2
  [ "$status" -eq 2 ]
  one_error_line
  [ "$(sha "$TART_HOME/cache/OCIs/127.0.0.1%3A5000/org/img/latest/config.json")" = "$before" ]
}

@test "set leaves a config.json that is valid JSON and rewritten atomically" {
  make_vm vm
  local ino_before
  ino_before="$(stat -c %i "$TART_HOME/vms/vm/config.json")"
  run tart set vm --cpu 6 --memory 6144 --display 1280x720px --display-refit --random-mac
  [ "$status" -eq 0 ]
  run tart get vm --format json
  [ "$status" -eq 0 ]
  [ "$(json_eval "$output" '[d["CPU"], d["Memory"], d["Display"]]')" = '[6, 6144, "1280x720px"]' ]
  # atomic replace means a new inode (write temp + rename)
  [ "$(stat -c %i "$TART_HOME/vms/vm/config.json")" != "$ino_before" ]
  assert_tmp_empty
  [ "$(ls -A "$TART_HOME/vms/vm" | sort | tr '\n' ' ')" = "config.json disk.img nvram.bin " ]
}
