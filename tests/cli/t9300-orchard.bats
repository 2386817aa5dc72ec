#!/usr/bin/env bats
# The exact calls Orchard's worker makes, in its order and
# spelling (flags before the VM name, "=" forms), against a real registry,
# with the tiny guest booting under TCG on softnet in a network namespace of
# the test's own.

load lib
load registry

setup_file() {
  export GUEST="${TART_TEST_GUEST:-$TOP/build/test-guest/guest.img}"
  if [ ! -f "$GUEST" ]; then
    "$TOP/tests/guest/build-guest.sh" "$(dirname "$GUEST")" >&3 2>&1
  fi
  # TLS with a CA the host trusts (SSL_CERT_FILE): Orchard passes no
  # --insecure, so its calls run here as it makes them.
  registry_start tls
  export SSL_CERT_FILE="$REGISTRY_CA_FILE"
  export IMAGE="$REGISTRY/orchard/guest:latest"
  (
    export TART_HOME="$BATS_FILE_TMPDIR/src-home"
    "$TART" create src --linux --from-image "$GUEST" --firmware bios >/dev/null
    "$TART" push src "$IMAGE" >/dev/null
  )
}

teardown_file() {
  registry_cleanup
}

setup() {
  export TART_HOME="$BATS_TEST_TMPDIR/home"
  export HOME="$BATS_TEST_TMPDIR/user"
  mkdir -p "$HOME"
  [ "$(id -u)" -eq 0 ] || skip "needs root (network namespace)"
  NS="tart-orch$$-${BATS_TEST_NUMBER}"
  ip netns add "$NS"
  ip -n "$NS" link set lo up
  export TART_NETWORK_DIR="$BATS_TEST_TMPDIR/net"
  RUN_PID=
}

teardown() {
  if [ -n "${RUN_PID:-}" ]; then
    kill -INT "$RUN_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$RUN_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$RUN_PID" 2>/dev/null || true
  fi
  [ -f "$TART_NETWORK_DIR/dnsmasq.pid" ] && kill "$(cat "$TART_NETWORK_DIR/dnsmasq.pid")" 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
}

# orch ARGS...: a worker call, inside the namespace (registry calls too:
# the registry listens on the host's loopback, so those run outside).
orch() {
  ip netns exec "$NS" "$TART" "$@"
}

orch_run() {
  ip netns exec "$NS" "$TART" "$@" >"$BATS_TEST_TMPDIR/run.out" 2>&1 3>&- &
  RUN_PID=$!
}

