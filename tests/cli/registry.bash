# Real local OCI registries for the command-line tests (docker-registry, i.e.
# github.com/docker/distribution 2.8).  Source after lib.bash:
#
#   load lib
#   load registry
#
# registry_start MODE [DIR]
#   MODE is one of
#     plain     HTTP, no auth                         GET /v2/ -> 200
#     htpasswd  HTTP, Basic auth, tartuser/tartpass    GET /v2/ -> 401 Basic
#     token     HTTP, Bearer token auth; the realm is tests/helpers/token-server.py
#               on its own port (service test-registry, issuer test-issuer)
#     tls       HTTPS with a throw-away CA, no auth    GET /v2/ -> 200
#   and "tls+htpasswd" / "tls+token" combine HTTPS with an auth mode (the
#   token server itself stays on HTTP).
#   Everything listens on 127.0.0.1 only.  The registry port is random in
#   10000-31999 (below the kernel's ephemeral range, so never the local end of
#   an outgoing connection); if it is taken docker-registry exits and another
#   one is tried.  Readiness (bounded, ~10 s) is GET /v2/ -> 200/401 carrying
#   an X-Tart-Test-Instance header unique to this start, so an answer from a
#   foreign server on the same port is never mistaken for ours.  The token
#   server binds port 0 and reports its port.  All files
#   (config.yml, storage, keys, logs) live in DIR, default a new directory
#   under $BATS_FILE_TMPDIR.  Call it directly, never through `run` (the
#   exports would be lost).  Works in setup_file (one registry per .bats
#   file: everything is exported, tests see it) as well as in a test.
#
#   Exports:
#     REGISTRY            127.0.0.1:PORT
#     REGISTRY_URL        http://127.0.0.1:PORT or https://127.0.0.1:PORT
#     REGISTRY_MODE       the MODE given
#     REGISTRY_PID        pid of docker-registry
#     REGISTRY_DATA       storage root directory (filesystem driver)
#     REGISTRY_DIR        the instance directory (handle for registry_stop)
#     REGISTRY_LOG_FILE   docker-registry's stdout+stderr (errors and access log)
#     REGISTRY_USERNAME, REGISTRY_PASSWORD   tartuser / tartpass (all modes)
#     REGISTRY_CA_FILE    tls modes: the CA certificate (PEM), e.g. for
#                         SSL_CERT_FILE; unset otherwise
#     TOKEN_SERVER_PID, TOKEN_SERVER_URL (the realm, http://127.0.0.1:P/token),
#     TOKEN_SERVER_LOG    token modes only; unset otherwise
#   Also adds 127.0.0.1 and localhost to NO_PROXY/no_proxy so that no client
#   sends loopback traffic to a proxy.
#
#   Knobs (environment, read by registry_start): TOKEN_EXPIRES_IN (seconds,
#   default 300) for the token server.
#
# registry_stop [DIR]
#   Stops the instance in DIR (default $REGISTRY_DIR): SIGTERM, then waits
#   (reaps our own children; for others polls until gone), SIGKILL after 5 s.
#   Removes DIR unless the caller passed DIR to registry_start.  Safe to call
#   twice.  Unsets the exports when DIR is the current instance.
#
# registry_cleanup
#   Stops every instance started by this shell process: call it from
#   teardown (per-test registries) or teardown_file (setup_file registries).
#   An instance started in setup_file is not stopped by a test's teardown.
#
# registry_blob_path DIGEST       path of a blob's data file in the storage
# registry_manifest_path REPO REF path of the link file of a tag or digest
#
# Helpers that talk to the current registry with curl (no tart involved):
# registry_curl ARGS...           curl -sS, no proxy, --cacert in tls modes
# registry_header FILE NAME       value of header NAME in a `curl -D FILE` dump
# registry_auth_args REPO [ACTIONS]  sets the array REGISTRY_AUTH to the curl
#                                 arguments that authenticate for REPO (Basic,
#                                 or a Bearer token fetched with the test user)
# registry_token [SCOPE...]       prints a token for the scopes (test user)
# registry_push_blob REPO FILE    uploads FILE (POST + PUT ?digest), prints
#                                 its digest sha256:...
# registry_push_manifest REPO REF FILE [MEDIA_TYPE]
#                                 PUT a manifest, prints Docker-Content-Digest
# registry_push_tiny_image REPO REF  an OCI image with one config blob and one
#                                 small layer (OCI media types).  Call
#                                 directly (not in $(...)): sets TINY_MANIFEST
#                                 (file with the exact bytes pushed),
#                                 TINY_DIGEST, TINY_CONFIG_DIGEST, TINY_LAYER_DIGEST

