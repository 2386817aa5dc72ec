#include "qemu/qmp.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"
#include "util/util.h"

/* QEMU's largest replies (query-qmp-schema, about 200 KiB) are far below
 * this; the bound only stops a runaway peer from eating memory. */
#define QMP_MAX_LINE (16u << 20)
/* Events nobody waits for (RTC_CHANGE, NIC_RX_FILTER_CHANGED, ...) must not
 * pile up forever in a long-running supervisor. */
#define QMP_MAX_EVENTS 1024
#define READ_CHUNK     65536
/* Debug logs show this much of a line. */
#define LOG_MAX 2048

/* ---- Time ---------------------------------------------------------------- */

int64_t qmp_now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t qmp_deadline(int timeout_ms)
{
  return timeout_ms < 0 ? -1 : qmp_now_ms() + timeout_ms;
}

/* Milliseconds left before deadline, as a poll(2) timeout. */
static int remaining_ms(int64_t deadline)
{
  if (deadline < 0)
    return -1;
  int64_t left = deadline - qmp_now_ms();
  if (left <= 0)
    return 0;
  return left > INT32_MAX ? INT32_MAX : (int)left;
}

static void fmt_duration(int ms, char *buf, size_t n)
{
  if (ms >= 1000 && ms % 1000 == 0)
    snprintf(buf, n, "%d s", ms / 1000);
  else
    snprintf(buf, n, "%d ms", ms);
}

/* ---- Channel ------------------------------------------------------------- */

/* sockaddr_un for path.  A path too long for sun_path goes through the
 * directory's O_PATH descriptor (*dirfd, closed by the caller): the kernel
 * resolves "/proc/self/fd/N/name" by following the magic link to the very
 * directory we opened, so no chdir (which would race with other threads) is
 * needed. */
static int unix_address(const char *path, struct sockaddr_un *sa, int *dirfd, tart_error_t *err)
{
  memset(sa, 0, sizeof(*sa));
  sa->sun_family = AF_UNIX;
  size_t len = strlen(path);
  if (len == 0)
    return tart_error_kind(err, EINVAL, "empty socket path");
  if (len < sizeof(sa->sun_path)) {
    memcpy(sa->sun_path, path, len + 1);
    return 0;
  }

  const char *slash = strrchr(path, '/');
  const char *base = slash ? slash + 1 : path;
  _cleanup_free_ char *dir = slash == NULL   ? xstrdup(".")
                             : slash == path ? xstrdup("/")
                                             : strndup(path, slash - path);
  if (dir == NULL)
    abort();
  if (*base == '\0')
    return tart_error_kind(err, EINVAL, "socket path %s ends with '/'", path);
  *dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (*dirfd < 0)
    return tart_error_make(err, errno, "cannot open the directory of socket %s", path);
  int n = snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/%s", *dirfd, base);
  if (n < 0 || (size_t)n >= sizeof(sa->sun_path))
    return tart_error_kind(err, ENAMETOOLONG,
                           "socket path %s is too long: its last component must fit in %zu bytes", path,
                           sizeof(sa->sun_path) - 1 - ((size_t)n - strlen(base)));
  return 0;
}

void qmp_chan_init_fd(struct qmp_chan *c, int fd, size_t max_line, const char *what)
{
  memset(c, 0, sizeof(*c));
  c->fd = fd;
  c->max_line = max_line;
  c->what = xstrdup(what);
}

int qmp_chan_connect(struct qmp_chan *c, const char *path, int64_t deadline, size_t max_line,
                     const char *what, tart_error_t *err)
{
  memset(c, 0, sizeof(*c));
  c->fd = -1;
  _cleanup_close_ int dirfd = -1;
  struct sockaddr_un sa;
  if (unix_address(path, &sa, &dirfd, err) < 0)
    return -1;

  _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return tart_error_make(err, errno, "cannot create a socket");
  for (;;) {
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
      break;
    if (errno == EINTR)
      continue;
    /* A non-blocking AF_UNIX connect fails with EAGAIN while the listener's
     * backlog is full; it never returns EINPROGRESS. */
    if (errno == EAGAIN) {
      int left = remaining_ms(deadline);
      if (left == 0)
        return tart_error_kind(err, ETIMEDOUT, "timed out connecting to %s %s", what, path);
      poll(NULL, 0, left < 0 || left > 10 ? 10 : left);
      continue;
    }
    return tart_error_make(err, errno, "cannot connect to %s %s", what, path);
  }

  char *label = xasprintf("%s %s", what, path);
  qmp_chan_init_fd(c, TAKE_FD(fd), max_line, label);
  free(label);
  return 0;
}

