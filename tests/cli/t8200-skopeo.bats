#!/usr/bin/env bats
# Wire format (docs/design.md, "OCI wire format"; docs/upstream.md, "OCI media types and LZ4 framing") checked by an independent OCI client:
# skopeo reads what tart pushes and exports, and tart reads what skopeo
# copies.

load lib
load registry
load ../helpers/oci-common

setup_file() {
  registry_start plain
  export FILE_HOME="$BATS_FILE_TMPDIR/src-home"
  export IMG="$REGISTRY/sk/img:v1"
  (
    export TART_HOME="$FILE_HOME" TART_NO_AUTO_PRUNE=1
    make_data_vm src
    "$TART" push src --insecure --label team=ci "$IMG" >"$BATS_FILE_TMPDIR/push.out"
  )
  export SRC_DISK="$FILE_HOME/vms/src/disk.img"
}

teardown_file() {
  registry_cleanup
}

# sha256 of [off, off+len) of a sparse file, reading only its data extents.
range_sha() {
  "$PYTHON" - "$@" <<'PY'
import hashlib, os, sys
path, off, length = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fd = os.open(path, os.O_RDONLY)
h = hashlib.sha256()
zeros = bytes(1 << 22)
pos, end = off, off + length
while pos < end:
    try:
        data = os.lseek(fd, pos, os.SEEK_DATA)
    except OSError:
        data = end
    data = min(data, end)
    while pos < data:  # a hole: zeros
        n = min(data - pos, len(zeros))
        h.update(memoryview(zeros)[:n])
        pos += n
    if pos >= end:
        break
    hole = min(os.lseek(fd, pos, os.SEEK_HOLE), end)
    while pos < hole:
        b = os.pread(fd, min(hole - pos, 1 << 22), pos)
        h.update(b)
        pos += len(b)
print("sha256:" + h.hexdigest())
PY
}

@test "skopeo inspect --raw: OCI manifest, tart layer media types in order, annotations, compact sorted JSON" {
  run skopeo inspect --raw --tls-verify=false "docker://$IMG"
  [ "$status" -eq 0 ]
  printf '%s' "$output" >"$BATS_TEST_TMPDIR/m.json"
  # Byte for byte what python writes with sorted keys and no spaces.
  [ "$output" = "$(json_get "$BATS_TEST_TMPDIR/m.json" 'json.dumps(d, sort_keys=True, separators=(",", ":"))')" ]
  local m="$BATS_TEST_TMPDIR/m.json"
  [ "$(json_get "$m" 'd["schemaVersion"]')" = 2 ]
  [ "$(json_get "$m" 'd["mediaType"]')" = application/vnd.oci.image.manifest.v1+json ]
  [ "$(json_get "$m" 'd["config"]["mediaType"]')" = application/vnd.oci.image.config.v1+json ]
  [ "$(json_get "$m" '" ".join(l["mediaType"] for l in d["layers"])')" = \
    "application/vnd.cirruslabs.tart.config.v1 application/vnd.cirruslabs.tart.disk.v2 application/vnd.cirruslabs.tart.disk.v2 application/vnd.cirruslabs.tart.nvram.v1" ]
  # Disk layers: 512 MiB chunks, the last one shorter; each annotated with
  # its uncompressed size and the sha256 of those bytes of disk.img.
  [ "$(json_get "$m" '" ".join(l["annotations"]["org.cirruslabs.tart.uncompressed-size"] for l in d["layers"][1:3])')" = \
    "536870912 463129088" ]
  [ "$(json_get "$m" 'd["layers"][1]["annotations"]["org.cirruslabs.tart.uncompressed-content-digest"]')" = \
    "$(range_sha "$SRC_DISK" 0 536870912)" ]
  [ "$(json_get "$m" 'd["layers"][2]["annotations"]["org.cirruslabs.tart.uncompressed-content-digest"]')" = \
    "$(range_sha "$SRC_DISK" 536870912 463129088)" ]
  # Config and NVRAM layers carry empty annotations.
  [ "$(json_get "$m" '[d["layers"][0]["annotations"], d["layers"][3]["annotations"]]')" = '[{}, {}]' ]
  [ "$(json_get "$m" 'd["annotations"]["org.cirruslabs.tart.uncompressed-disk-size"]')" = 1000000000 ]
  [[ "$(json_get "$m" 'd["annotations"]["org.cirruslabs.tart.upload-time"]')" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:?[0-9]{2})$ ]]
  # The config layer is the VM's config.json; the NVRAM layer its nvram.bin.
  registry_blob sk/img "$(json_get "$m" 'd["layers"][0]["digest"]')" >"$BATS_TEST_TMPDIR/config.json"
  [ "$(json_get "$BATS_TEST_TMPDIR/config.json" 'd["macAddress"]')" = \
    "$(json_get "$FILE_HOME/vms/src/config.json" 'd["macAddress"]')" ]
  registry_blob sk/img "$(json_get "$m" 'd["layers"][3]["digest"]')" | cmp - "$FILE_HOME/vms/src/nvram.bin"
}

