#include "registry/client.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "registry/curl_api.h"
#include "registry/media.h"
#include "registry/limits.h"
#include "registry/url.h"
#include "registry/challenge.h"
#include "registry/credentials.h"
#include "tart-version.h"
#include "util/log.h"
#include "util/util.h"

struct registry {
  char *host;
  char *ns;
  char *scheme; /* "https" or "http" */
  bool push;
  char *tart_home;
  char *user_agent;

  pthread_mutex_t lock; /* guards everything below */
  bool creds_loaded;
  bool have_creds;
  struct credentials creds;
  char *auth_value;       /* "Bearer x" / "Basic x"; NULL when none */
  char *bearer_challenge; /* last Bearer challenge, to widen the token's scope */
  time_t auth_expiry;     /* 0: never expires */
};

struct registry_conn {
  struct registry *r;
  CURL *curl;
  unsigned retry_after;
};

/* ---- small growable buffer ---- */

struct buf {
  char *data;
  size_t len, cap, max;
};

static bool buf_append(struct buf *b, const void *p, size_t n)
{
  if (b->len + n > b->max)
    return false;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1)
      cap *= 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return true;
}

/* ---- global set-up ---- */

int registry_open(const char *host, const char *ns, bool insecure, bool push, const char *tart_home,
                  struct registry **out, tart_error_t *err)
{
  if (curl_api_load(err) < 0)
    return -1;
  struct registry *r = xcalloc(1, sizeof(*r));
  r->host = xstrdup(host);
  r->ns = xstrdup(ns);
  r->scheme = xstrdup(insecure ? "http" : "https");
  r->push = push;
  r->tart_home = xstrdup(tart_home ? tart_home : "");
  struct utsname u;
  const char *arch = uname(&u) == 0 ? u.machine : "unknown";
  r->user_agent = xasprintf("tart/%s (Linux; %s)", TART_VERSION, arch);
  pthread_mutex_init(&r->lock, NULL);
  /* A docker config named explicitly must exist: say so before any
   * transfer rather than at the first 401 (upstream's text). */
  const char *dc = getenv("TART_DOCKER_CONFIG");
  if (dc != NULL && *dc != '\0' && access(dc, F_OK) != 0) {
    registry_close(r);
    return tart_error_kind(
        err, ENOENT, "Registry authentication failed. Could not find docker configuration at '%s'.", dc);
  }
  *out = r;
  return 0;
}

void registry_close(struct registry *r)
{
  if (r == NULL)
    return;
  credentials_clear(&r->creds);
  if (r->auth_value) {
    explicit_bzero(r->auth_value, strlen(r->auth_value));
    free(r->auth_value);
  }
  pthread_mutex_destroy(&r->lock);
  free(r->bearer_challenge);
  free(r->host);
  free(r->ns);
  free(r->scheme);
  free(r->tart_home);
  free(r->user_agent);
  free(r);
}

const char *registry_host(const struct registry *r)
{
  return r->host;
}

const char *registry_namespace(const struct registry *r)
{
  return r->ns;
}

struct registry_conn *registry_conn_new(struct registry *r)
{
  struct registry_conn *c = xcalloc(1, sizeof(*c));
  c->r = r;
  c->curl = curl_easy_init();
  if (c->curl == NULL)
    abort();
  return c;
}

void registry_conn_free(struct registry_conn *c)
{
  if (c == NULL)
    return;
  curl_easy_cleanup(c->curl);
  free(c);
}

unsigned registry_conn_retry_after(const struct registry_conn *c)
{
  return c->retry_after;
}

/* ---- one HTTP exchange ---- */

struct response {
  long status;
  char *www_authenticate;
  char *location;
  char *content_type;
  char *range;
  unsigned retry_after;
  struct buf body; /* when no sink is given */
};

static void response_clear(struct response *resp)
{
  free(resp->www_authenticate);
  free(resp->location);
  free(resp->content_type);
  free(resp->range);
  free(resp->body.data);
  memset(resp, 0, sizeof(*resp));
}

struct request {
  const char *method;
  const char *url;
  const char *const *headers; /* extra "Name: value" lines, NULL-terminated; may be NULL */
  bool send_auth;             /* attach the cached Authorization value */
  bool no_body_expected;      /* HEAD */
  /* request body: either memory or a source */
  const char *body;
  size_t body_len;
  registry_source_fn source;
  void *source_opaque;
  uint64_t source_offset; /* where the source starts for this request */
  uint64_t source_len;
  bool has_body;
  /* response body: sink for 2xx when set, else buffered (bounded) */
  registry_sink_fn sink;
  void *sink_opaque;
  uint64_t *sink_received;
  size_t body_max;
  bool ranged; /* a Range was asked for: a 200 (the whole body) must not reach the sink */
};

