#!/usr/bin/env bats
# tart create: defaults, firmware, names, sizes, --from-image (docs/design.md, "Commands"; docs/upstream.md, "Command line and flags").

load lib

GB=1000000000

# Fail unless nothing was created: vms/ and tmp/ are empty.
assert_nothing_created() {
  local vms
  vms="$(ls -A "$TART_HOME/vms" 2>/dev/null)"
  [[ -z "$vms" ]] || { echo "vms/ holds: $vms" >&2; return 1; }
  if [[ -d "$TART_HOME/tmp" ]]; then assert_tmp_empty; fi
}

# A raw image: 64 MiB, data at 0, 16 MiB and the last 4 KiB, holes between.
make_raw() {
  local f="$1"
  truncate -s 64M "$f"
  head -c 1048576 /dev/urandom | dd of="$f" bs=1M seek=0 conv=notrunc status=none
  head -c 65536 /dev/urandom | dd of="$f" bs=64K seek=256 conv=notrunc status=none
  head -c 4096 /dev/urandom | dd of="$f" bs=4096 seek=16383 conv=notrunc status=none
}

@test "create --linux: config.json has upstream's Linux defaults" {
  run --separate-stderr tart create vm --linux
  [ "$status" -eq 0 ]
  [ -z "$output" ]
  [ -z "$stderr" ]
  local cfg="$TART_HOME/vms/vm/config.json"
  run json_get "$cfg" '[d["version"], d["os"], d["arch"], d["cpuCount"], d["cpuCountMin"], d["memorySize"],
    d["memorySizeMin"], d["diskFormat"], d["firmware"], d["display"]["width"], d["display"]["height"]]'
  [ "$output" = "[1, \"linux\", \"$(host_arch)\", 4, 4, 4294967296, 4294967296, \"raw\", \"efi\", 1024, 768]" ]
  local mac
  mac="$(json_get "$cfg" 'd["macAddress"]')"
  is_local_unicast_mac "$mac"
}

@test "create --linux: disk.img is 50 GB and fully sparse, nvram.bin is OVMF's variable store" {
  [ "$(host_arch)" = amd64 ] || skip "host is not amd64"
  [ -f /usr/share/OVMF/OVMF_VARS_4M.fd ] || skip "OVMF_VARS_4M.fd not installed"
  run tart create vm --linux
  [ "$status" -eq 0 ]
  local d="$TART_HOME/vms/vm"
  [ "$(stat -c %s "$d/disk.img")" -eq $((50 * GB)) ]
  [ "$(stat -c %b "$d/disk.img")" -eq 0 ]
  cmp /usr/share/OVMF/OVMF_VARS_4M.fd "$d/nvram.bin"
  # nothing else in the VM dir, nothing left in tmp/
  [ "$(ls -A "$d" | sort | tr '\n' ' ')" = "config.json disk.img nvram.bin " ]
  assert_tmp_empty
}

@test "two VMs get different MAC addresses" {
  make_vm a
  make_vm b
  [ "$(vm_cfg a macAddress)" != "$(vm_cfg b macAddress)" ]
}

@test "create --disk-size 3 makes a 3 GB disk" {
  run tart create vm --linux --disk-size 3
  [ "$status" -eq 0 ]
  [ "$(stat -c %s "$TART_HOME/vms/vm/disk.img")" -eq $((3 * GB)) ]
  [ "$(stat -c %b "$TART_HOME/vms/vm/disk.img")" -eq 0 ]
}

@test "--disk-size=N and flags before the name work too" {
  run tart create --linux --disk-size=2 vm
  [ "$status" -eq 0 ]
  [ "$(stat -c %s "$TART_HOME/vms/vm/disk.img")" -eq $((2 * GB)) ]
}

@test "create --arch arm64 uses AAVMF's variable store" {
  [ -f /usr/share/AAVMF/AAVMF_VARS.fd ] || skip "AAVMF_VARS.fd not installed"
  run tart create vm --linux --arch arm64 --disk-size 1
  [ "$status" -eq 0 ]
  [ "$(vm_cfg vm arch)" = arm64 ]
  cmp /usr/share/AAVMF/AAVMF_VARS.fd "$TART_HOME/vms/vm/nvram.bin"
}

