#!/usr/bin/env bats
# Basics: version, help, usage errors, TART_HOME handling, logging, and the
# one-line error contract (docs/design.md, "Exit codes").

load lib

VERBS=(create clone set get list rename delete fqn)

@test "tart --version prints a version and exits 0" {
  run --separate-stderr tart --version
  [ "$status" -eq 0 ]
  [ "${#lines[@]}" -eq 1 ]
  [[ "${lines[0]}" =~ ^[0-9]+\.[0-9]+\.[0-9]+|^SNAPSHOT ]]
  [ -z "$stderr" ]
}

@test "tart --help lists the verbs, but not the hidden fqn" {
  run --separate-stderr tart --help
  [ "$status" -eq 0 ]
  output_has "USAGE: tart"
  local v
  for v in create clone set get list rename delete; do
    printf '%s\n' "${lines[@]}" | grep -Eq "^  $v +[A-Z]" || {
      echo "verb $v is not listed" >&2
      return 1
    }
  done
  ! printf '%s\n' "${lines[@]}" | grep -Eq '^ +fqn( |$)'
  # and -h is the same thing
  local long="$output"
  run --separate-stderr tart -h
  [ "$status" -eq 0 ]
  [ "$output" = "$long" ]
}

@test "tart help create prints the help of create" {
  run --separate-stderr tart help create
  [ "$status" -eq 0 ]
  first_line_is "OVERVIEW: Create a VM"
  output_has "--linux"
  output_has "--disk-size"
  local via_help="$output"
  run --separate-stderr tart create --help
  [ "$status" -eq 0 ]
  [ "$output" = "$via_help" ]
}

@test "tart help <unknown> is a usage error" {
  run --separate-stderr tart help frobnicate
  [ "$status" -eq 64 ]
  one_error_line "frobnicate"
}

@test "<verb> --help and -h exit 0 for every verb, without touching TART_HOME" {
  # Help must work even where TART_HOME is unusable.
  export TART_HOME="$BATS_TEST_TMPDIR/not-a-dir"
  echo junk >"$TART_HOME"
  local v
  for v in "${VERBS[@]}"; do
    run --separate-stderr tart "$v" --help
    [ "$status" -eq 0 ] || { echo "$v --help: status $status: $stderr" >&2; return 1; }
    [[ "${lines[0]}" == OVERVIEW:* ]] || { echo "$v --help: ${lines[0]}" >&2; return 1; }
    output_has "USAGE: tart $v"
    [ -z "$stderr" ]
    run --separate-stderr tart "$v" -h
    [ "$status" -eq 0 ] || { echo "$v -h: status $status" >&2; return 1; }
    output_has "USAGE: tart $v"
  done
}

@test "unknown verb exits 64 with one line starting 'tart: error: '" {
  run --separate-stderr tart frobnicate
  [ "$status" -eq 64 ]
  one_error_line "frobnicate"
  [ ! -e "$TART_HOME" ]
}

@test "no verb at all is a usage error" {
  run --separate-stderr tart
  [ "$status" -eq 64 ]
}

@test "unknown flags exit 64" {
  run --separate-stderr tart --frobnicate
  [ "$status" -eq 64 ]
  one_error_line "--frobnicate"

  run --separate-stderr tart list --frobnicate
  [ "$status" -eq 64 ]
  one_error_line "--frobnicate"

  run --separate-stderr tart create vm --linux -z
  [ "$status" -eq 64 ]
  one_error_line "-z"
  [ ! -e "$TART_HOME/vms/vm" ]
}

@test "missing arguments exit 64" {
  local args
  for args in "create" "create --linux" "clone" "clone a" "set" "get" "rename" "rename a" "delete" "fqn"; do
    # shellcheck disable=SC2086
    run --separate-stderr tart $args
    [ "$status" -eq 64 ] || { echo "tart $args: status $status" >&2; return 1; }
    one_error_line
  done
}

@test "a flag without its value exits 64 and names the flag" {
  run --separate-stderr tart list --format
  [ "$status" -eq 64 ]
  one_error_line "--format"

  run --separate-stderr tart create vm --linux --disk-size
  [ "$status" -eq 64 ]
  one_error_line "--disk-size"
  [ ! -e "$TART_HOME/vms/vm" ]
}

@test "too many arguments exit 64" {
  make_vm a
  run --separate-stderr tart get a b
  [ "$status" -eq 64 ]
  one_error_line "'b'"
  run --separate-stderr tart list extra
  [ "$status" -eq 64 ]
  one_error_line
}

