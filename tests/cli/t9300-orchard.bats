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
  registry_start plain
  export IMAGE="$REGISTRY/orchard/guest:latest"
  (
    export TART_HOME="$BATS_FILE_TMPDIR/src-home"
    "$TART" create src --linux --from-image "$GUEST" --firmware bios >/dev/null
    "$TART" push src --insecure "$IMAGE" >/dev/null
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

@test "orchard worker: pull, clone, fqn, set, run softnet with a dir, ip, list, suspend, resume, stop, delete" {
  local vmid="orchard-vm-1" share="$BATS_TEST_TMPDIR/share"
  mkdir -p "$share"
  echo from-host >"$share/hello"
  run tart pull "$IMAGE" --insecure
  [ "$status" -eq 0 ]
  run tart clone "$IMAGE" "$vmid" --insecure
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
