#!/usr/bin/env bash
# Build the tiny test guest for tart's VM tests, from Debian packages only.
#
# Usage: tests/guest/build-guest.sh [--arch amd64|arm64] [OUTDIR]
#   OUTDIR defaults to ${TART_GUEST_CACHE:-$HOME/.cache/tart-test-guest}
#   --arch arm64 builds the guest for arm64 (run under TCG on this amd64
#   host): its packages come from Debian's arm64 archive through a private
#   apt state in OUTDIR/.cache/apt-arm64 (the host's dpkg is not touched),
#   it boots only with UEFI (AAVMF, \EFI\BOOT\BOOTAA64.EFI) and its
#   console is ttyAMA0.
#
# Produces:
#   OUTDIR/guest.img      unpartitioned FAT16 raw image (160 MiB, sparse) that
#                         boots with SeaBIOS (syslinux VBR + syslinux.cfg) and
#                         with OVMF (\EFI\BOOT\BOOTX64.EFI = systemd-boot +
#                         \loader\entries\guest.conf)
#   OUTDIR/vmlinuz        the kernel, and
#   OUTDIR/initrd.gz      the initramfs, both also on the image (handy for
#                         -kernel/-initrd boots; cmdline: console=ttyS0 quiet panic=-1)
#   OUTDIR/inputs.sha256  sha256 of the inputs (package versions, host binaries
#                         copied in, files of tests/guest); when it matches and
#                         guest.img exists, nothing is done.
#   OUTDIR/inputs.txt     the text that was hashed
#   OUTDIR/.cache/        the extracted kernel subset and systemd-boot, per version
#
# Inputs: the generic kernel package that linux-image-amd64 depends on
# (resolved now, downloaded with `apt-get download`, never installed),
# systemd-boot-efi (downloaded the same way), and the installed
# busybox-static, qemu-guest-agent (qemu-ga and its libraries), syslinux,
# mtools, dosfstools, cpio and gzip (installed with apt-get when missing).
# Nothing is mounted and no root is needed once the packages are installed.
set -euo pipefail

START=$(date +%s.%N)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GUEST_ARCH=amd64
if [ "${1:-}" = --arch ]; then
	GUEST_ARCH=${2:?--arch needs amd64 or arm64}
	shift 2
fi
OUTDIR=${1:-${TART_GUEST_CACHE:-$HOME/.cache/tart-test-guest}}

IMG_SIZE_MIB=160
# Modules the guest needs; their dependencies are added automatically.
ROOT_MODULES=(virtio_pci virtio_net virtio_blk virtio_console 9pnet_virtio 9p virtiofs evdev button isofs)
case "$GUEST_ARCH" in
amd64)
	CMDLINE="console=ttyS0 quiet panic=-1"
	ROOT_MODULES+=(pvpanic_mmio)
	EFI_BOOT=BOOTX64.EFI SDB_EFI=systemd-bootx64.efi
	;;
arm64)
	# The virt machine's UART is a PL011.  Debian's arm64 kernel has no
	# pvpanic driver (CONFIG_PVPANIC is off): a panic shows as a reset.
	CMDLINE="console=ttyAMA0 quiet panic=-1"
	EFI_BOOT=BOOTAA64.EFI SDB_EFI=systemd-bootaa64.efi
	;;
*)
	echo "build-guest: --arch must be amd64 or arm64, not $GUEST_ARCH" >&2
	exit 2
	;;
esac
BUILD_PKGS=(busybox-static qemu-guest-agent syslinux syslinux-common mtools dosfstools cpio gzip)
# Files of tests/guest that do not go into the image (test harness only).
NOT_INPUTS_RE='^(boot-test\.sh|make-installer-iso\.sh|.*\.py|README.*)$'

log() { echo "build-guest: $*" >&2; }
die() {
	log "error: $*"
	exit 1
}

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		return 1
	fi
}

ensure_packages() {
	local missing=() p ok
	ok=" $(dpkg-query -W -f='${Package}=${Status}\n' "$@" 2>/dev/null | sed -n 's/=install ok installed$//p' | tr '\n' ' ') "
	for p in "$@"; do [[ $ok == *" $p "* ]] || missing+=("$p"); done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing ${missing[*]}"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
		{
			as_root apt-get update -qq &&
				as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
		} ||
		die "these packages are missing and could not be installed (need root or sudo): ${missing[*]}"
}

[ "$(dpkg --print-architecture)" = amd64 ] || die "only amd64 hosts are supported (the amd64 guest takes busybox and qemu-ga from the host)"