: "${PYTHON:=$(command -v /usr/bin/python3 || command -v python3)}"
REGISTRY_FIXTURES_TOP="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
: "${TOKEN_SERVER:=$REGISTRY_FIXTURES_TOP/tests/helpers/token-server.py}"

# Instance directories started by this very shell (not exported on purpose:
# a test process must not stop what setup_file started).
_REGISTRY_MINE=()

_registry_log() {
  echo "registry.bash: $*" >&2
}

# True while $1 is a live (not zombie) process.
_registry_alive() {
  local pid="$1" line rest
  kill -0 "$pid" 2>/dev/null || return 1
  read -r line <"/proc/$pid/stat" 2>/dev/null || return 1
  rest="${line##*) }"
  [[ "${rest:0:1}" != Z && "${rest:0:1}" != X ]]
}

# Stop pid $1: TERM, wait up to 5 s, then KILL.  Reaps it if it is our child.
_registry_kill() {
  local pid="$1" ppid i
  [[ -n "$pid" ]] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  # ppid: field 4 of /proc/PID/stat, the 2nd after "(comm)" (which may
  # contain spaces and parentheses, hence the longest-match strip).
  local line rest
  read -r line <"/proc/$pid/stat" 2>/dev/null || line=
  rest="${line##*) }"
  read -r _ ppid _ <<<"$rest"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    _registry_alive "$pid" || break
    sleep 0.05
  done
  if _registry_alive "$pid"; then
    _registry_log "pid $pid ignored SIGTERM, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      _registry_alive "$pid" || break
      sleep 0.05
    done
  fi
  if [[ "$ppid" == "$BASHPID" ]]; then
    wait "$pid" 2>/dev/null || true
  fi
  return 0
}

# Environment for docker-registry: it maps every REGISTRY_* variable onto
# its configuration (REGISTRY_LOG=/path would break it), so drop them all.
_registry_env_args() {
  local v
  _REGISTRY_ENV=(env)
  for v in $(compgen -e); do
    [[ "$v" == REGISTRY_* ]] && _REGISTRY_ENV+=(-u "$v")
  done
  return 0
}

# Keys and certificates are made once per .bats file and copied into each
# instance (RSA key generation is the slow part of a start).  The cache lives
# in $BATS_FILE_TMPDIR/registry-keys; outside bats every instance makes its own.
_registry_keys_dir() {
  if [[ -n "${BATS_FILE_TMPDIR:-}" ]]; then
    echo "$BATS_FILE_TMPDIR/registry-keys"
  else
    echo "$1/keys"
  fi
}

