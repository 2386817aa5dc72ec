#!/usr/bin/env bash
# `tart run` overhead: time from start until QEMU's QMP socket listens, for
# `tart run` and for the same QEMU command line started directly, in one
# run (target: at most 50 ms more).  Also, for the record, the
# tiny test guest's boot-to-agent time under this machine's accelerator.
#
# On a host whose /dev/kvm cannot run guests (kvm_pvm, docs/faq.md), also
# the cost of the accelerator fallback: start until a QEMU under TCG has
# its QMP socket up, for TART_ACCEL=tcg, for auto with the verdict
# remembered, and for auto finding it out (KVM tried, stopped, restarted).
#
# Usage: bench/run.sh [path/to/tart]      ROUNDS=5 by default
set -euo pipefail
cd "$(dirname "$0")/.."
TART=$(realpath "${1:-build/tart}")
ROUNDS=${ROUNDS:-5}
tests/guest/build-guest.sh "$PWD/build/test-guest" >/dev/null

work=$(mktemp -d -p "${BENCH_DIR:-/var/tmp}" tart-bench-run.XXXXXX)
qpid=
cleanup() {
  [ -n "$qpid" ] && kill "$qpid" 2>/dev/null && wait "$qpid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
export TART_HOME="$work/home"
"$TART" create vm --linux --firmware bios --from-image build/test-guest/guest.img >/dev/null
"$TART" set vm --cpu 2 --memory 512
dir="$TART_HOME/vms/vm"

# ms until a UNIX socket at $1 accepts a connection (polling every 1 ms).
wait_listen='
import socket, sys, time
path, start = sys.argv[1], float(sys.argv[2])
while True:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path); break
    except OSError:
        time.sleep(0.001)
    finally:
        s.close()
print("%.1f" % ((time.time() - start) * 1000))
'
now() { python3 -c 'import time; print(time.time())'; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

# The exact command line tart uses, from its debug log.
# (The last one: on a host where KVM cannot run guests, the first is KVM's.)
line=$(TART_LOG=debug timeout 20 "$TART" run vm --no-graphics --net-user 2>&1 >/dev/null | sed -n 's/^tart: debug: qemu: //p' | tail -1) || true
pkill -f "guest=tart-vm" 2>/dev/null || true
sleep 0.5
[ -n "$line" ] || { echo "could not read the QEMU command line" >&2; exit 1; }

tart_ms=() qemu_ms=() agent_s=()
for i in $(seq "$ROUNDS"); do
  rm -f "$dir/qmp.sock"
  start=$(now)
  "$TART" run vm --no-graphics --net-user >/dev/null 2>&1 &
  rpid=$!
  tart_ms+=("$(python3 -c "$wait_listen" "$dir/qmp.sock" "$start")")
  # boot-to-agent, for the record (first round only: TCG boots are slow)
  if [ "$i" = 1 ]; then
    until "$TART" exec vm /bin/true 2>/dev/null; do sleep 0.2; done
    agent_s+=("$(python3 -c "import time; print('%.1f' % (time.time() - $start))")")
  fi
  "$TART" stop vm --timeout 0 >/dev/null
  wait "$rpid" 2>/dev/null || true

  rm -f "$dir/qmp.sock" "$dir/qga.sock"
  start=$(now)
  (cd "$dir" && eval "exec $line" >/dev/null 2>&1) &
  qpid=$!
  qemu_ms+=("$(python3 -c "$wait_listen" "$dir/qmp.sock" "$start")")
  kill "$qpid"
  wait "$qpid" 2>/dev/null || true
  qpid=
done

t=$(median "${tart_ms[@]}") q=$(median "${qemu_ms[@]}")
echo "run: start to QMP listening: tart run ${t} ms, qemu directly ${q} ms, overhead $(awk -v a="$t" -v b="$q" 'BEGIN {printf "%.1f", a - b}') ms (target <= 50), median of $ROUNDS"
accel=$(printf '%s' "$line" | grep -q -- '-accel kvm' && echo KVM || echo TCG)
echo "run: tiny guest boot to guest agent: ${agent_s[0]} s ($accel)"

# ---- the fallback from a KVM that cannot run guests ----
verdict="$TART_HOME/cache/kvm-verdict.json"
if [ ! -e "$verdict" ]; then
  echo "run: accelerator fallback: not measured ($([ -c /dev/kvm ] && echo "KVM runs guests here" || echo "no /dev/kvm"): no fallback happens)"
  exit 0
fi
# ms until a QEMU under TCG of this VM has its QMP socket listening.
wait_tcg='
import os, socket, sys, time
path, start = sys.argv[1], float(sys.argv[2])
def tcg_qemu():
    for p in os.listdir("/proc"):
        if not p.isdigit(): continue
        try: c = open("/proc/%s/cmdline" % p, "rb").read().split(b"\0")
        except OSError: continue
        if b"guest=tart-vm" in c and b"tcg" in c: return True
    return False
while not tcg_qemu(): time.sleep(0.002)
while True:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path); break
    except OSError: time.sleep(0.001)
    finally: s.close()
print("%.1f" % ((time.time() - start) * 1000))
'
declare -A fb
for mode in tcg remembered fallback; do
  ms=()
  for i in $(seq "$ROUNDS"); do
    [ "$mode" = fallback ] && rm -f "$verdict"
    rm -f "$dir/qmp.sock"
    start=$(now)
    if [ "$mode" = tcg ]; then
      TART_ACCEL=tcg "$TART" run vm --no-graphics --net-user >/dev/null 2>&1 &
    else
      "$TART" run vm --no-graphics --net-user >/dev/null 2>&1 &
    fi
    rpid=$!
    ms+=("$(python3 -c "$wait_tcg" "$dir/qmp.sock" "$start")")
    "$TART" stop vm --timeout 0 >/dev/null 2>&1 || true
    wait "$rpid" 2>/dev/null || true
  done
  fb[$mode]=$(median "${ms[@]}")
done
echo "run: start to QMP of the QEMU under TCG: TART_ACCEL=tcg ${fb[tcg]} ms, auto with the verdict remembered ${fb[remembered]} ms, auto finding out (KVM tried and stopped) ${fb[fallback]} ms; fallback cost $(awk -v a="${fb[fallback]}" -v b="${fb[tcg]}" 'BEGIN {printf "%.0f", a - b}') ms once per host boot, remembered path $(awk -v a="${fb[remembered]}" -v b="${fb[tcg]}" 'BEGIN {printf "%+.1f", a - b}') ms, median of $ROUNDS"