void qmp_chan_close(struct qmp_chan *c)
{
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
  free(c->buf);
  c->buf = NULL;
  free(c->what);
  c->what = NULL;
  c->start = c->end = c->cap = 0;
}

int qmp_chan_send(struct qmp_chan *c, const void *data, size_t len, int64_t deadline, tart_error_t *err)
{
  const char *p = data;
  while (len > 0) {
    ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      p += n;
      len -= (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno != EAGAIN)
      return tart_error_make(err, errno, "cannot write to %s", c->what);
    struct pollfd pfd = {.fd = c->fd, .events = POLLOUT};
    int r = poll(&pfd, 1, remaining_ms(deadline));
    if (r < 0 && errno != EINTR)
      return tart_error_make(err, errno, "cannot wait for %s", c->what);
    if (r == 0)
      return tart_error_kind(err, ETIMEDOUT, "timed out writing to %s", c->what);
  }
  return 0;
}

/* Read more bytes into the buffer.  1: got bytes or end of file, 0: deadline
 * passed, -1: error. */
static int chan_fill(struct qmp_chan *c, int64_t deadline, tart_error_t *err)
{
  if (c->start == c->end) {
    c->start = c->end = 0;
  } else if (c->start > 0 && c->cap - c->end < READ_CHUNK) {
    memmove(c->buf, c->buf + c->start, c->end - c->start);
    c->end -= c->start;
    c->start = 0;
  }
  if (c->cap - c->end < READ_CHUNK) {
    /* Pending bytes never exceed max_line here (the callers check), so
     * the buffer stays below max_line + READ_CHUNK. */
    size_t want = c->cap * 2;
    if (want < c->end + READ_CHUNK)
      want = c->end + READ_CHUNK;
    if (want > c->max_line + READ_CHUNK + 1)
      want = c->max_line + READ_CHUNK + 1;
    if (want > c->cap) {
      c->buf = xrealloc(c->buf, want);
      c->cap = want;
    }
  }

  for (;;) {
    /* Try first, poll second: a caller polling with a zero timeout still
     * gets what is already queued. */
    ssize_t n = recv(c->fd, c->buf + c->end, c->cap - c->end, MSG_DONTWAIT);
    if (n > 0) {
      c->end += (size_t)n;
      return 1;
    }
    if (n == 0) {
      c->eof = true;
      return 1;
    }
    if (errno == EINTR)
      continue;
    if (errno == ECONNRESET) {
      c->eof = true;
      return 1;
    }
    if (errno != EAGAIN)
      return tart_error_make(err, errno, "cannot read from %s", c->what);
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    int r = poll(&pfd, 1, remaining_ms(deadline));
    if (r < 0 && errno != EINTR)
      return tart_error_make(err, errno, "cannot wait for %s", c->what);
    if (r == 0)
      return 0;
  }
}

static int chan_closed_error(struct qmp_chan *c, tart_error_t *err)
{
  if (c->end > c->start)
    return tart_error_kind(err, ECONNRESET, "%s closed the connection in the middle of a message", c->what);
  return tart_error_kind(err, ECONNRESET, "%s closed the connection", c->what);
}

int qmp_chan_read_line(struct qmp_chan *c, int64_t deadline, char **line, size_t *len, tart_error_t *err)
{
  size_t scanned = 0; /* bytes after start known to hold no '\n' */
  for (;;) {
    size_t pending = c->end - c->start;
    char *nl = pending > scanned ? memchr(c->buf + c->start + scanned, '\n', pending - scanned) : NULL;
    if (nl != NULL) {
      size_t n = (size_t)(nl - (c->buf + c->start));
      if (n > c->max_line)
        return tart_error_kind(err, EMSGSIZE, "%s sent a message longer than %zu bytes", c->what,
                               c->max_line);
      *nl = '\0';
      *line = c->buf + c->start;
      *len = n;
      c->start += n + 1;
      return 1;
    }
    if (pending > c->max_line)
      return tart_error_kind(err, EMSGSIZE, "%s sent a message longer than %zu bytes", c->what, c->max_line);
    if (c->eof)
      return chan_closed_error(c, err);
    /* chan_fill may move the pending bytes to the front; scanned counts
     * from start, so it stays right. */
    scanned = pending;
    int r = chan_fill(c, deadline, err);
    if (r <= 0)
      return r;
  }
}

