#!/usr/bin/env bats
# tart push / pull / clone / list / fqn / delete against a real plain-HTTP
# docker-registry (docs/design.md, "OCI wire format"; docs/upstream.md, "Pull", docs/upstream.md, "Push", docs/upstream.md, "OCI cache").

load lib
load registry
load ../helpers/oci-common

# One registry for the file, and one image in it ($BASE, pushed from a VM in
# a home of its own) that the read-only tests pull.
setup_file() {
  registry_start plain
  export FILE_HOME="$BATS_FILE_TMPDIR/src-home"
  export BASE="$REGISTRY/base/img:v1"
  (
    export TART_HOME="$FILE_HOME" TART_NO_AUTO_PRUNE=1
    make_small_vm base
    "$TART" push base --insecure "$BASE" >"$BATS_FILE_TMPDIR/base-push.out"
  )
  export BASE_DISK="$FILE_HOME/vms/base/disk.img"
  export BASE_DIGEST
  BASE_DIGEST="$(registry_digest base/img v1)"
  [[ "$BASE_DIGEST" == sha256:* ]]
}

teardown_file() {
  registry_cleanup
}

@test "push, delete the VM, pull and clone it back: same disk, still sparse, zeros never written" {
  make_data_vm vm
  local disk="$TART_HOME/vms/vm/disk.img" want="$BATS_TEST_TMPDIR/disk.want" alloc
  cp --sparse=always "$disk" "$want"
  alloc="$(allocated_bytes "$disk")"
  cp "$TART_HOME/vms/vm/nvram.bin" "$BATS_TEST_TMPDIR/nvram.want"

  run --separate-stderr tart push vm --insecure "$REGISTRY/rt/img:v1"
  [ "$status" -eq 0 ]
  output_has "pushing vm to $REGISTRY/rt/img:v1..."
  [ "${lines[-1]}" = "pushed $(registry_digest rt/img v1)" ]

  run tart delete vm
  [ "$status" -eq 0 ]
  [ ! -e "$TART_HOME/vms/vm" ]

  run --separate-stderr tart pull --insecure "$REGISTRY/rt/img:v1"
  [ "$status" -eq 0 ]
  [ -z "$stderr" ]
  first_line_is "pulling $REGISTRY/rt/img:v1..."
  output_has "pulling manifest..."
  output_has "pulling disk ("
  output_has "pulling NVRAM..."

  run --separate-stderr tart clone --insecure "$REGISTRY/rt/img:v1" back
  [ "$status" -eq 0 ]
  local got="$TART_HOME/vms/back/disk.img"
  [ "$(stat -c %s "$got")" -eq 1000000000 ]
  same_content "$got" "$want"
  cmp "$TART_HOME/vms/back/nvram.bin" "$BATS_TEST_TMPDIR/nvram.want"
  # Sparse: no more than the source's allocation, and the 1 MiB of explicit
  # zeros in the source was not written.
  local a
  a="$(allocated_bytes "$got")"
  echo "source allocated $alloc, clone allocated $a" >&2
  [ "$a" -le $((alloc + 65536)) ]
  [ "$a" -le $((alloc - 1048576 + 65536)) ]
  [ "$a" -ge $((alloc - 1048576 - 65536)) ]
  # The cached copy too.
  local cached
  cached="$(cache_path "$REGISTRY/rt/img:v1")/disk.img"
  [ "$(allocated_bytes "$cached")" -le $((alloc + 65536)) ]
  assert_tmp_empty
}

@test "list --source oci shows the tag and the digest entry; fqn resolves the tag to the digest" {
  run --separate-stderr tart pull --insecure "$BASE"
  [ "$status" -eq 0 ]
  run --separate-stderr tart list --source oci -q
  [ "$status" -eq 0 ]
  [ "$output" = "$BASE"$'\n'"$REGISTRY/base/img@$BASE_DIGEST" ]
  run --separate-stderr tart list --source oci --format json
  [ "$status" -eq 0 ]
  [ "$(json_eval "$output" '" ".join(sorted(e["Name"] + "=" + e["Source"] for e in d))')" = \
    "$BASE=OCI $REGISTRY/base/img@$BASE_DIGEST=OCI" ]
  run --separate-stderr tart fqn "$BASE"
  [ "$status" -eq 0 ]
  [ "$output" = "$REGISTRY/base/img@$BASE_DIGEST" ]
  # The tag is a symlink to the digest directory, as upstream lays it out.
  local tag dir
  tag="$(cache_path "$BASE")"
  dir="$(cache_path "$REGISTRY/base/img@$BASE_DIGEST")"
  [ -L "$tag" ] && [ -d "$dir" ] && [ ! -L "$dir" ]
  [ "$(readlink -f "$tag")" = "$dir" ]
  same_content "$dir/disk.img" "$BASE_DISK"
}