struct xfer {
  CURL *h;
  const struct request *req;
  struct response *resp;
  uint64_t sent;
  tart_error_t *err;
  bool sink_failed;
  bool source_failed;
  bool error_body_capped; /* an error body reached its cap: the transfer was cut, on purpose */
};

static size_t on_header(char *line, size_t size, size_t n, void *opaque)
{
  struct xfer *x = opaque;
  size_t len = size * n;
  struct response *resp = x->resp;
  if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
    /* A new response (after 100-continue or a proxy): start over. */
    free(resp->www_authenticate);
    free(resp->location);
    free(resp->content_type);
    free(resp->range);
    resp->www_authenticate = resp->location = resp->content_type = resp->range = NULL;
    resp->retry_after = 0;
    return len;
  }
  char *v;
  if ((v = curl_header_value(line, len, "WWW-Authenticate")) != NULL) {
    if (resp->www_authenticate == NULL)
      resp->www_authenticate = v; /* the first challenge is the one we answer */
    else
      free(v);
  } else if ((v = curl_header_value(line, len, "Location")) != NULL) {
    free(resp->location);
    resp->location = v;
  } else if ((v = curl_header_value(line, len, "Content-Type")) != NULL) {
    free(resp->content_type);
    resp->content_type = v;
  } else if ((v = curl_header_value(line, len, "Range")) != NULL) {
    free(resp->range);
    resp->range = v;
  } else if ((v = curl_header_value(line, len, "Retry-After")) != NULL) {
    char *e;
    unsigned long s = strtoul(v, &e, 10);
    resp->retry_after = (*v && *e == '\0' && s < 3600) ? (unsigned)s : 1;
    free(v);
  }
  return len;
}

static long request_timeout_ms(bool blob)
{
  long ms = (blob ? BLOB_TIMEOUT_S : REQUEST_TIMEOUT_S) * 1000L;
  const char *v = getenv("TART_REQUEST_TIMEOUT_MS");
  if (v != NULL && *v != '\0') {
    char *end;
    long t = strtol(v, &end, 10);
    if (*end == '\0' && t > 0 && t < ms)
      ms = t;
  }
  return ms;
}

static size_t on_body(char *data, size_t size, size_t n, void *opaque)
{
  struct xfer *x = opaque;
  size_t len = size * n;
  /* The status decides where the body goes: 2xx to the sink, errors to a
   * small buffer for the message. */
  curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->resp->status);
  long status = x->resp->status;
  if (x->req->sink != NULL && x->req->ranged && status == 200) {
    /* The whole blob instead of its rest: appending it would corrupt what
     * the sink holds.  The caller starts over from byte 0. */
    tart_error_kind(x->err, ERANGE, "registry ignored the Range request for %.*s",
                    (int)strcspn(x->req->url, "?"), x->req->url);
    x->sink_failed = true;
    return 0;
  }
  if (x->req->sink != NULL && status >= 200 && status < 300) {
    if (x->req->sink(x->req->sink_opaque, (const uint8_t *)data, len, x->err) < 0) {
      x->sink_failed = true;
      return 0; /* aborts the transfer */
    }
    if (x->req->sink_received)
      *x->req->sink_received += len;
    return len;
  }
  /* Error bodies (and small bodies) are kept, truncated at body_max. */
  size_t max = x->req->body_max ? x->req->body_max : SMALL_BODY_MAX;
  x->resp->body.max = max;
  if (buf_append(&x->resp->body, data, len))
    return len;
  if (x->req->sink == NULL && status >= 200 && status < 300) {
    tart_error_kind(x->err, EFBIG, "response from %s is larger than %zu bytes", x->req->url, max);
    x->sink_failed = true;
    return 0;
  }
  /* An error answer: its status is known and the start of its body is all
   * a message needs.  Cut the transfer, or an endless body would hold us
   * for as long as the registry likes. */
  x->error_body_capped = true;
  return 0;
}

static size_t on_read(char *buf, size_t size, size_t n, void *opaque)
{
  struct xfer *x = opaque;
  const struct request *req = x->req;
  size_t want = size * n;
  if (req->source == NULL) {
    size_t left = req->body_len - (size_t)x->sent;
    size_t k = want < left ? want : left;
    memcpy(buf, req->body + x->sent, k);
    x->sent += k;
    return k;
  }
  uint64_t left = req->source_len - x->sent;
  if (left == 0)
    return 0;
  if (want > left)
    want = (size_t)left;
  ssize_t got = req->source(req->source_opaque, req->source_offset + x->sent, (uint8_t *)buf, want, x->err);
  if (got < 0 || (got == 0 && left > 0)) {
    if (got == 0)
      tart_error_kind(x->err, EIO, "upload source ended early");
    x->source_failed = true;
    return CURL_READFUNC_ABORT;
  }
  x->sent += (uint64_t)got;
  return (size_t)got;
}