@test "create --arch with a bad value is a usage error" {
  run --separate-stderr tart create vm --linux --arch riscv64
  [ "$status" -eq 64 ]
  one_error_line "riscv64"
  assert_nothing_created
}

@test "create --firmware bios: empty nvram.bin, firmware bios" {
  run tart create vm --linux --firmware bios --arch amd64 --disk-size 1
  [ "$status" -eq 0 ]
  [ -f "$TART_HOME/vms/vm/nvram.bin" ]
  [ "$(stat -c %s "$TART_HOME/vms/vm/nvram.bin")" -eq 0 ]
  [ "$(vm_cfg vm firmware)" = bios ]
  [ "$(vm_cfg vm arch)" = amd64 ]
}

@test "create --firmware bios --arch arm64 is a usage error" {
  run --separate-stderr tart create vm --linux --firmware bios --arch arm64
  [ "$status" -eq 64 ]
  one_error_line "bios"
  assert_nothing_created
}

@test "create --firmware with a bad value is a usage error" {
  run --separate-stderr tart create vm --linux --firmware uboot
  [ "$status" -eq 64 ]
  one_error_line "uboot"
  assert_nothing_created
}

@test "create --from-ipsw fails with a clear message" {
  run --separate-stderr tart create vm --from-ipsw x
  [ "$status" -eq 1 ]
  one_error_line "--from-ipsw"
  [[ "$stderr" == *macOS* ]]
  assert_nothing_created
}

@test "create without --linux: 64, 'Please specify either a --from-ipsw or --linux option!'" {
  run --separate-stderr tart create vm
  [ "$status" -eq 64 ]
  one_error_line "Please specify either a --from-ipsw or --linux option!"
  assert_nothing_created
}

@test "create --disk-format raw is accepted, asif is a usage error" {
  run tart create vm --linux --disk-format RAW --disk-size 1
  [ "$status" -eq 0 ]
  [ "$(vm_cfg vm diskFormat)" = raw ]
  run --separate-stderr tart create vm2 --linux --disk-format asif
  [ "$status" -eq 64 ]
  one_error_line "Disk format 'asif' is not supported on this system: ASIF is Apple's"
  [ ! -e "$TART_HOME/vms/vm2" ]
  run --separate-stderr tart create vm2 --linux --disk-format qcow2
  [ "$status" -eq 64 ]
  one_error_line 'invalid value for --disk-format: "qcow2" (use raw or asif)'
  [ ! -e "$TART_HOME/vms/vm2" ]
}

@test "create onto an existing name: exit 1, the VM is untouched" {
  make_vm vm
  echo data | dd of="$TART_HOME/vms/vm/disk.img" conv=notrunc status=none
  local before_cfg
  before_cfg="$(sha "$TART_HOME/vms/vm/config.json")"
  run --separate-stderr tart create vm --linux --disk-size 2
  [ "$status" -eq 1 ]
  one_error_line "already exists"
  [ "$(sha "$TART_HOME/vms/vm/config.json")" = "$before_cfg" ]
  [ "$(head -c 5 "$TART_HOME/vms/vm/disk.img")" = data ]
  [ "$(stat -c %s "$TART_HOME/vms/vm/disk.img")" -eq $GB ]
  assert_tmp_empty
}

@test "create onto an existing broken VM dir (no disk.img) fails and leaves it" {
  mkdir -p "$TART_HOME/vms/vm"
  echo keep >"$TART_HOME/vms/vm/notes"
  run --separate-stderr tart create vm --linux --disk-size 1
  [ "$status" -eq 1 ]
  one_error_line
  [ "$(cat "$TART_HOME/vms/vm/notes")" = keep ]
  [ ! -e "$TART_HOME/vms/vm/disk.img" ]
}

