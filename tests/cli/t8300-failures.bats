#!/usr/bin/env bats
# Pull under failure (docs/design.md, "OCI wire format"): an interrupted pull resumes,
# corrupt blobs are rejected and never cached, a dead registry is reported
# in one line, transient errors are retried (500s, dropped connections), and
# credentials do not follow a redirect to another origin.

load lib
load registry
load ../helpers/oci-common

PROXY_SCRIPT="$TOP/tests/helpers/test-proxy.py"

# $RAND: a 1 GB disk holding 40 MiB of random data in each 512 MiB chunk, so
# that each disk layer is large and costs real time to transfer.
setup_file() {
  registry_start plain
  export FILE_HOME="$BATS_FILE_TMPDIR/src-home"
  export RAND="$REGISTRY/rand/img:v1"
  (
    export TART_HOME="$FILE_HOME" TART_NO_AUTO_PRUNE=1
    "$TART" create rand --linux --disk-size 1 >/dev/null
    d="$TART_HOME/vms/rand/disk.img"
    head -c $((40 << 20)) /dev/urandom | dd of="$d" bs=1M seek=100 conv=notrunc status=none
    yes 'some text in the first chunk' | head -c 1048576 | dd of="$d" bs=1M seek=300 conv=notrunc status=none
    head -c $((40 << 20)) /dev/urandom | dd of="$d" bs=1M seek=800 conv=notrunc status=none
    "$TART" push rand --insecure "$RAND" >"$BATS_FILE_TMPDIR/push.out"
  )
  export RAND_DISK="$FILE_HOME/vms/rand/disk.img"
  registry_manifest rand/img v1 >"$BATS_FILE_TMPDIR/rand-manifest.json"
  export RAND_L0 RAND_L1
  RAND_L0="$(json_get "$BATS_FILE_TMPDIR/rand-manifest.json" 'd["layers"][1]["digest"]')"
  RAND_L1="$(json_get "$BATS_FILE_TMPDIR/rand-manifest.json" 'd["layers"][2]["digest"]')"
  [[ "$RAND_L0" == sha256:* && "$RAND_L1" == sha256:* && "$RAND_L0" != "$RAND_L1" ]]
}

teardown_file() {
  registry_cleanup
}

teardown() {
  if [[ -n "${PROXY_PID:-}" ]]; then
    kill "$PROXY_PID" 2>/dev/null || true
    wait "$PROXY_PID" 2>/dev/null || true
  fi
  if [[ -n "${BG_PID:-}" ]]; then
    kill -9 "$BG_PID" 2>/dev/null || true
    wait "$BG_PID" 2>/dev/null || true
  fi
  registry_cleanup
  _lib_teardown
}

# proxy_start ARGS...: tests/helpers/test-proxy.py in front of the current
# registry; sets PROXY (127.0.0.1:PORT), PROXY_PID, PROXY_LOG.
proxy_start() {
  PROXY_LOG="$BATS_TEST_TMPDIR/proxy.log"
  local pf="$BATS_TEST_TMPDIR/proxy.port" i
  rm -f "$pf"
  "$PYTHON" "$PROXY_SCRIPT" --upstream "$REGISTRY_URL" --port-file "$pf" --log "$PROXY_LOG" "$@" \
    </dev/null >"$BATS_TEST_TMPDIR/proxy.out" 2>&1 3>&- &
  PROXY_PID=$!
  for ((i = 0; i < 200; i++)); do
    [[ -s "$pf" ]] && break
    kill -0 "$PROXY_PID" 2>/dev/null || break
    sleep 0.05
  done
  [[ -s "$pf" ]] || {
    cat "$BATS_TEST_TMPDIR/proxy.out" >&2
    return 1
  }
  PROXY="127.0.0.1:$(cat "$pf")"
}

# proxy_restart ARGS...: a new proxy on the same port, same log.
proxy_restart() {
  kill "$PROXY_PID"
  wait "$PROXY_PID" || true
  proxy_start --port "${PROXY##*:}" "$@"
}

