/* credentials.h uses size_t without including <stddef.h>. */
#include <stddef.h>

#include "registry/credentials.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pwd.h>
#include <regex.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "registry/limits.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/process.h"
#include "util/util.h"

extern char **environ;

#define DOCKER_PREFIX "invalid docker configuration: "
#define HELPER_PREFIX "docker-credential-"

/* What docker-credential-helpers print (exit status 1) for an unknown
 * server; docker treats it as "no credentials", not as a failure. */
#define HELPER_NOT_FOUND "credentials not found in native keychain"

/* ---- wiping ------------------------------------------------------------ */

static void wipe_free(char *s)
{
  if (s == NULL)
    return;
  explicit_bzero(s, strlen(s));
  free(s);
}

static void wipe_freep(char **s)
{
  wipe_free(*s);
}
#define _cleanup_wipe_ __attribute__((cleanup(wipe_freep)))

/* Config documents hold secrets in their string values; jansson frees them
 * without clearing, so clear them first (best effort: jansson's parser
 * buffers are out of reach). */
static void json_wipe(json_t *v)
{
  if (json_is_string(v)) {
    explicit_bzero((char *)json_string_value(v), json_string_length(v));
  } else if (json_is_object(v)) {
    for (void *it = json_object_iter(v); it != NULL; it = json_object_iter_next(v, it))
      json_wipe(json_object_iter_value(it));
  } else if (json_is_array(v)) {
    for (size_t i = 0; i < json_array_size(v); i++)
      json_wipe(json_array_get(v, i));
  }
}

static void json_wipe_decref(json_t *v)
{
  if (v == NULL)
    return;
  json_wipe(v);
  json_decref(v);
}

static void json_wipe_decrefp(json_t **v)
{
  json_wipe_decref(*v);
}
#define _cleanup_json_ __attribute__((cleanup(json_wipe_decrefp)))

void credentials_clear(struct credentials *c)
{
  if (c == NULL)
    return;
  wipe_free(c->username);
  wipe_free(c->password);
  c->username = NULL;
  c->password = NULL;
}

/* ---- messages ---------------------------------------------------------- */

static void quote(const char *s, char *out, size_t n)
{
  str_quote(s, 60, out, n);
}

static bool has_ctl(const char *s)
{
  for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
    if (*p < 0x20 || *p == 0x7f)
      return true;
  return false;
}

/* ---- base64 ------------------------------------------------------------ */

static bool is_b64_char(unsigned char c)
{
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/* Decode standard base64; the trailing padding may be missing (some tools
 * drop it).  Returns a NUL-terminated buffer, or NULL when the text is not
 * base64 or decodes to bytes holding a NUL (no C string could carry it). */
static char *b64_decode(const char *in)
{
  size_t n = strlen(in), pad = 0;

  while (n > 0 && in[n - 1] == '=' && pad < 2) {
    n--;
    pad++;
  }
  for (size_t i = 0; i < n; i++)
    if (!is_b64_char((unsigned char)in[i]))
      return NULL;
  if (n % 4 == 1)
    return NULL;

  /* EVP_DecodeBlock wants whole quads and counts padding as zero bytes, so
   * pad ourselves and take the padding off the result. */
  size_t full = (n + 3) / 4 * 4;
  _cleanup_wipe_ char *quads = xmalloc(full + 1);
  memcpy(quads, in, n);
  memset(quads + n, '=', full - n);
  quads[full] = '\0';

  unsigned char *out = xmalloc(full / 4 * 3 + 1);
  int r = full == 0 ? 0 : EVP_DecodeBlock(out, (const unsigned char *)quads, (int)full);
  if (r < 0 || (size_t)r < full - n) {
    explicit_bzero(out, full / 4 * 3 + 1);
    free(out);
    return NULL;
  }
  size_t len = (size_t)r - (full - n);
  out[len] = '\0';
  if (memchr(out, '\0', len) != NULL) {
    explicit_bzero(out, len);
    free(out);
    return NULL;
  }
  return (char *)out;
}

static char *b64_encode(const char *in, size_t n)
{
  char *out = xmalloc((n + 2) / 3 * 4 + 1);
  EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)in, (int)n);
  return out;
}