# _registry_keys KIND INSTANCE_DIR: make (or reuse) the KIND (token|tls)
# key material and copy it into INSTANCE_DIR.
_registry_keys() {
  local kind="$1" dir="$2" cache tmp
  cache="$(_registry_keys_dir "$dir")/$kind"
  if [[ ! -d "$cache" ]]; then
    mkdir -p "${cache%/*}"
    tmp="$(mktemp -d "$cache.tmp.XXXXXX")" || return 1
    if ! "_registry_make_${kind}_keys" "$tmp"; then
      cp "$tmp/openssl.log" "$dir/openssl.log" 2>/dev/null
      rm -rf "$tmp"
      return 1
    fi
    rm -f "$tmp/openssl.log" "$tmp/openssl.cnf" "$tmp/server.csr"
    # Atomic; if a parallel start won the race, use its copy.
    mv -T "$tmp" "$cache" 2>/dev/null || rm -rf "$tmp"
  fi
  cp "$cache"/* "$dir/"
}

_registry_make_token_keys() {
  local dir="$1"
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 7 \
    -subj "/CN=test-issuer" \
    -keyout "$dir/token.key" -out "$dir/token.pem" >"$dir/openssl.log" 2>&1
}

# CA and server key are ECDSA P-256 (RSA key generation costs up to a second
# on a loaded machine); the token signing key must be RSA (RS256).
_registry_make_tls_keys() {
  local dir="$1"
  cat >"$dir/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = tart test CA
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
  {
    openssl req -x509 -config "$dir/openssl.cnf" -extensions ca_ext \
      -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 -days 7 -subj "/CN=tart test CA" \
      -keyout "$dir/ca.key" -out "$dir/ca.pem" &&
      openssl req -new -config "$dir/openssl.cnf" \
        -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 -subj "/CN=127.0.0.1" \
        -keyout "$dir/server.key" -out "$dir/server.csr" &&
      openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
        -set_serial "0x$(openssl rand -hex 8)" -days 7 -sha256 \
        -extfile "$dir/openssl.cnf" -extensions server_ext -out "$dir/server.pem"
  } >"$dir/openssl.log" 2>&1
}

_registry_write_config() {
  local dir="$1" port="$2" tls="$3" auth="$4" realm="${5:-}" id="$6" c
  c="version: 0.1
log:
  level: error
  formatter: text
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  secret: tart-test-secret
  headers:
    X-Tart-Test-Instance: [$id]
"
  if [[ "$tls" == 1 ]]; then
    c+="  tls:
    certificate: $dir/server.pem
    key: $dir/server.key
"
  fi
  case "$auth" in
  htpasswd)
    c+="auth:
  htpasswd:
    realm: tart-test
    path: $dir/htpasswd
"
    ;;
  token)
    c+="auth:
  token:
    realm: $realm
    service: test-registry
    issuer: test-issuer
    rootcertbundle: $dir/token.pem
"
    ;;
  esac
  printf '%s' "$c" >"$dir/config.yml"
}

# "STATUS INSTANCE-ID" of GET /v2/ on the instance ("000 " when nothing
# answers).  The id header proves that the answer comes from our process and
# not from something else that holds the port.
_registry_probe() {
  local url="$1" ca="$2"
  local args=(-s -o /dev/null -w '%{http_code} %header{x-tart-test-instance}' --noproxy '*' --max-time 2)
  [[ -n "$ca" ]] && args+=(--cacert "$ca")
  curl "${args[@]}" "$url/v2/" 2>/dev/null || true
}

_registry_add_no_proxy() {
  local v
  for v in NO_PROXY no_proxy; do
    case ",${!v:-}," in
    *,127.0.0.1,*) ;;
    *) export "$v=127.0.0.1,localhost${!v:+,${!v}}" ;;
    esac
  done
}

registry_start() {
  local mode="${1:?usage: registry_start plain|htpasswd|token|tls[+htpasswd|+token] [DIR]}"
  local dir="${2:-}" owned=0 tls=0 auth=plain word
  local IFS_save="$IFS"
  IFS=+
  for word in $mode; do
    case "$word" in
    plain) ;;
    tls) tls=1 ;;
    htpasswd | token)
      if [[ "$auth" != plain ]]; then
        IFS="$IFS_save"
        _registry_log "two auth modes in '$mode'"
        return 2
      fi
      auth="$word"
      ;;
    *)
      IFS="$IFS_save"
      _registry_log "unknown mode '$word' in '$mode'"
      return 2
      ;;
    esac
  done
  IFS="$IFS_save"

  if [[ -z "$dir" ]]; then
    local base="${BATS_FILE_TMPDIR:-${TMPDIR:-/tmp}}"
    dir="$(mktemp -d "$base/registry.XXXXXX")" || return 1
    owned=1
  else
    mkdir -p "$dir" || return 1
    dir="$(cd "$dir" && pwd)"
  fi
  mkdir -p "$dir/data"
  echo "$owned" >"$dir/owned"
  : >"$dir/pids"
  _REGISTRY_MINE+=("$dir")

  local user=tartuser pass=tartpass scheme=http ca=""
  if [[ "$tls" == 1 ]]; then
    scheme=https
    if ! _registry_keys tls "$dir"; then
      _registry_log "certificate generation failed: $(cat "$dir/openssl.log")"
      registry_stop "$dir"
      return 1
    fi
    ca="$dir/ca.pem"
  fi
  if [[ "$auth" == htpasswd ]]; then
    if ! htpasswd -Bbn "$user" "$pass" >"$dir/htpasswd" 2>"$dir/htpasswd.log"; then
      _registry_log "htpasswd failed: $(cat "$dir/htpasswd.log")"
      registry_stop "$dir"
      return 1
    fi
  fi

  local tpid="" realm="" i
  if [[ "$auth" == token ]]; then
    if ! _registry_keys token "$dir"; then
      _registry_log "token key generation failed: $(cat "$dir/openssl.log")"
      registry_stop "$dir"
      return 1
    fi
    rm -f "$dir/token-port"
    # fd 3 closed: bats waits for it otherwise.
    "$PYTHON" "$TOKEN_SERVER" --port 0 --port-file "$dir/token-port" \
      --key "$dir/token.key" --cert "$dir/token.pem" \
      --issuer test-issuer --service test-registry --users "$user:$pass" \
      --expires-in "${TOKEN_EXPIRES_IN:-300}" --log "$dir/token-server.log" \
      </dev/null >"$dir/token-server.out" 2>&1 3>&- &
    tpid=$!
    echo "$tpid" >>"$dir/pids"
    for ((i = 0; i < 200; i++)); do # 10 s
      [[ -s "$dir/token-port" ]] && break
      _registry_alive "$tpid" || break
      sleep 0.05
    done
    if [[ ! -s "$dir/token-port" ]]; then
      _registry_log "token server did not start: $(cat "$dir/token-server.out")"
      registry_stop "$dir"
      return 1
    fi
    local tport
    read -r tport <"$dir/token-port"
    realm="http://127.0.0.1:$tport/token"
  fi

  _registry_env_args
  local attempt port="" rpid="" status=000 id deadline=$((SECONDS + 11))
  id="${dir##*/}-$RANDOM$RANDOM"
  # The port may be taken: then docker-registry dies, or something else
  # answers without our instance id; retry with another one.  At most ~10 s
  # in all.
  for ((attempt = 0; attempt < 10 && SECONDS < deadline; attempt++)); do
    port=$((10000 + (RANDOM * 32768 + RANDOM) % 22000))
    _registry_write_config "$dir" "$port" "$tls" "$auth" "$realm" "$id"
    "${_REGISTRY_ENV[@]}" docker-registry serve "$dir/config.yml" \
      </dev/null >>"$dir/registry.log" 2>&1 3>&- &
    rpid=$!
    # Only live pids in the file: a stale one could be reused by then.
    printf '%s\n' $tpid "$rpid" >"$dir/pids"
    status=000
    while ((SECONDS < deadline)); do
      status="$(_registry_probe "$scheme://127.0.0.1:$port" "$ca")"
      [[ "$status" == "200 $id" || "$status" == "401 $id" ]] && break
      _registry_alive "$rpid" || break
      sleep 0.05
    done
    [[ "$status" == "200 $id" || "$status" == "401 $id" ]] && break
    _registry_kill "$rpid"
    printf '%s\n' $tpid >"$dir/pids"
    rpid=""
  done
  if [[ -z "$rpid" ]]; then
    _registry_log "docker-registry did not answer on /v2/ (last status $status): $(tail -n 20 "$dir/registry.log")"
    registry_stop "$dir"
    return 1
  fi

  export REGISTRY="127.0.0.1:$port"
  export REGISTRY_URL="$scheme://$REGISTRY"
  export REGISTRY_MODE="$mode"
  export REGISTRY_PID="$rpid"
  export REGISTRY_DATA="$dir/data"
  export REGISTRY_DIR="$dir"
  export REGISTRY_LOG_FILE="$dir/registry.log"
  export REGISTRY_USERNAME="$user" REGISTRY_PASSWORD="$pass"
  if [[ "$tls" == 1 ]]; then
    export REGISTRY_CA_FILE="$ca"
  else
    unset REGISTRY_CA_FILE
  fi
  if [[ -n "$tpid" ]]; then
    export TOKEN_SERVER_PID="$tpid" TOKEN_SERVER_URL="$realm"
    export TOKEN_SERVER_LOG="$dir/token-server.log"
  else
    unset TOKEN_SERVER_PID TOKEN_SERVER_URL TOKEN_SERVER_LOG
  fi
  _registry_add_no_proxy
  return 0
}