ensure_packages "${BUILD_PKGS[@]}"

BUSYBOX=$(dpkg -L busybox-static | grep -E '^(/usr)?/bin/busybox$' | head -n1)
[ -x "${BUSYBOX:-/nonexistent}" ] || die "busybox-static is installed but its /bin/busybox is missing"
QGA=$(dpkg -L qemu-guest-agent | grep -E '/s?bin/qemu-ga$' | head -n1)
[ -x "${QGA:-/nonexistent}" ] || die "qemu-guest-agent is installed but qemu-ga is missing"
mapfile -t QGA_LIBS < <(ldd "$QGA" | grep -o '/[^ ]*' | sort -u)
[ ${#QGA_LIBS[@]} -gt 0 ] || die "ldd found no libraries for $QGA"
SYSLINUX=$(command -v syslinux) || die "syslinux is missing"

mkdir -p "$OUTDIR/.cache"
OUTDIR=$(cd "$OUTDIR" && pwd)
exec 9>"$OUTDIR/.lock"
flock 9 # one builder at a time per OUTDIR

# The apt that finds the guest's packages: the host's for amd64; for arm64
# one of our own, with its lists in OUTDIR (refreshed when the host's apt
# sources change), so that nothing on the host changes.
APT_ARCH=()
if [ "$GUEST_ARCH" = arm64 ]; then
	AA="$OUTDIR/.cache/apt-arm64"
	mkdir -p "$AA/lists/partial" "$AA/cache/archives/partial"
	: >>"$AA/status"
	APT_ARCH=(-o APT::Architecture=arm64 -o APT::Architectures=arm64 -o "Dir::State::Lists=$AA/lists"
		-o "Dir::Cache=$AA/cache" -o "Dir::State::status=$AA/status")
	src_key=$({ cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null || true; } | sha256sum | cut -d' ' -f1)
	if [ "$(cat "$AA/sources.sha256" 2>/dev/null)" != "$src_key" ] || ! compgen -G "$AA/lists/*_Packages*" >/dev/null; then
		log "fetching Debian's arm64 package lists (into $AA)"
		apt-get "${APT_ARCH[@]}" update -qq >&2 || die "apt-get update for arm64 failed"
		echo "$src_key" >"$AA/sources.sha256"
	fi
fi

# ----------------------------------------------------- package resolution
# apt-cache takes about a second per call here (no pkgcache.bin), so the
# package facts are remembered until the apt lists or the dpkg database change.
apt_fingerprint() { # the apt and dpkg state, and this script (how the facts are gathered)
	{
		find /var/lib/apt/lists /etc/apt ${AA:+"$AA/lists"} -maxdepth 2 -type f ! -name lock 2>/dev/null
		echo /var/lib/dpkg/status
	} | LC_ALL=C sort | xargs -d '\n' stat -c '%n %s %Y' 2>/dev/null | cat - "${BASH_SOURCE[0]}" |
		{ cat; echo "arch $GUEST_ARCH"; } | sha256sum | cut -d' ' -f1
}

resolve_packages() { # prints the package facts, one "key value..." per line
	local kpkg p o
	kpkg=$(apt-cache "${APT_ARCH[@]}" depends "linux-image-$GUEST_ARCH" 2>/dev/null |
		sed -n "s/^ *Depends: \(linux-image-[0-9][0-9.]*-[0-9][0-9]*-$GUEST_ARCH\)\$/\1/p" | head -n1)
	[ -n "$kpkg" ] || return 1
	# "pkg:" then "  Candidate: ver" for each package
	apt-cache "${APT_ARCH[@]}" policy "$kpkg" systemd-boot-efi 2>/dev/null | awk -v k="$kpkg" '
		/^[^ ].*:$/ { p = substr($0, 1, length($0) - 1) }
		/^ *Candidate: / && $2 != "(none)" { v[p] = $2 }
		END {
			if (!(k in v) || !("systemd-boot-efi" in v)) exit 1
			print "kernel", k, v[k]; print "systemd-boot-efi", v["systemd-boot-efi"]
		}' || return 1
	dpkg-query -W -f='pkg ${Package} ${Version}\n' "${BUILD_PKGS[@]}"
	if [ "$GUEST_ARCH" = arm64 ]; then
		# The guest's own userland: busybox, qemu-ga and the libraries it
		# needs (the shared-library packages among its dependencies, followed
		# through theirs; not init-system-helpers and what that pulls in).
		local want="busybox-static qemu-guest-agent" queue=(qemu-guest-agent) q d
		while [ ${#queue[@]} -gt 0 ]; do
			q=${queue[0]}
			queue=("${queue[@]:1}")
			for d in $(apt-cache "${APT_ARCH[@]}" depends --no-recommends --no-suggests --no-conflicts \
				--no-breaks --no-replaces --no-enhances "$q" 2>/dev/null |
				sed -n 's/^ *\(Pre\)\{0,1\}Depends: \([a-z0-9][^ <>]*\)$/\2/p'); do
				case "$d" in lib*-perl | libperl* | libdb* | libgdbm*) continue ;; lib* | zlib1g | gcc-*-base) ;; *) continue ;; esac
				case " $want " in *" $d "*) continue ;; esac
				want="$want $d"
				queue+=("$d")
			done
		done
		# shellcheck disable=SC2086 # one word per package
		apt-cache "${APT_ARCH[@]}" policy $want 2>/dev/null | awk '
			/^[^ ].*:$/ { p = substr($0, 1, length($0) - 1) }
			/^ *Candidate: / && $2 != "(none)" { print "gpkg", p, $2 }'
		return 0
	fi
	# owners of qemu-ga's libraries (one dpkg -S call: it reads every .list file)
	# (ask for the path and its canonical form: with merged /usr, dpkg
	# knows some libraries only under /usr/lib)
	local owners paths=() real
	for p in "${QGA_LIBS[@]}"; do paths+=("$p" "$(readlink -f "$p")"); done
	owners=$(dpkg -S "${paths[@]}" 2>/dev/null)
	for p in "${QGA_LIBS[@]}"; do
		real=$(readlink -f "$p")
		o=$(awk -v f="$p" -v r="$real" '$NF == f || $NF == r { sub(/:.*/, "", $1); print $1; exit }' <<<"$owners")
		echo "libpkg $p ${o:-unowned} ${o:+$(dpkg-query -W -f='${Version}' "$o" 2>/dev/null)}"
	done
}