int qmp_chan_skip_past(struct qmp_chan *c, unsigned char byte, int64_t deadline, tart_error_t *err)
{
  for (;;) {
    char *p = c->end > c->start ? memchr(c->buf + c->start, byte, c->end - c->start) : NULL;
    if (p != NULL) {
      c->start = (size_t)(p - c->buf) + 1;
      return 1;
    }
    c->start = c->end = 0;
    if (c->eof)
      return chan_closed_error(c, err);
    int r = chan_fill(c, deadline, err);
    if (r <= 0)
      return r;
  }
}

/* ---- Parsing ------------------------------------------------------------- */

/* jansson's messages quote the input ("invalid token near '...'"); keep
 * only printable ASCII so nothing from the peer reaches a terminal raw. */
static void printable_copy(char *dst, size_t n, const char *src)
{
  size_t i = 0;
  for (; src[i] != '\0' && i + 1 < n; i++)
    dst[i] = (unsigned char)src[i] >= 0x20 && (unsigned char)src[i] < 0x7f ? src[i] : '?';
  dst[i] = '\0';
}

void qmp_msg_clear(struct qmp_msg *m)
{
  json_decref(m->root);
  memset(m, 0, sizeof(*m));
}

int qmp_parse_line(const char *line, size_t len, struct qmp_msg *out, tart_error_t *err)
{
  memset(out, 0, sizeof(*out));
  json_error_t jerr;
  json_t *root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
  if (root == NULL) {
    char text[JSON_ERROR_TEXT_LENGTH];
    printable_copy(text, sizeof(text), jerr.text);
    return tart_error_kind(err, EPROTO, "malformed QMP message: %s", text);
  }
  if (!json_is_object(root)) {
    json_decref(root);
    return tart_error_kind(err, EPROTO, "malformed QMP message: not a JSON object");
  }

  json_t *greeting = json_object_get(root, "QMP");
  json_t *ret = json_object_get(root, "return");
  json_t *error = json_object_get(root, "error");
  json_t *event = json_object_get(root, "event");
  int n = (greeting != NULL) + (ret != NULL) + (error != NULL) + (event != NULL);
  const char *why = NULL;
  if (n != 1)
    why = "expected exactly one of QMP, return, error, event";
  else if (greeting != NULL && !json_is_object(greeting))
    why = "QMP is not an object";
  else if (error != NULL && !json_is_object(error))
    why = "error is not an object";
  else if (error != NULL && !json_is_string(json_object_get(error, "desc")))
    why = "error without a desc string";
  else if (error != NULL && json_object_get(error, "class") != NULL &&
           !json_is_string(json_object_get(error, "class")))
    why = "error class is not a string";
  else if (event != NULL && !json_is_string(event))
    why = "event is not a string";
  if (why != NULL) {
    json_decref(root);
    return tart_error_kind(err, EPROTO, "malformed QMP message: %s", why);
  }

  out->root = root;
  json_t *id = json_object_get(root, "id");
  if (id != NULL) {
    out->has_id = true;
    out->id = json_is_integer(id) && json_integer_value(id) >= 0 ? json_integer_value(id) : -1;
  }
  if (greeting != NULL) {
    out->kind = QMP_MSG_GREETING;
    out->data = greeting;
  } else if (ret != NULL) {
    out->kind = QMP_MSG_RETURN;
    out->data = ret;
  } else if (error != NULL) {
    out->kind = QMP_MSG_ERROR;
    json_t *cls = json_object_get(error, "class");
    out->error_class = cls ? json_string_value(cls) : "GenericError";
    out->error_desc = json_string_value(json_object_get(error, "desc"));
  } else {
    out->kind = QMP_MSG_EVENT;
    out->event = json_string_value(event);
    out->data = json_object_get(root, "data");
  }
  return 0;
}

static bool secret_key(const char *key)
{
  return strcmp(key, "password") == 0 || strcmp(key, "secret") == 0 || strcmp(key, "input-data") == 0;
}

static void redact(json_t *v)
{
  if (json_is_object(v)) {
    const char *key;
    json_t *member;
    json_object_foreach(v, key, member)
    {
      if (secret_key(key))
        json_object_set_new(v, key, json_string("<redacted>"));
      else
        redact(member);
    }
  } else if (json_is_array(v)) {
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
      redact(item);
    }
  }
}