registry_stop() {
  local dir="${1:-${REGISTRY_DIR:-}}" pid
  [[ -n "$dir" ]] || return 0
  if [[ -f "$dir/pids" ]]; then
    # Registry first (last started), token server after.
    local pids=()
    mapfile -t pids <"$dir/pids"
    local i
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
      _registry_kill "${pids[i]}"
    done
    rm -f "$dir/pids"
  fi
  local owned=""
  if [[ -f "$dir/owned" ]]; then
    read -r owned <"$dir/owned" || true
    if [[ "$owned" == 1 ]]; then
      rm -rf "$dir"
    else
      rm -f "$dir/owned"
    fi
  fi
  local kept=() d
  for d in "${_REGISTRY_MINE[@]}"; do
    [[ "$d" == "$dir" ]] || kept+=("$d")
  done
  _REGISTRY_MINE=("${kept[@]}")
  if [[ "$dir" == "${REGISTRY_DIR:-}" ]]; then
    unset REGISTRY REGISTRY_URL REGISTRY_MODE REGISTRY_PID REGISTRY_DATA REGISTRY_DIR \
      REGISTRY_LOG_FILE REGISTRY_CA_FILE REGISTRY_USERNAME REGISTRY_PASSWORD \
      TOKEN_SERVER_PID TOKEN_SERVER_URL TOKEN_SERVER_LOG
  fi
  return 0
}

