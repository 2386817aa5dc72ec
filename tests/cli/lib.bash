# Shared set-up for the command-line tests: every test gets a throw-away
# TART_HOME and drives the real binary.  Source from each .bats file with
#   load lib
#
# TART       the binary under test (default: build/tart in the source tree)
# TART_TEST_HELPERS  directory holding hold-run-lock (default: build/tests)

TOP="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
: "${TART:=$TOP/build/tart}"
: "${TART_TEST_HELPERS:=$(dirname "$TART")/tests}"

setup() {
  export TART_HOME="$BATS_TEST_TMPDIR/home"
  export HOME="$BATS_TEST_TMPDIR/user"
  mkdir -p "$HOME"
  unset TART_LOG TART_FIRMWARE_DIR TART_REGISTRY_USERNAME TART_REGISTRY_PASSWORD TART_REGISTRY_HOSTNAME
  LOCK_PIDS=()
}

teardown() {
  local p
  for p in "${LOCK_PIDS[@]}"; do
    # Each holder runs in its own process group (see hold_run_lock): kill
    # the group so that no `sleep` or helper outlives the test.
    kill -- "-$p" 2>/dev/null || kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
}

tart() {
  "$TART" "$@"
}

# A VM made quickly: a small disk so tests stay cheap.
make_vm() {
  "$TART" create "$1" --linux --disk-size "${2:-1}"
}

# Hold the run lock of VM $1 in the background, as `tart run` would.
hold_run_lock() {
  local dir="$TART_HOME/vms/$1" fifo="$BATS_TEST_TMPDIR/lock-$1"
  mkfifo "$fifo.out"
  # stdin from sleep keeps the helper alive until teardown kills it.  The
  # holder gets its own process group (setsid) so teardown can end all of
  # it, and fd 3 is closed so that bats does not wait for it at the end.
  # Only the helper holds the FIFO's write end, so a helper that fails
  # ends the `read` below at once.
  setsid bash -c 'exec "$0" "$1" < <(exec sleep 3600)' "$TART_TEST_HELPERS/hold-run-lock" "$dir" \
    >"$fifo.out" 3>&- &
  LOCK_PIDS+=("$!")
  read -r line <"$fifo.out"
  [[ "$line" == locked* ]]
  HELD_PID="${line#locked }"
}

# Assert the output's first line equals $1.
first_line_is() {
  local first="${output%%$'\n'*}"
  if [[ "$first" != "$1" ]]; then
    echo "expected first line: $1" >&2
    echo "got:                 $first" >&2
    return 1
  fi
}

# Assert $output contains $1.
output_has() {
  if [[ "$output" != *"$1"* ]]; then
    echo "expected output to contain: $1" >&2
    echo "got: $output" >&2
    return 1
  fi
}

allocated_bytes() {
  echo $(( $(stat -c %b "$1") * 512 ))
}

# ---- helpers added for the lifecycle suite (t0000..t6000) ----

# `run --separate-stderr` needs bats >= 1.5.
bats_require_minimum_version 1.5.0

# A plain interpreter: version-manager shims (pyenv) cost most of a second
# per call.
if [[ -x /usr/bin/python3 ]]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi

# sha256 of a file, hex only.
sha() {
  sha256sum <"$1" | cut -d' ' -f1
}

# Print a value out of a JSON file: json_get FILE 'd["key"]["sub"]'.
# Strings print raw, everything else as JSON.
json_get() {
  "$PYTHON" - "$1" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
v = eval(sys.argv[2])
print(v if isinstance(v, str) else json.dumps(v, sort_keys=True))
PY
}

# Same on a JSON string given as $1 (e.g. "$output").
json_eval() {
  "$PYTHON" -c 'import json,sys
d = json.loads(sys.argv[1])
v = eval(sys.argv[2])
print(v if isinstance(v, str) else json.dumps(v, sort_keys=True))' "$1" "$2"
}

# A key of a local VM's config.json: vm_cfg NAME KEY
vm_cfg() {
  json_get "$TART_HOME/vms/$1/config.json" "d[\"$2\"]"
}

