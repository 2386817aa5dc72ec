#!/usr/bin/env bash
# Pull and push against a local docker-registry, side by side with skopeo.
#
# The image: a VM disk of SIZE_GIB (default 2) GiB, half zeros (a hole), a
# quarter random bytes, a quarter text.  Measured in one run:
#   pull: `tart pull` vs `skopeo copy docker://... oci:DIR` (skopeo only
#         stores the compressed blobs; tart also decompresses, verifies every
#         digest and writes the sparse disk).   Target: ratio <= 1.0
#   push: `tart push` vs `skopeo copy oci:DIR docker://...` of the same,
#         already compressed blobs.                Target: ratio <= 1.25
#   peak RSS of tart pull and push at --concurrency 4. Target: <= 128 MiB
# Each timing is the median of ROUNDS (default 3) runs; caches are dropped
# before each run when /proc/sys/vm/drop_caches is writable.
#
# Usage: bench/registry.sh [path/to/tart]     SIZE_GIB=4 bench/registry.sh
set -euo pipefail
cd "$(dirname "$0")/.."
TART=$(realpath "${1:-build/tart}")
SIZE_GIB=${SIZE_GIB:-2}
ROUNDS=${ROUNDS:-3}

work=$(mktemp -d -p "${BENCH_DIR:-/var/tmp}" tart-bench-reg.XXXXXX)
reg_pid=
cleanup() {
  [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null && wait "$reg_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
export TART_HOME="$work/home" TART_NO_AUTO_PRUNE=1
unset CI

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/registry"
cat >"$work/registry.yml" <<EOF
version: 0.1
log: {level: error}
storage:
  filesystem: {rootdirectory: $work/registry}
  delete: {enabled: true}
http: {addr: 127.0.0.1:$port}
EOF
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
reg_pid=$!
for _ in $(seq 50); do
  curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break
  sleep 0.1
done
R=127.0.0.1:$port

drop_caches() {
  # skopeo remembers where it saw blobs and would mount them from an
  # earlier round's repository instead of uploading: forget that too.
  rm -f /var/lib/containers/cache/blob-info-cache-v1.boltdb "$HOME/.local/share/containers/cache/blob-info-cache-v1.boltdb"
  sync
  { echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null || true
}

# seconds and peak RSS (KiB) of a command: sets T and RSS
measure() {
  local out="$work/time.out"
  drop_caches
  /usr/bin/time -f '%e %M' -o "$out" "$@" >/dev/null 2>"$work/cmd.err" || {
    cat "$work/cmd.err" >&2
    return 1
  }
  read -r T RSS <"$out"
}

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
max() { printf '%s\n' "$@" | sort -g | tail -1; }

echo "registry bench: ${SIZE_GIB} GiB image, $ROUNDS rounds, $(nproc) cores"
"$TART" create src --linux --disk-size 1 >/dev/null
disk="$TART_HOME/vms/src/disk.img"
size=$((SIZE_GIB * 1024 * 1024 * 1024))
quarter=$((size / 4))
truncate -s "$size" "$disk"
# A quarter of random data after the zero half...
{ head -c "$quarter" /dev/urandom || true; } | dd of="$disk" bs=4M seek=$((size / 2)) oflag=seek_bytes conv=notrunc status=none
# ...and a quarter of text: real documentation, repeated in a 16 MiB period
# so that LZ4's 64 KiB window cannot see the repetition.
# (head closes the pipes early: SIGPIPE upstream is expected here.)
{ find /usr/share/doc /usr/share/common-licenses -type f ! -name '*.gz' -size -2M -print0 2>/dev/null |
  xargs -0 cat 2>/dev/null | head -c $((16 << 20)) >"$work/text"; } || true
{ while cat "$work/text"; do :; done | head -c "$quarter" |
  dd of="$disk" bs=4M seek=$((size / 2 + quarter)) oflag=seek_bytes conv=notrunc status=none; } || true

# Push: tart first (it also produces the blobs skopeo will push).
tp=() tpr=() sp=()
for i in $(seq "$ROUNDS"); do
  measure "$TART" push src "$R/bench/tart-$i:v1" --insecure --concurrency 4
  tp+=("$T") tpr+=("$RSS")
done
"$TART" export src "$work/src.tvm" >/dev/null
mkdir -p "$work/oci"
tar -xf "$work/src.tvm" -C "$work/oci"
compressed=$(du -sb "$work/oci/blobs" | cut -f1)
for i in $(seq "$ROUNDS"); do
  measure skopeo copy --dest-tls-verify=false "oci:$work/oci:latest" "docker://$R/bench/skopeo-$i:v1"
  sp+=("$T")
done

# Pull: both from the image tart pushed.
tl=() tlr=() sl=()
for i in $(seq "$ROUNDS"); do
  "$TART" delete "$R/bench/tart-1:v1" >/dev/null 2>&1 || true
  "$TART" prune --gc >/dev/null
  rm -rf "$TART_HOME/tmp"/*
  measure "$TART" pull "$R/bench/tart-1:v1" --insecure --concurrency 4
  tl+=("$T") tlr+=("$RSS")
  rm -rf "$work/skopeo-oci"
  measure skopeo copy --src-tls-verify=false "docker://$R/bench/tart-1:v1" "oci:$work/skopeo-oci:v1"
  sl+=("$T")
done

pulled=$(realpath "$TART_HOME/cache/OCIs/127.0.0.1%3A$port/bench/tart-1/v1")
cmp "$disk" "$pulled/disk.img" || { echo "pulled disk differs!" >&2; exit 1; }

tpm=$(median "${tp[@]}") spm=$(median "${sp[@]}") tlm=$(median "${tl[@]}") slm=$(median "${sl[@]}")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
echo "image: $((size >> 20)) MiB disk, $((compressed >> 20)) MiB compressed blobs"
echo "pull: tart ${tlm} s, skopeo ${slm} s, ratio $(ratio "$tlm" "$slm") (target <= 1.00); peak RSS $(mib "$(max "${tlr[@]}")") MiB (target <= 128)"
echo "push: tart ${tpm} s, skopeo ${spm} s, ratio $(ratio "$tpm" "$spm") (target <= 1.25); peak RSS $(mib "$(max "${tpr[@]}")") MiB (target <= 128)"
