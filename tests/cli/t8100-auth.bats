#!/usr/bin/env bats
# Registry authentication (docs/design.md, "Registry client and auth"; docs/upstream.md, "Auth flows"): Basic
# (htpasswd), Bearer tokens, credential sources and their order, login and
# logout, TLS verification.  Credentials must never show in output or logs.

load lib
load registry
load ../helpers/oci-common

# An htpasswd registry for the file, holding $IMG (pushed with the right
# credentials from a home of its own).
setup_file() {
  registry_start htpasswd
  export IMG="$REGISTRY/auth/img:v1"
  export FILE_HOME="$BATS_FILE_TMPDIR/src-home"
  (
    export TART_HOME="$FILE_HOME" TART_NO_AUTO_PRUNE=1
    export TART_REGISTRY_USERNAME="$REGISTRY_USERNAME" TART_REGISTRY_PASSWORD="$REGISTRY_PASSWORD"
    make_small_vm src
    "$TART" push src --insecure "$IMG" >"$BATS_FILE_TMPDIR/push.out"
  )
  export SRC_DISK="$FILE_HOME/vms/src/disk.img"
}

teardown_file() {
  registry_cleanup
}

# Fail if the test password (or its Basic encoding) or an Authorization
# header shows up in the given text.
no_secrets() {
  local basic
  basic="$(printf '%s:%s' "$REGISTRY_USERNAME" "$REGISTRY_PASSWORD" | base64)"
  if [[ "$1" == *"$REGISTRY_PASSWORD"* || "$1" == *"$basic"* || "$1" == *[Aa]uthorization* ]]; then
    echo "secret material in: $1" >&2
    return 1
  fi
}

pulled_ok() {
  same_content "$(cache_path "$IMG")/disk.img" "$SRC_DISK"
}

# ---- htpasswd (Basic) ----

@test "htpasswd: anonymous pull fails in one line that says to run tart login" {
  run --separate-stderr tart pull --insecure "$IMG"
  [ "$status" -eq 1 ]
  stderr_one_line "tart login"
  run tart list --source oci -q
  [ -z "$output" ]
}

@test "htpasswd: TART_REGISTRY_USERNAME/PASSWORD work; TART_REGISTRY_HOSTNAME limits them to that host" {
  TART_REGISTRY_HOSTNAME=other.host TART_REGISTRY_USERNAME="$REGISTRY_USERNAME" \
    TART_REGISTRY_PASSWORD="$REGISTRY_PASSWORD" run --separate-stderr tart pull --insecure "$IMG"
  [ "$status" -eq 1 ]
  stderr_one_line "tart login"

  TART_REGISTRY_HOSTNAME="$REGISTRY" TART_REGISTRY_USERNAME="$REGISTRY_USERNAME" \
    TART_REGISTRY_PASSWORD="$REGISTRY_PASSWORD" run --separate-stderr tart pull --insecure "$IMG"
  [ "$status" -eq 0 ]
  pulled_ok
  run tart delete "$IMG"

  TART_LOG=debug TART_REGISTRY_USERNAME="$REGISTRY_USERNAME" TART_REGISTRY_PASSWORD="$REGISTRY_PASSWORD" \
    run --separate-stderr tart pull --insecure "$IMG"
  [ "$status" -eq 0 ]
  pulled_ok
  [[ "$stderr" == *"GET http://$REGISTRY/v2/auth/img/manifests/v1 -> 200"* ]]
  no_secrets "$output"
  no_secrets "$stderr"
}

@test "htpasswd: a wrong password fails in one line" {
  TART_REGISTRY_USERNAME="$REGISTRY_USERNAME" TART_REGISTRY_PASSWORD=wrongpass \
    run --separate-stderr tart pull --insecure "$IMG"
  [ "$status" -eq 1 ]
  stderr_one_line "$REGISTRY"
  [[ "$stderr" == *credentials* ]]
  [[ "$stderr" != *wrongpass* ]]
}

@test "login with the right credentials: Login succeeded, auth.json 0600, nothing secret printed; pull then works" {
  # A readable auth.json from before: its other entries stay, its mode does not.
  mkdir -p "$TART_HOME"
  printf '{"auths":{"other.example:5000":{"auth":"%s"}}}' "$(printf 'o:p' | base64)" >"$TART_HOME/auth.json"
  chmod 644 "$TART_HOME/auth.json"
  TART_LOG=debug run --separate-stderr tart login "$REGISTRY" --username "$REGISTRY_USERNAME" \
    --password-stdin --insecure <<<"$REGISTRY_PASSWORD"
  [ "$status" -eq 0 ]
  [ "$output" = "Login succeeded" ]
  no_secrets "$output"
  no_secrets "$stderr"
  # It did check them with the registry.
  [[ "$stderr" == *"GET http://$REGISTRY/v2/ -> 200"* ]]
  [ "$(stat -c %a "$TART_HOME/auth.json")" = 600 ]
  # docker config.json format.
  [ "$(json_get "$TART_HOME/auth.json" "__import__('base64').b64decode(d['auths']['$REGISTRY']['auth']).decode()")" = \
    "$REGISTRY_USERNAME:$REGISTRY_PASSWORD" ]
  [ "$(json_get "$TART_HOME/auth.json" 'sorted(d["auths"])')" = "[\"$REGISTRY\", \"other.example:5000\"]" ]

  TART_LOG=debug run --separate-stderr tart pull --insecure "$IMG"
  [ "$status" -eq 0 ]
  pulled_ok
  no_secrets "$output"
  no_secrets "$stderr"
}

