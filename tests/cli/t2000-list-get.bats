#!/usr/bin/env bats
# tart list / get / fqn, running and suspended detection, access times and
# the OCI cache layout (docs/design.md, "Storage layout"; docs/upstream.md, "Listing and inspecting VMs", docs/upstream.md, "OCI cache").

load lib

HOSTDIR="127.0.0.1%3A5000"
HOST="127.0.0.1:5000"

# A cached image org/img with tag latest, built from a VM named tmpl.
setup_oci() {
  make_vm tmpl
  HEX="$(fake_hex img)"
  make_oci_entry tmpl "$HOSTDIR" org/img "$HEX" latest
  DIGEST_DIR="$TART_HOME/cache/OCIs/$HOSTDIR/org/img/sha256:$HEX"
  TAG_LINK="$TART_HOME/cache/OCIs/$HOSTDIR/org/img/latest"
}

@test "list with no VMs: text prints nothing, json prints []" {
  run --separate-stderr tart list
  [ "$status" -eq 0 ]
  [ -z "$output" ]
  run --separate-stderr tart list --format json
  [ "$status" -eq 0 ]
  [ "$(json_eval "$output" 'd')" = "[]" ]
  run --separate-stderr tart list -q
  [ "$status" -eq 0 ]
  [ -z "$output" ]
}

@test "list shows several VMs sorted by name" {
  make_vm charlie
  make_vm alpha
  make_vm bravo 2
  run --separate-stderr tart list
  [ "$status" -eq 0 ]
  [ "${#lines[@]}" -eq 4 ]
  read -r -a hdr <<<"${lines[0]}"
  [ "${hdr[*]}" = "Source Name Disk Size Accessed State" ]
  read -r -a row <<<"${lines[1]}"
  [ "${row[0]}" = local ]
  [ "${row[1]}" = alpha ]
  [ "${row[2]}" = 1 ]
  [ "${row[3]}" = 0 ]
  [ "${row[-1]}" = stopped ]
  read -r -a row <<<"${lines[2]}"
  [ "${row[1]}" = bravo ]
  [ "${row[2]}" = 2 ]
  read -r -a row <<<"${lines[3]}"
  [ "${row[1]}" = charlie ]
}

@test "list --format json has exactly upstream's keys" {
  make_vm b
  make_vm a
  run --separate-stderr tart list --format json
  [ "$status" -eq 0 ]
  local json="$output"
  run json_eval "$json" '[sorted(x.keys()) for x in d]'
  [ "$output" = '[["Accessed", "Disk", "Name", "Running", "Size", "Source", "State"], ["Accessed", "Disk", "Name", "Running", "Size", "Source", "State"]]' ]
  run json_eval "$json" '[[x["Name"], x["Source"], x["Running"], x["State"], x["Disk"], type(x["Size"]).__name__] for x in d]'
  [ "$output" = '[["a", "local", false, "stopped", 1, "int"], ["b", "local", false, "stopped", 1, "int"]]' ]
  # ISO-8601 UTC
  [[ "$(json_eval "$json" 'd[0]["Accessed"]')" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$ ]]
}

@test "list -q and --quiet print names only" {
  make_vm b
  make_vm a
  run --separate-stderr tart list -q
  [ "$status" -eq 0 ]
  [ "$output" = $'a\nb' ]
  run --separate-stderr tart list --quiet
  [ "$output" = $'a\nb' ]
}

@test "list skips directories that are not VMs" {
  make_vm good
  mkdir -p "$TART_HOME/vms/broken"
  touch "$TART_HOME/vms/broken/config.json"
  touch "$TART_HOME/vms/stray-file"
  run --separate-stderr tart list -q
  [ "$status" -eq 0 ]
  [ "$output" = good ]
}

@test "list --source local|oci filters, a bad source is a usage error" {
  setup_oci
  make_vm zed
  run --separate-stderr tart list --source local -q
  [ "$status" -eq 0 ]
  [ "$output" = $'tmpl\nzed' ]
  run --separate-stderr tart list --source oci -q
  [ "$status" -eq 0 ]
  [ "$output" = "$HOST/org/img:latest"$'\n'"$HOST/org/img@sha256:$HEX" ]
  run --separate-stderr tart list --source cloud
  [ "$status" -eq 64 ]
  one_error_line "cloud"
}