# Lines of the proxy log matching an ERE.
proxy_count() {
  grep -cE "$1" "$PROXY_LOG" || true
}

# stdout of a pull with the host part of the name made generic.
generic_host() {
  sed -e "s/127\.0\.0\.1:[0-9]*/HOST/g"
}

@test "interrupted pull (kill -9 mid-download) resumes: finished chunks kept, same disk" {
  proxy_start --rate 40000000 # ~40 MB/s: the download takes a while
  local name="$PROXY/rand/img:v1" out="$BATS_TEST_TMPDIR/pull1.out"
  "$TART" pull --insecure --concurrency 1 "$name" >"$out" 2>&1 3>&- &
  BG_PID=$!
  # Wait until the first chunk (~41 MiB of data) is on disk and the second
  # one has started, then kill.
  local i f="" alloc=0
  for ((i = 0; i < 600; i++)); do
    f="$(compgen -G "$TART_HOME/tmp/*/disk.img" | head -n 1 || true)"
    if [[ -n "$f" ]]; then
      alloc="$(allocated_bytes "$f")"
      ((alloc > (48 << 20))) && break
    fi
    kill -0 "$BG_PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "killing at $alloc allocated bytes in $f" >&2
  kill -9 "$BG_PID"
  local rc=0
  wait "$BG_PID" || rc=$?
  BG_PID=
  [ "$rc" -eq 137 ] # it was still running: killed mid-download
  ((alloc > (48 << 20)))
  ((alloc < (80 << 20)))
  # Nothing visible in the cache.
  [ ! -e "$(cache_path "$name")" ]
  [ -z "$(ls -A "$TART_HOME/cache/OCIs/${PROXY/:/%3A}/rand/img" 2>/dev/null)" ]

  # The same proxy address (part of the image name), now at full speed.
  proxy_restart

  run --separate-stderr tart pull --insecure --concurrency 1 "$name"
  [ "$status" -eq 0 ]
  [ -z "$stderr" ]
  output_has "resuming"
  same_content "$(cache_path "$name")/disk.img" "$RAND_DISK"
  # The first layer was downloaded once in all, the second twice.
  [ "$(proxy_count "^main GET /v2/rand/img/blobs/$RAND_L0 .* -> 200")" -eq 1 ]
  [ "$(proxy_count "^main GET /v2/rand/img/blobs/$RAND_L1 .* -> 200")" -eq 2 ]
  run tart list --source oci -q
  [ "${#lines[@]}" -eq 2 ]
  assert_tmp_empty
}

@test "a blob corrupted in the registry's storage: pull fails in one line naming it, nothing cached" {
  make_small_vm vm
  run tart push vm --insecure "$REGISTRY/corrupt/img:v1"
  [ "$status" -eq 0 ]
  registry_manifest corrupt/img v1 >"$BATS_TEST_TMPDIR/m.json"
  local disk_layer blob size
  disk_layer="$(json_get "$BATS_TEST_TMPDIR/m.json" 'd["layers"][1]["digest"]')"
  blob="$(registry_blob_path "$disk_layer")"
  size="$(stat -c %s "$blob")"
  # Overwrite 4 KiB in the middle, keeping the size.
  head -c 4096 /dev/urandom | dd of="$blob" bs=1 seek=$((size / 2)) conv=notrunc status=none
  [ "$(stat -c %s "$blob")" -eq "$size" ]

  run --separate-stderr tart pull --insecure "$REGISTRY/corrupt/img:v1"
  [ "$status" -eq 1 ]
  stderr_one_line "$disk_layer"
  run tart list --source oci -q
  [ "$status" -eq 0 ]
  [ -z "$output" ]
  [ -z "$(ls -A "$TART_HOME/cache/OCIs/${REGISTRY/:/%3A}/corrupt/img" 2>/dev/null)" ]

  # clone of it fails the same way and creates no VM.
  run --separate-stderr tart clone --insecure "$REGISTRY/corrupt/img:v1" c
  [ "$status" -eq 1 ]
  stderr_one_line "$disk_layer"
  [ ! -e "$TART_HOME/vms/c" ]
}

@test "a truncated config blob is rejected in one line naming it, nothing cached" {
  make_small_vm vm
  run tart push vm --insecure "$REGISTRY/trunc/img:v1"
  [ "$status" -eq 0 ]
  registry_manifest trunc/img v1 >"$BATS_TEST_TMPDIR/m.json"
  local cfg
  cfg="$(json_get "$BATS_TEST_TMPDIR/m.json" 'd["layers"][0]["digest"]')"
  truncate -s -20 "$(registry_blob_path "$cfg")"
  run --separate-stderr tart pull --insecure "$REGISTRY/trunc/img:v1"
  [ "$status" -eq 1 ]
  stderr_one_line "$cfg"
  run tart list --source oci -q
  [ -z "$output" ]
}

@test "registry down: exit 1 in one line naming the host, within a few seconds" {
  registry_start plain
  make_small_vm vm
  run tart push vm --insecure "$REGISTRY/down/img:v1"
  [ "$status" -eq 0 ]
  local host="$REGISTRY"
  registry_stop
  local t0=$SECONDS
  run --separate-stderr tart pull --insecure "$host/down/img:v1"
  [ "$status" -eq 1 ]
  stderr_one_line "$host"
  [ $((SECONDS - t0)) -le 5 ]
  t0=$SECONDS
  run --separate-stderr tart push vm --insecure "$host/down/img:v2"
  [ "$status" -eq 1 ]
  stderr_one_line "$host"
  [ $((SECONDS - t0)) -le 5 ]
  run tart list --source oci -q
  [ -z "$output" ]
}

@test "500s on every blob GET (twice each) are retried: the pull succeeds, output as without them" {
  run --separate-stderr tart pull --insecure "$RAND"
  [ "$status" -eq 0 ]
  local want
  want="$(printf '%s\n' "$output" | generic_host)"
  # Gone from the cache, or its layers would be reused instead of fetched.
  run tart delete "$RAND"
  [ "$status" -eq 0 ]

  proxy_start --fail 2
  run --separate-stderr tart pull --insecure "$PROXY/rand/img:v1"
  [ "$status" -eq 0 ]
  [ -z "$stderr" ]
  diff <(printf "%s\n" "$output" | generic_host) <(printf "%s\n" "$want")
  same_content "$(cache_path "$PROXY/rand/img:v1")/disk.img" "$RAND_DISK"
  # Config, two disk layers and NVRAM: 2 failures each, then success.
  [ "$(proxy_count '^main GET /v2/rand/img/blobs/.* -> 500 injected$')" -eq 8 ]
  [ "$(proxy_count '^main GET /v2/rand/img/blobs/.* -> 200')" -eq 4 ]
}

@test "a connection dropped mid-body once per blob: resumed with Range, same disk, same output" {
  run --separate-stderr tart pull --insecure "$RAND"
  [ "$status" -eq 0 ]
  local want
  want="$(printf '%s\n' "$output" | generic_host)"
  # Gone from the cache, or its layers would be reused instead of fetched.
  run tart delete "$RAND"
  [ "$status" -eq 0 ]

  proxy_start --cut
  run --separate-stderr tart pull --insecure "$PROXY/rand/img:v1"
  [ "$status" -eq 0 ]
  [ -z "$stderr" ]
  diff <(printf "%s\n" "$output" | generic_host) <(printf "%s\n" "$want")
  same_content "$(cache_path "$PROXY/rand/img:v1")/disk.img" "$RAND_DISK"
  [ "$(proxy_count '^main GET /v2/rand/img/blobs/.* range=- -> 200 cut$')" -eq 4 ]
  # Each disk layer was finished with a Range request, not downloaded again.
  [ "$(proxy_count "^main GET /v2/rand/img/blobs/$RAND_L0 auth=no range=bytes=[1-9][0-9]*- -> 206")" -eq 1 ]
  [ "$(proxy_count "^main GET /v2/rand/img/blobs/$RAND_L1 auth=no range=bytes=[1-9][0-9]*- -> 206")" -eq 1 ]
  [ "$(proxy_count '^main GET /v2/rand/img/blobs/.* range=- -> 200$')" -eq 0 ]
}

@test "htpasswd: a blob redirect to another origin is followed without the Authorization header" {
  registry_start htpasswd
  make_small_vm vm
  export TART_REGISTRY_USERNAME="$REGISTRY_USERNAME" TART_REGISTRY_PASSWORD="$REGISTRY_PASSWORD"
  run tart push vm --insecure "$REGISTRY/redir/img:v1"
  [ "$status" -eq 0 ]
  proxy_start --redirect --upstream-auth "$REGISTRY_USERNAME:$REGISTRY_PASSWORD"
  run --separate-stderr tart pull --insecure "$PROXY/redir/img:v1"
  cat "$PROXY_LOG" >&2
  [ "$status" -eq 0 ]
  same_content "$(cache_path "$PROXY/redir/img:v1")/disk.img" "$TART_HOME/vms/vm/disk.img"
  # The registry-side requests carried the credentials...
  [ "$(proxy_count '^main GET /v2/redir/img/manifests/v1 auth=yes .* -> 200')" -ge 1 ]
  [ "$(proxy_count '^main GET /v2/redir/img/blobs/sha256:[0-9a-f]+ auth=yes .* -> 307 redirect$')" -ge 3 ]
  # ...the redirected ones (another port: another origin) did not.
  [ "$(proxy_count '^storage GET /storage/v2/redir/img/blobs/sha256:[0-9a-f]+ auth=no .* -> 200')" -ge 3 ]
  [ "$(proxy_count '^storage .* auth=yes')" -eq 0 ]
}

@test "a chunk whose annotation claims all zeros but holds data is rejected (zero-chunk fast path)" {
  # Chunk 0 of $RAND is a full 512 MiB holding random data.  Re-publish its
  # manifest claiming that chunk's uncompressed digest is the one of 512 MiB
  # of zeros: the blobs are untouched and valid, only the claim lies.
  local zero=sha256:9acca8e8c22201155389f65abbf6bc9723edc7384ead80503839f49dcc56d767
  "$PYTHON" - "$BATS_FILE_TMPDIR/rand-manifest.json" "$zero" >"$BATS_TEST_TMPDIR/liar.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["layers"][1]["annotations"]["org.cirruslabs.tart.uncompressed-content-digest"] = sys.argv[2]
sys.stdout.write(json.dumps(m, sort_keys=True, separators=(",", ":")))
PY
  registry_curl -f -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
    --data-binary "@$BATS_TEST_TMPDIR/liar.json" "$REGISTRY_URL/v2/rand/img/manifests/liar" >/dev/null

  run --separate-stderr tart pull --insecure "$REGISTRY/rand/img:liar"
  [ "$status" -eq 1 ]
  stderr_one_line "$RAND_L0"
  [[ "$stderr" == *"does not match $zero"* ]]
  run tart list --source oci -q
  [ -z "$output" ]
}

# ---- hostile registries (docs/security.md) ----

# nothing_cached: no image went into the OCI cache, and no tmp entry stayed.
nothing_cached() {
  run tart list --source oci -q
  [ -z "$output" ]
  assert_tmp_empty
}

@test "a registry that ignores Range on a resumed download: the layer starts over, nothing appended" {
  proxy_start --cut --ignore-range
  run --separate-stderr tart pull --insecure "$PROXY/rand/img:v1"
  [ "$status" -eq 0 ] || { echo "$stderr" >&2; cat "$PROXY_LOG" >&2; return 1; }
  same_content "$(cache_path "$PROXY/rand/img:v1")/disk.img" "$RAND_DISK"
  # The resumed requests asked for the rest and were sent the whole blob.
  [ "$(proxy_count "^main GET /v2/rand/img/blobs/$RAND_L0 auth=no range=bytes=[1-9][0-9]*- -> 200")" -ge 1 ]
}

@test "a 404 whose body never ends: the pull fails at once in one line, nothing cached" {
  proxy_start --endless-404
  local t0=$SECONDS
  run --separate-stderr timeout 60 "$TART" pull --insecure "$PROXY/rand/img:v1"
  [ "$status" -eq 1 ]
  stderr_one_line "not found"
  [ $((SECONDS - t0)) -lt 20 ]
  nothing_cached
}

@test "nested indexes: one is followed, more than OCI_INDEX_DEPTH_MAX (4) are refused in one line" {
  proxy_start --index-depth 6
  run --separate-stderr tart pull --insecure "$PROXY/rand/img:v1"
  [ "$status" -eq 1 ]
  stderr_one_line "more than 4 nested indexes"
  nothing_cached
  proxy_restart --index-depth 1
  run --separate-stderr tart pull --insecure "$PROXY/rand/img:v1"
  [ "$status" -eq 0 ]
  same_content "$(cache_path "$PROXY/rand/img:v1")/disk.img" "$RAND_DISK"
}

@test "an upload Location that is not http(s) is refused; one on another origin gets no credentials" {
  registry_start htpasswd
  make_small_vm vm
  export TART_REGISTRY_USERNAME="$REGISTRY_USERNAME" TART_REGISTRY_PASSWORD="$REGISTRY_PASSWORD"
  local victim="$BATS_TEST_TMPDIR/victim" loc
  echo precious >"$victim"
  for loc in "file://$victim" "gopher://127.0.0.1:9/_SSRF" "dict://127.0.0.1:9/x"; do
    if [ -n "${PROXY_PID:-}" ]; then proxy_restart --upload-location "$loc"; else proxy_start --upload-location "$loc"; fi
    run --separate-stderr tart push vm --insecure "$PROXY/up/img:v1"
    [ "$status" -eq 1 ]
    stderr_one_line "not an http(s) URL"
    [ "$(cat "$victim")" = precious ]
  done
  proxy_restart --upload-location storage/v2/up/img/blobs/uploads/hostile
  run --separate-stderr tart push vm --insecure "$PROXY/up/img:v1"
  # The blobs went to a server that kept nothing: the manifest is refused.
  [ "$status" -eq 1 ]
  [ "$(proxy_count '^storage (PATCH|PUT) ')" -ge 1 ]
  [ "$(proxy_count '^storage .* auth=yes')" -eq 0 ]
}

@test "a manifest trickled a few bytes a second: the request deadline ends the pull in one line" {
  proxy_start --manifest-rate 100
  local t0=$SECONDS
  TART_REQUEST_TIMEOUT_MS=1500 TART_RETRY_DELAY_MS=10 run --separate-stderr tart pull --insecure "$PROXY/rand/img:v1"
  [ "$status" -eq 1 ]
  stderr_one_line "Timeout was reached"
  [ $((SECONDS - t0)) -lt 30 ]
  nothing_cached
}

@test "a disk-size annotation beyond the layers does not make auto-prune evict other images" {
  make_small_vm small
  tart push small --insecure "$REGISTRY/small/img:v1" >/dev/null
  run tart delete small
  unset TART_NO_AUTO_PRUNE
  tart pull --insecure "$REGISTRY/small/img:v1" >/dev/null
  [ -n "$(tart list --source oci -q)" ]
  # Just enough that pruning the small image would seem to make room: the
  # free space now, plus part of what the cache holds (auto-prune frees
  # nothing when even the whole cache would not suffice).
  local avail cached claim
  avail=$(df --output=avail -B1 "$TART_HOME/cache/OCIs" | tail -n1)
  cached=$(du -s -B1 "$TART_HOME/cache/OCIs" | cut -f1)
  claim=$((avail - (128 << 20) + cached / 2))
  proxy_start --disk-size-annotation "$claim"
  run --separate-stderr tart pull --insecure "$PROXY/rand/img:v1"
  [ "$status" -eq 0 ] || { echo "$stderr" >&2; return 1; }
  # The small image is still cached: the claim was never believed.
  run tart list --source oci -q
  [[ "$output" == *"small/img:v1"* ]]
}