static int on_seek(void *opaque, curl_off_t offset, int origin)
{
  struct xfer *x = opaque;
  if (origin != SEEK_SET || offset < 0)
    return CURL_SEEKFUNC_CANTSEEK;
  x->sent = (uint64_t)offset;
  return CURL_SEEKFUNC_OK;
}

/* "Authorization: ..." is never logged; everything else of the request line
 * is. */
static int perform(struct registry_conn *c, const struct request *req, struct response *resp,
                   tart_error_t *err)
{
  struct registry *r = c->r;
  CURL *h = c->curl;
  curl_easy_reset(h);
  memset(resp, 0, sizeof(*resp));

  struct xfer x = {.h = h, .req = req, .resp = resp, .err = err};
  struct curl_slist *hdrs = NULL;
  char *auth_line = NULL;
  if (req->send_auth) {
    pthread_mutex_lock(&r->lock);
    if (r->auth_value != NULL && (r->auth_expiry == 0 || time(NULL) < r->auth_expiry))
      auth_line = xasprintf("Authorization: %s", r->auth_value);
    pthread_mutex_unlock(&r->lock);
    if (auth_line)
      hdrs = curl_slist_append(hdrs, auth_line);
  }
  for (const char *const *p = req->headers; p && *p; p++)
    hdrs = curl_slist_append(hdrs, *p);
  /* Registries answer "Expect: 100-continue" poorly; send bodies at once. */
  hdrs = curl_slist_append(hdrs, "Expect:");

  curl_easy_setopt(h, CURLOPT_URL, req->url);
  curl_easy_setopt(h, CURLOPT_USERAGENT, r->user_agent);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L); /* redirects are ours to vet */
  /* Whatever URL a registry made us build, only http(s) goes out (libcurl
   * older than 7.85 knows only the bit mask form). */
  if (curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK)
    curl_easy_setopt(h, TART_CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  /* Every request has a deadline (registry/limits.h). */
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT_S);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, request_timeout_ms(req->sink != NULL || req->source != NULL));
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, (long)STALL_BYTES_PER_S);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)STALL_S);
  curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
  curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 256L * 1024L);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_api_set_ca(h);

  if (!strcmp(req->method, "HEAD")) {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (!strcmp(req->method, "GET")) {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
    if (req->has_body) {
      uint64_t len = req->source ? req->source_len : req->body_len;
      curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
      curl_easy_setopt(h, CURLOPT_READDATA, &x);
      curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
      curl_easy_setopt(h, CURLOPT_SEEKDATA, &x);
      curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
    } else {
      /* An explicit empty body: Content-Length: 0 (POST uploads, PUTs). */
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
    }
  }

  CURLcode rc = curl_easy_perform(h);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
  curl_slist_free_all(hdrs);
  if (auth_line) {
    explicit_bzero(auth_line, strlen(auth_line));
    free(auth_line);
  }
  c->retry_after = resp->retry_after;

  if (log_debug_enabled()) {
    /* Strip the query: upload locations carry opaque state, not secrets,
     * but they are long and say nothing useful. */
    log_debug("%s %.*s -> %ld", req->method, (int)strcspn(req->url, "?"), req->url, resp->status);
  }

  if (x.sink_failed || x.source_failed)
    return -1; /* err set by the callback */
  if (rc == CURLE_WRITE_ERROR && x.error_body_capped)
    rc = CURLE_OK; /* the answer is the status; the body was cut on purpose */
  if (rc != CURLE_OK) {
    int e = EAGAIN;
    if (rc == CURLE_SSL_CACERT || rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CONNECT_ERROR ||
        rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_COULDNT_RESOLVE_HOST)
      e = (rc == CURLE_COULDNT_RESOLVE_HOST) ? EHOSTUNREACH : EPROTO;
    const char *hint = "";
    if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT)
      hint =
          " (the registry's certificate is not trusted: add its CA with SSL_CERT_FILE, or use --insecure for "
          "plain HTTP)";
    if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST)
      return tart_error_kind(err, e, "cannot connect to the registry at %s: %s", r->host,
                             curl_easy_strerror(rc));
    return tart_error_kind(err, e, "%s %s failed: %s%s", req->method, r->host, curl_easy_strerror(rc), hint);
  }
  return 0;
}