@test "skopeo inspect: os linux, host architecture, disk.format label raw, user labels" {
  run skopeo inspect --tls-verify=false "docker://$IMG"
  [ "$status" -eq 0 ]
  [ "$(json_eval "$output" 'd["Os"]')" = linux ]
  [ "$(json_eval "$output" 'd["Architecture"]')" = "$(host_arch)" ]
  [ "$(json_eval "$output" 'd["Labels"]["org.cirruslabs.tart.disk.format"]')" = raw ]
  [ "$(json_eval "$output" 'd["Labels"]["team"]')" = ci ]
  [ "$(json_eval "$output" 'len(d["Layers"])')" = 4 ]
}

@test "skopeo copy docker->docker to another repository; tart pulls the copy: same manifest digest, same disk" {
  run skopeo copy --src-tls-verify=false --dest-tls-verify=false "docker://$IMG" "docker://$REGISTRY/sk/copy:v1"
  [ "$status" -eq 0 ]
  [ "$(registry_digest sk/copy v1)" = "$(registry_digest sk/img v1)" ]
  run --separate-stderr tart pull --insecure "$REGISTRY/sk/copy:v1"
  [ "$status" -eq 0 ]
  same_content "$(cache_path "$REGISTRY/sk/copy:v1")/disk.img" "$SRC_DISK"
  cmp "$(cache_path "$REGISTRY/sk/copy:v1")/nvram.bin" "$FILE_HOME/vms/src/nvram.bin"
}

@test "tart export, skopeo copy oci-archive: to the registry, tart clone of it: same disk, same blobs as a push" {
  make_small_vm src
  run --separate-stderr tart export src "$BATS_TEST_TMPDIR/x.tvm"
  [ "$status" -eq 0 ]
  run skopeo copy --dest-tls-verify=false "oci-archive:$BATS_TEST_TMPDIR/x.tvm" "docker://$REGISTRY/sk/arch:v1"
  [ "$status" -eq 0 ]
  run --separate-stderr tart clone --insecure "$REGISTRY/sk/arch:v1" vm
  [ "$status" -eq 0 ]
  same_content "$TART_HOME/vms/vm/disk.img" "$TART_HOME/vms/src/disk.img"
  cmp "$TART_HOME/vms/vm/nvram.bin" "$TART_HOME/vms/src/nvram.bin"
  # The archive holds the very layers a push uploads.
  run --separate-stderr tart push src --insecure "$REGISTRY/sk/pushed:v1"
  [ "$status" -eq 0 ]
  registry_manifest sk/arch v1 >"$BATS_TEST_TMPDIR/arch.json"
  registry_manifest sk/pushed v1 >"$BATS_TEST_TMPDIR/pushed.json"
  [ "$(json_get "$BATS_TEST_TMPDIR/arch.json" '[l["digest"] for l in d["layers"]]')" = \
    "$(json_get "$BATS_TEST_TMPDIR/pushed.json" '[l["digest"] for l in d["layers"]]')" ]
}

@test "skopeo copy docker: to oci-archive:, tart import of it: same disk" {
  run skopeo copy --src-tls-verify=false "docker://$IMG" "oci-archive:$BATS_TEST_TMPDIR/y.tvm"
  [ "$status" -eq 0 ]
  run --separate-stderr tart import "$BATS_TEST_TMPDIR/y.tvm" vm2
  [ "$status" -eq 0 ]
  same_content "$TART_HOME/vms/vm2/disk.img" "$SRC_DISK"
  cmp "$TART_HOME/vms/vm2/nvram.bin" "$FILE_HOME/vms/src/nvram.bin"
  run tart list --source local -q
  [ "$output" = vm2 ]
}

@test "an OCI image index: pull takes the manifest for the host's architecture" {
  local arch other
  arch="$(host_arch)"
  other=arm64
  [ "$arch" = arm64 ] && other=amd64
  registry_push_tiny_image sk/img "tiny-$other"
  local m="$BATS_TEST_TMPDIR/m.json"
  registry_manifest sk/img v1 >"$m"
  local digest size
  digest="sha256:$(sha "$m")"
  size="$(stat -c %s "$m")"
  # The other architecture's entry first: the choice is by platform.
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s,%s]}' \
    "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"$TINY_DIGEST\",\"size\":$(stat -c %s "$TINY_MANIFEST"),\"platform\":{\"architecture\":\"$other\",\"os\":\"linux\"}}" \
    "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"$digest\",\"size\":$size,\"platform\":{\"architecture\":\"$arch\",\"os\":\"linux\"}}" \
    >"$BATS_TEST_TMPDIR/index.json"
  registry_push_manifest sk/img multi "$BATS_TEST_TMPDIR/index.json" application/vnd.oci.image.index.v1+json
  run --separate-stderr tart pull --insecure "$REGISTRY/sk/img:multi"
  [ "$status" -eq 0 ]
  same_content "$(cache_path "$REGISTRY/sk/img:multi")/disk.img" "$SRC_DISK"
  run tart fqn "$REGISTRY/sk/img:multi"
  [ "$output" = "$REGISTRY/sk/img@$digest" ]
}