@test "invalid names: '..', '.', 'a/b', a control character, 256 bytes, empty -> 64, nothing created" {
  local long
  long="$(printf 'n%.0s' {1..256})"
  local name
  for name in ".." "." "a/b" "../escape" $'a\tb' $'a\nb' "$long" ""; do
    run --separate-stderr tart create "$name" --linux --disk-size 1
    [ "$status" -eq 64 ] || { echo "name '$name': status $status" >&2; return 1; }
    one_error_line || { echo "(name '$name')" >&2; return 1; }
  done
  assert_nothing_created
  [ ! -e "$TART_HOME/escape" ]
  [ ! -e "$TART_HOME/a" ]
}

@test "a 255-byte name is fine" {
  local name
  name="$(printf 'n%.0s' {1..255})"
  run tart create "$name" --linux --disk-size 1
  [ "$status" -eq 0 ]
  [ -f "$TART_HOME/vms/$name/config.json" ]
  run tart list -q
  [ "$status" -eq 0 ]
  [ "$output" = "$name" ]
}

@test "names with spaces, unicode and dashes are fine" {
  local name
  for name in "my vm" "vm-ü-1" "-dash"; do
    run tart create --linux --disk-size 1 -- "$name"
    [ "$status" -eq 0 ] || { echo "name '$name': status $status: $output" >&2; return 1; }
    [ -f "$TART_HOME/vms/$name/disk.img" ]
  done
  run tart list -q
  [ "${#lines[@]}" -eq 3 ]
}

@test "bad --disk-size values: negative, non-numeric, overflowing, UInt16 overflow -> 64" {
  local v
  for v in -1 abc 1.5 "" 99999999999999999999999 18446744073709551616 65536 " 3" "3GB"; do
    run --separate-stderr tart create vm --linux --disk-size "$v"
    [ "$status" -eq 64 ] || { echo "--disk-size '$v': status $status" >&2; return 1; }
    one_error_line "--disk-size" || { echo "(--disk-size '$v')" >&2; return 1; }
  done
  assert_nothing_created
}

@test "create --from-image raw: same content, holes kept" {
  local img="$BATS_TEST_TMPDIR/img.raw"
  make_raw "$img"
  run tart create vm --linux --from-image "$img"
  [ "$status" -eq 0 ]
  local disk="$TART_HOME/vms/vm/disk.img"
  [ "$(stat -c %s "$disk")" -eq "$(stat -c %s "$img")" ]
  cmp -n 1048576 "$img" "$disk"
  [ "$(sha "$disk")" = "$(sha "$img")" ]
  [ "$(allocated_bytes "$disk")" -le $(( $(allocated_bytes "$img") + 65536 )) ]
  assert_tmp_empty
}

@test "create --from-image raw whose first bytes look like qcow2 stays raw" {
  local img="$BATS_TEST_TMPDIR/img.raw"
  make_raw "$img"
  printf 'QFI\xfb' | dd of="$img" conv=notrunc status=none
  run tart create vm --linux --from-image "$img"
  # qemu-img may probe it as qcow2 (a broken one); either it is refused or
  # copied byte for byte: never interpreted.
  if [ "$status" -eq 0 ]; then
    [ "$(sha "$TART_HOME/vms/vm/disk.img")" = "$(sha "$img")" ]
  else
    [ ! -e "$TART_HOME/vms/vm" ]
  fi
  assert_tmp_empty
}

@test "create --from-image qcow2 is converted to the same raw content" {
  command -v qemu-img >/dev/null || skip "qemu-img not installed"
  local raw="$BATS_TEST_TMPDIR/img.raw" q="$BATS_TEST_TMPDIR/img.qcow2"
  make_raw "$raw"
  qemu-img convert -q -f raw -O qcow2 "$raw" "$q"
  run tart create vm --linux --from-image "$q"
  [ "$status" -eq 0 ]
  local disk="$TART_HOME/vms/vm/disk.img"
  [ "$(stat -c %s "$disk")" -eq "$(stat -c %s "$raw")" ]
  [ "$(sha "$disk")" = "$(sha "$raw")" ]
  # converted sparse
  [ "$(allocated_bytes "$disk")" -le $(( $(allocated_bytes "$raw") + 1048576 )) ]
  assert_tmp_empty
}