/* The "errors" array of a registry error body, shortened to one line. */
static void error_detail(const struct response *resp, char *out, size_t n)
{
  out[0] = '\0';
  if (resp->body.data == NULL)
    return;
  json_t *j = json_loadb(resp->body.data, resp->body.len, 0, NULL);
  json_t *errs = j ? json_object_get(j, "errors") : NULL;
  json_t *first = json_is_array(errs) ? json_array_get(errs, 0) : NULL;
  const char *code = first ? json_string_value(json_object_get(first, "code")) : NULL;
  const char *msg = first ? json_string_value(json_object_get(first, "message")) : NULL;
  if (code || msg)
    snprintf(out, n, ": %s%s%s", code ? code : "", code && msg ? " " : "", msg ? msg : "");
  json_decref(j);
  for (char *p = out; *p; p++)
    if (*p == '\n' || *p == '\r' || (unsigned char)*p < 0x20)
      *p = ' ';
}

static int status_error(const struct registry_conn *c, const char *what, const struct response *resp,
                        tart_error_t *err)
{
  char detail[256];
  error_detail(resp, detail, sizeof(detail));
  long s = resp->status;
  int e = EPROTO;
  if (s == 401 || s == 403)
    e = EACCES;
  else if (s == 404)
    e = ENOENT;
  else if (s == 429 || s >= 500)
    e = EAGAIN;
  tart_error_make(err, 0, "%s on %s/%s: HTTP %ld%s", what, c->r->host, c->r->ns, s, detail);
  if (err && *err)
    (*err)->errnum = e;
  return -1;
}

/* ---- authentication (docs/upstream.md, "Auth flows") ---- */

static int load_creds(struct registry *r, tart_error_t *err)
{
  if (r->creds_loaded)
    return 0;
  int found = credentials_lookup(r->tart_home, r->host, &r->creds, err);
  if (found < 0)
    return -1;
  r->have_creds = found > 0;
  r->creds_loaded = true;
  return 0;
}