/* ---- docker config ----------------------------------------------------- */

/* Upper bound of the repetition count of an interval expression "{m,n}"
 * starting at p (just after the brace); 1 when it is not one. */
static unsigned long interval_bound(const char *p)
{
  unsigned long max = 1, cur = 0;
  for (; *p != '\0' && *p != '}'; p++) {
    if (*p >= '0' && *p <= '9') {
      if (cur < 100000)
        cur = cur * 10 + (unsigned long)(*p - '0');
    } else {
      cur = 0;
    }
    if (cur > max)
      max = cur;
  }
  return max;
}

/* glibc compiles "x{n}" into n copies of x and "x+" into "xx*", so nested
 * or stacked repetitions grow exponentially: "((a{999}){999}){999}" or
 * "a++++++++++++++++++++++++++++++" would take gigabytes and minutes.  A host
 * pattern needs none of that; refuse patterns whose repetitions multiply
 * past a small budget.  (Counting every '+' and interval, nested or not,
 * overestimates; real patterns stay far below the budget anyway.) */
static bool regex_is_tame(const char *re)
{
  if (strlen(re) > 256)
    return false;
  unsigned long budget = 1;
  bool after_quantifier = false;
  for (const char *p = re; *p != '\0'; p++) {
    if (*p == '\\') {
      /* An escaped character is a literal. */
      if (*++p == '\0')
        break;
      after_quantifier = false;
      continue;
    }
    bool quantifier = *p == '*' || *p == '+' || *p == '?' || *p == '{';
    /* Stacked repetitions ("a**", "a+*", "a{2}*") mean nothing more in a host
     * pattern, and glibc's closure computation explodes on long runs of
     * them (found by fuzzing: "g****...*"). */
    if (quantifier && after_quantifier)
      return false;
    if (*p == '+')
      budget *= 2;
    else if (*p == '{')
      budget *= interval_bound(p + 1) + 1;
    if (budget > 256)
      return false;
    /* The interval's own characters are scanned too: a '{' may be a
     * literal (inside a bracket expression, or not followed by a valid
     * interval), and skipping to its '}' hid the quantifiers in between
     * (found by fuzzing: "[a-{z)??]++++..." compiled for gigabytes). */
    after_quantifier = quantifier;
  }
  return true;
}

/* Does the credHelpers key, read as a POSIX extended regex, match the whole
 * host?  Keys that are not valid regexes on their own are ignored: compiling
 * the key alone first also keeps a key like "x)|(.*" from escaping the
 * anchoring group below. */
static bool regex_full_match(const char *key, const char *host)
{
  regex_t re;

  if (!regex_is_tame(key))
    return false;
  if (regcomp(&re, key, REG_EXTENDED | REG_NOSUB) != 0)
    return false;
  regfree(&re);

  _cleanup_free_ char *anchored = xasprintf("^(%s)$", key);
  if (regcomp(&re, anchored, REG_EXTENDED | REG_NOSUB) != 0)
    return false;
  bool match = regexec(&re, host, 0, NULL, 0) == 0;
  regfree(&re);
  return match;
}

/* A helper name becomes part of a program name searched in PATH: a '/'
 * would let a config run an arbitrary path instead. */
static int take_helper(json_t *v, const char *where, char **helper, tart_error_t *err)
{
  char q[256];

  quote(where, q, sizeof(q));
  if (!json_is_string(v))
    return tart_error_make(err, 0, DOCKER_PREFIX "%s is not a string", q);
  const char *name = json_string_value(v);
  if (name[0] == '\0' || strchr(name, '/') != NULL || has_ctl(name) || strlen(name) > 200)
    return tart_error_make(err, 0, DOCKER_PREFIX "%s is not a valid credential helper name", q);
  if (helper != NULL)
    *helper = xstrdup(name);
  return 0;
}