char *qmp_log_text(const json_t *msg)
{
  json_t *copy = json_deep_copy(msg);
  if (copy == NULL)
    return xstrdup("<unprintable>");
  redact(copy);
  char *s = json_dumps(copy, JSON_COMPACT | JSON_ENCODE_ANY);
  json_decref(copy);
  return s ? s : xstrdup("<unprintable>");
}

/* ---- The client ---------------------------------------------------------- */

struct qmp {
  struct qmp_chan chan;
  json_int_t next_id;
  json_t *events; /* queued event messages, oldest first */
};

int qmp_fd(const struct qmp *q)
{
  return q->chan.fd;
}

void qmp_close(struct qmp *q)
{
  if (q == NULL)
    return;
  qmp_chan_close(&q->chan);
  json_decref(q->events);
  free(q);
}

static void log_line(const char *prefix, const char *line, size_t len)
{
  if (!log_debug_enabled())
    return;
  while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
    len--;
  if (len <= LOG_MAX)
    log_debug("%s %.*s", prefix, (int)len, line);
  else
    log_debug("%s %.*s... (%zu bytes)", prefix, LOG_MAX, line, len);
}

/* Next non-blank message.  1: *msg filled, 0: deadline passed, -1: error. */
static int read_msg(struct qmp *q, int64_t deadline, struct qmp_msg *msg, tart_error_t *err)
{
  for (;;) {
    char *line;
    size_t len;
    int r = qmp_chan_read_line(&q->chan, deadline, &line, &len, err);
    if (r <= 0)
      return r;
    if (strspn(line, " \t\r") == len)
      continue;
    log_line("QMP <-", line, len);
    if (qmp_parse_line(line, len, msg, err) < 0)
      return -1;
    return 1;
  }
}

static void queue_event(struct qmp *q, struct qmp_msg *msg)
{
  if (json_array_size(q->events) >= QMP_MAX_EVENTS) {
    log_debug("QMP: event queue full, dropping the oldest event");
    json_array_remove(q->events, 0);
  }
  json_array_append_new(q->events, TAKE_PTR(msg->root));
  qmp_msg_clear(msg);
}

static int execute_until(struct qmp *q, const char *command, json_t *args, int64_t deadline, int timeout_ms,
                         json_t **ret, tart_error_t *err)
{
  if (ret)
    *ret = NULL;
  json_int_t id = ++q->next_id;
  json_t *req = json_pack("{s:s, s:I}", "execute", command, "id", id);
  if (req == NULL) {
    json_decref(args);
    return tart_error_kind(err, EINVAL, "invalid QMP command name");
  }
  if (args != NULL)
    json_object_set_new(req, "arguments", args);
  if (log_debug_enabled()) {
    char *text = qmp_log_text(req);
    log_debug("QMP -> %s", text);
    free(text);
  }
  char *wire = json_dumps(req, JSON_COMPACT);
  json_decref(req);
  if (wire == NULL)
    return tart_error_kind(err, EINVAL, "QMP %s: arguments cannot be encoded as JSON", command);
  size_t wlen = strlen(wire);
  wire = xrealloc(wire, wlen + 2);
  memcpy(wire + wlen, "\n", 2);
  int r = qmp_chan_send(&q->chan, wire, wlen + 1, deadline, err);
  free(wire);
  if (r < 0)
    return tart_error_wrap(err, "QMP %s", command);

  for (;;) {
    struct qmp_msg msg;
    r = read_msg(q, deadline, &msg, err);
    if (r < 0)
      return tart_error_wrap(err, "QMP %s", command);
    if (r == 0) {
      char d[32];
      fmt_duration(timeout_ms, d, sizeof(d));
      return tart_error_kind(err, ETIMEDOUT, "QEMU did not answer %s within %s", command, d);
    }
    if (msg.kind == QMP_MSG_EVENT) {
      queue_event(q, &msg);
      continue;
    }
    /* QEMU echoes our id; it omits it only when it could not parse the
     * request, which can only be the one in flight.  Another id is a late
     * reply to a command that timed out. */
    if (msg.kind == QMP_MSG_GREETING || (msg.has_id && msg.id != id)) {
      log_debug("QMP: dropping a message that does not answer %s", command);
      qmp_msg_clear(&msg);
      continue;
    }
    if (msg.kind == QMP_MSG_ERROR) {
      int kind = strcmp(msg.error_class, "CommandNotFound") == 0 ? ENOTSUP : EREMOTEIO;
      tart_error_kind(err, kind, "QMP %s failed: %s", command, msg.error_desc);
      qmp_msg_clear(&msg);
      return -1;
    }
    if (ret)
      *ret = json_incref(msg.data);
    qmp_msg_clear(&msg);
    return 0;
  }
}