FP=$(apt_fingerprint)
MEMO="$OUTDIR/.cache/packages"
if [ "$(head -n1 "$MEMO" 2>/dev/null)" = "fingerprint $FP" ]; then
	FACTS=$(tail -n +2 "$MEMO")
else
	FACTS=$(resolve_packages) || {
		log "linux-image-amd64 or systemd-boot-efi is not in the apt lists; running apt-get update"
		as_root apt-get update -qq || true
		FP=$(apt_fingerprint)
		FACTS=$(resolve_packages)
	} || die "cannot resolve the kernel package (apt-cache depends linux-image-amd64) or systemd-boot-efi"
	printf 'fingerprint %s\n%s\n' "$FP" "$FACTS" >"$MEMO.tmp" && mv -f "$MEMO.tmp" "$MEMO"
fi
read -r _ KPKG KVER < <(grep '^kernel ' <<<"$FACTS")
read -r _ SDBVER < <(grep '^systemd-boot-efi ' <<<"$FACTS")
if [ -z "$KPKG" ] || [ -z "$KVER" ] || [ -z "$SDBVER" ]; then die "bad package facts in $MEMO"; fi

# ---------------------------------------------------------------- inputs key
inputs_text() {
	local f
	echo "format 1"
	echo "image ${IMG_SIZE_MIB}M cmdline $CMDLINE modules ${ROOT_MODULES[*]}"
	[ "$GUEST_ARCH" = amd64 ] || echo "arch $GUEST_ARCH"
	printf '%s\n' "$FACTS"
	for f in "$BUSYBOX" "$QGA" "$SYSLINUX" "${QGA_LIBS[@]}"; do
		echo "file $f $(sha256sum <"$f" | cut -d' ' -f1)"
	done
	for f in "$HERE"/*; do
		[ -f "$f" ] || continue
		[[ ${f##*/} =~ $NOT_INPUTS_RE ]] && continue
		echo "guest ${f##*/} $(sha256sum <"$f" | cut -d' ' -f1)"
	done
}

INPUTS=$(inputs_text)
KEY=$(printf '%s\n' "$INPUTS" | sha256sum | cut -d' ' -f1)
if [ -f "$OUTDIR/guest.img" ] && [ -f "$OUTDIR/vmlinuz" ] && [ -f "$OUTDIR/initrd.gz" ] &&
	[ "$(cat "$OUTDIR/inputs.sha256" 2>/dev/null)" = "$KEY" ]; then
	echo "guest image up to date: $OUTDIR/guest.img"
	exit 0