@test "bad --format value exits 64" {
  make_vm a
  run --separate-stderr tart get a --format yaml
  [ "$status" -eq 64 ]
  one_error_line "yaml"
  run --separate-stderr tart list --format yaml
  [ "$status" -eq 64 ]
  one_error_line "yaml"
}

@test "TART_HOME pointing at a regular file: exit 1, one line 'TART_HOME is invalid'" {
  export TART_HOME="$BATS_TEST_TMPDIR/file"
  echo data >"$TART_HOME"
  run --separate-stderr tart list
  [ "$status" -eq 1 ]
  one_error_line "TART_HOME is invalid"
  # the file is left alone
  [ "$(cat "$TART_HOME")" = data ]

  run --separate-stderr tart create vm --linux --disk-size 1
  [ "$status" -eq 1 ]
  one_error_line "TART_HOME is invalid"
}

@test "TART_HOME below a regular file: exit 1, 'TART_HOME is invalid'" {
  echo data >"$BATS_TEST_TMPDIR/file"
  export TART_HOME="$BATS_TEST_TMPDIR/file/home"
  run --separate-stderr tart list
  [ "$status" -eq 1 ]
  one_error_line "TART_HOME is invalid"
}

@test "missing nested TART_HOME directories are created" {
  export TART_HOME="$BATS_TEST_TMPDIR/a/b/c/home"
  [ ! -e "$BATS_TEST_TMPDIR/a" ]
  run --separate-stderr tart list
  [ "$status" -eq 0 ]
  [ -z "$output" ]
  [ -d "$TART_HOME/vms" ]
  [ -d "$TART_HOME/cache/OCIs" ]
  [ -d "$TART_HOME/tmp" ]
}

@test "TART_HOME with a trailing slash works like without" {
  export TART_HOME="$BATS_TEST_TMPDIR/home/"
  run tart create vm --linux --disk-size 1
  [ "$status" -eq 0 ]
  export TART_HOME="$BATS_TEST_TMPDIR/home"
  run tart list -q
  [ "$status" -eq 0 ]
  [ "$output" = vm ]
}

@test "without TART_HOME, ~/.tart is used" {
  unset TART_HOME
  run tart create vm --linux --disk-size 1
  [ "$status" -eq 0 ]
  [ -f "$HOME/.tart/vms/vm/config.json" ]
  [ -d "$HOME/.tart/tmp" ]
}

@test "TART_LOG=debug prints debug lines on stderr, not stdout" {
  make_vm a
  TART_LOG=debug run --separate-stderr tart list -q
  [ "$status" -eq 0 ]
  [ "$output" = a ]
  [[ "$stderr" == *"tart: debug: "* ]]
}

@test "--debug prints debug lines on stderr" {
  make_vm a
  run --separate-stderr tart --debug list -q
  [ "$status" -eq 0 ]
  [ "$output" = a ]
  [[ "$stderr" == *"tart: debug: "* ]]
}

@test "without TART_LOG or --debug, a successful command prints nothing on stderr" {
  make_vm a
  run --separate-stderr tart list -q
  [ "$status" -eq 0 ]
  [ "$output" = a ]
  [ -z "$stderr" ]
  run --separate-stderr tart get a
  [ "$status" -eq 0 ]
  [ -z "$stderr" ]
}

@test "an unknown TART_LOG value warns but the command still works" {
  make_vm a
  TART_LOG=verbose run --separate-stderr tart list -q
  [ "$status" -eq 0 ]
  [ "$output" = a ]
  [[ "$stderr" == *verbose* ]]
}

@test "every error is exactly one line on stderr, even with TART_LOG unset" {
  make_vm a
  make_vm b
  hold_run_lock b
  local -a cmds=(
    "get nope"
    "set nope --cpu 2"
    "clone nope x"
    "clone a b"
    "rename nope x"
    "rename a b"
    "delete nope"
    "delete b"
    "create a --linux --disk-size 1"
    "create x --from-ipsw latest"
    "create x"
    "set a --disk-size 1 --cpu 0"
    "set b --disk-size 5"
    "list --source cloud"
    "fqn 127.0.0.1:5000/org/img:latest"
  )
  local c
  for c in "${cmds[@]}"; do
    # shellcheck disable=SC2086
    run --separate-stderr tart $c
    [ "$status" -ne 0 ] || { echo "tart $c succeeded" >&2; return 1; }
    one_error_line || { echo "(from: tart $c)" >&2; return 1; }
  done
}

@test "a message with a newline in a name still prints on one line" {
  run --separate-stderr tart get $'evil\nname'
  [ "$status" -eq 2 ]
  one_error_line "does not exist"
}