static char *basic_value(const struct credentials *cr)
{
  _cleanup_free_ char *plain = xasprintf("%s:%s", cr->username, cr->password);
  size_t n = strlen(plain);
  char *out = xmalloc(4 * ((n + 2) / 3) + 8);
  memcpy(out, "Basic ", 6);
  /* Base64 by hand: small, and avoids another dependency surface here. */
  static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char *o = out + 6;
  const unsigned char *p = (const unsigned char *)plain;
  size_t i = 0;
  for (; i + 2 < n; i += 3) {
    *o++ = tbl[p[i] >> 2];
    *o++ = tbl[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
    *o++ = tbl[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
    *o++ = tbl[p[i + 2] & 63];
  }
  if (i < n) {
    *o++ = tbl[p[i] >> 2];
    if (i + 1 < n) {
      *o++ = tbl[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
      *o++ = tbl[(p[i + 1] & 15) << 2];
    } else {
      *o++ = tbl[(p[i] & 3) << 4];
      *o++ = '=';
    }
    *o++ = '=';
  }
  *o = '\0';
  explicit_bzero(plain, n);
  return out;
}

static char *url_escape(CURL *h, const char *s)
{
  char *e = curl_easy_escape(h, s, 0);
  char *out = xstrdup(e ? e : "");
  curl_free(e);
  return out;
}

static int fetch_token(struct registry_conn *c, const struct auth_challenge *ch, const char *extra_scope,
                       tart_error_t *err)
{
  struct registry *r = c->r;
  const char *realm = auth_challenge_param(ch, "realm");
  if (realm == NULL || *realm == '\0')
    return tart_error_kind(err, EACCES, "registry %s asked for a Bearer token without a realm", r->host);
  if (!registry_url_is_http(realm)) {
    char q[120];
    str_quote(realm, 80, q, sizeof(q));
    return tart_error_kind(err, EPROTO, "registry %s gave a token realm that is not an http(s) URL: %s",
                           r->host, q);
  }
  const char *service = auth_challenge_param(ch, "service");
  const char *scope = auth_challenge_param(ch, "scope");
  _cleanup_free_ char *own_scope = xasprintf("repository:%s:%s", r->ns, r->push ? "pull,push" : "pull");

  /* Ask for what the registry said it needs, or for what we will do. */
  _cleanup_free_ char *q_service = service ? url_escape(c->curl, service) : NULL;
  _cleanup_free_ char *q_scope = url_escape(c->curl, scope && !r->push ? scope : own_scope);
  _cleanup_free_ char *q_extra = extra_scope ? url_escape(c->curl, extra_scope) : NULL;
  _cleanup_free_ char *url = xasprintf("%s%sscope=%s%s%s%s%s", realm, strchr(realm, '?') ? "&" : "?", q_scope,
                                       q_extra ? "&scope=" : "", q_extra ? q_extra : "",
                                       q_service ? "&service=" : "", q_service ? q_service : "");

  char *auth_line = NULL;
  const char *headers[2] = {NULL, NULL};
  pthread_mutex_lock(&r->lock);
  if (r->have_creds) {
    _cleanup_free_ char *v = basic_value(&r->creds);
    auth_line = xasprintf("Authorization: %s", v);
    explicit_bzero(v, strlen(v));
  }
  pthread_mutex_unlock(&r->lock);
  headers[0] = auth_line;

  struct request req = {.method = "GET", .url = url, .headers = headers, .body_max = 64 * 1024};
  struct response resp;
  int ret = perform(c, &req, &resp, err);
  if (auth_line) {
    explicit_bzero(auth_line, strlen(auth_line));
    free(auth_line);
  }
  if (ret < 0) {
    response_clear(&resp);
    return tart_error_wrap(err, "cannot get a token from %.*s", (int)strcspn(realm, "?"), realm);
  }
  if (resp.status != 200) {
    long s = resp.status;
    response_clear(&resp);
    if (s == 401 || s == 403)
      return tart_error_kind(
          err, EACCES,
          "authentication to %s failed: the token server rejected the credentials (HTTP %ld); "
          "check them with 'tart login %s'",
          r->host, s, r->host);
    return tart_error_kind(err, s >= 500 ? EAGAIN : EACCES, "token server %.*s answered HTTP %ld",
                           (int)strcspn(realm, "?"), realm, s);
  }
  json_t *j = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, NULL);
  response_clear(&resp);
  const char *tok = j ? json_string_value(json_object_get(j, "token")) : NULL;
  if (tok == NULL || *tok == '\0')
    tok = j ? json_string_value(json_object_get(j, "access_token")) : NULL;
  if (tok == NULL || *tok == '\0') {
    json_decref(j);
    return tart_error_kind(err, EACCES, "token server for %s returned no token", r->host);
  }
  if (!registry_token_ok(tok)) {
    json_decref(j);
    return tart_error_kind(err, EPROTO,
                           "token server for %s returned a token that cannot be sent (control characters, "
                           "blanks or over %d bytes)",
                           r->host, REGISTRY_TOKEN_MAX);
  }
  json_int_t expires_in = 60;
  json_t *e = json_object_get(j, "expires_in");
  if (json_is_integer(e) && json_integer_value(e) > 0)
    expires_in = json_integer_value(e);
  time_t issued = 0;
  const char *issued_s = json_string_value(json_object_get(j, "issued_at"));
  if (issued_s)
    issued = registry_parse_rfc3339(issued_s);
  time_t now = time(NULL);
  /* A skewed issued_at must not make a fresh token look expired. */
  if (issued == 0 || issued > now || now - issued > expires_in)
    issued = now;

  pthread_mutex_lock(&r->lock);
  if (r->auth_value) {
    explicit_bzero(r->auth_value, strlen(r->auth_value));
    free(r->auth_value);
  }
  r->auth_value = xasprintf("Bearer %s", tok);
  /* Refresh a little early so a long transfer does not start stale. */
  r->auth_expiry = issued + (time_t)expires_in - (expires_in > 30 ? 10 : 0);
  pthread_mutex_unlock(&r->lock);
  json_decref(j);
  return 0;
}

/* Answer a 401 challenge: set the cached Authorization value. */
static int authenticate(struct registry_conn *c, const char *www_auth, const char *extra_scope,
                        tart_error_t *err)
{
  struct registry *r = c->r;
  if (www_auth == NULL)
    return tart_error_kind(err, EACCES, "registry %s answered 401 without a WWW-Authenticate header",
                           r->host);
  struct auth_challenge ch;
  if (auth_challenge_parse(www_auth, &ch, err) < 0) {
    if (*err)
      (*err)->errnum = EACCES;
    return -1;
  }
  pthread_mutex_lock(&r->lock);
  int lr = load_creds(r, err);
  pthread_mutex_unlock(&r->lock);
  int ret = 0;
  if (lr < 0) {
    ret = -1;
  } else if (!strcasecmp(ch.scheme, "Basic")) {
    pthread_mutex_lock(&r->lock);
    if (!r->have_creds) {
      pthread_mutex_unlock(&r->lock);
      ret = tart_error_kind(err, EACCES,
                            "registry %s requires authentication: run 'tart login %s' or set "
                            "TART_REGISTRY_USERNAME and TART_REGISTRY_PASSWORD",
                            r->host, r->host);
    } else {
      if (r->auth_value) {
        explicit_bzero(r->auth_value, strlen(r->auth_value));
        free(r->auth_value);
      }
      r->auth_value = basic_value(&r->creds);
      r->auth_expiry = 0;
      pthread_mutex_unlock(&r->lock);
    }
  } else if (!strcasecmp(ch.scheme, "Bearer")) {
    pthread_mutex_lock(&r->lock);
    free(r->bearer_challenge);
    r->bearer_challenge = xstrdup(www_auth);
    pthread_mutex_unlock(&r->lock);
    ret = fetch_token(c, &ch, extra_scope, err);
  } else {
    ret =
        tart_error_kind(err, EACCES, "registry %s uses the \"%s\" authentication scheme, expected \"Bearer\"",
                        r->host, ch.scheme);
  }
  auth_challenge_clear(&ch);
  return ret;
}

/* Perform with authentication: one retry after answering a 401. */
static int perform_auth(struct registry_conn *c, struct request *req, struct response *resp,
                        const char *extra_scope, tart_error_t *err)
{
  /* Our credentials go to the registry itself only: an upload Location on
   * another host or scheme (object storage, or a hostile registry's
   * choice) gets none (docs/design.md, "Registry client and auth"). */
  _cleanup_free_ char *origin = registry_url_origin(req->url);
  _cleanup_free_ char *ours = xasprintf("%s://%s", c->r->scheme, c->r->host);
  req->send_auth = strcasecmp(origin, ours) == 0;
  if (perform(c, req, resp, err) < 0)
    return -1;
  if (resp->status != 401 || !req->send_auth)
    return 0;
  _cleanup_free_ char *challenge = resp->www_authenticate ? xstrdup(resp->www_authenticate) : NULL;
  /* Credentials that were already used and refused will not do better. */
  bool had_auth;
  pthread_mutex_lock(&c->r->lock);
  had_auth = c->r->auth_value != NULL && c->r->auth_expiry == 0 && c->r->have_creds;
  pthread_mutex_unlock(&c->r->lock);
  if (had_auth && challenge && !strncasecmp(challenge, "Basic", 5)) {
    response_clear(resp);
    return tart_error_kind(err, EACCES,
                           "authentication to %s failed: invalid credentials (check them with "
                           "'tart login %s')",
                           c->r->host, c->r->host);
  }
  response_clear(resp);
  if (authenticate(c, challenge, extra_scope, err) < 0)
    return -1;
  if (perform(c, req, resp, err) < 0)
    return -1;
  return 0; /* a second 401 is reported by the caller as an auth failure */
}

static char *repo_url(const struct registry *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *repo_url(const struct registry *r, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  char *tail = NULL;
  if (vasprintf(&tail, fmt, ap) < 0)
    abort();
  va_end(ap);
  char *u = xasprintf("%s://%s/v2/%s/%s", r->scheme, r->host, r->ns, tail);
  free(tail);
  return u;
}

static int auth_failure(const struct registry_conn *c, const struct response *resp, tart_error_t *err)
{
  (void)resp;
  return tart_error_kind(
      err, EACCES,
      "authentication to %s failed: access to %s denied (check your credentials with 'tart login "
      "%s')",
      c->r->host, c->r->ns, c->r->host);
}

/* Perform with authentication and accept only status `want`: 401/403
 * become an authentication failure, anything else a status error. */
static int exchange(struct registry_conn *c, struct request *req, long want, const char *what,
                    tart_error_t *err)
{
  struct response resp;
  int ret = perform_auth(c, req, &resp, NULL, err);
  if (ret == 0 && (resp.status == 401 || resp.status == 403))
    ret = auth_failure(c, &resp, err);
  else if (ret == 0 && resp.status != want)
    ret = status_error(c, what, &resp, err);
  response_clear(&resp);
  return ret;
}

/* ---- operations ---- */

int registry_ping(struct registry_conn *c, tart_error_t *err)
{
  _cleanup_free_ char *url = xasprintf("%s://%s/v2/", c->r->scheme, c->r->host);
  struct request req = {.method = "GET", .url = url};
  struct response resp;
  if (perform_auth(c, &req, &resp, NULL, err) < 0) {
    response_clear(&resp);
    return -1;
  }
  int ret = 0;
  if (resp.status == 401 || resp.status == 403)
    ret = tart_error_kind(err, EACCES, "invalid credentials: %s rejected them (HTTP %ld)", c->r->host,
                          resp.status);
  else if (resp.status != 200)
    ret = status_error(c, "GET /v2/", &resp, err);
  response_clear(&resp);
  return ret;
}

int registry_manifest_get(struct registry_conn *c, const char *reference, char **body, size_t *len,
                          char **media_type, tart_error_t *err)
{
  _cleanup_free_ char *url = repo_url(c->r, "manifests/%s", reference);
  static const char *const headers[] = {"Accept: " OCI_MEDIA_MANIFEST ", " OCI_MEDIA_INDEX
                                        ", " DOCKER_MEDIA_MANIFEST ", " DOCKER_MEDIA_LIST,
                                        NULL};
  struct request req = {.method = "GET", .url = url, .headers = headers, .body_max = OCI_MANIFEST_MAX};
  struct response resp;
  if (perform_auth(c, &req, &resp, NULL, err) < 0) {
    response_clear(&resp);
    return -1;
  }
  int ret = 0;
  if (resp.status == 401 || resp.status == 403) {
    ret = auth_failure(c, &resp, err);
  } else if (resp.status == 404) {
    ret = tart_error_kind(err, ENOENT, "image %s/%s:%s not found in the registry", c->r->host, c->r->ns,
                          reference);
    if (strncmp(reference, "sha256:", 7) == 0)
      tart_error_kind(err, ENOENT, "image %s/%s@%s not found in the registry", c->r->host, c->r->ns,
                      reference);
  } else if (resp.status != 200) {
    ret = status_error(c, "GET manifest", &resp, err);
  } else {
    *len = resp.body.len;
    *body = resp.body.data ? resp.body.data : xstrdup("");
    resp.body.data = NULL;
    if (media_type) {
      *media_type = resp.content_type;
      resp.content_type = NULL;
    }
  }
  response_clear(&resp);
  return ret;
}

int registry_manifest_put(struct registry_conn *c, const char *reference, const char *media_type,
                          const char *body, size_t len, tart_error_t *err)
{
  _cleanup_free_ char *url = repo_url(c->r, "manifests/%s", reference);
  _cleanup_free_ char *ct = xasprintf("Content-Type: %s", media_type);
  const char *headers[] = {ct, NULL};
  struct request req = {
      .method = "PUT", .url = url, .headers = headers, .body = body, .body_len = len, .has_body = true};
  return exchange(c, &req, 201, "PUT manifest", err);
}

int registry_blob_exists(struct registry_conn *c, const char *digest, bool *exists, tart_error_t *err)
{
  _cleanup_free_ char *url = repo_url(c->r, "blobs/%s", digest);
  struct request req = {.method = "HEAD", .url = url};
  struct response resp;
  if (perform_auth(c, &req, &resp, NULL, err) < 0) {
    response_clear(&resp);
    return -1;
  }
  int ret = 0;
  if (resp.status == 200)
    *exists = true;
  else if (resp.status == 404)
    *exists = false;
  else if (resp.status == 401 || resp.status == 403)
    ret = auth_failure(c, &resp, err);
  else
    ret = status_error(c, "HEAD blob", &resp, err);
  response_clear(&resp);
  return ret;
}

int registry_blob_get(struct registry_conn *c, const char *digest, uint64_t offset, registry_sink_fn sink,
                      void *opaque, uint64_t *received, tart_error_t *err)
{
  struct registry *r = c->r;
  _cleanup_free_ char *url = repo_url(r, "blobs/%s", digest);
  _cleanup_free_ char *origin = registry_url_origin(url);
  char range[64];
  snprintf(range, sizeof(range), "Range: bytes=%llu-", (unsigned long long)offset);
  const char *headers[] = {offset > 0 ? range : NULL, NULL};
  uint64_t got = 0;

  struct request req = {.method = "GET",
                        .url = url,
                        .headers = headers,
                        .sink = sink,
                        .sink_opaque = opaque,
                        .sink_received = &got,
                        .body_max = 64 * 1024,
                        .ranged = offset > 0};
  struct response resp;
  if (perform_auth(c, &req, &resp, NULL, err) < 0)
    goto fail;

  for (int hop = 0; resp.status >= 300 && resp.status < 400 && resp.status != 304; hop++) {
    if (hop >= MAX_REDIRECTS || resp.location == NULL) {
      tart_error_kind(err, EPROTO, "blob %s: too many redirects", digest);
      goto fail;
    }
    _cleanup_free_ char *next = NULL;
    if (registry_resolve_location(r->scheme, r->host, req.url, resp.location, &next, err) < 0) {
      tart_error_wrap(err, "blob %s", digest);
      goto fail;
    }
    _cleanup_free_ char *next_origin = registry_url_origin(next);
    /* Object storage gets a signed URL, never our registry credentials. */
    bool same = strcmp(next_origin, origin) == 0;
    response_clear(&resp);
    free(url);
    url = TAKE_PTR(next);
    req.url = url;
    req.send_auth = same;
    log_debug("blob %s redirected to %s (%s)", digest, next_origin, same ? "same host" : "no credentials");
    if (perform(c, &req, &resp, err) < 0)
      goto fail;
  }

  if (resp.status == 401 || resp.status == 403) {
    auth_failure(c, &resp, err);
    goto fail;
  }
  if (resp.status == 404) {
    tart_error_kind(err, ENOENT, "blob %s not found in %s/%s", digest, r->host, r->ns);
    goto fail;
  }
  if ((offset == 0 && resp.status != 200) || (offset > 0 && resp.status != 206)) {
    if (offset > 0 && resp.status == 200)
      tart_error_kind(err, ERANGE, "registry ignored the Range request for blob %s", digest);
    else
      status_error(c, "GET blob", &resp, err);
    goto fail;
  }
  response_clear(&resp);
  if (received)
    *received = got;
  return 0;

fail:
  response_clear(&resp);
  if (received)
    *received = got;
  return -1;
}

/* POST an upload session; returns its absolute Location. */
static int upload_start(struct registry_conn *c, char **location, tart_error_t *err)
{
  _cleanup_free_ char *url = repo_url(c->r, "blobs/uploads/");
  struct request req = {.method = "POST", .url = url};
  struct response resp;
  if (perform_auth(c, &req, &resp, NULL, err) < 0) {
    response_clear(&resp);
    return -1;
  }
  int ret = 0;
  if (resp.status == 401 || resp.status == 403)
    ret = auth_failure(c, &resp, err);
  else if (resp.status != 202 || resp.location == NULL)
    ret = status_error(c, "POST blob upload", &resp, err);
  else if (registry_resolve_location(c->r->scheme, c->r->host, url, resp.location, location, err) < 0)
    ret = tart_error_wrap(err, "POST blob upload");
  response_clear(&resp);
  return ret;
}

int registry_blob_upload(struct registry_conn *c, const char *digest, uint64_t size,
                         registry_source_fn source, void *opaque, uint64_t chunk_size, tart_error_t *err)
{
  _cleanup_free_ char *location = NULL;
  if (upload_start(c, &location, err) < 0)
    return -1;
  static const char *const ct[] = {"Content-Type: application/octet-stream", NULL};

  uint64_t off = 0;
  if (chunk_size > 0) {
    /* Every chunk but the last goes with PATCH; ECR answers 201 where the
     * spec says 202, so both are fine. */
    while (size - off > chunk_size) {
      char range[96];
      snprintf(range, sizeof(range), "Content-Range: %llu-%llu", (unsigned long long)off,
               (unsigned long long)(off + chunk_size - 1));
      const char *headers[] = {ct[0], range, NULL};
      struct request req = {.method = "PATCH",
                            .url = location,
                            .headers = headers,
                            .source = source,
                            .source_opaque = opaque,
                            .source_offset = off,
                            .source_len = chunk_size,
                            .has_body = true};
      struct response resp;
      if (perform_auth(c, &req, &resp, NULL, err) < 0) {
        response_clear(&resp);
        return -1;
      }
      if ((resp.status != 202 && resp.status != 201) || resp.location == NULL) {
        status_error(c, "PATCH blob", &resp, err);
        response_clear(&resp);
        return -1;
      }
      char *next = NULL;
      int bad = registry_resolve_location(c->r->scheme, c->r->host, location, resp.location, &next, err);
      response_clear(&resp);
      if (bad < 0)
        return tart_error_wrap(err, "PATCH blob");
      free(location);
      location = next;
      off += chunk_size;
    }
  }

  _cleanup_free_ char *put_url =
      xasprintf("%s%sdigest=%s", location, strchr(location, '?') ? "&" : "?", digest);
  struct request req = {.method = "PUT",
                        .url = put_url,
                        .headers = ct,
                        .source = source,
                        .source_opaque = opaque,
                        .source_offset = off,
                        .source_len = size - off,
                        .has_body = size - off > 0};
  return exchange(c, &req, 201, "PUT blob", err);
}

int registry_blob_mount(struct registry_conn *c, const char *digest, const char *from, bool *mounted,
                        tart_error_t *err)
{
  _cleanup_free_ char *q_from = url_escape(c->curl, from);
  _cleanup_free_ char *url = repo_url(c->r, "blobs/uploads/?mount=%s&from=%s", digest, q_from);
  _cleanup_free_ char *scope = xasprintf("repository:%s:pull", from);
  /* With token auth the current token covers only our repository; a mount
   * needs pull rights on the source too, or the registry quietly opens a
   * plain upload instead. */
  pthread_mutex_lock(&c->r->lock);
  _cleanup_free_ char *challenge = c->r->bearer_challenge ? xstrdup(c->r->bearer_challenge) : NULL;
  pthread_mutex_unlock(&c->r->lock);
  if (challenge != NULL) {
    struct auth_challenge ch;
    if (auth_challenge_parse(challenge, &ch, NULL) == 0) {
      tart_error_t ignored = NULL;
      if (fetch_token(c, &ch, scope, &ignored) < 0)
        log_debug("cannot widen the token for a mount from %s: %s", from, ignored->msg);
      tart_error_release(&ignored);
      auth_challenge_clear(&ch);
    }
  }
  struct request req = {.method = "POST", .url = url};
  struct response resp;
  if (perform_auth(c, &req, &resp, scope, err) < 0) {
    response_clear(&resp);
    return -1;
  }
  int ret = 0;
  *mounted = resp.status == 201;
  if (resp.status == 401 || resp.status == 403)
    ret = auth_failure(c, &resp, err);
  else if (resp.status != 201 && resp.status != 202)
    ret = status_error(c, "POST blob mount", &resp, err);
  response_clear(&resp);
  return ret;
}