registry_cleanup() {
  local d
  for d in "${_REGISTRY_MINE[@]}"; do
    registry_stop "$d"
  done
  _REGISTRY_MINE=()
  return 0
}

registry_blob_path() {
  local hex="${1:?usage: registry_blob_path sha256:HEX}"
  hex="${hex#sha256:}"
  echo "$REGISTRY_DATA/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data"
}

# REF is a tag or a sha256: digest.
registry_manifest_path() {
  local repo="$1" ref="$2" root="$REGISTRY_DATA/docker/registry/v2/repositories/$1/_manifests"
  if [[ "$ref" == sha256:* ]]; then
    echo "$root/revisions/sha256/${ref#sha256:}/link"
  else
    echo "$root/tags/$ref/current/link"
  fi
}

registry_curl() {
  local args=(-sS --noproxy '*' --max-time 60)
  [[ -n "${REGISTRY_CA_FILE:-}" ]] && args+=(--cacert "$REGISTRY_CA_FILE")
  curl "${args[@]}" "$@"
}

# The value of header $2 (case-insensitive) in the curl -D dump $1; the last
# occurrence wins (redirects, 100-continue).  Bash only: no extra processes.
registry_header() {
  local file="$1" want="${2,,}" line name value=""
  while IFS= read -r line || [[ -n "$line" ]]; do
    line="${line%$'\r'}"
    name="${line%%:*}"
    [[ "$line" == *:* && "${name,,}" == "$want" ]] || continue
    value="${line#*:}"
    value="${value#"${value%%[![:space:]]*}"}"
  done <"$file"
  printf '%s' "$value"
}

# Print a token from the token server for the given scopes, authenticated as
# the test user; TOKEN_USER/TOKEN_PASS override the credentials and
# TOKEN_USER=- asks for an anonymous token.
registry_token() {
  local q="service=test-registry" s body
  for s in "$@"; do
    s="${s//:/%3A}"
    s="${s//,/%2C}"
    q+="&scope=${s//\//%2F}"
  done
  local auth=(-u "${TOKEN_USER:-$REGISTRY_USERNAME}:${TOKEN_PASS:-$REGISTRY_PASSWORD}")
  [[ "${TOKEN_USER:-}" == - ]] && auth=()
  body="$(registry_curl -f "${auth[@]}" "$TOKEN_SERVER_URL?$q")" || return 1
  if [[ "$body" =~ \"token\":\ *\"([^\"]+)\" ]]; then
    echo "${BASH_REMATCH[1]}"
  else
    _registry_log "no token in: $body"
    return 1
  fi
}

# Sets the array REGISTRY_AUTH to curl arguments that authenticate for REPO
# with ACTIONS (default pull,push) on the current registry.
registry_auth_args() {
  local repo="$1" actions="${2:-pull,push}" tok
  REGISTRY_AUTH=()
  case "${REGISTRY_MODE:-}" in
  *htpasswd*) REGISTRY_AUTH=(-u "$REGISTRY_USERNAME:$REGISTRY_PASSWORD") ;;
  *token*)
    tok="$(registry_token "repository:$repo:$actions")" || return 1
    REGISTRY_AUTH=(-H "Authorization: Bearer $tok")
    ;;
  esac
  return 0
}

