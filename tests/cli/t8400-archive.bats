#!/usr/bin/env bats
# tart export / import (docs/design.md, "Commands"; docs/upstream.md, "Import and export"):
# a .tvm is a tar of an OCI image layout; import verifies every digest and
# refuses entries that could write outside its target.

load lib
load registry
load ../helpers/oci-common

# A valid archive of a small VM, made once: the crafted ones start from it.
setup_file() {
  export FILE_HOME="$BATS_FILE_TMPDIR/src-home"
  export GOOD_TVM="$BATS_FILE_TMPDIR/good.tvm"
  (
    export TART_HOME="$FILE_HOME" TART_NO_AUTO_PRUNE=1
    make_small_vm small
    "$TART" export small "$GOOD_TVM" >/dev/null
  )
  export SMALL_DISK="$FILE_HOME/vms/small/disk.img"
}

# craft OUT KIND: a copy of $GOOD_TVM with one bad entry (first) or one bad
# blob.
craft() {
  "$PYTHON" - "$GOOD_TVM" "$1" "$2" "$BATS_TEST_TMPDIR" <<'PY'
import io, json, os, sys, tarfile
src, out, kind, tmpdir = sys.argv[1:5]
good = tarfile.open(src)
members = [(m, good.extractfile(m).read() if m.isfile() else None) for m in good.getmembers()]

def reg(name, data=b"x\n"):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mode = 0o644
    return ti, data

extra = []
if kind == "absolute":
    extra.append(reg(os.path.join(tmpdir, "evil-absolute")))
elif kind == "dotdot":
    extra.append(reg("../../../../evil-dotdot"))
elif kind == "dotdot-blob":
    extra.append(reg("blobs/sha256/../../../../../evil-dotdot"))
elif kind == "symlink":
    ti = tarfile.TarInfo("blobs")
    ti.type = tarfile.SYMTYPE
    ti.linkname = tmpdir
    extra.append((ti, None))
elif kind == "hardlink":
    ti = tarfile.TarInfo("oci-layout")
    ti.type = tarfile.LNKTYPE
    ti.linkname = os.path.join(tmpdir, "victim")
    extra.append((ti, None))
elif kind == "unknown":
    extra.append(reg("notes.txt"))
elif kind == "mismatch":
    # The disk blob: same name and size, other content.
    index = json.loads(next(d for m, d in members if m.name == "index.json"))
    mdigest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads(next(d for m, d in members if m.name == "blobs/sha256/" + mdigest))
    disk = manifest["layers"][1]["digest"].split(":")[1]
    for i, (m, d) in enumerate(members):
        if m.name == "blobs/sha256/" + disk:
            members[i] = (m, bytes(b ^ 0x55 for b in d[:4096]) + d[4096:])
else:
    sys.exit("unknown kind " + kind)

with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
    for ti, data in extra + members:
        t.addfile(ti, io.BytesIO(data) if data is not None else None)
PY
}

@test "export then import: same disk and NVRAM; new MAC while the source exists, kept once it is gone" {
  make_data_vm vm
  local mac
  mac="$(vm_cfg vm macAddress)"
  run --separate-stderr tart export vm "$BATS_TEST_TMPDIR/vm.tvm"
  [ "$status" -eq 0 ]
  [ -z "$stderr" ]
  [ -s "$BATS_TEST_TMPDIR/vm.tvm" ]
  # An OCI image layout.
  tar -tf "$BATS_TEST_TMPDIR/vm.tvm" | grep -qx oci-layout
  tar -tf "$BATS_TEST_TMPDIR/vm.tvm" | grep -qx index.json

  run --separate-stderr tart import "$BATS_TEST_TMPDIR/vm.tvm" copy
  [ "$status" -eq 0 ]
  [ -z "$stderr" ]
  same_content "$TART_HOME/vms/copy/disk.img" "$TART_HOME/vms/vm/disk.img"
  cmp "$TART_HOME/vms/copy/nvram.bin" "$TART_HOME/vms/vm/nvram.bin"
  [ "$(vm_cfg copy macAddress)" != "$mac" ]
  is_local_unicast_mac "$(vm_cfg copy macAddress)"
  # Sparse: not more allocated than the source.
  [ "$(allocated_bytes "$TART_HOME/vms/copy/disk.img")" -le $(($(allocated_bytes "$TART_HOME/vms/vm/disk.img") + 65536)) ]

  cp --sparse=always "$TART_HOME/vms/vm/disk.img" "$BATS_TEST_TMPDIR/disk.want"
  run tart delete vm copy
  [ "$status" -eq 0 ]
  run --separate-stderr tart import "$BATS_TEST_TMPDIR/vm.tvm" again
  [ "$status" -eq 0 ]
  [ "$(vm_cfg again macAddress)" = "$mac" ]
  same_content "$TART_HOME/vms/again/disk.img" "$BATS_TEST_TMPDIR/disk.want"
  run tart list
  assert_tmp_empty
}