@test "login with wrong credentials fails and writes no auth.json" {
  run --separate-stderr tart login "$REGISTRY" --username "$REGISTRY_USERNAME" --password-stdin --insecure \
    <<<"wrongpass"
  [ "$status" -eq 1 ]
  stderr_one_line "invalid credentials"
  [[ "$stderr" != *wrongpass* ]]
  [ ! -e "$TART_HOME/auth.json" ]
  run --separate-stderr tart login "$REGISTRY" --username intruder --password-stdin --insecure \
    <<<"$REGISTRY_PASSWORD"
  [ "$status" -eq 1 ]
  [ ! -e "$TART_HOME/auth.json" ]
}

@test "login --no-validate stores the credentials without contacting the registry" {
  # Nothing listens on port 1.
  run --separate-stderr tart login 127.0.0.1:1 --username someone --password-stdin --no-validate <<<"s3cret"
  [ "$status" -eq 0 ]
  [ "$output" = "Login succeeded" ]
  [ "$(stat -c %a "$TART_HOME/auth.json")" = 600 ]
  [ "$(json_get "$TART_HOME/auth.json" "__import__('base64').b64decode(d['auths']['127.0.0.1:1']['auth']).decode()")" = \
    "someone:s3cret" ]
}

@test "login: --username without --password-stdin (and the reverse) is a usage error" {
  run --separate-stderr tart login "$REGISTRY" --username "$REGISTRY_USERNAME" --insecure </dev/null
  [ "$status" -eq 64 ]
  [ "${#stderr_lines[@]}" -ge 1 ]
  [[ "${stderr_lines[0]}" == "tart: error: "* ]]
  run --separate-stderr tart login "$REGISTRY" --password-stdin --insecure <<<"$REGISTRY_PASSWORD"
  [ "$status" -eq 64 ]
  [ ! -e "$TART_HOME/auth.json" ]
}

@test "logout removes the host's entry only; pull is anonymous again; a second logout is fine" {
  run tart login 127.0.0.1:1 --username other --password-stdin --no-validate <<<"otherpass"
  [ "$status" -eq 0 ]
  run tart login "$REGISTRY" --username "$REGISTRY_USERNAME" --password-stdin --insecure <<<"$REGISTRY_PASSWORD"
  [ "$status" -eq 0 ]
  run --separate-stderr tart logout "$REGISTRY"
  [ "$status" -eq 0 ]
  [ "$(json_get "$TART_HOME/auth.json" 'sorted(d["auths"])')" = '["127.0.0.1:1"]' ]
  [ "$(stat -c %a "$TART_HOME/auth.json")" = 600 ]
  run --separate-stderr tart pull --insecure "$IMG"
  [ "$status" -eq 1 ]
  stderr_one_line "tart login"
  run --separate-stderr tart logout "$REGISTRY"
  [ "$status" -eq 0 ]
}

@test "docker config fallback: ~/.docker/config.json auths[host].auth" {
  mkdir -p "$HOME/.docker"
  printf '{"auths":{"%s":{"auth":"%s"}}}' "$REGISTRY" \
    "$(printf '%s:%s' "$REGISTRY_USERNAME" "$REGISTRY_PASSWORD" | base64)" >"$HOME/.docker/config.json"
  run --separate-stderr tart pull --insecure "$IMG"
  [ "$status" -eq 0 ]
  pulled_ok
}

@test "TART_DOCKER_CONFIG: a named file is used; a missing one is an error with upstream's text" {
  printf '{"auths":{"%s":{"auth":"%s"}}}' "$REGISTRY" \
    "$(printf '%s:%s' "$REGISTRY_USERNAME" "$REGISTRY_PASSWORD" | base64)" >"$BATS_TEST_TMPDIR/dc.json"
  TART_DOCKER_CONFIG=/nonexistent run --separate-stderr tart pull --insecure "$IMG"
  [ "$status" -eq 1 ]
  stderr_one_line
  [ "${stderr_lines[0]}" = "tart: error: Registry authentication failed. Could not find docker configuration at '/nonexistent'." ]
  TART_DOCKER_CONFIG="$BATS_TEST_TMPDIR/dc.json" run --separate-stderr tart pull --insecure "$IMG"
  [ "$status" -eq 0 ]
  pulled_ok
}