@test "create --from-image of an empty qcow2 made with qemu-img create" {
  command -v qemu-img >/dev/null || skip "qemu-img not installed"
  local q="$BATS_TEST_TMPDIR/empty.qcow2"
  qemu-img create -q -f qcow2 "$q" 32M
  run tart create vm --linux --from-image "$q"
  [ "$status" -eq 0 ]
  local disk="$TART_HOME/vms/vm/disk.img"
  [ "$(stat -c %s "$disk")" -eq 33554432 ]
  cmp "$disk" <(head -c 33554432 /dev/zero)
}

@test "create --from-image vmdk is converted to the same raw content" {
  command -v qemu-img >/dev/null || skip "qemu-img not installed"
  local raw="$BATS_TEST_TMPDIR/img.raw" v="$BATS_TEST_TMPDIR/img.vmdk"
  make_raw "$raw"
  qemu-img convert -q -f raw -O vmdk "$raw" "$v"
  run tart create vm --linux --from-image "$v"
  [ "$status" -eq 0 ]
  [ "$(sha "$TART_HOME/vms/vm/disk.img")" = "$(sha "$raw")" ]
}

@test "create --from-image grows the image to a larger --disk-size" {
  local img="$BATS_TEST_TMPDIR/img.raw"
  make_raw "$img"
  run tart create vm --linux --from-image "$img" --disk-size 1
  [ "$status" -eq 0 ]
  local disk="$TART_HOME/vms/vm/disk.img"
  [ "$(stat -c %s "$disk")" -eq $GB ]
  cmp -n $((64 * 1048576)) "$img" "$disk"
  [ "$(allocated_bytes "$disk")" -le $(( $(allocated_bytes "$img") + 65536 )) ]
}

@test "create --from-image never shrinks an image larger than --disk-size" {
  local img="$BATS_TEST_TMPDIR/big.raw"
  # 1.5 GB with data at both ends
  truncate -s 1500000000 "$img"
  head -c 1048576 /dev/urandom | dd of="$img" conv=notrunc status=none
  head -c 4096 /dev/urandom | dd of="$img" bs=4096 seek=$((1500000000 / 4096 - 1)) conv=notrunc status=none
  run tart create vm --linux --from-image "$img" --disk-size 1
  [ "$status" -eq 0 ]
  local disk="$TART_HOME/vms/vm/disk.img"
  [ "$(stat -c %s "$disk")" -eq 1500000000 ]
  cmp -n 1048576 "$img" "$disk"
  local tail_off=$((1500000000 - 8192))
  cmp -i "$tail_off" "$img" "$disk"
}

@test "create --from-image with a missing file: exit 1, nothing created" {
  run --separate-stderr tart create vm --linux --from-image "$BATS_TEST_TMPDIR/nope.img"
  [ "$status" -eq 1 ]
  one_error_line "nope.img"
  assert_nothing_created
}

@test "create --from-image of an unsupported format (vdi): exit 1, nothing created" {
  command -v qemu-img >/dev/null || skip "qemu-img not installed"
  qemu-img create -q -f vdi "$BATS_TEST_TMPDIR/x.vdi" 16M
  run --separate-stderr tart create vm --linux --from-image "$BATS_TEST_TMPDIR/x.vdi"
  [ "$status" -eq 1 ]
  one_error_line "vdi"
  assert_nothing_created
}

@test "TART_FIRMWARE_DIR pointing at an empty dir: exit 1 mentioning ovmf, nothing left" {
  [ "$(host_arch)" = amd64 ] || skip "host is not amd64"
  mkdir "$BATS_TEST_TMPDIR/fw"
  TART_FIRMWARE_DIR="$BATS_TEST_TMPDIR/fw" run --separate-stderr tart create vm --linux --disk-size 1
  [ "$status" -eq 1 ]
  one_error_line "ovmf"
  [ ! -e "$TART_HOME/vms/vm" ]
  assert_tmp_empty
}