@test "get prints a text table with upstream's columns" {
  make_vm vm 2
  run --separate-stderr tart get vm
  [ "$status" -eq 0 ]
  [ "${#lines[@]}" -eq 2 ]
  read -r -a hdr <<<"${lines[0]}"
  [ "${hdr[*]}" = "OS CPU Memory Disk DiskFormat Size Display State" ]
  read -r -a row <<<"${lines[1]}"
  [ "${row[*]}" = "linux 4 4096 2 raw ${row[5]} 1024x768 stopped" ]
  [[ "${row[5]}" =~ ^[0-9]+\.[0-9]{3}$ ]]
}

@test "get --format json has exactly upstream's keys" {
  make_vm vm 3
  run --separate-stderr tart get vm --format json
  [ "$status" -eq 0 ]
  [ "$(json_eval "$output" 'sorted(d.keys())')" = '["CPU", "Disk", "DiskFormat", "Display", "Memory", "OS", "Running", "Size", "State"]' ]
  [ "$(json_eval "$output" '[d["OS"], d["CPU"], d["Memory"], d["Disk"], d["DiskFormat"], d["Display"], d["Running"], d["State"]]')" = '["linux", 4, 4096, 3, "raw", "1024x768", false, "stopped"]' ]
  [[ "$(json_eval "$output" 'd["Size"]')" =~ ^[0-9]+\.[0-9]{3}$ ]]
}

@test "get reflects the config: CPU, memory, display with unit" {
  make_vm vm
  run tart set vm --cpu 2 --memory 2048 --display 1920x1080px
  [ "$status" -eq 0 ]
  run --separate-stderr tart get vm --format json
  [ "$(json_eval "$output" '[d["CPU"], d["Memory"], d["Display"]]')" = '[2, 2048, "1920x1080px"]' ]
}

@test "get of a missing VM: exit 2, the specified VM \"nope\" does not exist" {
  run --separate-stderr tart get nope
  [ "$status" -eq 2 ]
  [ "$stderr" = 'tart: error: the specified VM "nope" does not exist' ]
  [ -z "$output" ]
}

@test "get of a VM dir missing its files: exit 1, 'missing some of its files'" {
  make_vm vm
  rm "$TART_HOME/vms/vm/nvram.bin"
  run --separate-stderr tart get vm
  [ "$status" -eq 1 ]
  one_error_line "VM is missing some of its files"
}

@test "a VM whose run lock is held is running in list and get" {
  make_vm vm
  make_vm other
  hold_run_lock vm
  run --separate-stderr tart list --format json
  [ "$status" -eq 0 ]
  [ "$(json_eval "$output" '[(x["Name"], x["Running"], x["State"]) for x in d]')" = '[["other", false, "stopped"], ["vm", true, "running"]]' ]
  run --separate-stderr tart list
  [[ "${lines[2]}" == *" running" ]]
  run --separate-stderr tart get vm --format json
  [ "$(json_eval "$output" '[d["Running"], d["State"]]')" = '[true, "running"]' ]
  run --separate-stderr tart get vm
  [[ "${lines[1]}" == *" running" ]]
}

@test "the state goes back to stopped once the run lock is released" {
  make_vm vm
  hold_run_lock vm
  run tart get vm --format json
  [ "$(json_eval "$output" 'd["State"]')" = running ]
  kill -- "-${LOCK_PIDS[0]}"
  wait "${LOCK_PIDS[0]}" || true
  run tart get vm --format json
  [ "$(json_eval "$output" '[d["Running"], d["State"]]')" = '[false, "stopped"]' ]
}

@test "a VM with state.qemusave is suspended" {
  make_vm vm
  touch "$TART_HOME/vms/vm/state.qemusave"
  run --separate-stderr tart list --format json
  [ "$(json_eval "$output" '[d[0]["Running"], d[0]["State"]]')" = '[false, "suspended"]' ]
  run --separate-stderr tart get vm --format json
  [ "$(json_eval "$output" '[d["Running"], d["State"]]')" = '[false, "suspended"]' ]
  run --separate-stderr tart list
  [[ "${lines[1]}" == *" suspended" ]]
}

@test "running wins over suspended" {
  make_vm vm
  touch "$TART_HOME/vms/vm/state.qemusave"
  hold_run_lock vm
  run --separate-stderr tart get vm --format json
  [ "$(json_eval "$output" 'd["State"]')" = running ]
}

@test "list does not bump Accessed, get does" {
  make_vm vm
  touch -a -d '2 days ago' "$TART_HOME/vms/vm"
  run --separate-stderr tart list
  [ "$status" -eq 0 ]
  [[ "${lines[1]}" == *"2 days ago"* ]]
  # list itself must not count as an access
  run --separate-stderr tart list
  [[ "${lines[1]}" == *"2 days ago"* ]]
  run --separate-stderr tart get vm
  [ "$status" -eq 0 ]
  run --separate-stderr tart list
  [[ "${lines[1]}" =~ [0-9]+\ seconds?\ ago ]]
  # and the directory's atime really moved
  [ $(( $(date +%s) - $(stat -c %X "$TART_HOME/vms/vm") )) -lt 60 ]
}