# True when $1 is xx:xx:xx:xx:xx:xx, locally administered and unicast.
is_local_unicast_mac() {
  [[ "$1" =~ ^[0-9a-f]{2}(:[0-9a-f]{2}){5}$ ]] || return 1
  local o=$((16#${1%%:*}))
  (( (o & 1) == 0 && (o & 2) == 2 ))
}

# Fail unless $TART_HOME/tmp exists and is empty.
assert_tmp_empty() {
  local left
  left="$(ls -A "$TART_HOME/tmp")"
  if [[ -n "$left" ]]; then
    echo "tmp/ is not empty: $left" >&2
    return 1
  fi
}

# After `run --separate-stderr`: stderr is exactly one line "tart: error: ..."
# containing $1 (if given), and stdout is empty.
one_error_line() {
  if (( ${#stderr_lines[@]} != 1 )) || [[ "${stderr_lines[0]}" != "tart: error: "* ]]; then
    echo "expected one stderr line starting with 'tart: error: ', got ${#stderr_lines[@]}:" >&2
    printf '%s\n' "$stderr" >&2
    return 1
  fi
  if [[ -n "${1:-}" && "$stderr" != *"$1"* ]]; then
    echo "expected stderr to contain: $1" >&2
    echo "got: $stderr" >&2
    return 1
  fi
  if [[ -n "$output" ]]; then
    echo "expected no stdout, got: $output" >&2
    return 1
  fi
}

# Build a cached OCI image by hand from local VM $1:
#   make_oci_entry VM HOSTDIR NAMESPACE HEX [TAG]
# -> cache/OCIs/HOSTDIR/NAMESPACE/sha256:HEX/ (copy of the VM's files plus a
#    manifest.json) and, with TAG, a symlink TAG -> absolute digest dir.
make_oci_entry() {
  local vm="$1" host="$2" ns="$3" hex="$4" tag="${5:-}"
  local base="$TART_HOME/cache/OCIs/$host/$ns"
  local dir="$base/sha256:$hex"
  mkdir -p "$dir"
  cp --sparse=always "$TART_HOME/vms/$vm/config.json" "$TART_HOME/vms/$vm/disk.img" \
    "$TART_HOME/vms/$vm/nvram.bin" "$dir/"
  echo '{"schemaVersion":2}' >"$dir/manifest.json"
  if [[ -n "$tag" ]]; then
    ln -s "$dir" "$base/$tag"
  fi
}

# 64 hex digits derived from a word, for fake digests.
fake_hex() {
  printf '%s' "$1" | sha256sum | cut -d' ' -f1
}

# Host architecture in tart's words.
host_arch() {
  case "$(uname -m)" in
  x86_64) echo amd64 ;;
  aarch64 | arm64) echo arm64 ;;
  *) uname -m ;;
  esac
}

# Fail unless files $1 and $2 have the same size and bytes.  Fast on big
# sparse files: only the union of both files' data extents is read (outside
# it both read as zeros).
same_content() {
  "$PYTHON" - "$1" "$2" <<'PY'
import os, sys
fds = [os.open(p, os.O_RDONLY) for p in sys.argv[1:3]]
sizes = [os.fstat(fd).st_size for fd in fds]
if sizes[0] != sizes[1]:
    sys.exit("sizes differ: %d != %d" % tuple(sizes))
size = sizes[0]
def extents(fd):
    out, pos = [], 0
    while pos < size:
        try:
            d = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError:
            break
        h = os.lseek(fd, d, os.SEEK_HOLE)
        out.append((d, h))
        pos = h
    return out
ranges = sorted(extents(fds[0]) + extents(fds[1]))
merged = []
for s, e in ranges:
    if merged and s <= merged[-1][1]:
        merged[-1][1] = max(merged[-1][1], e)
    else:
        merged.append([s, e])
for s, e in merged:
    while s < e:
        n = min(e - s, 1 << 20)
        a, b = (os.pread(fd, n, s) for fd in fds)
        if a != b:
            sys.exit("contents differ near offset %d" % s)
        s += n
PY
}