/* auths[key]: returns 1 with credentials, 0 when the entry holds none (docker
 * writes {} entries when a credsStore keeps the secret), -1 when broken. */
static int from_auth_entry(json_t *entry, const char *key, struct credentials *out, tart_error_t *err)
{
  char q[256];

  quote(key, q, sizeof(q));
  if (json_is_null(entry))
    return 0;
  if (!json_is_object(entry))
    return tart_error_make(err, 0, DOCKER_PREFIX "auths[%s] is not an object", q);
  json_t *auth = json_object_get(entry, "auth");
  if (auth == NULL || json_is_null(auth))
    return 0;
  if (!json_is_string(auth))
    return tart_error_make(err, 0, DOCKER_PREFIX "auths[%s].auth is not a string", q);
  if (json_string_length(auth) == 0)
    return 0;

  _cleanup_wipe_ char *plain = b64_decode(json_string_value(auth));
  if (plain == NULL)
    return tart_error_make(err, 0, DOCKER_PREFIX "auths[%s].auth is not valid base64", q);
  /* Split at the first colon: RFC 7617 forbids ':' in user names but not in
   * passwords.  (Upstream wants exactly one colon and so ignores passwords
   * holding one; we accept them.) */
  char *colon = strchr(plain, ':');
  if (colon == NULL)
    return tart_error_make(err, 0, DOCKER_PREFIX "auths[%s].auth is not \"user:password\"", q);
  *colon = '\0';
  out->username = xstrdup(plain);
  out->password = xstrdup(colon + 1);
  return 1;
}

/* Docker's legacy keys are URLs ("https://index.docker.io/v1/"); like
 * docker's ConvertToHostname, drop the scheme and everything from the first
 * '/' on. */
static bool legacy_key_matches(const char *key, const char *host)
{
  if (strncasecmp(key, "https://", 8) == 0)
    key += 8;
  else if (strncasecmp(key, "http://", 7) == 0)
    key += 7;
  size_t n = strcspn(key, "/");
  return n == strlen(host) && strncmp(key, host, n) == 0;
}

static int lookup_in_doc(json_t *doc, const char *host, struct credentials *out, char **helper,
                         tart_error_t *err)
{
  json_t *v;

  /* credHelpers: the exact key first, then keys read as regexes. */
  json_t *helpers = json_object_get(doc, "credHelpers");
  if (helpers != NULL && !json_is_null(helpers)) {
    if (!json_is_object(helpers))
      return tart_error_make(err, 0, DOCKER_PREFIX "\"credHelpers\" is not an object");
    v = json_object_get(helpers, host);
    if (v != NULL)
      return take_helper(v, host, helper, err);
    for (void *it = json_object_iter(helpers); it != NULL; it = json_object_iter_next(helpers, it)) {
      const char *key = json_object_iter_key(it);
      if (regex_full_match(key, host))
        return take_helper(json_object_iter_value(it), key, helper, err);
    }
  }

  /* auths: the exact key, then URL-style legacy keys. */
  json_t *auths = json_object_get(doc, "auths");
  if (auths != NULL && !json_is_null(auths)) {
    if (!json_is_object(auths))
      return tart_error_make(err, 0, DOCKER_PREFIX "\"auths\" is not an object");
    v = json_object_get(auths, host);
    if (v != NULL) {
      int rc = from_auth_entry(v, host, out, err);
      if (rc != 0)
        return rc;
    }
    for (void *it = json_object_iter(auths); it != NULL; it = json_object_iter_next(auths, it)) {
      const char *key = json_object_iter_key(it);
      if (strcmp(key, host) == 0 || !legacy_key_matches(key, host))
        continue;
      int rc = from_auth_entry(json_object_iter_value(it), key, out, err);
      if (rc != 0)
        return rc;
    }
  }

  /* credsStore: one helper for every host.  Docker writes "" to mean none. */
  json_t *store = json_object_get(doc, "credsStore");
  if (store != NULL && !json_is_null(store)) {
    if (json_is_string(store) && json_string_length(store) == 0)
      return 0;
    return take_helper(store, "credsStore", helper, err);
  }
  return 0;
}

