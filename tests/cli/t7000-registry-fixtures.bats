#!/usr/bin/env bats
# The registry fixtures themselves (tests/cli/registry.bash and
# tests/helpers/token-server.py), proven with curl and skopeo only: no tart.

load lib
load registry

# Keep lib.bash's per-test set-up (throw-away HOME and TART_HOME) and add the
# registry clean-up to its teardown.
eval "_lib_$(declare -f setup)"
eval "_lib_$(declare -f teardown)"
setup() { _lib_setup; }
teardown() {
  registry_cleanup
  _lib_teardown
}

# One plain registry for the whole file, started in setup_file: the tests
# below that do not start their own use it through the exported variables.
setup_file() {
  registry_start plain
  export FILE_REGISTRY="$REGISTRY" FILE_REGISTRY_PID="$REGISTRY_PID"
}

teardown_file() {
  registry_cleanup
}

# curl that never uses a proxy; status code on stdout, headers in the file
# that `header` reads (works under `run`).
http_status() {
  curl -s --noproxy '*' --max-time 10 -o "$BATS_TEST_TMPDIR/body" -D "$BATS_TEST_TMPDIR/headers" -w '%{http_code}' "$@"
}

# The value of header $1 from the last http_status (case-insensitive name,
# CR stripped).
header() {
  registry_header "$BATS_TEST_TMPDIR/headers" "$1"
}