# The tart runtime: internal/worker/vmmanager/tart/tart.go of
# cirruslabs/orchard at b30bb5be (2026-05-11).
@test "orchard worker: pull, clone, fqn, set, run softnet with a dir, ip, list, suspend, resume, stop, delete" {
  local vmid="orchard-vm-1" share="$BATS_TEST_TMPDIR/share"
  mkdir -p "$share"
  echo from-host >"$share/hello"
  run tart pull "$IMAGE"
  [ "$status" -eq 0 ]
  run tart clone "$IMAGE" "$vmid"
  [ "$status" -eq 0 ]
  run --separate-stderr tart fqn "$IMAGE"
  [ "$status" -eq 0 ]
  [[ "$output" == "$REGISTRY/orchard/guest@sha256:"* ]]
  tart set --memory 384 "$vmid"
  tart set --cpu 1 "$vmid"
  tart set --disk-size 1 "$vmid"
  tart set --random-mac "$vmid"
  tart set --random-serial "$vmid"

  orch_run run --net-softnet --net-softnet-allow 10.0.0.0/8,192.168.0.0/16 --net-softnet-block 10.1.0.0/16 \
    --no-graphics --suspendable --dir=share:"$share" "$vmid"
  run orch ip --wait 60 "$vmid"
  [ "$status" -eq 0 ]
  local ip=$output
  [[ "$ip" == 192.168.64.* ]]
  for _ in $(seq 60); do tart exec "$vmid" /bin/true 2>/dev/null && break; sleep 1; done
  run orch ip --wait 5 --resolver agent "$vmid"
  [ "$status" -eq 0 ] && [ "$output" = "$ip" ]
  run tart list --format json
  [ "$(json_eval "$output" '[[x["Name"], x["Source"], x["State"], x["Running"]] for x in d if x["Name"] == "'"$vmid"'"]')" = "[[\"$vmid\", \"local\", \"running\", true]]" ]
  # The shared directory: one share under the default tag, which the guest
  # mounts at /mnt/shared.
  run tart exec "$vmid" /bin/cat /mnt/shared/hello
  [ "$output" = from-host ]

  # QEMU cannot save a VM whose 9p share is mounted: suspend says so in one
  # line and the VM runs on; once the guest unmounts it, suspend works.
  run --separate-stderr orch suspend "$vmid"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"a --dir share is mounted in the guest"*"unmount it in the guest first" ]]
  tart exec "$vmid" /bin/true
  tart exec "$vmid" /bin/umount /mnt/shared
  # Suspend, then the worker's next run resumes it with the same address.
  tart exec "$vmid" /bin/sh -c 'echo kept >/tmp/marker'
  run orch suspend "$vmid"
  [ "$status" -eq 0 ]
  for _ in $(seq 100); do kill -0 "$RUN_PID" 2>/dev/null || break; sleep 0.1; done
  run tart list --format json
  [ "$(json_eval "$output" '[x["State"] for x in d if x["Name"] == "'"$vmid"'"]')" = '["suspended"]' ]
  grep -q " $ip " "$TART_NETWORK_DIR/dnsmasq.leases"
  orch_run run --net-softnet --net-softnet-allow 10.0.0.0/8,192.168.0.0/16 --net-softnet-block 10.1.0.0/16 \
    --no-graphics --suspendable --dir=share:"$share" "$vmid"
  for _ in $(seq 60); do tart exec "$vmid" /bin/true 2>/dev/null && break; sleep 1; done
  [ "$(tart exec "$vmid" /bin/cat /tmp/marker)" = kept ]
  run orch ip --wait 60 "$vmid"
  [ "$output" = "$ip" ]

  run orch stop --timeout 5 "$vmid"
  [ "$status" -eq 0 ]
  for _ in $(seq 100); do kill -0 "$RUN_PID" 2>/dev/null || break; sleep 0.1; done
  ! kill -0 "$RUN_PID" 2>/dev/null
  RUN_PID=
  ! grep -q " $ip " "$TART_NETWORK_DIR/dnsmasq.leases"
  run orch delete "$vmid"
  [ "$status" -eq 0 ]
  [ ! -d "$TART_HOME/vms/$vmid" ]
  # Failures reach Orchard as one first line on stderr.
  run --separate-stderr orch ip --wait 1 "$vmid"
  [ "$status" -eq 2 ]
  [ "$stderr" = "tart: error: the specified VM \"$vmid\" does not exist" ]
}

# go_list JSON: `list --format json` decoded as Orchard's Go struct
# VMInfo{Name, Source, State string; Running bool} (no json tags, so Go
# matches the keys case-insensitively): "name running" per VM.
go_list() {
  python3 -c '
import json, sys
for o in json.load(sys.stdin):
    k = {key.lower(): v for key, v in o.items()}
    print(k["name"], "true" if k["running"] is True else "false")' <<<"$1"
}