@test "TART_FIRMWARE_DIR with a variable store is used" {
  [ "$(host_arch)" = amd64 ] || skip "host is not amd64"
  mkdir "$BATS_TEST_TMPDIR/fw"
  head -c 540672 /dev/urandom >"$BATS_TEST_TMPDIR/fw/OVMF_VARS_4M.fd"
  TART_FIRMWARE_DIR="$BATS_TEST_TMPDIR/fw" run tart create vm --linux --disk-size 1
  [ "$status" -eq 0 ]
  cmp "$BATS_TEST_TMPDIR/fw/OVMF_VARS_4M.fd" "$TART_HOME/vms/vm/nvram.bin"
}

@test "the created VM shows up in list and get" {
  make_vm vm 2
  run tart list -q
  [ "$output" = vm ]
  run tart get vm --format json
  [ "$status" -eq 0 ]
  [ "$(json_eval "$output" 'd["Disk"]')" = 2 ]
  [ "$(json_eval "$output" 'd["OS"]')" = linux ]
}

@test "create --from-image of a FIFO fails promptly instead of hanging" {
  local fifo="$BATS_TEST_TMPDIR/img.fifo"
  mkfifo "$fifo"
  run --separate-stderr timeout 3 "$TART" create vm --linux --from-image "$fifo"
  # unblock anything still waiting to open the FIFO
  exec 5<>"$fifo"
  exec 5>&-
  [ "$status" -ne 124 ] || { echo "tart create hung on a FIFO" >&2; return 1; }
  [ "$status" -eq 1 ]
  one_error_line
  assert_nothing_created
}

@test "create --from-image of a directory or a device: exit 1, nothing created" {
  local src
  for src in "$BATS_TEST_TMPDIR" /dev/zero; do
    run --separate-stderr timeout 10 "$TART" create vm --linux --from-image "$src"
    [ "$status" -eq 1 ] || { echo "--from-image $src: status $status" >&2; return 1; }
    one_error_line
  done
  assert_nothing_created
}

@test "a disk size the file system cannot hold fails cleanly" {
  run --separate-stderr tart create vm --linux --disk-size 65535
  if [ "$status" -eq 0 ]; then
    [ "$(stat -c %s "$TART_HOME/vms/vm/disk.img")" -eq $((65535 * GB)) ]
  else
    [ "$status" -eq 1 ]
    one_error_line "disk.img"
    assert_nothing_created
  fi
}

@test "parallel creates of one name: exactly one wins, the others fail cleanly" {
  mkdir -p "$BATS_TEST_TMPDIR/rc"
  local i
  for i in 1 2 3 4 5 6; do
    (rc=0
      "$TART" create vm --linux --disk-size 1 >/dev/null 2>"$BATS_TEST_TMPDIR/rc/$i.err" || rc=$?
      echo "$rc" >"$BATS_TEST_TMPDIR/rc/$i") 3>&- &
  done
  wait
  local ok=0 fail=0
  for i in 1 2 3 4 5 6; do
    case "$(cat "$BATS_TEST_TMPDIR/rc/$i")" in
    0) ok=$((ok + 1)) ;;
    1) fail=$((fail + 1))
       grep -q "already exists" "$BATS_TEST_TMPDIR/rc/$i.err" ||
         { echo "create $i: $(cat "$BATS_TEST_TMPDIR/rc/$i.err")" >&2; return 1; } ;;
    *) echo "create $i: $(cat "$BATS_TEST_TMPDIR/rc/$i") $(cat "$BATS_TEST_TMPDIR/rc/$i.err")" >&2; return 1 ;;
    esac
  done
  [ "$ok" -eq 1 ]
  [ "$fail" -eq 5 ]
  [ "$(ls -A "$TART_HOME/vms/vm" | sort | tr '\n' ' ')" = "config.json disk.img nvram.bin " ]
  run tart list -q
  [ "$output" = vm ]
  assert_tmp_empty
}
