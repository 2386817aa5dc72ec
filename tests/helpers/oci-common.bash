# Shared set-up for the registry-verb tests (tests/cli/t8*.bats): push, pull,
# login, import/export, prune against the real docker-registry fixtures.
# Load after lib and registry:
#
#   load lib
#   load registry
#   load ../helpers/oci-common
#
# Every test keeps lib.bash's throw-away HOME and TART_HOME; teardown also
# stops the registries a test started itself (the setup_file one stays).

eval "_lib_$(declare -f setup)"
eval "_lib_$(declare -f teardown)"
setup() {
  _lib_setup
  export TART_NO_AUTO_PRUNE=1 TART_RETRY_DELAY_MS=20
  unset TART_DOCKER_CONFIG SSL_CERT_FILE SSL_CERT_DIR CI
}
teardown() {
  registry_cleanup
  _lib_teardown
}

# Write a mix of random data, text and explicit zeros into a disk file:
# a few MiB in all, at offsets spread over the file (both 512 MiB chunks of
# a 1 GB disk).  The explicit zeros are allocated in the source but must
# never be written by a pull.
fill_disk() {
  local disk="$1" size
  size="$(stat -c %s "$disk")"
  head -c 262144 /dev/urandom | dd of="$disk" bs=1M seek=0 conv=notrunc status=none
  yes 'tart test text line: the quick brown fox jumps over the lazy dog' | head -c 1048576 |
    dd of="$disk" bs=1M seek=5 conv=notrunc status=none
  head -c 1048576 /dev/zero | dd of="$disk" bs=1M seek=9 conv=notrunc status=none
  head -c 1048576 /dev/urandom | dd of="$disk" bs=1M seek=20 conv=notrunc status=none
  if ((size > 600 * 1048576)); then
    head -c 1048576 /dev/urandom | dd of="$disk" bs=1M seek=600 conv=notrunc status=none
    yes 'second chunk text' | head -c 1048576 | dd of="$disk" bs=1M seek=700 conv=notrunc status=none
    # The last bytes of the disk (a partial last chunk).
    printf 'END OF DISK' | dd of="$disk" bs=1 seek=$((size - 11)) conv=notrunc status=none
  fi
}

# A 1 GB (10^9 bytes) sparse VM with data in both 512 MiB chunks.
make_data_vm() {
  "$TART" create "$1" --linux --disk-size 1 >/dev/null
  fill_disk "$TART_HOME/vms/$1/disk.img"
}

# A VM with a 64 MiB disk (one chunk), quicker to push and pull.
make_small_vm() {
  local raw="${BATS_TEST_TMPDIR:-$BATS_FILE_TMPDIR}/$1.raw"
  truncate -s 64M "$raw"
  fill_disk "$raw"
  "$TART" create "$1" --linux --from-image "$raw" >/dev/null
  rm -f "$raw"
}

# Cache directory of a remote name: cache_path HOST/NS:TAG or HOST/NS@DIGEST
cache_path() {
  local ref="$1" host rest
  host="${ref%%/*}"
  rest="${ref#*/}"
  if [[ "$rest" == *@* ]]; then
    echo "$TART_HOME/cache/OCIs/${host//:/%3A}/${rest%%@*}/${rest#*@}"
  else
    echo "$TART_HOME/cache/OCIs/${host//:/%3A}/${rest%:*}/${rest##*:}"
  fi
}

# After `run --separate-stderr`: stderr is exactly one "tart: error: " line,
# containing each of the given strings.  (stdout may hold progress lines.)
stderr_one_line() {
  if ((${#stderr_lines[@]} != 1)) || [[ "${stderr_lines[0]}" != "tart: error: "* ]]; then
    echo "expected one stderr line starting with 'tart: error: ', got ${#stderr_lines[@]}:" >&2
    printf '%s\n' "$stderr" >&2
    return 1
  fi
  local s
  for s in "$@"; do
    if [[ "$stderr" != *"$s"* ]]; then
      echo "expected stderr to contain: $s" >&2
      echo "got: $stderr" >&2
      return 1
    fi
  done
}

# Manifest of REPO:REF in the current registry (raw bytes to stdout).
registry_manifest() {
  local REGISTRY_AUTH=()
  registry_auth_args "$1" pull || return 1
  registry_curl -f "${REGISTRY_AUTH[@]}" -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "$REGISTRY_URL/v2/$1/manifests/$2"
}

# Docker-Content-Digest of REPO:REF in the current registry.
registry_digest() {
  local REGISTRY_AUTH=() hdr="${BATS_TEST_TMPDIR:-$BATS_FILE_TMPDIR}/digest-headers"
  registry_auth_args "$1" pull || return 1
  registry_curl -f -I "${REGISTRY_AUTH[@]}" -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    -D "$hdr" -o /dev/null "$REGISTRY_URL/v2/$1/manifests/$2" || return 1
  registry_header "$hdr" docker-content-digest
}

# A blob of REPO to stdout.
registry_blob() {
  local REGISTRY_AUTH=()
  registry_auth_args "$1" pull || return 1
  registry_curl -f -L "${REGISTRY_AUTH[@]}" "$REGISTRY_URL/v2/$1/blobs/$2"
}

# Number of access-log lines of the current registry matching an ERE.
registry_requests() {
  grep -cE "$1" "$REGISTRY_LOG_FILE" || true
}