fi

# Leftovers of an interrupted build (we hold the lock, so nobody uses them).
rm -rf "$OUTDIR"/.build.* "$OUTDIR"/.dl.*
STAGE=$(mktemp -d "$OUTDIR/.build.XXXXXX")
DL=
trap 'rm -rf "$STAGE" ${DL:+"$DL"}' EXIT

APT_OPTS=(-qq)
[ "$(id -u)" -eq 0 ] && APT_OPTS+=(-o APT::Sandbox::User=root)

download_deb() { # PKG VERSION DIR -> path of the .deb in DIR
	(cd "$3" && apt-get "${APT_ARCH[@]}" download "${APT_OPTS[@]}" "$1=$2" >&2) || die "apt-get download $1=$2 failed"
	local d
	d=$(find "$3" -maxdepth 1 -name "${1}_*.deb" | head -n1)
	[ -n "$d" ] || die "apt-get download $1=$2 produced no .deb"
	echo "$d"
}

STRINGS() { if command -v strings >/dev/null; then strings "$@"; else "$BUSYBOX" strings "$@"; fi; }

safe() { printf '%s' "$1" | tr -c 'A-Za-z0-9.+~_-' '_'; }

# ------------------------------------------------------------ kernel subset
# Cached per kernel package version: vmlinuz, the needed modules (flat, by
# module name) and modules.order (dependency order, from "depends=").
# The module list is part of the key: adding a module must refetch.
KCACHE="$OUTDIR/.cache/kernel-$KPKG-$(safe "$KVER")-$(printf '%s ' "${ROOT_MODULES[@]}" | md5sum | cut -c1-8)"
if [ ! -f "$KCACHE/.complete" ]; then
	rm -rf "$OUTDIR"/.cache/kernel-*
	log "downloading $KPKG $KVER"
	DL=$(mktemp -d "$OUTDIR/.dl.XXXXXX")
	deb=$(download_deb "$KPKG" "$KVER" "$DL")
	log "extracting $KPKG"
	dpkg-deb -x "$deb" "$DL/x"
	rm -f "$deb"
	kimg=$(find "$DL/x/boot" -maxdepth 1 -name 'vmlinuz-*' | head -n1)
	[ -n "$kimg" ] || die "$KPKG has no /boot/vmlinuz-*"
	moddir=$(find "$DL/x/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -n1)
	[ -n "$moddir" ] || die "$KPKG has no /lib/modules/<version>"

	KTMP="$DL/kernel"
	mkdir -p "$KTMP/modules"
	cp "$kimg" "$KTMP/vmlinuz"
	echo "${moddir##*/}" >"$KTMP/release"

	declare -A KO=() SEEN=()
	while IFS= read -r -d '' f; do
		b=${f##*/}
		b=${b%%.ko*}
		KO[${b//-/_}]=$f
	done < <(find "$moddir" -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' | tr '\n' '\0')
	ORDER=()
	add_module() { # NAME: copy it (uncompressed) after its dependencies
		local name=${1//-/_} f dst deps d
		[ -n "${SEEN[$name]:-}" ] && return 0
		SEEN[$name]=1
		f=${KO[$name]:-}
		if [ -z "$f" ]; then
			if grep -qE "/${name//_/[-_]}\.ko(\..*)?$" "$moddir/modules.builtin" 2>/dev/null; then
				log "module $name is built into the kernel"
				return 0
			fi
			die "module $name not found in $KPKG"
		fi
		dst="$KTMP/modules/$name.ko"
		case "$f" in
		*.ko.xz) xz -dc "$f" >"$dst" ;;
		*.ko.zst) zstd -qdc "$f" >"$dst" ;;
		*) cp "$f" "$dst" ;;
		esac
		deps=$(STRINGS "$dst" | sed -n 's/^depends=//p' | head -n1)
		for d in ${deps//,/ }; do add_module "$d"; done
		ORDER+=("$name")
	}
	for m in "${ROOT_MODULES[@]}"; do add_module "$m"; done
	printf '%s\n' "${ORDER[@]}" >"$KTMP/modules.order"
	touch "$KTMP/.complete"
	mv "$KTMP" "$KCACHE"
	rm -rf "$DL"
fi

SCACHE="$OUTDIR/.cache/systemd-boot-$(safe "$SDBVER")"
if [ ! -f "$SCACHE/$EFI_BOOT" ]; then
	rm -rf "$OUTDIR"/.cache/systemd-boot-*
	log "downloading systemd-boot-efi $SDBVER"
	DL=$(mktemp -d "$OUTDIR/.dl.XXXXXX")
	deb=$(download_deb systemd-boot-efi "$SDBVER" "$DL")
	dpkg-deb -x "$deb" "$DL/x"
	efi=$(find "$DL/x" -name "$SDB_EFI" | head -n1)
	[ -n "$efi" ] || die "systemd-boot-efi has no $SDB_EFI"
	mkdir -p "$DL/sdb"
	cp "$efi" "$DL/sdb/$EFI_BOOT"
	mv "$DL/sdb" "$SCACHE"
	rm -rf "$DL"
fi

# The arm64 userland: busybox, qemu-ga and its libraries, from the arm64
# packages of FACTS, extracted once per set of versions.
if [ "$GUEST_ARCH" = arm64 ]; then
	UCACHE="$OUTDIR/.cache/userland-$(grep '^gpkg ' <<<"$FACTS" | sha256sum | cut -c1-16)"
	if [ ! -f "$UCACHE/.complete" ]; then
		rm -rf "$OUTDIR"/.cache/userland-*
		DL=$(mktemp -d "$OUTDIR/.dl.XXXXXX")
		while read -r _ p v; do
			log "downloading $p:arm64 $v"
			deb=$(download_deb "$p" "$v" "$DL")
			dpkg-deb -x "$deb" "$DL/x"
			rm -f "$deb"
		done < <(grep '^gpkg ' <<<"$FACTS")
		mkdir -p "$DL/u"
		cp "$DL/x/bin/busybox" "$DL/u/busybox"
		cp "$(find "$DL/x" -path '*/s*bin/qemu-ga' | head -n1)" "$DL/u/qemu-ga"
		# The shared libraries and the dynamic loader, at the paths the
		# packages give them (as the amd64 guest has the host's).
		mkdir -p "$DL/u/root"
		(cd "$DL/x" && find lib usr/lib \( -name '*.so*' -o -name 'ld-linux-aarch64*' \) \
			\( -type f -o -type l \) 2>/dev/null | grep -v -e '/gconv/' -e '/gio/' |
			cpio -pdm --quiet "$DL/u/root")
		touch "$DL/u/.complete"
		mv "$DL/u" "$UCACHE"
		rm -rf "$DL"
	fi
fi

# ---------------------------------------------------------------- initramfs
log "building the initramfs ($(tr '\n' ' ' <"$KCACHE/modules.order"))"
R="$STAGE/rootfs"
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,root,mnt,var,lib/modules} \
	"$R"/usr/share/udhcpc "$R"/etc/acpi/PWRF
ln -s ../run "$R/var/run"
if [ "$GUEST_ARCH" = arm64 ]; then cp "$UCACHE/busybox" "$R/bin/busybox"; else cp "$BUSYBOX" "$R/bin/busybox"; fi
# Every applet at its usual place; never the "busybox" entry itself (a
# self-link makes the kernel fail with "Failed to execute /init (error -40)").
# (The host's busybox lists them for the arm64 one too: same package.)
"$BUSYBOX" --list-full | while read -r a; do
	[ "${a##*/}" = busybox ] && continue
	[ -e "$R/$a" ] || ln -s /bin/busybox "$R/$a"
done
[ -L "$R/bin/sh" ] || die "busybox has no sh applet"

if [ "$GUEST_ARCH" = arm64 ]; then
	cp "$UCACHE/qemu-ga" "$R/usr/bin/qemu-ga"
	cp -a "$UCACHE/root/." "$R/"
else
	cp "$QGA" "$R/usr/bin/qemu-ga"
	for l in "${QGA_LIBS[@]}"; do
		mkdir -p "$R$(dirname "$l")"
		cp -L "$l" "$R$l"
	done
fi
cp "$KCACHE"/modules/*.ko "$R/lib/modules/"
cp "$KCACHE/modules.order" "$R/etc/modules.order"

install -m 0755 "$HERE/init" "$R/init"
install -m 0755 "$HERE/udhcpc.script" "$R/usr/share/udhcpc/default.script"
install -m 0755 "$HERE/acpi-power-button" "$R/etc/acpi/PWRF/00000080"
install -m 0755 "$HERE/shutdown" "$R/sbin/shutdown"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$R/etc/passwd"
printf 'root:x:0:\ntty:x:5:\n' >"$R/etc/group"
printf 'tartguest\n' >"$R/etc/hostname"
# shellcheck disable=SC2016 # $PWD is for the guest's shell
printf 'PS1='"'"'tartguest:$PWD# '"'"'\n' >"$R/etc/profile"
cat >"$R/etc/os-release" <<EOF
NAME="tart test guest"
ID=tart-test-guest
ID_LIKE=debian
VERSION_ID=1
PRETTY_NAME="tart test guest (busybox, Linux $(cat "$KCACHE/release"))"
EOF
: >"$R/etc/resolv.conf"

# newc entry for /dev/console (a character device cannot be made without
# root, so it is written by hand and appended as a second cpio archive; the
# kernel unpacks concatenated archives). With it the kernel gives /init its
# stdio on the console.
newc_entry() { # NAME MODE(hex) RDEVMAJOR RDEVMINOR
	local n=$1 namesize=$((${#1} + 1)) pad
	printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
		0 "$((16#$2))" 0 0 1 0 0 0 0 "$3" "$4" "$namesize" 0
	printf '%s\0' "$n"
	pad=$(((4 - (110 + namesize) % 4) % 4))
	[ $pad -gt 0 ] && head -c "$pad" /dev/zero
	return 0
}
(
	cd "$R"
	find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet --owner=0:0
	newc_entry dev/console 2180 5 1 # S_IFCHR|0600, 5:1
	newc_entry TRAILER!!! 0 0 0
) | gzip -9n >"$STAGE/initrd.gz"
cp "$KCACHE/vmlinuz" "$STAGE/vmlinuz"

# ------------------------------------------------------------------- image
log "building the ${IMG_SIZE_MIB} MiB FAT16 image"
IMG="$STAGE/guest.img"
truncate -s "${IMG_SIZE_MIB}M" "$IMG"
mkfs.fat -F 16 -n TARTGUEST -i 7a47e57b "$IMG" >/dev/null
export MTOOLS_SKIP_CHECK=1 MTOOLSRC=/dev/null
mcopy -i "$IMG" "$STAGE/vmlinuz" ::/vmlinuz
mcopy -i "$IMG" "$STAGE/initrd.gz" ::/initrd.gz
if [ "$GUEST_ARCH" = amd64 ]; then
	printf 'DEFAULT linux\nPROMPT 0\nTIMEOUT 0\nLABEL linux\n  KERNEL /vmlinuz\n  INITRD /initrd.gz\n  APPEND %s\n' \
		"$CMDLINE" >"$STAGE/syslinux.cfg"
	mcopy -i "$IMG" "$STAGE/syslinux.cfg" ::/syslinux.cfg
	syslinux --install "$IMG" # the VBR and ldlinux.sys/.c32, written through mtools
fi
mmd -i "$IMG" ::/EFI ::/EFI/BOOT ::/loader ::/loader/entries
mcopy -i "$IMG" "$SCACHE/$EFI_BOOT" "::/EFI/BOOT/$EFI_BOOT"
printf 'timeout 0\ndefault guest.conf\neditor no\n' >"$STAGE/loader.conf"
printf 'title tart test guest\nlinux /vmlinuz\ninitrd /initrd.gz\noptions %s\n' "$CMDLINE" >"$STAGE/guest.conf"
mcopy -i "$IMG" "$STAGE/loader.conf" ::/loader/loader.conf
mcopy -i "$IMG" "$STAGE/guest.conf" ::/loader/entries/guest.conf
# Sanity: the files are there and the volume is clean.
mdir -i "$IMG" -b ::/ | grep -q '/vmlinuz$' || die "image check failed"
fsck.fat -n "$IMG" >/dev/null || die "fsck.fat reports errors in the image"

# ------------------------------------------------------------------ install
printf '%s\n' "$INPUTS" >"$STAGE/inputs.txt"
printf '%s\n' "$KEY" >"$STAGE/inputs.sha256"
rm -f "$OUTDIR/inputs.sha256" # invalid until everything is in place
for f in vmlinuz initrd.gz guest.img inputs.txt inputs.sha256; do
	mv -f "$STAGE/$f" "$OUTDIR/$f"
done
END=$(date +%s.%N)
log "done in $(awk -v a="$START" -v b="$END" 'BEGIN{printf "%.1f", b-a}') s:" \
	"$OUTDIR/guest.img ($(du -k --apparent-size "$OUTDIR/guest.img" | cut -f1) KiB apparent," \
	"$(du -k "$OUTDIR/guest.img" | cut -f1) KiB allocated), initrd.gz $(du -k --apparent-size "$OUTDIR/initrd.gz" | cut -f1) KiB"
