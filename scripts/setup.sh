#!/usr/bin/env bash
# Install every Debian package tart needs to build, run and test.
# Idempotent: when everything is present it returns at once, without root.
# Usage: scripts/setup.sh            (as root, or with sudo available)
set -euo pipefail

PACKAGES=(
  # build
  gcc clang libclang-rt-14-dev meson ninja-build pkg-config clang-format
  libjansson-dev libcmocka-dev libcurl4-openssl-dev liblz4-dev libssl-dev libarchive-dev
  # runtime: QEMU, qemu-img, firmware for EFI guests
  qemu-system-x86 qemu-utils ovmf qemu-efi-aarch64
  # runtime: the NAT network (tart network): dnsmasq (DHCP/DNS), dhcp_release,
  # nftables, iproute2 (the tests' namespaces)
  dnsmasq-base dnsmasq-utils nftables iproute2
  # tests: a real registry (plain, htpasswd, token, TLS) and skopeo as an
  # independent OCI client
  bats valgrind util-linux coreutils procps python3 curl openssl
  docker-registry apache2-utils skopeo
  # tests: the shell completion scripts
  zsh fish
  # the tiny test guest (tests/guest/build-guest.sh)
  busybox-static qemu-guest-agent syslinux syslinux-common mtools dosfstools cpio gzip
  # tests: the arm64 test guest under TCG (tests/guest/build-guest.sh --arch arm64)
  qemu-system-arm
  # tests: an installer ISO made from the test guest (Packer's from_iso)
  xorriso
  # the Debian package (scripts/deb.sh)
  debhelper lintian man-db
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then
    SUDO=sudo
  else
    echo "setup: these packages are missing and installing them needs root: ${missing[*]}" >&2
    exit 1
  fi
fi
echo "setup: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
