#!/usr/bin/env bash
# Build the Debian package from this tree with Debian's own tools
# (debian/, dpkg-buildpackage -b) and check it with lintian.
#
# Usage: scripts/deb.sh [OUTDIR]   (default build/deb)
# Prints the path of tart_<version>_<arch>.deb on its last line.  The build
# runs in a copy of the tracked files, so the checkout gets no debian/
# build litter; lintian errors fail, its warnings are printed.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$(mkdir -p "${1:-build/deb}" && cd "${1:-build/deb}" && pwd)
for t in dpkg-buildpackage dh lintian; do
	command -v "$t" >/dev/null || {
		echo "deb: $t is missing (scripts/setup.sh installs it)" >&2
		exit 1
	}
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/tart"
git ls-files -z | tar --null -cf - -T - | tar -C "$work/tart" -xf -
# The copy has no .git: tell meson the commit (tart --version shows it).
git rev-parse --short=12 HEAD >"$work/tart/COMMIT"
(cd "$work/tart" && dpkg-buildpackage -b -us -uc) >"$OUT/build.log" 2>&1 || {
	tail -30 "$OUT/build.log" >&2
	exit 1
}
deb=$(find "$work" -maxdepth 1 -name 'tart_*.deb' | head -n1)
[ -n "$deb" ] || {
	echo "deb: dpkg-buildpackage made no tart_*.deb" >&2
	exit 1
}
rm -f "$OUT"/tart_*.deb
cp "$deb" "$OUT/"
deb="$OUT/${deb##*/}"
# E: fails; W: and I: are shown (root is fine for lintian here: CI runs as root).
lintian --allow-root --fail-on error "$deb" >"$OUT/lintian.log" 2>&1 || {
	cat "$OUT/lintian.log" >&2
	exit 1
}
sed 's/^/lintian: /' "$OUT/lintian.log" >&2
echo "$deb"
