# Shared set-up for the suites that boot the tiny test guest (tests/guest)
# under `tart run`.  Load after lib:
#   load lib
#   load guest
#
# GUEST      the guest image (TART_TEST_GUEST, default build/test-guest/guest.img)
# RUN_PID    the background `tart run` of the test, stopped by teardown

setup_file() {
  export GUEST="${TART_TEST_GUEST:-$TOP/build/test-guest/guest.img}"
  if [ ! -f "$GUEST" ]; then
    "$TOP/tests/guest/build-guest.sh" "$(dirname "$GUEST")" >&3 2>&1
  fi
  [ -f "$GUEST" ]
}

teardown() {
  # Whatever a test left running goes, with its QEMU.
  if [[ -n "${RUN_PID:-}" ]]; then
    kill -INT "$RUN_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$RUN_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$RUN_PID" 2>/dev/null || true
    wait "$RUN_PID" 2>/dev/null || true
  fi
}

# make_guest NAME [create flags...]: the tiny guest as a VM, 2 CPUs, 512 MiB.
make_guest() {
  local name=$1
  shift
  tart create "$name" --linux --from-image "$GUEST" "$@"
  tart set "$name" --cpu 2 --memory 512
}

# wait_exit SECONDS: until the run process ended; sets RUN_STATUS (its exit
# code) and RUN_SECONDS (how long the wait took).
wait_exit() {
  local i t0=$SECONDS
  for i in $(seq $(($1 * 10))); do
    if ! kill -0 "$RUN_PID" 2>/dev/null; then
      RUN_STATUS=0
      wait "$RUN_PID" || RUN_STATUS=$?
      RUN_PID=
      RUN_SECONDS=$((SECONDS - t0))
      return 0
    fi
    sleep 0.1
  done
  echo "the run did not end within $1 s; its output:" >&2
  cat "$BATS_TEST_TMPDIR"/run-*.out >&2 2>/dev/null || true
  return 1
}