@test "list --format json Accessed matches the directory's atime" {
  make_vm vm
  touch -a -d '2020-01-02 03:04:05 UTC' "$TART_HOME/vms/vm"
  run --separate-stderr tart list --format json
  [[ "$(json_eval "$output" 'd[0]["Accessed"]')" == 2020-01-02T03:04:05* ]]
}

@test "OCI cache entries are listed as tag and digest, Source OCI, after local VMs" {
  setup_oci
  run --separate-stderr tart list --format json
  [ "$status" -eq 0 ]
  [ "$(json_eval "$output" '[(x["Source"], x["Name"]) for x in d]')" = \
    "[[\"local\", \"tmpl\"], [\"OCI\", \"$HOST/org/img:latest\"], [\"OCI\", \"$HOST/org/img@sha256:$HEX\"]]" ]
  [ "$(json_eval "$output" 'd[1]["Disk"]')" = 1 ]
  [ "$(json_eval "$output" 'd[1]["State"]')" = stopped ]
  run --separate-stderr tart list
  [ "${#lines[@]}" -eq 4 ]
  read -r -a row <<<"${lines[2]}"
  [ "${row[0]}" = OCI ]
  [ "${row[1]}" = "$HOST/org/img:latest" ]
  read -r -a row <<<"${lines[3]}"
  [ "${row[1]}" = "$HOST/org/img@sha256:$HEX" ]
}

