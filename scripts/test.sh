#!/usr/bin/env bash
# Run every test and end with one line "N passed, N failed".
#
#  0. the C sources are formatted as .clang-format says
#  1. build with -Werror, run the C unit tests
#  2. the same unit tests under ASan+UBSan, and under valgrind
#     and each verb of the binary under valgrind
#  3. each fuzz target for FUZZ_SECONDS (default 15) under ASan+UBSan
#  4. the tiny test guest (tests/guest) built and booted with SeaBIOS and OVMF
#  5. the command-line tests (bats) against the ASan+UBSan binary, VMs
#     booted under QEMU included
#
# Environment: FUZZ_SECONDS, SKIP_VALGRIND=1, SKIP_FUZZ=1.
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh || exit 1

passed=0
failed=0
skipped=0
failures=()

# meson test prints "Ok: N" and "Fail: N" lines; add them up.
count_meson() {
  local label=$1 log=$2 ok fail
  ok=$(awk '/^Ok:/ {print $2}' "$log" | tail -1)
  fail=$(awk '/^(Fail|Timeout|Unexpected Pass):/ {s += $NF} END {print s+0}' "$log")
  ok=${ok:-0}
  passed=$((passed + ok))
  failed=$((failed + fail))
  if [ "$fail" -ne 0 ]; then
    failures+=("$label")
    grep -E '^ *[0-9]+/[0-9]+ .*(FAIL|TIMEOUT)' "$log" || true
  fi
  echo "== $label: $ok passed, $fail failed"
}

fail_step() {
  failed=$((failed + 1))
  failures+=("$1")
  echo "== $1: FAILED"
}

logs=build-logs
mkdir -p "$logs"

# Formatting is .clang-format's: `clang-format -i` on what it flags.
echo "== formatting (clang-format)"
if find src tests -name '*.[ch]' -print0 | sort -z | xargs -0 clang-format --dry-run --Werror >"$logs/format.log" 2>&1; then
  passed=$((passed + 1))
else
  fail_step "formatting (see $logs/format.log)"
  grep 'warning:' "$logs/format.log" | head -20
fi

echo "== build (-Werror)"
if ! scripts/build.sh build; then
  fail_step "build"
else
  meson test -C build --suite unit --print-errorlogs >"$logs/unit.log" 2>&1
  count_meson "unit tests" "$logs/unit.log"
fi

echo "== build (ASan+UBSan)"
if ! scripts/build.sh build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug; then
  fail_step "asan build"
else
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C build-asan --suite unit --print-errorlogs >"$logs/unit-asan.log" 2>&1
  count_meson "unit tests (ASan+UBSan)" "$logs/unit-asan.log"
fi

if [ "${SKIP_VALGRIND:-0}" != 1 ] && [ -x build/tart ]; then
  meson test -C build --suite unit --print-errorlogs \
    --wrap='valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect --track-fds=no' \
    >"$logs/unit-valgrind.log" 2>&1
  count_meson "unit tests (valgrind)" "$logs/unit-valgrind.log"
fi

if [ "${SKIP_VALGRIND:-0}" != 1 ] && [ -x build/tart ]; then
  tests/valgrind-smoke.sh build/tart >"$logs/valgrind-smoke.tap" 2>&1
  ok=$(grep -c '^ok ' "$logs/valgrind-smoke.tap")
  bad=$(grep -c '^not ok ' "$logs/valgrind-smoke.tap")
  passed=$((passed + ok))
  failed=$((failed + bad))
  if [ "$bad" -ne 0 ]; then
    failures+=("valgrind smoke")
    grep -A20 '^not ok ' "$logs/valgrind-smoke.tap" | head -80
  fi
  echo "== tart under valgrind: $ok passed, $bad failed"
fi

if [ "${SKIP_FUZZ:-0}" != 1 ]; then
  echo "== build (fuzz targets)"
  if ! CC=clang scripts/build.sh build-fuzz -Dfuzz=true -Dtests=false -Db_sanitize=address,undefined -Db_lundef=false; then
    fail_step "fuzz build"
  else
    for f in build-fuzz/tests/fuzz/fuzz_*; do
      [ -f "$f" ] && [ -x "$f" ] || continue
      name=$(basename "$f")
      corpus="tests/fuzz/corpus/${name#fuzz_}"
      work=$(mktemp -d)
      seeds=()
      [ -d "$corpus" ] && seeds=("$corpus")
      if "$f" -max_total_time="${FUZZ_SECONDS:-15}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=0 \
          -artifact_prefix="$logs/$name-" \
          "$work" "${seeds[@]}" >"$logs/$name.log" 2>&1; then
        passed=$((passed + 1))
        echo "== $name: ok"
      else
        fail_step "$name"
        tail -30 "$logs/$name.log"
      fi
      rm -rf "$work"
    done
  fi
