#!/usr/bin/env bash
# Make an installer ISO from the tiny test guest, for the Packer from_iso
# flow (tests/cli/t9400-clients.bats): a UEFI El Torito image that boots
# the guest with "tart.installer=1" on its kernel command line, and the
# guest's own disk image, gzip'ed, as /guest.img.gz for the "installer" to
# write onto the root disk.  Like a distribution's ISO, it boots from a
# virtio disk (--disk=ISO:ro) through OVMF's El Torito support.
#
# Usage: tests/guest/make-installer-iso.sh GUEST_IMG OUT_ISO
# Needs mtools, dosfstools, gzip and xorriso (scripts/setup.sh).
set -euo pipefail

IMG=${1:?usage: make-installer-iso.sh GUEST_IMG OUT_ISO}
OUT=${2:?usage: make-installer-iso.sh GUEST_IMG OUT_ISO}
for t in mcopy mkfs.fat xorriso gzip; do
	command -v "$t" >/dev/null || {
		echo "make-installer-iso: $t is missing (run scripts/setup.sh)" >&2
		exit 1
	}
done

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/efi" "$WORK/iso"

# The boot files of the guest image, with the installer's command line.
mcopy -s -i "$IMG" ::/vmlinuz ::/initrd.gz ::/EFI ::/loader "$WORK/efi/"
sed -i 's/^options .*/& tart.installer=1/' "$WORK/efi/loader/entries/guest.conf"
grep -q 'tart.installer=1' "$WORK/efi/loader/entries/guest.conf"

# El Torito's sector count is 16 bits of 512 bytes (32 MiB): size the FAT
# image to its files plus room for the FAT itself.
kib=$(du -sk "$WORK/efi" | cut -f1)
kib=$(((kib + 2048 + 1023) / 1024 * 1024))
[ "$kib" -lt 32768 ] || {
	echo "make-installer-iso: the boot files need $kib KiB, more than El Torito's 32 MiB" >&2
	exit 1
}
mkfs.fat -C -n TARTINST "$WORK/iso/efiboot.img" "$kib" >/dev/null
mcopy -s -i "$WORK/iso/efiboot.img" "$WORK/efi/"* ::/

gzip -1 -c "$IMG" >"$WORK/iso/guest.img.gz"
xorriso -as mkisofs -R -J -V TARTINSTALL -e efiboot.img -no-emul-boot -o "$OUT.tmp" "$WORK/iso" >"$WORK/xorriso.log" 2>&1 ||
	{
		cat "$WORK/xorriso.log" >&2
		exit 1
	}
mv -f "$OUT.tmp" "$OUT"