int credentials_from_docker_config(const char *json_text, size_t len, const char *host,
                                   struct credentials *out, char **helper, tart_error_t *err)
{
  memset(out, 0, sizeof(*out));
  if (helper != NULL)
    *helper = NULL;

  /* jansson's message may quote the text around the error, which can be a
   * secret: report the position only. */
  json_error_t jerr;
  _cleanup_json_ json_t *doc = json_loadb(json_text, len, 0, &jerr);
  if (doc == NULL)
    return tart_error_make(err, 0, DOCKER_PREFIX "not valid JSON (line %d, column %d)", jerr.line,
                           jerr.column);
  if (!json_is_object(doc))
    return tart_error_make(err, 0, DOCKER_PREFIX "the top-level value is not a JSON object");

  int rc = lookup_in_doc(doc, host, out, helper, err);
  if (rc < 0) {
    credentials_clear(out);
    if (helper != NULL) {
      free(*helper);
      *helper = NULL;
    }
  }
  return rc;
}

int credentials_from_helper_output(const char *json_text, size_t len, struct credentials *out,
                                   tart_error_t *err)
{
  memset(out, 0, sizeof(*out));

  size_t i = 0;
  while (i < len && strchr(" \t\r\n", json_text[i]) != NULL && json_text[i] != '\0')
    i++;
  if (i == len)
    return tart_error_make(err, 0, "credential helper output is empty");

  json_error_t jerr;
  _cleanup_json_ json_t *doc = json_loadb(json_text, len, 0, &jerr);
  if (doc == NULL)
    return tart_error_make(err, 0, "credential helper output is not valid JSON (line %d, column %d)",
                           jerr.line, jerr.column);
  if (!json_is_object(doc))
    return tart_error_make(err, 0, "credential helper output is not a JSON object");
  json_t *user = json_object_get(doc, "Username");
  json_t *secret = json_object_get(doc, "Secret");
  if (!json_is_string(user))
    return tart_error_make(err, 0, "credential helper output has no \"Username\" string");
  if (!json_is_string(secret))
    return tart_error_make(err, 0, "credential helper output has no \"Secret\" string");
  /* "<token>" as user name marks an identity token; the caller passes it on
   * unchanged, as docker does. */
  out->username = xstrdup(json_string_value(user));
  out->password = xstrdup(json_string_value(secret));
  return 0;
}

/* ---- running a credential helper --------------------------------------- */

struct capture {
  char *data;
  size_t len, max;
  bool overflow;
};

static void capture_add(struct capture *c, const char *p, size_t n)
{
  if (c->len + n > c->max) {
    c->overflow = true;
    n = c->max - c->len;
  }
  if (n == 0)
    return;
  c->data = xrealloc(c->data, c->len + n + 1);
  memcpy(c->data + c->len, p, n);
  c->len += n;
  c->data[c->len] = '\0';
}

static void close_pair(int p[2])
{
  for (int i = 0; i < 2; i++)
    if (p[i] >= 0) {
      close(p[i]);
      p[i] = -1;
    }
}

/* First non-empty line of s, made printable, for an error message. */
static void first_line(const char *s, char *out, size_t n)
{
  out[0] = '\0';
  if (s == NULL)
    return;
  while (*s != '\0') {
    size_t l = strcspn(s, "\n");
    const char *p = s, *e = s + l;
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\r'))
      p++;
    while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
      e--;
    if (p < e) {
      snprintf(out, n, "%.*s", (int)(e - p), p);
      for (unsigned char *q = (unsigned char *)out; *q != '\0'; q++)
        if (*q < 0x20 || *q >= 0x7f)
          *q = '?';
      return;
    }
    s += l + (s[l] == '\n');
  }
}