fi

echo "== tiny test guest"
if ! tests/guest/build-guest.sh "$PWD/build/test-guest" >"$logs/guest-build.log" 2>&1; then
  fail_step "test guest build"
  tail -20 "$logs/guest-build.log"
fi
export TART_TEST_GUEST="$PWD/build/test-guest/guest.img"
# The arm64 variant (tests/cli/t9060-arm64.bats boots it under TCG).
if ! tests/guest/build-guest.sh --arch arm64 "$PWD/build/test-guest-arm64" >"$logs/guest-build-arm64.log" 2>&1; then
  fail_step "arm64 test guest build"
  tail -20 "$logs/guest-build-arm64.log"
fi
export TART_TEST_GUEST_ARM64="$PWD/build/test-guest-arm64/guest.img"
# The image itself, booted by plain QEMU with SeaBIOS and with OVMF.
if [ -f "$TART_TEST_GUEST" ]; then
  tests/guest/boot-test.sh "$PWD/build/test-guest" >"$logs/guest-boot.log" 2>&1
  ok=$(sed -n 's/^guest boot test: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$logs/guest-boot.log")
  bad=$(sed -n 's/^guest boot test: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$logs/guest-boot.log")
  passed=$((passed + ${ok:-0}))
  failed=$((failed + ${bad:-1}))
  if [ "${bad:-1}" -ne 0 ]; then
    failures+=("guest boot test")
    tail -20 "$logs/guest-boot.log"
  fi
  echo "== guest boot test: ${ok:-0} passed, ${bad:-1} failed"
fi

# `meson test` runs the bats files too (suite cli): each must be listed there.
for f in tests/cli/*.bats; do
  n=$(basename "$f" .bats)
  grep -q "'$n'" tests/meson.build || fail_step "tests/meson.build does not list $f"
done

if [ -x build-asan/tart ]; then
  echo "== command-line tests"
  export TART="$PWD/build-asan/tart" TART_TEST_HELPERS="$PWD/build-asan/tests"
  export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
  bats --tap tests/cli >"$logs/cli.tap" 2>&1
  ok=$(grep -c '^ok ' "$logs/cli.tap")
  bad=$(grep -c '^not ok ' "$logs/cli.tap")
  # A skipped test says why (bats: "ok N name # skip reason"); it is not a pass.
  skip=$(grep -c '^ok .* # skip' "$logs/cli.tap")
  ok=$((ok - skip))
  skipped=$((skipped + skip))
  grep '^ok .* # skip' "$logs/cli.tap" | sed 's/^ok [0-9]* /== skipped: /' || true
  passed=$((passed + ok))
  failed=$((failed + bad))
  if [ "$bad" -ne 0 ] || [ "$ok" -eq 0 ]; then
    [ "$ok" -eq 0 ] && [ "$bad" -eq 0 ] && failed=$((failed + 1))
    failures+=("command-line tests")
    grep -A15 '^not ok ' "$logs/cli.tap" | head -150
  fi
  echo "== command-line tests: $ok passed, $bad failed, $skip skipped"
fi

# The Debian package: built from the tree with Debian's tools, lintian
# clean, installed with apt-get, and the README's main job run against the
# installed tart; then removed again.  Installing needs root.
echo "== Debian package"
if [ "$(id -u)" -ne 0 ]; then
  skipped=$((skipped + 1))
  echo "== skipped: Debian package (installing it needs root)"
elif ! deb=$(scripts/deb.sh build/deb 2>"$logs/deb.log" | tail -n1) || [ ! -f "$deb" ]; then
  fail_step "Debian package build"
  tail -30 "$logs/deb.log"
else
  echo "== built $(basename "$deb")"
  if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" >"$logs/deb-install.log" 2>&1 &&
    [ "$(readlink -f /usr/bin/vetu)" = /usr/bin/tart ] && man -w tart-run >/dev/null 2>&1 &&
    TART=/usr/bin/tart scripts/demo.sh >"$logs/deb-demo.log" 2>&1; then
    passed=$((passed + 1))
    echo "== Debian package: installed, the main job ran with /usr/bin/tart"
  else
    fail_step "Debian package install and main job"
    tail -30 "$logs/deb-install.log" "$logs/deb-demo.log" 2>/dev/null
  fi
  DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq tart >/dev/null 2>&1 || true
fi

[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