@test "OCI entries sort by name and keep nested namespaces" {
  make_vm tmpl
  make_oci_entry tmpl "$HOSTDIR" a/b/c "$(fake_hex abc)" v1
  make_oci_entry tmpl "ghcr.io" cirruslabs/ubuntu "$(fake_hex ubuntu)" latest
  run --separate-stderr tart list --source oci -q
  [ "$status" -eq 0 ]
  [ "$output" = "$HOST/a/b/c:v1
$HOST/a/b/c@sha256:$(fake_hex abc)
ghcr.io/cirruslabs/ubuntu:latest
ghcr.io/cirruslabs/ubuntu@sha256:$(fake_hex ubuntu)" ]
}

@test "get works on a remote name, by tag and by digest" {
  setup_oci
  run --separate-stderr tart get "$HOST/org/img:latest" --format json
  [ "$status" -eq 0 ]
  [ "$(json_eval "$output" '[d["OS"], d["Disk"], d["State"]]')" = '["linux", 1, "stopped"]' ]
  run --separate-stderr tart get "$HOST/org/img@sha256:$HEX"
  [ "$status" -eq 0 ]
  [[ "${lines[1]}" == linux* ]]
}

@test "get of a remote name that is not cached: exit 2" {
  run --separate-stderr tart get "$HOST/org/img:latest"
  [ "$status" -eq 2 ]
  one_error_line "$HOST/org/img:latest"
}

@test "get on a remote name bumps the image's access time" {
  setup_oci
  touch -a -d '2 days ago' "$DIGEST_DIR"
  run tart list --source oci
  [[ "${lines[2]}" == *"2 days ago"* ]]
  run tart get "$HOST/org/img:latest"
  [ "$status" -eq 0 ]
  run tart list --source oci
  [[ "${lines[2]}" =~ [0-9]+\ seconds?\ ago ]]
}

@test "fqn of a tag prints the digest form; of a digest or a local name, itself" {
  setup_oci
  run --separate-stderr tart fqn "$HOST/org/img:latest"
  [ "$status" -eq 0 ]
  [ "$output" = "$HOST/org/img@sha256:$HEX" ]
  run --separate-stderr tart fqn "$HOST/org/img@sha256:$HEX"
  [ "$status" -eq 0 ]
  [ "$output" = "$HOST/org/img@sha256:$HEX" ]
  run --separate-stderr tart fqn tmpl
  [ "$status" -eq 0 ]
  [ "$output" = tmpl ]
  # a local name is printed unchanged even when no such VM exists
  run --separate-stderr tart fqn "some local name"
  [ "$status" -eq 0 ]
  [ "$output" = "some local name" ]
}

@test "fqn of a tag that is not cached: exit 2" {
  run --separate-stderr tart fqn "$HOST/org/img:latest"
  [ "$status" -eq 2 ]
  one_error_line
}

@test "a relative tag symlink works as well" {
  make_vm tmpl
  HEX="$(fake_hex rel)"
  make_oci_entry tmpl "$HOSTDIR" org/rel "$HEX"
  ln -s "sha256:$HEX" "$TART_HOME/cache/OCIs/$HOSTDIR/org/rel/v2"
  run --separate-stderr tart fqn "$HOST/org/rel:v2"
  [ "$status" -eq 0 ]
  [ "$output" = "$HOST/org/rel@sha256:$HEX" ]
}

@test "delete of a tag removes the symlink and GC removes the unreferenced digest" {
  setup_oci
  run --separate-stderr tart delete "$HOST/org/img:latest"
  [ "$status" -eq 0 ]
  [ ! -L "$TAG_LINK" ]
  [ ! -e "$DIGEST_DIR" ]
  run --separate-stderr tart list --source oci -q
  [ -z "$output" ]
  # the local VM it was made from is not affected
  [ -f "$TART_HOME/vms/tmpl/disk.img" ]
}

@test "GC keeps a digest still referenced by another tag" {
  setup_oci
  ln -s "$DIGEST_DIR" "$TART_HOME/cache/OCIs/$HOSTDIR/org/img/stable"
  run --separate-stderr tart delete "$HOST/org/img:latest"
  [ "$status" -eq 0 ]
  [ ! -L "$TAG_LINK" ]
  [ -d "$DIGEST_DIR" ]
  run tart list --source oci -q
  [ "$output" = "$HOST/org/img:stable"$'\n'"$HOST/org/img@sha256:$HEX" ]
}

@test "a digest dir with .explicitly-pulled survives GC" {
  setup_oci
  touch "$DIGEST_DIR/.explicitly-pulled"
  run --separate-stderr tart delete "$HOST/org/img:latest"
  [ "$status" -eq 0 ]
  [ ! -L "$TAG_LINK" ]
  [ -d "$DIGEST_DIR" ]
  [ -f "$DIGEST_DIR/disk.img" ]
  run tart list --source oci -q
  [ "$output" = "$HOST/org/img@sha256:$HEX" ]
}

@test "delete of a digest removes it; its dangling tag goes too" {
  setup_oci
  run --separate-stderr tart delete "$HOST/org/img@sha256:$HEX"
  [ "$status" -eq 0 ]
  [ ! -e "$DIGEST_DIR" ]
  [ ! -L "$TAG_LINK" ]
}

@test "delete of a remote name that is not cached: exit 2" {
  run --separate-stderr tart delete "$HOST/org/img:latest"
  [ "$status" -eq 2 ]
  one_error_line "does not exist"
}

@test "GC works when TART_HOME is reached through a symlink" {
  mkdir "$BATS_TEST_TMPDIR/real"
  ln -s "$BATS_TEST_TMPDIR/real" "$BATS_TEST_TMPDIR/link"
  export TART_HOME="$BATS_TEST_TMPDIR/link"
  make_vm tmpl
  make_oci_entry tmpl "$HOSTDIR" org/img "$(fake_hex a)" latest
  make_oci_entry tmpl "$HOSTDIR" org/img "$(fake_hex b)" other
  run --separate-stderr tart delete "$HOST/org/img:other"
  [ "$status" -eq 0 ]
  run --separate-stderr tart list --source oci -q
  [ "$output" = "$HOST/org/img:latest"$'\n'"$HOST/org/img@sha256:$(fake_hex a)" ]
}

@test "list --format json: every entry has all keys, even for a name that is not UTF-8" {
  make_vm good
  # a directory made by hand (or by an older tool) with a non-UTF-8 name
  cp -r "$TART_HOME/vms/good" "$TART_HOME/vms/"$'bad\xffname'
  run --separate-stderr tart list --format json
  [ "$status" -eq 0 ]
  run json_eval "$output" 'all(sorted(x.keys()) == ["Accessed", "Disk", "Name", "Running", "Size", "Source", "State"] for x in d)'
  [ "$output" = true ]
}

@test "create with a name that is not UTF-8: refused, or listed with its Name" {
  run --separate-stderr tart create $'bad\xffname' --linux --disk-size 1
  if [ "$status" -ne 0 ]; then
    [ "$status" -eq 64 ]
    one_error_line
    [ -z "$(ls -A "$TART_HOME/vms")" ]
    return 0
  fi
  run --separate-stderr tart list --format json
  [ "$status" -eq 0 ]
  run json_eval "$output" '[("Name" in x) for x in d]'
  [ "$output" = "[true]" ]
}
