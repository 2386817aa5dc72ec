#!/usr/bin/env bats
# Shell completion: tart --generate-completion-script bash|zsh|fish.  bash
# and fish are driven for real (verbs, flags, VM names incl. OCI names with
# ':'); zsh's function is run with compadd stubbed to print what it offers
# (zsh filters by prefix itself), and the script is checked for syntax.

load lib

# The scripts call `command tart`: put the binary under test on PATH.
setup() {
  export TART_HOME="$BATS_TEST_TMPDIR/home"
  export HOME="$BATS_TEST_TMPDIR/user"
  mkdir -p "$HOME" "$BATS_TEST_TMPDIR/bin"
  ln -s "$TART" "$BATS_TEST_TMPDIR/bin/tart"
  export PATH="$BATS_TEST_TMPDIR/bin:$PATH"
}

# complete_bash WORDS...: what the bash script offers for the last word.
complete_bash() {
  bash -c '
    source <(tart --generate-completion-script bash)
    COMP_WORDS=("$@")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    _tart
    printf "%s\n" "${COMPREPLY[@]}"
  ' complete_bash "$@"
}

@test "bash: verbs, a verb's flags, local VM names, all names, network subcommands" {
  make_vm alpha
  make_vm beta
  make_oci_entry alpha "127.0.0.1%3A5000" org/img "$(fake_hex 1)" latest
  run complete_bash tart st
  [ "$output" = "$(printf 'stop\n')" ]
  run complete_bash tart ""
  [[ "$output" == *create* && "$output" == *network* && "$output" == *--version* ]]
  [[ "$output" != *fqn* ]] # hidden
  run complete_bash tart run --net-soft
  [ "$output" = "$(printf -- '--net-softnet\n--net-softnet-allow\n--net-softnet-block\n--net-softnet-expose')" ]
  run complete_bash tart --debug stop a
  [ "$output" = alpha ]
  run complete_bash tart run ""
  [ "$output" = "$(printf 'alpha\nbeta')" ]
  run complete_bash tart clone 127
  [[ "$output" == *"127.0.0.1:5000/org/img:latest"* ]]
  run complete_bash tart network s
  [ "$output" = "$(printf 'status\nset')" ]
  # A file argument: nothing offered, bash falls back to file names.
  run complete_bash tart import x
  [ -z "$output" ]
}

@test "fish: verbs, flags and names" {
  command -v fish >/dev/null || skip "fish is not installed"
  make_vm alpha
  run fish -c "tart --generate-completion-script fish | source; complete -C 'tart sto'"
  [[ "$output" == stop* ]]
  run fish -c "tart --generate-completion-script fish | source; complete -C 'tart ip --res'"
  [[ "$output" == --resolver* ]]
  run fish -c "tart --generate-completion-script fish | source; complete -C 'tart stop '"
  [[ "$output" == *alpha* ]]
}

# complete_zsh WORDS...: every candidate the zsh function offers for the
# last word (unfiltered: compadd does the prefix matching in real zsh).
complete_zsh() {
  zsh -f -c '
    compdef() { :; }
    _files() { print -r -- "<files>"; }
    compadd() {
      local -a out
      while (( $# )); do
        case $1 in
        -a) shift; out+=("${(@P)1}") ;;
        --) shift; out+=("$@"); break ;;
        -*) ;;
        *) out+=("$1") ;;
        esac
        shift
      done
      print -rl -- $out
    }
    source "$1"
    shift
    words=(tart "$@")
    CURRENT=$#words
    _tart
  ' zsh "$BATS_TEST_TMPDIR/_tart" "$@"
}

@test "zsh: verbs, a verb's flags, local and all VM names, network subcommands, files" {
  command -v zsh >/dev/null || skip "zsh is not installed"
  "$TART" --generate-completion-script zsh >"$BATS_TEST_TMPDIR/_tart"
  make_vm alpha
  make_oci_entry alpha "127.0.0.1%3A5000" org/img "$(fake_hex 1)" latest
  run complete_zsh ""
  [[ "$output" == *$'\nrun\n'* && "$output" == *network* && "$output" == *--version* ]]
  [[ "$output" != *fqn* ]]
  run complete_zsh run --n
  [[ "$output" == *$'--net-softnet\n'* && "$output" == *--no-graphics* && "$output" == *--suspendable* ]]
  [[ "$output" != *--timeout* ]]
  run complete_zsh --debug stop ""
  [ "$output" = alpha ]
  run complete_zsh clone ""
  [[ "$output" == *alpha* && "$output" == *"127.0.0.1:5000/org/img:latest"* ]]
  run complete_zsh network ""
  [ "$output" = "$(printf 'up\ndown\nstatus\nset')" ]
  run complete_zsh import ""
  [ "$output" = "<files>" ]
}

@test "zsh script parses; unknown shell is a usage error" {
  command -v zsh >/dev/null || skip "zsh is not installed"
  "$TART" --generate-completion-script zsh >"$BATS_TEST_TMPDIR/_tart"
  zsh -n "$BATS_TEST_TMPDIR/_tart"
  head -1 "$BATS_TEST_TMPDIR/_tart" | grep -qx '#compdef tart'
  run --separate-stderr "$TART" --generate-completion-script tcsh
  [ "$status" -eq 64 ]
  [ "$stderr" = "tart: error: --generate-completion-script needs a shell: bash, zsh or fish" ]
}