@test "credential helper: credHelpers {host: test} runs docker-credential-test get with the host on stdin" {
  mkdir -p "$BATS_TEST_TMPDIR/bin" "$HOME/.docker"
  cat >"$BATS_TEST_TMPDIR/bin/docker-credential-test" <<EOF
#!/bin/sh
[ "\$1" = get ] || exit 3
cat >>"$BATS_TEST_TMPDIR/helper.log"
printf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}\n' "$REGISTRY" "$REGISTRY_USERNAME" "$REGISTRY_PASSWORD"
EOF
  chmod +x "$BATS_TEST_TMPDIR/bin/docker-credential-test"
  printf '{"credHelpers":{"%s":"test"}}' "$REGISTRY" >"$HOME/.docker/config.json"
  PATH="$BATS_TEST_TMPDIR/bin:$PATH" TART_LOG=debug run --separate-stderr tart pull --insecure "$IMG"
  [ "$status" -eq 0 ]
  pulled_ok
  [ "$(head -n 1 "$BATS_TEST_TMPDIR/helper.log")" = "$REGISTRY" ]
  no_secrets "$output"
  no_secrets "$stderr"
}

# ---- token (Bearer) ----

@test "token: login checks with the token server; push with the stored credentials; anonymous pull works, push fails" {
  registry_start token
  make_small_vm vm
  run --separate-stderr tart login "$REGISTRY" --username "$REGISTRY_USERNAME" --password-stdin --insecure <<<"wrongpass"
  [ "$status" -eq 1 ]
  stderr_one_line "invalid credentials"
  [ ! -e "$TART_HOME/auth.json" ]
  run --separate-stderr tart login "$REGISTRY" --username "$REGISTRY_USERNAME" --password-stdin --insecure \
    <<<"$REGISTRY_PASSWORD"
  [ "$status" -eq 0 ]
  [ "$output" = "Login succeeded" ]

  TART_LOG=debug run --separate-stderr tart push vm --insecure "$REGISTRY/tok/img:v1"
  [ "$status" -eq 0 ]
  no_secrets "$output"
  no_secrets "$stderr"
  local log
  log="$("$PYTHON" -c 'import sys, urllib.parse; print(urllib.parse.unquote(open(sys.argv[1]).read()))' "$TOKEN_SERVER_LOG")"
  echo "$log" >&2
  grep -qE '^GET /token\?.*scope=repository:tok/img:pull,push[& ].* basic=yes user=tartuser status=200$' <<<"$log"
  [[ "$log" != *"$REGISTRY_PASSWORD"* ]]

  run tart logout "$REGISTRY"
  [ "$status" -eq 0 ]
  run --separate-stderr tart pull --insecure "$REGISTRY/tok/img:v1"
  [ "$status" -eq 0 ]
  same_content "$(cache_path "$REGISTRY/tok/img:v1")/disk.img" "$TART_HOME/vms/vm/disk.img"
  log="$("$PYTHON" -c 'import sys, urllib.parse; print(urllib.parse.unquote(open(sys.argv[1]).read()))' "$TOKEN_SERVER_LOG")"
  grep -qE '^GET /token\?.*scope=repository:tok/img:pull[& ].* basic=no user=- status=200$' <<<"$log"

  run --separate-stderr tart push vm --insecure "$REGISTRY/tok/img:anon"
  [ "$status" -eq 1 ]
  stderr_one_line "$REGISTRY"
  run registry_curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(registry_token repository:tok/img:pull)" \
    "$REGISTRY_URL/v2/tok/img/manifests/anon"
  [ "$output" = 404 ]
}

# ---- TLS ----

@test "tls: an untrusted certificate fails in one line; SSL_CERT_FILE makes it work without --insecure" {
  registry_start tls
  make_small_vm vm
  SSL_CERT_FILE="$REGISTRY_CA_FILE" run --separate-stderr tart push vm "$REGISTRY/tls/img:v1"
  [ "$status" -eq 0 ]

  run --separate-stderr tart pull "$REGISTRY/tls/img:v1"
  [ "$status" -eq 1 ]
  stderr_one_line "certificate"
  run tart list --source oci -q
  [ -z "$output" ]

  SSL_CERT_FILE="$REGISTRY_CA_FILE" run --separate-stderr tart pull "$REGISTRY/tls/img:v1"
  [ "$status" -eq 0 ]
  same_content "$(cache_path "$REGISTRY/tls/img:v1")/disk.img" "$TART_HOME/vms/vm/disk.img"
}