# With _REGISTRY_AUTH_FOR=REPO the caller has already set REGISTRY_AUTH.
_registry_need_auth() {
  [[ "${_REGISTRY_AUTH_FOR:-}" == "$1" ]] || registry_auth_args "$1" pull,push
}

registry_push_blob() {
  local repo="$1" file="$2" digest hdr loc code
  digest="$(sha256sum <"$file")"
  digest="sha256:${digest%% *}"
  _registry_need_auth "$repo" || return 1
  hdr="$REGISTRY_DIR/headers.$BASHPID"
  code="$(registry_curl "${REGISTRY_AUTH[@]}" -o /dev/null -D "$hdr" -w '%{http_code}' \
    -X POST "$REGISTRY_URL/v2/$repo/blobs/uploads/")" || return 1
  loc="$(registry_header "$hdr" location)"
  rm -f "$hdr"
  if [[ "$code" != 202 || -z "$loc" ]]; then
    _registry_log "POST blobs/uploads/ for $repo: status $code"
    return 1
  fi
  [[ "$loc" == http* ]] || loc="$REGISTRY_URL$loc"
  if [[ "$loc" == *\?* ]]; then loc+="&digest=$digest"; else loc+="?digest=$digest"; fi
  code="$(registry_curl "${REGISTRY_AUTH[@]}" -o /dev/null -w '%{http_code}' -X PUT \
    -H 'Content-Type: application/octet-stream' --data-binary "@$file" "$loc")" || return 1
  if [[ "$code" != 201 ]]; then
    _registry_log "PUT blob $digest to $repo: status $code"
    return 1
  fi
  echo "$digest"
}

registry_push_manifest() {
  local repo="$1" ref="$2" file="$3" mt="${4:-application/vnd.oci.image.manifest.v1+json}"
  local hdr code digest
  _registry_need_auth "$repo" || return 1
  hdr="$REGISTRY_DIR/headers.$BASHPID"
  code="$(registry_curl "${REGISTRY_AUTH[@]}" -o /dev/null -D "$hdr" -w '%{http_code}' -X PUT \
    -H "Content-Type: $mt" --data-binary "@$file" "$REGISTRY_URL/v2/$repo/manifests/$ref")" ||
    return 1
  digest="$(registry_header "$hdr" docker-content-digest)"
  rm -f "$hdr"
  if [[ "$code" != 201 ]]; then
    _registry_log "PUT manifest $repo:$ref: status $code"
    return 1
  fi
  echo "$digest"
}

registry_push_tiny_image() {
  local repo="$1" ref="$2" work cd ld
  local config='{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{}}'
  local layer="tiny layer for $repo:$ref"$'\n'
  work="$(mktemp -d "${BATS_TEST_TMPDIR:-${BATS_FILE_TMPDIR:-/tmp}}/img.XXXXXX")"
  printf '%s' "$config" >"$work/config.json"
  printf '%s' "$layer" >"$work/layer"
  local REGISTRY_AUTH _REGISTRY_AUTH_FOR
  registry_auth_args "$repo" pull,push || return 1
  _REGISTRY_AUTH_FOR="$repo"
  cd="$(registry_push_blob "$repo" "$work/config.json")" || return 1
  ld="$(registry_push_blob "$repo" "$work/layer")" || return 1
  # ${#} counts characters: both strings are ASCII.
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}' \
    "$cd" "${#config}" "$ld" "${#layer}" >"$work/manifest.json"
  # shellcheck disable=SC2034 # results for the caller
  TINY_MANIFEST="$work/manifest.json" TINY_CONFIG_DIGEST="$cd" TINY_LAYER_DIGEST="$ld"
  TINY_DIGEST="$(registry_push_manifest "$repo" "$ref" "$work/manifest.json")" || return 1
  local want
  want="$(sha256sum <"$work/manifest.json")"
  [[ "$TINY_DIGEST" == "sha256:${want%% *}" ]] || {
    _registry_log "manifest digest mismatch: $TINY_DIGEST"
    return 1
  }
}