/* Is prog an executable file in some PATH directory?  posix_spawnp would
 * tell us too, but not when the process runs under valgrind (the child then
 * just exits 127), and "not found in PATH" is the message users act on. */
static bool in_path(const char *prog)
{
  const char *path = getenv("PATH");
  if (path == NULL)
    path = "/bin:/usr/bin";
  while (*path != '\0') {
    size_t n = strcspn(path, ":");
    /* An empty entry means the current directory, as for execvp. */
    _cleanup_free_ char *full = n == 0 ? xstrdup(prog) : xasprintf("%.*s/%s", (int)n, path, prog);
    if (access(full, X_OK) == 0)
      return true;
    path += n + (path[n] == ':');
  }
  return false;
}

static long long monotonic_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long helper_timeout_ms(void)
{
  const char *v = getenv("TART_HELPER_TIMEOUT_MS");
  char *end;
  long ms = v && *v ? strtol(v, &end, 10) : 0;
  return v && *v && *end == '\0' && ms > 0 && ms <= HELPER_TIMEOUT_MS ? ms : HELPER_TIMEOUT_MS;
}

/* Run `docker-credential-<name> get` with "host\n" on stdin, no shell, and
 * capture its stdout (bounded).  process_run cannot feed stdin, hence this.
 * Returns 1 with credentials, 0 when the helper knows no credentials for
 * host, -1 on failure. */
