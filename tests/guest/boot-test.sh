#!/usr/bin/env bash
# shellcheck disable=SC2054 # QEMU options are comma-separated
# Boot the tiny test guest with plain QEMU (no tart) from its own disk, once
# with SeaBIOS and once with OVMF, and check it: GUEST-READY on the serial
# console, guest-exec through the guest agent, and ACPI power-off on QMP
# system_powerdown.
#
# Usage: tests/guest/boot-test.sh [OUTDIR]
#   OUTDIR: where build-guest.sh keeps the image
#           (default ${TART_GUEST_CACHE:-$HOME/.cache/tart-test-guest})
#   FIRMWARES="bios efi" selects the runs.
# Works in a temporary directory (never ~/.tart); network traffic only inside
# QEMU's user-mode network. The accelerator as tart picks it (docs/faq.md):
# TART_ACCEL=kvm|tcg, or auto: KVM when /dev/kvm is usable, and TCG again when
# KVM stops the guest at once or QEMU gives up under it (kvm_pvm hosts).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUTDIR=${1:-${TART_GUEST_CACHE:-$HOME/.cache/tart-test-guest}}
FIRMWARES=${FIRMWARES:-bios efi}
READY_TIMEOUT=60
POWEROFF_TIMEOUT=20
OVMF_CODE=/usr/share/OVMF/OVMF_CODE_4M.fd
OVMF_VARS=/usr/share/OVMF/OVMF_VARS_4M.fd

log() { echo "boot-test: $*"; }
die() {
	echo "boot-test: error: $*" >&2
	exit 1
}

ensure_packages() {
	local missing=() p ok
	ok=" $(dpkg-query -W -f='${Package}=${Status}\n' "$@" 2>/dev/null | sed -n 's/=install ok installed$//p' | tr '\n' ' ') "
	for p in "$@"; do [[ $ok == *" $p "* ]] || missing+=("$p"); done
	[ ${#missing[@]} -eq 0 ] && return 0
	local sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	log "installing ${missing[*]}"
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
		die "missing packages: ${missing[*]}"
}
ensure_packages qemu-system-x86 ovmf python3

"$HERE/build-guest.sh" "$OUTDIR" || die "building the guest image failed"
OUTDIR=$(cd "$OUTDIR" && pwd)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tart-guest-test.XXXXXX")
QEMU_PID=

alive() { # PID: running (not gone, not a zombie)
	local st
	st=$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$1/status" 2>/dev/null)
	[ -n "$st" ] && [ "$st" != Z ]
}

stop_qemu() { # hard stop of our QEMU child, if any, and reap it
	local pid=$QEMU_PID
	[ -n "$pid" ] || return 0
	if alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null
		for _ in $(seq 50); do
			alive "$pid" || break
			sleep 0.1
		done
		alive "$pid" && kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	QEMU_PID=
}

cleanup() {
	stop_qemu
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

case "${TART_ACCEL:-auto}" in
kvm) ACCEL=(-accel kvm -cpu host) ;;
tcg) ACCEL=(-accel tcg -cpu max) ;;
*)
	if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
		ACCEL=(-accel kvm -cpu host)
	else
		ACCEL=(-accel tcg -cpu max)
	fi
	;;
esac
log "accelerator: ${ACCEL[1]}"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

PASSED=0
FAILED=0
SUMMARY=()