# Decode a token server response (file $1) in one go (every process costs on
# a loaded machine) into the array TOK:
#   0 token  1 "same" if access_token == token  2 expires_in  3 issued_at
#   4 JWT alg  5 number of x5c certs  6 iss  7 aud  8 sub
#   9 access (JSON, sorted keys)  10 exp - iat
# The signature is not checked here; the registry checks it.
decode_token() {
  mapfile -t TOK < <("$PYTHON" - "$1" <<'PY'
import base64, json, sys
d = json.load(open(sys.argv[1]))
def part(i):
    p = d["token"].split(".")[i]
    return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
h, c = part(0), part(1)
for v in (d["token"], "same" if d["access_token"] == d["token"] else "differ",
          d["expires_in"], d["issued_at"], h["alg"], len(h["x5c"]),
          c["iss"], c["aud"], c["sub"], json.dumps(c["access"], sort_keys=True),
          c["exp"] - c["iat"]):
    print(v)
PY
  )
  ((${#TOK[@]} == 11))
}

# ---- plain (the setup_file registry) ----

@test "plain: setup_file registry answers GET /v2/ with 200 on 127.0.0.1" {
  [[ "$REGISTRY" == 127.0.0.1:* ]]
  [[ "$REGISTRY" == "$FILE_REGISTRY" && "$REGISTRY_PID" == "$FILE_REGISTRY_PID" ]]
  [[ "$REGISTRY_URL" == "http://$REGISTRY" ]]
  [[ -d "$REGISTRY_DATA" && -f "$REGISTRY_DIR/config.yml" ]]
  grep -q "addr: $REGISTRY\$" "$REGISTRY_DIR/config.yml"
  kill -0 "$REGISTRY_PID"
  [[ -z "${REGISTRY_CA_FILE:-}" && -z "${TOKEN_SERVER_PID:-}" ]]
  run http_status "$REGISTRY_URL/v2/"
  [[ "$output" == 200 ]]
  [[ "$(header Docker-Distribution-Api-Version)" == registry/2.0 ]]
}

@test "plain: blob pushed with curl (POST uploads, PUT ?digest) then HEAD 200; blob path is its data file" {
  printf 'hello registry %s\n' "$BATS_TEST_NUMBER" >"$BATS_TEST_TMPDIR/blob"
  local digest
  digest="sha256:$(sha "$BATS_TEST_TMPDIR/blob")"

  run http_status -X POST "$REGISTRY_URL/v2/fixtures/blob/blobs/uploads/"
  [[ "$output" == 202 ]]
  local loc
  loc="$(header Location)"
  [[ -n "$loc" ]]
  [[ "$loc" == /* ]] && loc="$REGISTRY_URL$loc"
  [[ "$loc" == *\?* ]] && loc+="&digest=$digest" || loc+="?digest=$digest"
  run http_status -X PUT -H 'Content-Type: application/octet-stream' \
    --data-binary "@$BATS_TEST_TMPDIR/blob" "$loc"
  [[ "$output" == 201 ]]
  [[ "$(header Docker-Content-Digest)" == "$digest" ]]

  run http_status -I "$REGISTRY_URL/v2/fixtures/blob/blobs/$digest"
  [[ "$output" == 200 ]]
  [[ "$(header Content-Length)" == "$(stat -c %s "$BATS_TEST_TMPDIR/blob")" ]]
  [[ "$(header Docker-Content-Digest)" == "$digest" ]]

  local path
  path="$(registry_blob_path "$digest")"
  [[ "$path" == "$REGISTRY_DATA"/docker/registry/v2/blobs/sha256/* ]]
  [[ -f "$path" ]]
  cmp "$path" "$BATS_TEST_TMPDIR/blob"
  # Also accepts the bare hex form.
  [[ "$(registry_blob_path "${digest#sha256:}")" == "$path" ]]
}

@test "plain: skopeo inspect --raw returns the exact manifest pushed with curl" {
  registry_push_tiny_image fixtures/tiny v1
  [[ -f "$(registry_blob_path "$TINY_LAYER_DIGEST")" ]]
  [[ -f "$(registry_manifest_path fixtures/tiny v1)" ]]
  run skopeo inspect --raw --tls-verify=false "docker://$REGISTRY/fixtures/tiny:v1"
  [[ "$status" == 0 ]]
  [[ "$output" == "$(cat "$TINY_MANIFEST")" ]]
  run skopeo inspect --raw --tls-verify=false "docker://$REGISTRY/fixtures/tiny@$TINY_DIGEST"
  [[ "$status" == 0 ]]
  [[ "$output" == "$(cat "$TINY_MANIFEST")" ]]
}

# ---- htpasswd ----

@test "htpasswd: 401 Basic challenge; right credentials 200, wrong 401; skopeo --creds" {
  registry_start htpasswd
  [[ "$REGISTRY" != "$FILE_REGISTRY" ]]
  grep -q '^tartuser:\$2y\$' "$REGISTRY_DIR/htpasswd"

  run http_status "$REGISTRY_URL/v2/"
  [[ "$output" == 401 ]]
  [[ "$(header Www-Authenticate)" == 'Basic realm="tart-test"' ]]
  run http_status -u tartuser:tartpass "$REGISTRY_URL/v2/"
  [[ "$output" == 200 ]]
  run http_status -u tartuser:wrong "$REGISTRY_URL/v2/"
  [[ "$output" == 401 ]]
  run http_status -u nobody:tartpass "$REGISTRY_URL/v2/"
  [[ "$output" == 401 ]]

  registry_push_tiny_image fixtures/auth v1
  run skopeo inspect --raw --tls-verify=false --creds tartuser:tartpass \
    "docker://$REGISTRY/fixtures/auth:v1"
  [[ "$status" == 0 ]]
  [[ "$output" == "$(cat "$TINY_MANIFEST")" ]]
  run skopeo inspect --raw --tls-verify=false --creds tartuser:wrong \
    "docker://$REGISTRY/fixtures/auth:v1"
  [[ "$status" != 0 ]]
}

# ---- token ----

@test "token: Bearer challenge; token fetched with Basic credentials opens /v2/; wrong ones get 401" {
  registry_start token
  kill -0 "$TOKEN_SERVER_PID"
  [[ "$TOKEN_SERVER_URL" == http://127.0.0.1:*/token ]]

  run http_status "$REGISTRY_URL/v2/"
  [[ "$output" == 401 ]]
  [[ "$(header Www-Authenticate)" == "Bearer realm=\"$TOKEN_SERVER_URL\",service=\"test-registry\"" ]]

  run http_status -u tartuser:tartpass "$TOKEN_SERVER_URL?service=test-registry&account=tartuser"
  [[ "$output" == 200 ]]
  decode_token "$BATS_TEST_TMPDIR/body"
  local token="${TOK[0]}"
  [[ "${TOK[1]}" == same && "${TOK[2]}" == 300 && "${TOK[10]}" == 300 ]]
  [[ "${TOK[3]}" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$ ]]
  # RS256 with the signing certificate in x5c.
  [[ "${TOK[4]}" == RS256 && "${TOK[5]}" == 1 ]]
  [[ "${TOK[6]}" == test-issuer && "${TOK[7]}" == test-registry && "${TOK[8]}" == tartuser ]]
  [[ "${TOK[9]}" == '[]' ]]

  run http_status -H "Authorization: Bearer $token" "$REGISTRY_URL/v2/"
  [[ "$output" == 200 ]]
  run http_status -H "Authorization: Bearer ${token}x" "$REGISTRY_URL/v2/"
  [[ "$output" == 401 ]]

  run http_status -u tartuser:wrong "$TOKEN_SERVER_URL?service=test-registry"
  [[ "$output" == 401 ]]
  run http_status -u intruder:tartpass "$TOKEN_SERVER_URL?service=test-registry"
  [[ "$output" == 401 ]]
  # A client that puts a password into the URL gets it redacted in the log.
  run http_status "$TOKEN_SERVER_URL?service=test-registry&password=tartpass"
  [[ "$output" == 200 ]]

  # One line per request, Basic auth noted, password never written.
  mapfile -t lines <"$TOKEN_SERVER_LOG"
  [[ "${#lines[@]}" == 4 ]]
  [[ "${lines[3]}" == 'GET /token?service=test-registry&password=REDACTED basic=no user=- status=200' ]]
  grep -q '^GET /token?service=test-registry&account=tartuser basic=yes user=tartuser status=200$' "$TOKEN_SERVER_LOG"
  grep -q 'basic=yes user=tartuser status=401$' "$TOKEN_SERVER_LOG"
  run ! grep -q tartpass "$TOKEN_SERVER_LOG"
}

@test "token: scopes granted as requested to the user, pull only to anonymous; push enforced" {
  registry_start token
  local scope_q='scope=repository%3Afixtures%2Fa%3Apull%2Cpush&scope=repository%3Afixtures%2Fb%3Apull'

  run http_status -u tartuser:tartpass "$TOKEN_SERVER_URL?service=test-registry&$scope_q"
  [[ "$output" == 200 ]]
  decode_token "$BATS_TEST_TMPDIR/body"
  local user_token="${TOK[0]}"
  [[ "${TOK[8]}" == tartuser ]]
  [[ "${TOK[9]}" == '[{"actions": ["pull", "push"], "name": "fixtures/a", "type": "repository"}, {"actions": ["pull"], "name": "fixtures/b", "type": "repository"}]' ]]

  run http_status "$TOKEN_SERVER_URL?service=test-registry&$scope_q"
  [[ "$output" == 200 ]]
  decode_token "$BATS_TEST_TMPDIR/body"
  local anon_token="${TOK[0]}"
  [[ "${TOK[8]}" == "" ]]
  [[ "${TOK[9]}" == '[{"actions": ["pull"], "name": "fixtures/a", "type": "repository"}, {"actions": ["pull"], "name": "fixtures/b", "type": "repository"}]' ]]
  grep -q "^GET /token?service=test-registry&$scope_q basic=no user=- status=200\$" "$TOKEN_SERVER_LOG"

  # The registry enforces it: anonymous cannot start an upload, the user can.
  run http_status -X POST -H "Authorization: Bearer $anon_token" "$REGISTRY_URL/v2/fixtures/a/blobs/uploads/"
  [[ "$output" == 401 ]]
  # The registry lists the actions in Go map order, which varies run to run.
  local challenge
  challenge="$(header Www-Authenticate)"
  [[ "$challenge" == *'scope="repository:fixtures/a:pull,push"'* ||
     "$challenge" == *'scope="repository:fixtures/a:push,pull"'* ]]
  run http_status -X POST -H "Authorization: Bearer $user_token" "$REGISTRY_URL/v2/fixtures/a/blobs/uploads/"
  [[ "$output" == 202 ]]
  # A token for repository a does not open repository c.
  run http_status -X POST -H "Authorization: Bearer $user_token" "$REGISTRY_URL/v2/fixtures/c/blobs/uploads/"
  [[ "$output" == 401 ]]
}

@test "token: skopeo does the whole flow with --creds" {
  registry_start token
  registry_push_tiny_image fixtures/tok v1
  run skopeo inspect --raw --tls-verify=false --creds tartuser:tartpass \
    "docker://$REGISTRY/fixtures/tok:v1"
  [[ "$status" == 0 ]]
  [[ "$output" == "$(cat "$TINY_MANIFEST")" ]]
  grep -q 'scope=repository%3Afixtures%2Ftok%3Apull.* basic=yes user=tartuser status=200$' "$TOKEN_SERVER_LOG"
  run ! grep -q tartpass "$TOKEN_SERVER_LOG"
}

@test "token: short TOKEN_EXPIRES_IN is honoured" {
  TOKEN_EXPIRES_IN=2 registry_start token
  registry_curl -o "$BATS_TEST_TMPDIR/body" -u tartuser:tartpass "$TOKEN_SERVER_URL?service=test-registry"
  decode_token "$BATS_TEST_TMPDIR/body"
  [[ "${TOK[2]}" == 2 && "${TOK[10]}" == 2 ]]
}

# ---- tls ----

@test "tls: HTTPS 200 with the CA, TLS failure without it; SSL_CERT_FILE works for OpenSSL and skopeo" {
  registry_start tls
  [[ "$REGISTRY_URL" == "https://$REGISTRY" ]]
  [[ -f "$REGISTRY_CA_FILE" ]]
  openssl x509 -in "$REGISTRY_CA_FILE" -noout -text | grep -q 'CA:TRUE'
  openssl x509 -in "$REGISTRY_DIR/server.pem" -noout -text | grep -q 'IP Address:127.0.0.1'
  openssl verify -CAfile "$REGISTRY_CA_FILE" "$REGISTRY_DIR/server.pem"

  run http_status --cacert "$REGISTRY_CA_FILE" "$REGISTRY_URL/v2/"
  [[ "$output" == 200 ]]
  run http_status "$REGISTRY_URL/v2/"
  [[ "$status" == 60 ]] # peer certificate cannot be authenticated
  run http_status "http://$REGISTRY/v2/" # plain HTTP to the TLS port
  [[ "$output" == 400 ]]
  # OpenSSL's default verify paths honour SSL_CERT_FILE (python's ssl uses
  # them).  The curl tool does not, it wants CURL_CA_BUNDLE.
  run env SSL_CERT_FILE="$REGISTRY_CA_FILE" "$PYTHON" -c 'import os, urllib.request
print(urllib.request.urlopen(os.environ["REGISTRY_URL"] + "/v2/").status)'
  [[ "$output" == 200 ]]
  run env CURL_CA_BUNDLE="$REGISTRY_CA_FILE" curl -s --noproxy '*' -o /dev/null -w '%{http_code}' "$REGISTRY_URL/v2/"
  [[ "$output" == 200 ]]

  registry_push_tiny_image fixtures/tls v1
  run env SSL_CERT_FILE="$REGISTRY_CA_FILE" skopeo inspect --raw "docker://$REGISTRY/fixtures/tls:v1"
  [[ "$status" == 0 ]]
  [[ "$output" == "$(cat "$TINY_MANIFEST")" ]]
  run skopeo inspect --raw "docker://$REGISTRY/fixtures/tls:v1"
  [[ "$status" != 0 ]]
  [[ "$output" == *certificate* ]]
}

@test "tls+htpasswd: HTTPS with Basic auth" {
  registry_start tls+htpasswd
  run http_status --cacert "$REGISTRY_CA_FILE" "$REGISTRY_URL/v2/"
  [[ "$output" == 401 ]]
  run http_status --cacert "$REGISTRY_CA_FILE" -u tartuser:tartpass "$REGISTRY_URL/v2/"
  [[ "$output" == 200 ]]
}

# ---- life cycle ----

@test "registry_stop kills and reaps registry and token server, removes its dir, is safe twice" {
  registry_start token
  local rpid="$REGISTRY_PID" tpid="$TOKEN_SERVER_PID" dir="$REGISTRY_DIR" reg="$REGISTRY"
  kill -0 "$rpid"
  kill -0 "$tpid"
  registry_stop
  run ! kill -0 "$rpid" 2>/dev/null
  run ! kill -0 "$tpid" 2>/dev/null
  [[ ! -e "$dir" ]]
  [[ -z "${REGISTRY:-}" && -z "${REGISTRY_PID:-}" && -z "${TOKEN_SERVER_PID:-}" ]]
  run curl -s --noproxy '*' --max-time 2 "http://$reg/v2/"
  [[ "$status" == 7 ]] # connection refused
  registry_stop
  registry_stop "$dir"
  # The setup_file registry is untouched.
  kill -0 "$FILE_REGISTRY_PID"
}

@test "registry_start with a caller's DIR keeps it; two registries at once" {
  registry_start htpasswd "$BATS_TEST_TMPDIR/reg-a"
  local a_dir="$REGISTRY_DIR" a_pid="$REGISTRY_PID"
  [[ "$a_dir" == "$BATS_TEST_TMPDIR/reg-a" && -f "$a_dir/config.yml" ]]
  [[ "$REGISTRY_DATA" == "$a_dir/data" ]]
  registry_start plain
  [[ "$REGISTRY_DIR" != "$a_dir" ]]
  kill -0 "$a_pid"
  registry_stop "$a_dir"
  run ! kill -0 "$a_pid" 2>/dev/null
  [[ -f "$a_dir/config.yml" ]] # caller's directory stays
  kill -0 "$REGISTRY_PID" # the second one still runs
  run http_status "$REGISTRY_URL/v2/"
  [[ "$output" == 200 ]]
}

@test "registry_start rejects unknown modes" {
  run registry_start nonsense
  [[ "$status" == 2 ]]
  run registry_start htpasswd+token
  [[ "$status" == 2 ]]
}

@test "token-server.py exits 0 on SIGTERM" {
  local d="$BATS_TEST_TMPDIR/ts"
  mkdir -p "$d"
  _registry_keys token "$d" # token.key, token.pem (cached per file)
  "$PYTHON" "$TOKEN_SERVER" --port 0 --port-file "$d/port" --key "$d/token.key" --cert "$d/token.pem" \
    --users a:b 3>&- &
  local pid=$! i
  for ((i = 0; i < 100; i++)); do
    [[ -s "$d/port" ]] && break
    sleep 0.05
  done
  run curl -s --noproxy '*' -u a:b "http://127.0.0.1:$(cat "$d/port")/token?service=test-registry&scope=repository:x:pull"
  [[ "$status" == 0 && "$output" == *'"access_token"'* ]]
  kill -TERM "$pid"
  local rc=0
  wait "$pid" || rc=$?
  [[ "$rc" == 0 ]]
}