@test "import rejects crafted archives in one line each; no VM, nothing written outside, tmp/ cleaned" {
  local kind failed=""
  # Every kind is tried; the failures are listed together.
  for kind in absolute dotdot dotdot-blob symlink hardlink unknown mismatch; do
    craft "$BATS_TEST_TMPDIR/$kind.tvm" "$kind"
    run --separate-stderr tart import "$BATS_TEST_TMPDIR/$kind.tvm" "vm-$kind"
    echo "$kind: status $status: $stderr" >&2
    if [ "$status" -ne 1 ] || ! stderr_one_line || [ -e "$TART_HOME/vms/vm-$kind" ]; then
      failed+=" $kind"
    fi
  done
  echo "failed:$failed" >&2
  [ -z "$failed" ]
  [ ! -e "$BATS_TEST_TMPDIR/evil-absolute" ]
  [ ! -e "$BATS_TEST_TMPDIR/evil-dotdot" ]
  [ ! -e "$TART_HOME/evil-dotdot" ]
  [ ! -e "$BATS_TEST_TMPDIR/victim" ]
  run tart list -q
  [ "$status" -eq 0 ]
  [ -z "$output" ]
  assert_tmp_empty
  # The untouched archive imports fine.
  run --separate-stderr tart import "$GOOD_TVM" ok
  [ "$status" -eq 0 ]
  same_content "$TART_HOME/vms/ok/disk.img" "$SMALL_DISK"
}

@test "import: the error names the offending entry or blob" {
  craft "$BATS_TEST_TMPDIR/a.tvm" dotdot
  run --separate-stderr tart import "$BATS_TEST_TMPDIR/a.tvm" vm
  stderr_one_line "evil-dotdot"
  craft "$BATS_TEST_TMPDIR/u.tvm" unknown
  run --separate-stderr tart import "$BATS_TEST_TMPDIR/u.tvm" vm
  stderr_one_line "notes.txt"
  craft "$BATS_TEST_TMPDIR/m.tvm" mismatch
  run --separate-stderr tart import "$BATS_TEST_TMPDIR/m.tvm" vm
  stderr_one_line "sha256:"
  [[ "$stderr" == *corrupt* || "$stderr" == *match* ]]
}

@test "import onto an existing VM name fails and leaves that VM alone" {
  make_small_vm vm
  local mac
  mac="$(vm_cfg vm macAddress)"
  cp --sparse=always "$TART_HOME/vms/vm/disk.img" "$BATS_TEST_TMPDIR/disk.want"
  run --separate-stderr tart import "$GOOD_TVM" vm
  [ "$status" -eq 1 ]
  one_error_line '"vm"'
  [ "$(vm_cfg vm macAddress)" = "$mac" ]
  same_content "$TART_HOME/vms/vm/disk.img" "$BATS_TEST_TMPDIR/disk.want"
  run tart list
  assert_tmp_empty
}

@test "export to the default ./<name>.tvm asks before overwriting: no keeps the file, yes replaces it" {
  make_small_vm vm
  cd "$BATS_TEST_TMPDIR"
  run --separate-stderr tart export vm
  [ "$status" -eq 0 ]
  [ -s vm.tvm ]
  echo old >vm.tvm

  run --separate-stderr tart export vm <<<"no"
  [ "$status" -eq 1 ]
  output_has "file vm.tvm already exists, are you sure you want to overwrite it? (yes, [no])?"
  [ "$(cat vm.tvm)" = old ]
  run --separate-stderr tart export vm </dev/null
  [ "$status" -eq 1 ]
  [ "$(cat vm.tvm)" = old ]

  run --separate-stderr tart export vm <<<"yes"
  [ "$status" -eq 0 ]
  tar -tf vm.tvm | grep -qx index.json
  run --separate-stderr tart import vm.tvm back
  [ "$status" -eq 0 ]
  same_content "$TART_HOME/vms/back/disk.img" "$TART_HOME/vms/vm/disk.img"

  # An explicit path is overwritten without asking.
  echo old >explicit.tvm
  run --separate-stderr tart export vm explicit.tvm </dev/null
  [ "$status" -eq 0 ]
  [[ "$output" != *"are you sure"* ]]
  tar -tf explicit.tvm | grep -qx index.json
  [ -z "$(ls -A . | grep partial)" ]
}

