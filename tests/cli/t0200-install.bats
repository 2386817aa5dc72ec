#!/usr/bin/env bats
# What `meson install` puts where Debian's conventions say (issue: installs
# like a Debian tool): the binary and the vetu link, man pages made from the
# --help tables, completion scripts, systemd units that verify, the docs;
# and `tart --version` with its commit.

load lib

setup_file() {
  export BUILD_DIR
  BUILD_DIR=$(cd "$(dirname "$TART")" && pwd)
  [ -f "$BUILD_DIR/meson-info/intro-installed.json" ] || skip "TART is not in a meson build directory"
  export DEST="$BATS_FILE_TMPDIR/dest"
  DESTDIR="$DEST" meson install -C "$BUILD_DIR" --no-rebuild --quiet >"$BATS_FILE_TMPDIR/install.log" 2>&1
  export PREFIX
  PREFIX=$(meson introspect --buildoptions "$BUILD_DIR" | python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"][0])')
  export ROOT="$DEST$PREFIX"
}

@test "install: the binary, vetu, man pages, completions, units and docs, where Debian looks" {
  [ -x "$ROOT/bin/tart" ]
  [ "$(readlink "$ROOT/bin/vetu")" = tart ]
  local v
  for v in tart tart-create tart-clone tart-run tart-set tart-get tart-list tart-login tart-logout tart-ip tart-exec \
    tart-pull tart-push tart-import tart-export tart-prune tart-rename tart-stop tart-delete tart-suspend tart-network; do
    [ -s "$ROOT/share/man/man1/$v.1" ] || { echo "no man page $v.1" >&2; return 1; }
  done
  [ -s "$ROOT/share/bash-completion/completions/tart" ]
  [ -s "$ROOT/share/zsh/vendor-completions/_tart" ]
  [ -s "$ROOT/share/fish/vendor_completions.d/tart.fish" ]
  [ -s "$ROOT/lib/systemd/system/tart-network.service" ]
  [ -s "$ROOT/lib/systemd/system/tart@.service" ]
  for v in README.md faq.md security.md upstream.md design.md; do [ -s "$ROOT/share/doc/tart/$v" ]; done
}

@test "man pages: groff finds nothing to warn about, and every flag of --help is in its page" {
  local page verb flag
  for page in "$ROOT"/share/man/man1/*.1; do
    run groff -man -ww -z "$page"
    [ -z "$output" ] || { echo "$page: $output" >&2; return 1; }
  done
  for verb in run create clone set push pull prune exec network; do
    local text
    text=$(MANWIDTH=200 man -l "$ROOT/share/man/man1/tart-$verb.1" 2>/dev/null)
    for flag in $(tart "$verb" --help | sed -n '/^OPTIONS:/,$p' | grep -oE -- '--[a-z][a-z-]*' | sort -u); do
      [[ "$text" == *"$flag"* ]] || { echo "tart-$verb(1) lacks $flag" >&2; return 1; }
    done
  done
  [[ "$(MANWIDTH=200 man -l "$ROOT/share/man/man1/tart-run.1")" == *"--root-disk-opts"*"sync=none"* ]]
}

@test "systemd units verify, with the installed tart as their command" {
  command -v systemd-analyze >/dev/null || skip "no systemd-analyze"
  local u d="$BATS_TEST_TMPDIR/units"
  mkdir -p "$d"
  for u in tart-network.service tart@.service; do
    sed "s|$PREFIX/bin/tart|$ROOT/bin/tart|g" "$ROOT/lib/systemd/system/$u" >"$d/$u"
  done
  cp "$d/tart@.service" "$d/tart@vm.service"
  run systemd-analyze verify --man=no "$d/tart-network.service" "$d/tart@vm.service"
  [ "$status" -eq 0 ] || { echo "$output" >&2; return 1; }
  grep -q "^ExecStart=$PREFIX/bin/tart run %i --no-graphics$" "$ROOT/lib/systemd/system/tart@.service"
  grep -q "^ExecStop=$PREFIX/bin/tart network down$" "$ROOT/lib/systemd/system/tart-network.service"
}

@test "tart --version: the version, then the commit it was built from" {
  run tart --version
  [ "$status" -eq 0 ]
  [[ "$output" =~ ^[0-9]+\.[0-9]+\.[0-9]+\ \(commit\ ([0-9a-f]{12}|unknown)\)$ ]]
  run tart --generate-manpage no-such-verb
  [ "$status" -eq 64 ]
}