# The vetu runtime, Orchard's default on Linux: internal/worker/vmmanager/
# vetu/vetu.go, base/cmd.go and vmmanager.go (VMInfo) of cirruslabs/orchard
# at b30bb5be (2026-05-11): pull, clone IMG ID, fqn, set --memory, --cpu,
# --disk-size (one call each), run ID (no flags, in the foreground), ip
# --wait 60 ID (stdout trimmed), stop --timeout 5 ID, delete ID; on a new
# session the orphan sweep: list --format json, stop NAME for a Running
# orchard-* VM the controller does not know, delete NAME.  Any non-zero
# exit is a failure whose message is stderr's first line.  Vetu's home is
# VETU_HOME, else ~/.vetu (internal/homedir/homedir.go of cirruslabs/vetu at
# b40a08e7); every failure exits 1 (log.Fatal); clone gives a new MAC.
@test "orchard worker, vetu runtime: tart called as vetu uses ~/.vetu and answers the worker's calls" {
  local bin="$BATS_TEST_TMPDIR/bin"
  mkdir -p "$bin"
  ln -s "$TART" "$bin/vetu"
  local vmid="orchard-vm-6f1d3c2e-9a4b-4c5d-8e7f-0a1b2c3d4e5f-0"
  local orphan="orchard-gone-0c9e8d7f-6a5b-4c3d-9e2f-1a0b9c8d7e6f-0"
  local home="$HOME/.vetu"
  unset VETU_HOME
  vetu() { "$bin/vetu" "$@"; }
  vetu_ns() { ip netns exec "$NS" "$bin/vetu" "$@"; }

  run vetu pull "$IMAGE"
  [ "$status" -eq 0 ]
  [ -d "$home/cache/OCIs/${REGISTRY/:/%3A}/orchard/guest" ]
  # TART_HOME is tart's: vetu neither reads nor creates it.
  [ ! -e "$TART_HOME" ]
  run vetu clone "$IMAGE" "$vmid"
  [ "$status" -eq 0 ]
  [ -f "$home/vms/$vmid/config.json" ]
  local cached_mac clone_mac
  cached_mac=$(json_get "$(find "$home/cache/OCIs" -name config.json | head -n1)" 'd["macAddress"]')
  clone_mac=$(json_get "$home/vms/$vmid/config.json" 'd["macAddress"]')
  [ -n "$clone_mac" ] && [ "$clone_mac" != "$cached_mac" ]
  run --separate-stderr vetu fqn "$IMAGE"
  [ "$status" -eq 0 ]
  [[ "$(echo "$output" | xargs)" == "$REGISTRY/orchard/guest@sha256:"* ]]
  vetu set --memory 384 "$vmid"
  vetu set --cpu 1 "$vmid"
  vetu set --disk-size 1 "$vmid"
  [ "$(json_get "$home/vms/$vmid/config.json" 'd["memorySize"]')" = $((384 * 1024 * 1024)) ]
  [ "$(json_get "$home/vms/$vmid/config.json" 'd["cpuCount"]')" = 1 ]

  vetu_ns run "$vmid" >"$BATS_TEST_TMPDIR/run.out" 2>&1 3>&- &
  RUN_PID=$!
  run --separate-stderr vetu_ns ip --wait 60 "$vmid"
  [ "$status" -eq 0 ] || { cat "$BATS_TEST_TMPDIR/run.out" >&2; return 1; }
  [[ "$(echo "$output" | xargs)" =~ ^192\.168\.64\.[0-9]+$ ]]
  run --separate-stderr vetu list --format json
  [ "$status" -eq 0 ]
  go_list "$output" | grep -qx "$vmid true"
  run vetu stop --timeout 5 "$vmid"
  [ "$status" -eq 0 ]
  wait_gone
  [ "$RUN_STATUS" -eq 0 ] || { cat "$BATS_TEST_TMPDIR/run.out" >&2; return 1; }
  go_list "$(vetu list --format json)" | grep -qx "$vmid false"
  run vetu delete "$vmid"
  [ "$status" -eq 0 ]
  [ ! -d "$home/vms/$vmid" ]

  # A worker restarted while a VM of its old session runs: the sweep finds
  # it Running and stops it (no --timeout: the default), then deletes it.
  vetu clone "$IMAGE" "$orphan"
  vetu set --memory 384 "$orphan"
  vetu_ns run "$orphan" >"$BATS_TEST_TMPDIR/run.out" 2>&1 3>&- &
  RUN_PID=$!
  run vetu_ns ip --wait 60 "$orphan"
  [ "$status" -eq 0 ]
  local name running
  while read -r name running; do
    [[ "$name" == orchard-* ]] || continue
    if [ "$running" = true ]; then vetu stop "$name"; fi
    vetu delete "$name"
  done < <(go_list "$(vetu list --format json)")
  wait_gone
  [ "$RUN_STATUS" -eq 0 ]
  ! go_list "$(vetu list --format json)" | grep -q '^orchard-'

  # Failures: exit 1 (Vetu's code for all of them), one first line.
  run --separate-stderr vetu ip --wait 1 "$vmid"
  [ "$status" -eq 1 ]
  [ "$stderr" = "vetu: error: the specified VM \"$vmid\" does not exist" ]
  run --separate-stderr vetu set --cpu 1 --no-such-flag "$vmid"
  [ "$status" -eq 1 ]
  [ "${#stderr_lines[@]}" -eq 1 ]
  # VETU_HOME names the home, as it does for Vetu.
  VETU_HOME="$BATS_TEST_TMPDIR/vetu-home" vetu list >/dev/null
  [ -d "$BATS_TEST_TMPDIR/vetu-home/vms" ]
  [ ! -e "$TART_HOME" ]
}

# wait_gone: until the background run ended (30 s at most); RUN_STATUS is
# its exit code.
wait_gone() {
  local i
  for i in $(seq 300); do kill -0 "$RUN_PID" 2>/dev/null || break; sleep 0.1; done
  RUN_STATUS=0
  wait "$RUN_PID" || RUN_STATUS=$?
  RUN_PID=
}