@test "second pull of the same tag: nothing downloaded; upstream's line <host/ns@digest> image is already cached and linked!" {
  run tart pull --insecure "$BASE"
  [ "$status" -eq 0 ]
  local before
  before="$(registry_requests '"GET /v2/base/img/blobs/')"
  run --separate-stderr tart pull --insecure "$BASE"
  [ "$status" -eq 0 ]
  [ -z "$stderr" ]
  output_has "image is already cached and linked!"
  [[ "$output" != *"pulling disk"* ]]
  [ "$(registry_requests '"GET /v2/base/img/blobs/')" -eq "$before" ]
  # Upstream's text: the digest form of the name (docs/upstream.md, "Pull").
  output_has $'\n'"$REGISTRY/base/img@$BASE_DIGEST image is already cached and linked!"
}

@test "pull by digest: marker .explicitly-pulled, survives prune --gc, listed by digest only; second pull says already cached" {
  local ref="$REGISTRY/base/img@$BASE_DIGEST"
  run --separate-stderr tart pull --insecure "$ref"
  [ "$status" -eq 0 ]
  local dir
  dir="$(cache_path "$ref")"
  [ -f "$dir/.explicitly-pulled" ]
  run tart list --source oci -q
  [ "$output" = "$ref" ]
  run tart prune --gc
  [ "$status" -eq 0 ]
  [ -f "$dir/disk.img" ]
  run tart list --source oci -q
  [ "$output" = "$ref" ]
  same_content "$dir/disk.img" "$BASE_DISK"
  # A second pull by digest is a no-op.
  run --separate-stderr tart pull --insecure "$ref"
  [ "$status" -eq 0 ]
  [[ "$output" != *"pulling disk"* ]]
  output_has $'\n'"$ref image is already cached and linked!"
}

@test "push several tags in one command: every tag pullable, one digest per repository" {
  make_small_vm vm
  local want
  want="$(sha "$TART_HOME/vms/vm/disk.img")"
  run --separate-stderr tart push vm --insecure "$REGISTRY/multi/a:1" "$REGISTRY/multi/a:2" "$REGISTRY/multi/b:1"
  [ "$status" -eq 0 ]
  output_has "pushing vm to $REGISTRY/multi/a{:1,:2}..."
  output_has "pushing vm to $REGISTRY/multi/b:1..."
  local da1 da2 db1
  da1="$(registry_digest multi/a 1)"
  da2="$(registry_digest multi/a 2)"
  db1="$(registry_digest multi/b 1)"
  [[ "$da1" == sha256:* ]]
  [ "$da1" = "$da2" ]
  [ "$db1" = "$da1" ] # same bytes pushed, so the same manifest digest
  local ref
  for ref in multi/a:1 multi/a:2 multi/b:1; do
    run --separate-stderr tart pull --insecure "$REGISTRY/$ref"
    [ "$status" -eq 0 ]
    [ "$(sha "$(cache_path "$REGISTRY/$ref")/disk.img")" = "$want" ]
  done
  # a:2 after a:1 found the same digest already cached.
  run tart list --source oci -q
  [ "${#lines[@]}" -eq 5 ]
}

@test "push --label: labels land in the image config next to disk.format" {
  make_small_vm vm
  run --separate-stderr tart push vm --insecure --label team=ci --label 'empty=' --label '=ignored' \
    "$REGISTRY/labels/img:v1"
  [ "$status" -eq 0 ]
  registry_manifest labels/img v1 >"$BATS_TEST_TMPDIR/manifest.json"
  local cfg
  cfg="$(json_get "$BATS_TEST_TMPDIR/manifest.json" 'd["config"]["digest"]')"
  [ "$(json_get "$BATS_TEST_TMPDIR/manifest.json" 'd["config"]["mediaType"]')" = \
    application/vnd.oci.image.config.v1+json ]
  registry_blob labels/img "$cfg" >"$BATS_TEST_TMPDIR/config.json"
  [ "$(json_get "$BATS_TEST_TMPDIR/config.json" 'd["config"]["Labels"]')" = \
    '{"empty": "", "org.cirruslabs.tart.disk.format": "raw", "team": "ci"}' ]
  [ "$(json_get "$BATS_TEST_TMPDIR/config.json" 'd["os"]')" = linux ]
  [ "$(json_get "$BATS_TEST_TMPDIR/config.json" 'd["architecture"]')" = "$(host_arch)" ]
}

@test "push --chunk-size 1: PATCH uploads of 1 MB chunks, the image round-trips" {
  make_small_vm vm
  local before
  before="$(registry_requests '"PATCH /v2/chunked/img/blobs/uploads/')"
  run --separate-stderr tart push vm --insecure --chunk-size 1 "$REGISTRY/chunked/img:v1"
  [ "$status" -eq 0 ]
  [ "$(registry_requests '"PATCH /v2/chunked/img/blobs/uploads/[^ ]* HTTP/1.1" 202')" -gt "$before" ]
  # The registry assembled every blob from the chunks and checked its digest;
  # the clone checks every chunk again.
  run --separate-stderr tart clone --insecure "$REGISTRY/chunked/img:v1" back
  [ "$status" -eq 0 ]
  same_content "$TART_HOME/vms/back/disk.img" "$TART_HOME/vms/vm/disk.img"
}

@test "push --populate-cache: the image is in the cache without a pull, linked to the pushed digest" {
  make_small_vm vm
  run --separate-stderr tart push vm --insecure --populate-cache "$REGISTRY/pop/img:v1"
  [ "$status" -eq 0 ]
  local digest
  digest="$(registry_digest pop/img v1)"
  run --separate-stderr tart list --source oci -q
  [ "$status" -eq 0 ]
  [ "$output" = "$REGISTRY/pop/img:v1"$'\n'"$REGISTRY/pop/img@$digest" ]
  run tart fqn "$REGISTRY/pop/img:v1"
  [ "$output" = "$REGISTRY/pop/img@$digest" ]
  local dir
  dir="$(cache_path "$REGISTRY/pop/img@$digest")"
  same_content "$dir/disk.img" "$TART_HOME/vms/vm/disk.img"
  cmp "$dir/manifest.json" <(registry_manifest pop/img v1)
  run --separate-stderr tart pull --insecure "$REGISTRY/pop/img:v1"
  [ "$status" -eq 0 ]
  output_has "image is already cached and linked!"
  # Only the manifest was fetched.
  [ "$(registry_requests '"GET /v2/pop/img/blobs/')" -eq 0 ]
}

@test "push of a running VM is refused" {
  make_small_vm vm
  hold_run_lock vm
  run --separate-stderr tart push vm --insecure "$REGISTRY/running/img:v1"
  [ "$status" -eq 1 ]
  stderr_one_line 'VM "vm" is running'
  # Nothing reached the registry.
  run registry_curl -s -o /dev/null -w '%{http_code}' "$REGISTRY_URL/v2/running/img/manifests/v1"
  [ "$output" = 404 ]
}

@test "lightweight push: a cached remote image re-tagged in the same repository uploads no blob" {
  run tart pull --insecure "$BASE"
  [ "$status" -eq 0 ]
  local posts puts
  posts="$(registry_requests '"POST /v2/base/img/blobs/uploads/')"
  puts="$(registry_requests '"PUT /v2/base/img/blobs/')"
  run --separate-stderr tart push --insecure "$BASE" "$REGISTRY/base/img:light"
  [ "$status" -eq 0 ]
  [ -z "$stderr" ]
  output_has "pushing $BASE to $REGISTRY/base/img:light..."
  [ "$(registry_digest base/img light)" = "$BASE_DIGEST" ]
  [ "$(registry_requests '"POST /v2/base/img/blobs/uploads/')" -eq "$posts" ]
  [ "$(registry_requests '"PUT /v2/base/img/blobs/')" -eq "$puts" ]
  # The new tag pulls to the same image.
  run --separate-stderr tart pull --insecure "$REGISTRY/base/img:light"
  [ "$status" -eq 0 ]
  run tart fqn "$REGISTRY/base/img:light"
  [ "$output" = "$REGISTRY/base/img@$BASE_DIGEST" ]
}

@test "push of a cached image to another repository of the same registry mounts its blobs instead of uploading" {
  run tart pull --insecure "$BASE"
  [ "$status" -eq 0 ]
  run --separate-stderr tart push --insecure "$BASE" "$REGISTRY/mounted/img:v1"
  [ "$status" -eq 0 ]
  [ -z "$stderr" ]
  [ "$(registry_digest mounted/img v1)" = "$BASE_DIGEST" ]
  [ "$(registry_requests '"POST /v2/mounted/img/blobs/uploads/\?mount=sha256:[0-9a-f]+&from=base(/|%2F)img HTTP/1.1" 201')" -ge 3 ]
  [ "$(registry_requests '"P(UT|ATCH) /v2/mounted/img/blobs/')" -eq 0 ]
  run --separate-stderr tart clone --insecure "$REGISTRY/mounted/img:v1" vm
  [ "$status" -eq 0 ]
  same_content "$TART_HOME/vms/vm/disk.img" "$BASE_DISK"
}

@test "a tag moved to a new image: pull links the tag to it and drops the old, now unreferenced, entry" {
  make_small_vm one
  make_small_vm two
  run tart push one --insecure "$REGISTRY/moved/img:v1"
  [ "$status" -eq 0 ]
  run tart pull --insecure "$REGISTRY/moved/img:v1"
  [ "$status" -eq 0 ]
  local old
  old="$(readlink -f "$(cache_path "$REGISTRY/moved/img:v1")")"
  run tart push two --insecure "$REGISTRY/moved/img:v1"
  [ "$status" -eq 0 ]
  run --separate-stderr tart pull --insecure "$REGISTRY/moved/img:v1"
  [ "$status" -eq 0 ]
  [[ "$output" != *"already cached"* ]]
  same_content "$(cache_path "$REGISTRY/moved/img:v1")/disk.img" "$TART_HOME/vms/two/disk.img"
  [ ! -e "$old" ]
  run tart list --source oci -q
  [ "$output" = "$REGISTRY/moved/img:v1"$'\n'"$REGISTRY/moved/img@$(registry_digest moved/img v1)" ]
}

@test "pull of a local VM name: nothing to pull, exit 0" {
  make_vm x
  run --separate-stderr tart pull x
  [ "$status" -eq 0 ]
  [ "$output" = '"x" is a local image, nothing to pull here!' ]
  [ -z "$stderr" ]
  run tart list --source oci -q
  [ -z "$output" ]
}

@test "pull of a missing tag: exit 1, one stderr line naming the image, nothing cached" {
  run --separate-stderr tart pull --insecure "$REGISTRY/base/img:nope"
  [ "$status" -eq 1 ]
  stderr_one_line "$REGISTRY/base/img:nope"
  run --separate-stderr tart pull --insecure "$REGISTRY/no/such/repo:v1"
  [ "$status" -eq 1 ]
  stderr_one_line "$REGISTRY/no/such/repo:v1"
  run tart list --source oci -q
  [ -z "$output" ]
  run tart list
  assert_tmp_empty
}

@test "delete of a cached tag removes the tag and, by GC, its now unreferenced digest entry" {
  run tart pull --insecure "$BASE"
  [ "$status" -eq 0 ]
  local dir
  dir="$(cache_path "$REGISTRY/base/img@$BASE_DIGEST")"
  [ -d "$dir" ]
  run --separate-stderr tart delete "$BASE"
  [ "$status" -eq 0 ]
  [ ! -e "$(cache_path "$BASE")" ]
  [ ! -e "$dir" ]
  run tart list --source oci -q
  [ -z "$output" ]
  # Two tags on one digest: deleting one keeps the entry.
  run tart pull --insecure "$BASE"
  run tart push --insecure "$BASE" "$REGISTRY/base/img:second"
  [ "$status" -eq 0 ]
  run tart pull --insecure "$REGISTRY/base/img:second"
  [ "$status" -eq 0 ]
  run tart delete "$BASE"
  [ "$status" -eq 0 ]
  [ -d "$dir" ]
  run tart list --source oci -q
  [ "$output" = "$REGISTRY/base/img:second"$'\n'"$REGISTRY/base/img@$BASE_DIGEST" ]
}

@test "pull of an image for the other architecture says it will run emulated" {
  [ "$(uname -m)" = x86_64 ] || skip "the check is for an x86 host"
  tart create arm --linux --arch arm64 --disk-size 1
  tart push arm --insecure "$REGISTRY/arch/arm:v1" >/dev/null
  run tart delete arm
  run --separate-stderr tart pull --insecure "$REGISTRY/arch/arm:v1"
  [ "$status" -eq 0 ]
  [ "$stderr" = "tart: notice: $REGISTRY/arch/arm:v1 is an arm64 image: on this amd64 host it runs under TCG emulation, several times slower than native" ]
}