int qmp_execute(struct qmp *q, const char *command, json_t *args, int timeout_ms, json_t **ret,
                tart_error_t *err)
{
  if (command == NULL) {
    json_decref(args);
    return tart_error_kind(err, EINVAL, "QMP command name missing");
  }
  return execute_until(q, command, args, qmp_deadline(timeout_ms), timeout_ms, ret, err);
}

static int open_chan(struct qmp *q, int64_t deadline, int timeout_ms, tart_error_t *err)
{
  q->events = json_array();
  for (;;) {
    struct qmp_msg msg;
    int r = read_msg(q, deadline, &msg, err);
    if (r < 0)
      return tart_error_wrap(err, "QMP greeting");
    if (r == 0) {
      char d[32];
      fmt_duration(timeout_ms, d, sizeof(d));
      /* Also what a second client sees: QEMU greets one at a time. */
      return tart_error_kind(err, ETIMEDOUT,
                             "QEMU sent no QMP greeting within %s (is another client connected?)", d);
    }
    if (msg.kind == QMP_MSG_EVENT) {
      queue_event(q, &msg);
      continue;
    }
    bool ok = msg.kind == QMP_MSG_GREETING;
    qmp_msg_clear(&msg);
    if (!ok)
      return tart_error_kind(err, EPROTO, "unexpected first QMP message (not a greeting)");
    break;
  }
  return execute_until(q, "qmp_capabilities", NULL, deadline, timeout_ms, NULL, err);
}

int qmp_open_fd(int fd, int timeout_ms, struct qmp **out, tart_error_t *err)
{
  *out = NULL;
  struct qmp *q = xcalloc(1, sizeof(*q));
  qmp_chan_init_fd(&q->chan, fd, QMP_MAX_LINE, "QMP socket");
  if (open_chan(q, qmp_deadline(timeout_ms), timeout_ms, err) < 0) {
    qmp_close(q);
    return -1;
  }
  *out = q;
  return 0;
}

int qmp_connect(const char *path, int timeout_ms, struct qmp **out, tart_error_t *err)
{
  *out = NULL;
  int64_t deadline = qmp_deadline(timeout_ms);
  struct qmp *q = xcalloc(1, sizeof(*q));
  if (qmp_chan_connect(&q->chan, path, deadline, QMP_MAX_LINE, "QMP socket", err) < 0 ||
      open_chan(q, deadline, timeout_ms, err) < 0) {
    qmp_close(q);
    return -1;
  }
  *out = q;
  return 0;
}

int qmp_next_event(struct qmp *q, json_t **event)
{
  if (json_array_size(q->events) == 0)
    return 0;
  *event = json_incref(json_array_get(q->events, 0));
  json_array_remove(q->events, 0);
  return 1;
}

static bool event_matches(const json_t *ev, const char *name)
{
  return name == NULL || strcmp(json_string_value(json_object_get(ev, "event")), name) == 0;
}

int qmp_wait_event(struct qmp *q, const char *name, int timeout_ms, json_t **event, tart_error_t *err)
{
  *event = NULL;
  size_t i;
  json_t *ev;
  json_array_foreach(q->events, i, ev)
  {
    if (event_matches(ev, name)) {
      *event = json_incref(ev);
      json_array_remove(q->events, i);
      return 1;
    }
  }

  int64_t deadline = qmp_deadline(timeout_ms);
  for (;;) {
    struct qmp_msg msg;
    int r = read_msg(q, deadline, &msg, err);
    if (r <= 0)
      return r;
    if (msg.kind != QMP_MSG_EVENT) {
      log_debug("QMP: dropping a reply nobody waits for");
      qmp_msg_clear(&msg);
      continue;
    }
    if (event_matches(msg.root, name)) {
      *event = TAKE_PTR(msg.root);
      qmp_msg_clear(&msg);
      return 1;
    }
    queue_event(q, &msg);
  }
}
