#!/usr/bin/env bats
# docs/faq.md stays true: every `tart ...` command in its sh blocks names a
# real verb and flags that verb's --help lists, and the ones that can run
# here do run (network commands inside a network namespace of the test's
# own, with a throw-away TART_NETWORK_DIR).

load lib

FAQ="$TOP/docs/faq.md"

# The tart command lines of the FAQ's sh blocks, one per line: comments,
# "sudo " and leading VAR= assignments removed, placeholders filled in.
faq_commands() {
  awk '/^```sh/ {f = 1; next} /^```/ {f = 0} f' "$FAQ" |
    sed -E 's/[[:space:]]+#.*$//; s/^sudo //; s/^([A-Z_]+=[^ ]* )+//; s/<vm>/vm/g; s/ 2> [^ ]+//' |
    grep -E '^tart ' || true
}

teardown() {
  [ -n "${FAQ_NS:-}" ] && ip netns del "$FAQ_NS" 2>/dev/null || true
}

@test "the FAQ shows tart commands" {
  [ "$(faq_commands | wc -l)" -ge 8 ]
}

@test "every FAQ command names a verb and flags its --help lists" {
  local line verb flag checked=0
  while IFS= read -r line; do
    read -r -a w <<<"$line"
    verb=${w[1]}
    [ "$verb" = --debug ] && verb=${w[2]}
    run tart "$verb" --help
    if [ "$status" -ne 0 ]; then
      echo "FAQ: '$line': no verb '$verb'" >&2
      return 1
    fi
    local help=$output
    for flag in "${w[@]}"; do
      [[ "$flag" == --* ]] || continue
      [ "$flag" = --debug ] && continue
      if [[ "$help" != *"${flag%%=*}"* ]]; then
        echo "FAQ: '$line': $verb --help does not list $flag" >&2
        return 1
      fi
      checked=$((checked + 1))
    done
  done < <(faq_commands)
  [ "$checked" -ge 8 ]
}

@test "the FAQ's runnable commands work: clone with debug logs, network set/status, lease time, disk resize" {
  [ "$(id -u)" -eq 0 ] || skip "needs root (network namespace)"
  local ns="tart-faq$$"
  ip netns add "$ns"
  FAQ_NS=$ns
  export TART_NETWORK_DIR="$BATS_TEST_TMPDIR/net"
  make_vm base
  make_vm vm
  local line ran=0 rc
  while IFS= read -r line; do
    case "$line" in
    "tart clone base work" | "tart network set "* | "tart network status" | "tart set vm --disk-size "*) ;;
    *) continue ;;
    esac
    # shellcheck disable=SC2086
    rc=0
    TART_LOG=debug ip netns exec "$ns" "$TART" ${line#tart } >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" || rc=$?
    # status exits 1 while the network is not up: that is its answer.
    if [ "$rc" -ne 0 ] && ! { [ "$line" = "tart network status" ] && [ "$rc" -eq 1 ]; }; then
      echo "FAQ command failed ($rc): $line" >&2
      cat "$BATS_TEST_TMPDIR/err" >&2
      ip netns del "$ns"
      return 1
    fi
    ran=$((ran + 1))
  done < <(faq_commands)
  ip netns del "$ns"
  [ "$ran" -ge 5 ]
  # What they claim: the clone exists;
  # the settings were kept; the disk grew.
  [ -d "$TART_HOME/vms/work" ]
  [ "$(json_eval "$(cat "$TART_NETWORK_DIR/settings.json")" '[d["address"], d["mask"], d["leaseTime"]]')" = '["192.168.77.1", "255.255.255.0", 300]' ]
  [ "$(stat -c %s "$TART_HOME/vms/vm/disk.img")" -eq 80000000000 ]
}