static int run_helper(const char *name, const char *host, struct credentials *out, tart_error_t *err)
{
  _cleanup_free_ char *prog = xasprintf(HELPER_PREFIX "%s", name);
  const char *argv[] = {prog, "get", NULL};
  int in[2] = {-1, -1}, o[2] = {-1, -1}, e[2] = {-1, -1};

  memset(out, 0, sizeof(*out));
  if (strlen(host) > HOST_MAX || has_ctl(host))
    return tart_error_make(err, 0, "%s: invalid registry host", prog);
  if (!in_path(prog))
    return tart_error_make(err, 0, "%s not found in PATH", prog);
  if (pipe2(in, O_CLOEXEC) < 0 || pipe2(o, O_CLOEXEC) < 0 || pipe2(e, O_CLOEXEC) < 0) {
    int errnum = errno;
    close_pair(in);
    close_pair(o);
    close_pair(e);
    return tart_error_make(err, errnum, "cannot run %s", prog);
  }

  /* The whole input goes into the pipe before the helper exists: it fits in
   * the pipe buffer, so this cannot block, and a helper that exits without
   * reading cannot hit us with SIGPIPE. */
  _cleanup_free_ char *line = xasprintf("%s\n", host);
  size_t line_len = strlen(line);
  ssize_t w;
  do
    w = write(in[1], line, line_len);
  while (w < 0 && errno == EINTR);
  if (w != (ssize_t)line_len) {
    int errnum = w < 0 ? errno : EIO;
    close_pair(in);
    close_pair(o);
    close_pair(e);
    return tart_error_make(err, errnum, "cannot write to %s", prog);
  }
  close(in[1]);
  in[1] = -1;

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, o[1], 1);
  posix_spawn_file_actions_adddup2(&fa, e[1], 2);
  pid_t pid;
  posix_spawnattr_t attr;
  process_spawnattr_clean(&attr);
  int r = posix_spawnp(&pid, prog, &fa, &attr, (char *const *)argv, environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  close(in[0]);
  close(o[1]);
  close(e[1]);
  if (r != 0) {
    close(o[0]);
    close(e[0]);
    if (r == ENOENT)
      return tart_error_make(err, 0, "%s not found in PATH", prog);
    return tart_error_make(err, r, "cannot run %s", prog);
  }

  struct capture cout = {.max = HELPER_OUTPUT_MAX}, cerr = {.max = HELPER_STDERR_MAX};
  struct pollfd pfd[2] = {{.fd = o[0], .events = POLLIN}, {.fd = e[0], .events = POLLIN}};
  int open_fds = 2;
  bool killed = false, timed_out = false;
  long timeout_ms = helper_timeout_ms();
  long long deadline = monotonic_ms() + timeout_ms;
  while (open_fds > 0) {
    long long left = deadline - monotonic_ms();
    int pr = left > 0 ? poll(pfd, 2, (int)left) : 0;
    if (pr < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    if (pr == 0) {
      /* It ran out of time, or left a child holding its output open. */
      kill(pid, SIGKILL);
      timed_out = true;
      break;
    }
    for (int i = 0; i < 2; i++) {
      if (pfd[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
        continue;
      char chunk[4096];
      ssize_t n = read(pfd[i].fd, chunk, sizeof(chunk));
      if (n < 0 && (errno == EINTR || errno == EAGAIN))
        continue;
      if (n <= 0) {
        close(pfd[i].fd);
        pfd[i].fd = -1;
        open_fds--;
        continue;
      }
      capture_add(i == 0 ? &cout : &cerr, chunk, (size_t)n);
      explicit_bzero(chunk, sizeof(chunk));
    }
    /* Endless output: stop the helper rather than read forever.  Only stdout
     * counts; stderr beyond its cap is read and dropped. */
    if (cout.overflow && !killed) {
      kill(pid, SIGKILL);
      killed = true;
      break;
    }
  }
  for (int i = 0; i < 2; i++)
    if (pfd[i].fd >= 0)
      close(pfd[i].fd);

  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;

  int ret;
  char msg[256];
  if (timed_out) {
    ret = tart_error_make(err, ETIMEDOUT, "%s did not answer within %ld s (it was stopped)", prog,
                          (timeout_ms + 999) / 1000);
  } else if (killed) {
    ret = tart_error_make(err, 0, "%s printed more than %d bytes", prog, HELPER_OUTPUT_MAX);
  } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    ret = credentials_from_helper_output(cout.data ? cout.data : "", cout.len, out, err) < 0 ? -1 : 1;
    if (ret < 0)
      tart_error_wrap(err, "%s", prog);
  } else {
    /* By the helper protocol stdout now holds an error message, not a
     * secret; still, never echo anything that looks like JSON. */
    first_line(cout.data, msg, sizeof(msg));
    if (strcmp(msg, HELPER_NOT_FOUND) == 0) {
      log_debug("%s has no credentials for %s", prog, host);
      ret = 0;
    } else {
      if (msg[0] == '\0' || msg[0] == '{')
        first_line(cerr.data, msg, sizeof(msg));
      if (msg[0] == '{')
        msg[0] = '\0';
      if (WIFSIGNALED(status))
        ret = tart_error_make(err, 0, "%s was killed by signal %d%s%s", prog, WTERMSIG(status),
                              msg[0] ? ": " : "", msg);
      else
        ret = tart_error_make(err, 0, "%s failed with exit status %d%s%s", prog, WEXITSTATUS(status),
                              msg[0] ? ": " : "", msg);
    }
  }
  if (cout.data != NULL)
    explicit_bzero(cout.data, cout.len);
  free(cout.data);
  free(cerr.data);
  return ret;
}

/* ---- lookup ------------------------------------------------------------ */

static void warn_provider(const char *provider, tart_error_t *e)
{
  log_warn("Failed to retrieve credentials using %s, authentication may fail: %s", provider,
           *e != NULL ? (*e)->msg : "unknown error");
  tart_error_release(e);
}

/* One docker-format file.  Returns 1 found, 0 not found or provider failed
 * (warned), -1 only for a missing file when missing_is_error. */
static int from_config_file(const char *path, const char *provider, bool missing_is_error, const char *host,
                            struct credentials *out, tart_error_t *err)
{
  _cleanup_error_ tart_error_t e = NULL;
  _cleanup_wipe_ char *text = NULL;
  size_t len = 0;

  if (read_file(path, CONFIG_MAX, &text, &len, &e) < 0) {
    if (e->errnum == ENOENT) {
      if (missing_is_error)
        return tart_error_make(
            err, 0, "Registry authentication failed. Could not find docker configuration at '%s'.", path);
      return 0;
    }
    warn_provider(provider, &e);
    return 0;
  }

  _cleanup_free_ char *helper = NULL;
  int rc = credentials_from_docker_config(text, len, host, out, &helper, &e);
  if (rc < 0) {
    tart_error_wrap(&e, "%s", path);
    warn_provider(provider, &e);
    return 0;
  }
  if (rc == 1)
    return 1;
  if (helper == NULL)
    return 0;

  rc = run_helper(helper, host, out, &e);
  if (rc < 0) {
    _cleanup_free_ char *name = xasprintf(HELPER_PREFIX "%s", helper);
    warn_provider(name, &e);
    return 0;
  }
  return rc;
}

static char *home_dir(void)
{
  const char *h = getenv("HOME");
  if (h != NULL && h[0] != '\0')
    return xstrdup(h);
  struct passwd *pw = getpwuid(getuid());
  if (pw != NULL && pw->pw_dir != NULL && pw->pw_dir[0] != '\0')
    return xstrdup(pw->pw_dir);
  return NULL;
}

int credentials_lookup(const char *tart_home, const char *host, struct credentials *out, tart_error_t *err)
{
  memset(out, 0, sizeof(*out));

  /* 1. Environment.  As upstream, set-but-empty values count as set. */
  const char *user = getenv("TART_REGISTRY_USERNAME");
  const char *pass = getenv("TART_REGISTRY_PASSWORD");
  if (user != NULL && pass != NULL) {
    const char *only = getenv("TART_REGISTRY_HOSTNAME");
    if (only == NULL || strcmp(only, host) == 0) {
      out->username = xstrdup(user);
      out->password = xstrdup(pass);
      return 1;
    }
  }

  /* 2. $TART_HOME/auth.json, written by `tart login`. */
  if (tart_home != NULL) {
    _cleanup_free_ char *path = xasprintf("%s/auth.json", tart_home);
    int rc = from_config_file(path, "auth.json", false, host, out, err);
    if (rc != 0)
      return rc;
  }

  /* 3. The docker config.  An empty TART_DOCKER_CONFIG counts as unset, so
   * that `TART_DOCKER_CONFIG= tart pull` falls back to the default. */
  const char *explicit_path = getenv("TART_DOCKER_CONFIG");
  if (explicit_path != NULL && explicit_path[0] != '\0')
    return from_config_file(explicit_path, "docker configuration", true, host, out, err);

  _cleanup_free_ char *home = home_dir();
  if (home == NULL)
    return 0;
  _cleanup_free_ char *path = xasprintf("%s/.docker/config.json", home);
  return from_config_file(path, "docker configuration", false, host, out, err);
}

/* ---- auth.json maintenance --------------------------------------------- */

/* Returns 1 with *doc loaded, 0 when the file does not exist, -1 on error.
 * A file that is not a JSON object is an error rather than something to
 * overwrite: it may hold someone's hand-written credentials. */
static int load_auth_json(const char *path, json_t **doc, tart_error_t *err)
{
  _cleanup_wipe_ char *text = NULL;
  _cleanup_error_ tart_error_t e = NULL;
  size_t len = 0;

  *doc = NULL;
  if (read_file(path, CONFIG_MAX, &text, &len, &e) < 0) {
    if (e->errnum == ENOENT)
      return 0;
    return tart_error_make(err, e->errnum, "cannot read %s", path);
  }
  json_error_t jerr;
  json_t *d = json_loadb(text, len, 0, &jerr);
  if (d == NULL)
    return tart_error_make(err, 0, "%s is not valid JSON (line %d, column %d)", path, jerr.line, jerr.column);
  if (!json_is_object(d)) {
    json_wipe_decref(d);
    return tart_error_make(err, 0, "%s: the top-level value is not a JSON object", path);
  }
  *doc = d;
  return 1;
}

static int save_auth_json(const char *path, json_t *doc, tart_error_t *err)
{
  char *dumped = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  if (dumped == NULL)
    abort(); /* jansson fails here only on OOM, which xmalloc treats as fatal too */
  _cleanup_wipe_ char *text = xasprintf("%s\n", dumped);
  explicit_bzero(dumped, strlen(dumped));
  /* Release with jansson's own deallocator in case someone installed custom
   * allocation functions. */
  json_free_t free_fn = NULL;
  json_get_alloc_funcs(NULL, &free_fn);
  (free_fn != NULL ? free_fn : free)(dumped);

  /* write_file_atomic creates the temporary file 0600 (mkostemp) and sets
   * the mode before writing: the secret is never readable by others. */
  return write_file_atomic(path, text, strlen(text), 0600, err);
}

static int check_host(const char *host, tart_error_t *err)
{
  if (host == NULL || host[0] == '\0')
    return tart_error_make(err, 0, "registry host is empty");
  if (has_ctl(host))
    return tart_error_make(err, 0, "registry host contains control characters");
  return 0;
}

int credentials_store(const char *tart_home, const char *host, const struct credentials *c, tart_error_t *err)
{
  if (check_host(host, err) < 0)
    return -1;
  if (c == NULL || c->username == NULL || c->password == NULL)
    return tart_error_make(err, 0, "missing user name or password");
  /* Basic authentication cannot carry a ':' in the user name. */
  if (strchr(c->username, ':') != NULL)
    return tart_error_make(err, 0, "the user name must not contain ':'");

  _cleanup_free_ char *path = xasprintf("%s/auth.json", tart_home);
  _cleanup_json_ json_t *doc = NULL;
  if (load_auth_json(path, &doc, err) < 0)
    return tart_error_wrap(err, "cannot update credentials");
  if (doc == NULL)
    doc = json_object();

  json_t *auths = json_object_get(doc, "auths");
  if (auths == NULL || json_is_null(auths)) {
    auths = json_object();
    json_object_set_new(doc, "auths", auths);
  } else if (!json_is_object(auths)) {
    return tart_error_make(err, 0, "cannot update credentials: %s: \"auths\" is not an object", path);
  }

  _cleanup_wipe_ char *plain = xasprintf("%s:%s", c->username, c->password);
  _cleanup_wipe_ char *encoded = b64_encode(plain, strlen(plain));
  json_t *entry = json_object();
  json_object_set_new(entry, "auth", json_string(encoded));
  /* Replaces the whole entry: stale identity tokens must not outlive a new
   * login.  jansson refuses keys that are not UTF-8. */
  if (json_object_set_new(auths, host, entry) < 0)
    return tart_error_make(err, 0, "cannot update credentials: the registry host is not valid UTF-8");

  if (save_auth_json(path, doc, err) < 0)
    return tart_error_wrap(err, "cannot update credentials");
  return 0;
}

int credentials_remove(const char *tart_home, const char *host, tart_error_t *err)
{
  if (check_host(host, err) < 0)
    return -1;

  _cleanup_free_ char *path = xasprintf("%s/auth.json", tart_home);
  _cleanup_json_ json_t *doc = NULL;
  int rc = load_auth_json(path, &doc, err);
  if (rc < 0)
    return tart_error_wrap(err, "cannot update credentials");
  if (rc == 0)
    return 0;

  json_t *auths = json_object_get(doc, "auths");
  if (!json_is_object(auths) || json_object_get(auths, host) == NULL)
    return 0;
  json_object_del(auths, host);
  if (save_auth_json(path, doc, err) < 0)
    return tart_error_wrap(err, "cannot update credentials");
  return 0;
}