@test "export: a partial file left by a dead export is collected; one being written is not touched" {
  make_small_vm vm
  local out="$BATS_TEST_TMPDIR/vm.tvm" partial="$BATS_TEST_TMPDIR/.vm.tvm.partial"
  # What kill -9 mid-export leaves: an unlocked partial file.
  echo torn >"$partial"
  run --separate-stderr tart export vm "$out"
  [ "$status" -eq 0 ]
  [ -s "$out" ] && [ ! -e "$partial" ]
  # A live export holds its partial file locked.
  rm -f "$out"
  echo writing >"$partial"
  flock "$partial" sleep 5 &
  local holder=$!
  sleep 0.3
  run --separate-stderr tart export vm "$out"
  kill "$holder" 2>/dev/null || true
  wait "$holder" 2>/dev/null || true
  [ "$status" -eq 1 ]
  [ "$stderr" = "tart: error: another export is writing $out" ]
  [ "$(cat "$partial")" = writing ]
  [ ! -e "$out" ]
}

@test "import takes a layout tar made with tar -C dir -cf x.tvm . (./ entries), as skopeo does" {
  make_small_vm vm
  tart export vm "$BATS_TEST_TMPDIR/vm.tvm"
  mkdir "$BATS_TEST_TMPDIR/layout"
  tar -C "$BATS_TEST_TMPDIR/layout" -xf "$BATS_TEST_TMPDIR/vm.tvm"
  tar -C "$BATS_TEST_TMPDIR/layout" -cf "$BATS_TEST_TMPDIR/dot.tvm" .
  [ "$(tar -tf "$BATS_TEST_TMPDIR/dot.tvm" | head -n1)" = ./ ]
  run --separate-stderr tart import "$BATS_TEST_TMPDIR/dot.tvm" copy
  [ "$status" -eq 0 ]
  same_content "$TART_HOME/vms/vm/disk.img" "$TART_HOME/vms/copy/disk.img"
}

@test "import plans before it writes: a blob the manifest does not name is skipped, one of the wrong size refused before writing" {
  make_small_vm vm
  tart export vm "$BATS_TEST_TMPDIR/vm.tvm"
  local lay="$BATS_TEST_TMPDIR/layout"
  mkdir "$lay"
  tar -C "$lay" -xf "$BATS_TEST_TMPDIR/vm.tvm"
  # 3 GiB that no manifest names, sparse in the archive (a few KiB).
  truncate -s 3G "$lay/blobs/sha256/$(printf '%064d' 0)"
  tar -C "$lay" -S -cf "$BATS_TEST_TMPDIR/extra.tvm" .
  [ "$(stat -c %s "$BATS_TEST_TMPDIR/extra.tvm")" -lt $((64 << 20)) ]
  local t0=$SECONDS
  run --separate-stderr tart import "$BATS_TEST_TMPDIR/extra.tvm" extra
  [ "$status" -eq 0 ]
  [ $((SECONDS - t0)) -lt 30 ]
  same_content "$TART_HOME/vms/vm/disk.img" "$TART_HOME/vms/extra/disk.img"
  rm "$lay/blobs/sha256/$(printf '%064d' 0)"

  # The NVRAM blob swapped for a larger file under the same name.
  local nvram
  nvram=$(python3 -c '
import json, sys
d = sys.argv[1]
idx = json.load(open(d + "/index.json"))
m = json.load(open(d + "/blobs/sha256/" + idx["manifests"][0]["digest"][7:]))
print([l for l in m["layers"] if "nvram" in l["mediaType"]][0]["digest"][7:])' "$lay")
  head -c $((5 << 20)) /dev/zero >"$lay/blobs/sha256/$nvram"
  tar -C "$lay" -cf "$BATS_TEST_TMPDIR/big.tvm" .
  run --separate-stderr tart import "$BATS_TEST_TMPDIR/big.tvm" big
  [ "$status" -eq 1 ]
  one_error_line "blob sha256:$nvram in the archive has 5242880 bytes, its manifest says"
  [ ! -e "$TART_HOME/vms/big" ]
  assert_tmp_empty
}