# run_one FIRMWARE: returns 0 when every check passed
run_one() {
	local fw=$1 d="$WORK/$1" t0 t_ready up rc
	mkdir -p "$d"
	cp --sparse=always "$OUTDIR/guest.img" "$d/disk.img" || return 1
	local args=(-machine q35 "${ACCEL[@]}" -m 512 -smp 2
		-drive file=disk.img,format=raw,if=virtio
		-netdev user,id=n0 -device virtio-net-pci,netdev=n0
		-device virtio-serial-pci
		-chardev socket,path=qga.sock,server=on,wait=off,id=qga0
		-device virtserialport,chardev=qga0,name=org.qemu.guest_agent.0
		-qmp unix:qmp.sock,server=on,wait=off
		-serial file:console.log -display none -no-reboot)
	if [ "$fw" = efi ]; then
		if [ ! -f "$OVMF_CODE" ] || [ ! -f "$OVMF_VARS" ]; then
			log "$fw: FAIL: $OVMF_CODE or $OVMF_VARS missing"
			return 1
		fi
		cp "$OVMF_VARS" "$d/vars.fd" || return 1
		args+=(-drive "if=pflash,format=raw,unit=0,readonly=on,file=$OVMF_CODE"
			-drive if=pflash,format=raw,unit=1,file=vars.fd)
	fi

	t0=$(now)
	(cd "$d" && exec qemu-system-x86_64 "${args[@]}" </dev/null >qemu.log 2>&1) &
	QEMU_PID=$!

	# 1. GUEST-READY on the console
	t_ready=
	for _ in $(seq $((READY_TIMEOUT * 10))); do
		if grep -q GUEST-READY "$d/console.log" 2>/dev/null; then
			t_ready=$(elapsed "$t0")
			break
		fi
		alive "$QEMU_PID" || break
		# KVM stopped the guest: QEMU stays up with it paused.
		grep -q 'KVM internal error' "$d/qemu.log" 2>/dev/null && break
		sleep 0.1
	done
	if [ -z "$t_ready" ]; then
		if grep -q 'KVM internal error' "$d/qemu.log" 2>/dev/null; then
			log "$fw: KVM stopped the guest (KVM internal error)"
			return 2
		fi
		if alive "$QEMU_PID"; then
			log "$fw: FAIL: no GUEST-READY within ${READY_TIMEOUT} s"
		elif [ "${ACCEL[1]}" = kvm ] && grep -q 'kvm' "$d/qemu.log" 2>/dev/null; then
			# QEMU's KVM code gave up (kvm_pvm: "kvm_buf_set_msrs: Assertion").
			log "$fw: QEMU could not start under KVM: $(grep -m1 'kvm' "$d/qemu.log")"
			return 2
		else
			log "$fw: FAIL: QEMU exited before GUEST-READY"
		fi
		return 1
	fi
	up=$(sed -n 's/.*GUEST-READY uptime=\([0-9.]*\).*/\1/p' "$d/console.log" | head -n1)
	log "$fw: GUEST-READY after $t_ready s wall (guest uptime $up s)"
	grep -q 'LEASE-OK iface=eth0' "$d/console.log" || {
		log "$fw: FAIL: no DHCP lease (no LEASE-OK line)"
		return 1
	}
	SUMMARY+=("$fw: boot to GUEST-READY $t_ready s (guest uptime $up s)")

	# 2. guest agent: sync, guest-exec, exit code and output
	python3 "$HERE/guestctl.py" qga-check "$d/qga.sock" 30 | sed "s/^/boot-test: $fw: /" || {
		log "$fw: FAIL: guest agent check"
		return 1
	}

	# 3. ACPI power button: the guest powers off and QEMU exits by itself
	local t_off
	t_off=$(now)
	python3 "$HERE/guestctl.py" qmp "$d/qmp.sock" system_powerdown >/dev/null || {
		log "$fw: FAIL: QMP system_powerdown"
		return 1
	}
	for _ in $(seq $((POWEROFF_TIMEOUT * 10))); do
		alive "$QEMU_PID" || break
		sleep 0.1
	done
	if alive "$QEMU_PID"; then
		log "$fw: FAIL: QEMU still running ${POWEROFF_TIMEOUT} s after system_powerdown"
		return 1
	fi
	wait "$QEMU_PID"
	rc=$?
	QEMU_PID=
	if [ $rc -ne 0 ]; then
		log "$fw: FAIL: QEMU exited with status $rc after power-off"
		return 1
	fi
	log "$fw: powered off $(elapsed "$t_off") s after system_powerdown"
	return 0
}

for fw in $FIRMWARES; do
	run_one "$fw"
	rc=$?
	if [ $rc -eq 2 ] && [ "${TART_ACCEL:-auto}" = auto ]; then
		stop_qemu
		rm -rf "${WORK:?}/$fw"
		ACCEL=(-accel tcg -cpu max)
		log "$fw: this /dev/kvm cannot run the guest; again under TCG, as tart run does"
		run_one "$fw"
		rc=$?
	fi
	if [ $rc -eq 0 ]; then
		PASSED=$((PASSED + 1))
		log "$fw: PASS"
	else
		FAILED=$((FAILED + 1))
		echo "---- $fw console.log (last 30 lines)"
		tail -n 30 "$WORK/$fw/console.log" 2>/dev/null
		echo "---- $fw qemu.log"
		tail -n 30 "$WORK/$fw/qemu.log" 2>/dev/null
		echo "----"
	fi
	stop_qemu
done

for s in "${SUMMARY[@]}"; do log "$s"; done
echo "guest boot test: $PASSED passed, $FAILED failed"
[ $FAILED -eq 0 ]
