#include "agent/qga.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sys/random.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qemu/qmp.h"
#include "util/log.h"
#include "util/util.h"

/* guest-exec-status carries up to 16 MiB of stdout and 16 MiB of stderr,
 * base64-encoded (4/3 larger), on one line. */
#define QGA_MAX_LINE (64u << 20)
/* When the caller waits forever for a program, a single request still must
 * not: the agent may die in the middle of it. */
#define QGA_REQUEST_TIMEOUT_MS 60000
#define POLL_FIRST_MS          10
#define POLL_MAX_MS            200
#define LOG_MAX                2048

struct qga {
  struct qmp_chan chan;
  bool synced;
  json_int_t next_id;
};

/* Move the error e into *err (which may be NULL: the caller ignores it). */
static int propagate(tart_error_t *err, tart_error_t *e)
{
  if (err != NULL) {
    tart_error_release(err);
    *err = TAKE_PTR(*e);
  }
  tart_error_release(e);
  return -1;
}

static void fmt_duration(int ms, char *buf, size_t n)
{
  if (ms >= 1000 && ms % 1000 == 0)
    snprintf(buf, n, "%d s", ms / 1000);
  else
    snprintf(buf, n, "%d ms", ms);
}

/* ---- Base64 -------------------------------------------------------------- */

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(unsigned char c)
{
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

int qga_base64_decode(const char *in, size_t len, unsigned char **out, size_t *out_len, tart_error_t *err)
{
  *out = NULL;
  *out_len = 0;
  if (len % 4 != 0)
    return tart_error_kind(err, EINVAL, "invalid base64 data: length %zu is not a multiple of 4", len);
  size_t pad = 0;
  if (len >= 4 && in[len - 1] == '=')
    pad = in[len - 2] == '=' ? 2 : 1;

  size_t n = len / 4 * 3 - pad;
  unsigned char *buf = xmalloc(n + 1);
  size_t o = 0;
  for (size_t i = 0; i < len; i += 4) {
    uint32_t v = 0;
    bool last = i + 4 == len;
    for (size_t j = 0; j < 4; j++) {
      unsigned char c = (unsigned char)in[i + j];
      int d;
      if (last && j >= 4 - pad) {
        d = 0; /* a '=' we counted */
      } else if ((d = b64_value(c)) < 0) {
        free(buf);
        if (c == '=')
          return tart_error_kind(err, EINVAL, "invalid base64 data: '=' at offset %zu", i + j);
        return tart_error_kind(err, EINVAL, "invalid base64 data: unexpected byte 0x%02x at offset %zu", c,
                               i + j);
      }
      v = v << 6 | (uint32_t)d;
    }
    /* Bits under the padding must be zero, or two different texts would
     * decode to the same bytes. */
    if (last && ((pad == 1 && (v & 0xff) != 0) || (pad == 2 && (v & 0xffff) != 0))) {
      free(buf);
      return tart_error_kind(err, EINVAL, "invalid base64 data: non-zero padding bits");
    }
    buf[o++] = (unsigned char)(v >> 16);
    if (!(last && pad == 2))
      buf[o++] = (unsigned char)(v >> 8);
    if (!(last && pad >= 1))
      buf[o++] = (unsigned char)v;
  }
  buf[o] = '\0';
  *out = buf;
  *out_len = o;
  return 0;
}

char *qga_base64_encode(const void *data, size_t len)
{
  const unsigned char *p = data;
  char *s = xmalloc((len + 2) / 3 * 4 + 1);
  char *o = s;
  size_t i = 0;
  for (; i + 3 <= len; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    *o++ = b64_alphabet[v >> 18];
    *o++ = b64_alphabet[(v >> 12) & 63];
    *o++ = b64_alphabet[(v >> 6) & 63];
    *o++ = b64_alphabet[v & 63];
  }
  if (len - i == 1) {
    uint32_t v = (uint32_t)p[i] << 16;
    *o++ = b64_alphabet[v >> 18];
    *o++ = b64_alphabet[(v >> 12) & 63];
    *o++ = '=';
    *o++ = '=';
  } else if (len - i == 2) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
    *o++ = b64_alphabet[v >> 18];
    *o++ = b64_alphabet[(v >> 12) & 63];
    *o++ = b64_alphabet[(v >> 6) & 63];
    *o++ = '=';
  }
  *o = '\0';
  return s;
}

/* ---- Parsing replies ----------------------------------------------------- */

void qga_exec_result_clear(struct qga_exec_result *r)
{
  free(r->out_data);
  free(r->err_data);
  memset(r, 0, sizeof(*r));
}

static int get_bool(const json_t *obj, const char *key, bool *out, tart_error_t *err)
{
  json_t *v = json_object_get(obj, key);
  if (v == NULL)
    return 0;
  if (!json_is_boolean(v))
    return tart_error_kind(err, EPROTO, "malformed guest-exec-status reply: %s is not a boolean", key);
  *out = json_is_true(v);
  return 0;
}

static int get_int(const json_t *obj, const char *key, bool *present, int *out, tart_error_t *err)
{
  json_t *v = json_object_get(obj, key);
  *present = v != NULL;
  if (v == NULL)
    return 0;
  if (!json_is_integer(v) || json_integer_value(v) < INT_MIN || json_integer_value(v) > INT_MAX)
    return tart_error_kind(err, EPROTO, "malformed guest-exec-status reply: %s is not an int", key);
  *out = (int)json_integer_value(v);
  return 0;
}

static int get_data(const json_t *obj, const char *key, unsigned char **out, size_t *len, tart_error_t *err)
{
  json_t *v = json_object_get(obj, key);
  if (v == NULL)
    return 0;
  if (!json_is_string(v))
    return tart_error_kind(err, EPROTO, "malformed guest-exec-status reply: %s is not a string", key);
  if (qga_base64_decode(json_string_value(v), json_string_length(v), out, len, err) < 0) {
    tart_error_wrap(err, "malformed guest-exec-status reply: %s", key);
    if (err != NULL && *err != NULL)
      (*err)->errnum = EPROTO;
    return -1;
  }
  return 0;
}

static int parse_exec_status(const json_t *ret, struct qga_exec_result *out, tart_error_t *err)
{
  if (!json_is_object(ret))
    return tart_error_kind(err, EPROTO, "malformed guest-exec-status reply: not an object");
  json_t *exited = json_object_get(ret, "exited");
  if (!json_is_boolean(exited))
    return tart_error_kind(err, EPROTO, "malformed guest-exec-status reply: exited is not a boolean");
  out->exited = json_is_true(exited);
  if (!out->exited)
    return 0;

  bool has_code, has_signal;
  out->exit_code = -1;
  if (get_int(ret, "exitcode", &has_code, &out->exit_code, err) < 0 ||
      get_int(ret, "signal", &has_signal, &out->signal, err) < 0)
    return -1;
  if (!has_code && !has_signal)
    return tart_error_kind(err, EPROTO,
                           "malformed guest-exec-status reply: exited without exitcode or signal");
  return get_data(ret, "out-data", &out->out_data, &out->out_len, err) < 0 ||
                 get_data(ret, "err-data", &out->err_data, &out->err_len, err) < 0 ||
                 get_bool(ret, "out-truncated", &out->out_truncated, err) < 0 ||
                 get_bool(ret, "err-truncated", &out->err_truncated, err) < 0
             ? -1
             : 0;
}

int qga_parse_exec_status(const json_t *ret, struct qga_exec_result *out, tart_error_t *err)
{
  memset(out, 0, sizeof(*out));
  if (parse_exec_status(ret, out, err) < 0) {
    qga_exec_result_clear(out);
    return -1;
  }
  return 0;
}

/* 127.0.0.0/8, 0.0.0.0 and 169.254.0.0/16 cannot reach the guest from the
 * host. */
static bool usable_ipv4(const char *text, char out[16])
{
  struct in_addr a;
  if (inet_pton(AF_INET, text, &a) != 1)
    return false;
  uint32_t h = ntohl(a.s_addr);
  if ((h >> 24) == 127 || h == 0 || (h >> 16) == 0xa9fe)
    return false;
  return inet_ntop(AF_INET, &a, out, 16) != NULL;
}

int qga_parse_interfaces(const json_t *ret, char out[16], tart_error_t *err)
{
  out[0] = '\0';
  if (!json_is_array(ret))
    return tart_error_kind(err, EPROTO, "malformed guest-network-get-interfaces reply: not an array");
  size_t i;
  json_t *iface;
  json_array_foreach(ret, i, iface)
  {
    const char *name = json_string_value(json_object_get(iface, "name"));
    if (name != NULL && strcmp(name, "lo") == 0)
      continue;
    size_t j;
    json_t *addr;
    json_array_foreach(json_object_get(iface, "ip-addresses"), j, addr)
    {
      const char *type = json_string_value(json_object_get(addr, "ip-address-type"));
      const char *ip = json_string_value(json_object_get(addr, "ip-address"));
      if (type != NULL && ip != NULL && strcmp(type, "ipv4") == 0 && usable_ipv4(ip, out))
        return 1;
    }
  }
  out[0] = '\0';
  return 0;
}

/* ---- The conversation ---------------------------------------------------- */

static void log_line(const char *line, size_t len)
{
  if (!log_debug_enabled())
    return;
  while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
    len--;
  if (len <= LOG_MAX)
    log_debug("QGA <- %.*s", (int)len, line);
  else
    log_debug("QGA <- %.*s... (%zu bytes)", LOG_MAX, line, len);
}

/* Send req as one line, after a 0xFF byte when reset is true. */
static int send_request(struct qga *g, json_t *req, bool reset, int64_t deadline, tart_error_t *err)
{
  if (log_debug_enabled()) {
    char *text = qmp_log_text(req);
    log_debug("QGA -> %s%s", reset ? "0xFF " : "", text);
    free(text);
  }
  char *json = json_dumps(req, JSON_COMPACT);
  if (json == NULL)
    return tart_error_kind(err, EINVAL, "guest agent request cannot be encoded as JSON");
  char *wire = xasprintf("%s%s\n", reset ? "\xff" : "", json);
  free(json);
  int r = qmp_chan_send(&g->chan, wire, strlen(wire), deadline, err);
  free(wire);
  return r;
}

/* Next non-blank line, with anything up to a 0xFF byte in it removed (the
 * agent puts one in front of each guest-sync-delimited answer, late ones
 * included). */
static int read_reply_line(struct qga *g, int64_t deadline, char **line, size_t *len, tart_error_t *err)
{
  for (;;) {
    int r = qmp_chan_read_line(&g->chan, deadline, line, len, err);
    if (r <= 0)
      return r;
    char *ff = memrchr(*line, 0xff, *len);
    if (ff != NULL) {
      *len -= (size_t)(ff + 1 - *line);
      *line = ff + 1;
    }
    if (strspn(*line, " \t\r") == *len)
      continue;
    log_line(*line, *len);
    return 1;
  }
}

static int sync_until(struct qga *g, int64_t deadline, int timeout_ms, tart_error_t *err)
{
  g->synced = false;
  uint32_t r32;
  random_bytes(&r32, sizeof(r32));
  json_int_t id = (json_int_t)(r32 & 0x7fffffff);
  if (id == 0)
    id = 1;
  char d[32];
  fmt_duration(timeout_ms, d, sizeof(d));

  json_t *req = json_pack("{s:s, s:{s:I}}", "execute", "guest-sync-delimited", "arguments", "id", id);
  tart_error_t e = NULL;
  /* The leading 0xFF resets the agent's JSON parser, which a client killed
   * in the middle of a request leaves inside a half-read object: without
   * it that fragment swallows our request (seen with qemu-ga 7.2).  The
   * agent answers the 0xFF itself with a parse error, which lands before
   * its own 0xFF and is skipped below with the other stale replies. */
  int r = send_request(g, req, true, deadline, &e);
  json_decref(req);
  if (r < 0) {
    /* The agent not reading its channel fills the socket buffer: the same
     * silence as not answering. */
    if (e->errnum == ETIMEDOUT) {
      tart_error_release(&e);
      return tart_error_kind(err, ETIMEDOUT, "the guest agent is not answering (no reply within %s)", d);
    }
    return propagate(err, &e);
  }

  /* Stale replies sit before the 0xFF; cheaper to skip raw than to parse. */
  r = qmp_chan_skip_past(&g->chan, 0xff, deadline, err);
  while (r > 0) {
    char *line;
    size_t len;
    r = read_reply_line(g, deadline, &line, &len, err);
    if (r <= 0)
      break;
    json_t *reply = json_loadb(line, len, 0, NULL);
    json_t *ret = json_object_get(reply, "return");
    bool match = json_is_integer(ret) && json_integer_value(ret) == id;
    json_decref(reply);
    if (match) {
      g->synced = true;
      return 0;
    }
    log_debug("QGA: dropping a stale reply");
  }
  if (r < 0)
    return -1;
  return tart_error_kind(err, ETIMEDOUT, "the guest agent is not answering (no reply within %s)", d);
}

int qga_sync(struct qga *g, int timeout_ms, tart_error_t *err)
{
  return sync_until(g, qmp_deadline(timeout_ms), timeout_ms, err);
}

/* One request/reply; timeout_ms is only for the message. */
static int request_until(struct qga *g, const char *command, json_t *args, int64_t deadline, int timeout_ms,
                         json_t **ret, tart_error_t *err)
{
  if (ret)
    *ret = NULL;
  if (!g->synced && sync_until(g, deadline, timeout_ms, err) < 0) {
    json_decref(args);
    return -1;
  }
  json_int_t id = ++g->next_id;
  json_t *req = json_pack("{s:s, s:I}", "execute", command, "id", id);
  if (req == NULL) {
    json_decref(args);
    return tart_error_kind(err, EINVAL, "invalid guest agent command name");
  }
  if (args != NULL)
    json_object_set_new(req, "arguments", args);
  int r = send_request(g, req, false, deadline, err);
  json_decref(req);
  if (r < 0) {
    g->synced = false;
    return tart_error_wrap(err, "%s", command);
  }

  for (;;) {
    char *line;
    size_t len;
    r = read_reply_line(g, deadline, &line, &len, err);
    if (r <= 0) {
      /* The answer may still come and would be taken for the next one. */
      g->synced = false;
      if (r < 0)
        return tart_error_wrap(err, "%s", command);
      char d[32];
      fmt_duration(timeout_ms, d, sizeof(d));
      return tart_error_kind(err, ETIMEDOUT, "the guest agent did not answer %s within %s", command, d);
    }
    struct qmp_msg msg;
    tart_error_t perr = NULL;
    if (qmp_parse_line(line, len, &msg, &perr) < 0) {
      log_debug("QGA: dropping a malformed reply: %s", perr->msg);
      tart_error_release(&perr);
      continue;
    }
    if ((msg.kind != QMP_MSG_RETURN && msg.kind != QMP_MSG_ERROR) || (msg.has_id && msg.id != id)) {
      log_debug("QGA: dropping a reply that does not answer %s", command);
      qmp_msg_clear(&msg);
      continue;
    }
    if (msg.kind == QMP_MSG_ERROR) {
      int kind = strcmp(msg.error_class, "CommandNotFound") == 0 ? ENOTSUP : EREMOTEIO;
      tart_error_kind(err, kind, "guest agent %s failed: %s", command, msg.error_desc);
      qmp_msg_clear(&msg);
      return -1;
    }
    if (ret)
      *ret = json_incref(msg.data);
    qmp_msg_clear(&msg);
    return 0;
  }
}

int qga_execute(struct qga *g, const char *command, json_t *args, int timeout_ms, json_t **ret,
                tart_error_t *err)
{
  if (command == NULL) {
    json_decref(args);
    return tart_error_kind(err, EINVAL, "guest agent command name missing");
  }
  return request_until(g, command, args, qmp_deadline(timeout_ms), timeout_ms, ret, err);
}

/* Deadline and message timeout of one request inside a run bounded by
 * deadline. */
static int64_t request_deadline(int64_t deadline, int *timeout_ms)
{
  int64_t capped = qmp_now_ms() + QGA_REQUEST_TIMEOUT_MS;
  if (deadline >= 0 && deadline < capped) {
    int64_t left = deadline - qmp_now_ms();
    *timeout_ms = left < 0 ? 0 : (int)left;
    return deadline;
  }
  *timeout_ms = QGA_REQUEST_TIMEOUT_MS;
  return capped;
}

/* guest-exec path with argv (and stdin_data), capturing its output or not;
 * *pid is the guest's process. */
static int spawn(struct qga *g, const char *path, char *const argv[], const void *stdin_data,
                 size_t stdin_len, bool capture, int64_t deadline, json_int_t *pid, tart_error_t *err)
{
  if (path == NULL || *path == '\0')
    return tart_error_kind(err, EINVAL, "no program to run in the guest");
  if (stdin_data != NULL && stdin_len > QGA_MAX_STDIN)
    return tart_error_kind(err, EFBIG, "input for the guest is too large (%zu bytes, at most %u)", stdin_len,
                           QGA_MAX_STDIN);
  json_t *args = json_pack("{s:s, s:[], s:b}", "path", path, "arg", "capture-output", capture);
  if (args == NULL)
    return tart_error_kind(err, EINVAL, "program path is not valid UTF-8");
  json_t *arg = json_object_get(args, "arg");
  for (size_t i = 0; argv != NULL && argv[i] != NULL; i++) {
    json_t *s = json_string(argv[i]);
    if (s == NULL) {
      json_decref(args);
      return tart_error_kind(err, EINVAL, "argument %zu is not valid UTF-8", i + 1);
    }
    json_array_append_new(arg, s);
  }
  if (stdin_data != NULL) {
    char *b64 = qga_base64_encode(stdin_data, stdin_len);
    json_object_set_new(args, "input-data", json_string(b64));
    free(b64);
  }
  int req_ms;
  int64_t req_deadline = request_deadline(deadline, &req_ms);
  json_t *ret = NULL;
  if (request_until(g, "guest-exec", args, req_deadline, req_ms, &ret, err) < 0)
    return -1;
  json_t *pid_v = json_object_get(ret, "pid");
  if (!json_is_integer(pid_v)) {
    json_decref(ret);
    return tart_error_kind(err, EPROTO, "malformed guest-exec reply: no pid");
  }
  *pid = json_integer_value(pid_v);
  json_decref(ret);
  return 0;
}

int qga_exec(struct qga *g, const char *path, char *const argv[], const void *stdin_data, size_t stdin_len,
             int timeout_ms, struct qga_exec_result *out, tart_error_t *err)
{
  memset(out, 0, sizeof(*out));
  int64_t deadline = qmp_deadline(timeout_ms);
  json_int_t pid = 0;
  if (spawn(g, path, argv, stdin_data, stdin_len, true, deadline, &pid, err) < 0)
    return -1;
  int req_ms;
  int64_t req_deadline;
  json_t *ret = NULL;

  /* Short commands (most of `tart exec`) finish within the first polls;
   * long ones must not keep the agent busy. */
  int delay = POLL_FIRST_MS;
  for (;;) {
    req_deadline = request_deadline(deadline, &req_ms);
    tart_error_t e = NULL;
    if (request_until(g, "guest-exec-status", json_pack("{s:I}", "pid", pid), req_deadline, req_ms, &ret,
                      &e) < 0) {
      /* A status request cut short by the overall deadline is the
       * program's timeout, not the agent's. */
      if (e->errnum == ETIMEDOUT && deadline >= 0 && qmp_now_ms() >= deadline) {
        tart_error_release(&e);
        break;
      }
      return propagate(err, &e);
    }
    int r = qga_parse_exec_status(ret, out, err);
    json_decref(ret);
    if (r < 0)
      return -1;
    if (out->exited)
      return 0;
    qga_exec_result_clear(out);
    int sleep_ms = delay;
    if (deadline >= 0) {
      int64_t left = deadline - qmp_now_ms();
      if (left <= 0)
        break;
      if (left < sleep_ms)
        sleep_ms = (int)left;
    }
    poll(NULL, 0, sleep_ms);
    delay = delay * 2 > POLL_MAX_MS ? POLL_MAX_MS : delay * 2;
  }

  char d[32];
  fmt_duration(timeout_ms, d, sizeof(d));
  return tart_error_kind(err, ETIMEDOUT, "%s did not finish within %s in the guest (pid %lld)", path, d,
                         (long long)pid);
}

/* ---- streamed exec ---- */

/* One of the two output files of a streamed program. */
struct stream_file {
  char *path;
  json_int_t handle;
  bool open, eof;
  int fd; /* 1 or 2: where sink sends it */
};

/* Read what the file holds beyond what was read before; true when the
 * agent said end of file (for now: the program may write more). */
static int stream_read(struct qga *g, struct stream_file *f, qga_sink_fn sink, void *opaque,
                       tart_error_t *err)
{
  if (!f->open) {
    json_t *ret = NULL;
    tart_error_t e = NULL;
    /* Not there yet: the shell has not made its redirections. */
    if (request_until(g, "guest-file-open", json_pack("{s:s, s:s}", "path", f->path, "mode", "r"),
                      qmp_deadline(QGA_REQUEST_TIMEOUT_MS), QGA_REQUEST_TIMEOUT_MS, &ret, &e) < 0) {
      tart_error_release(&e);
      return 0;
    }
    if (!json_is_integer(ret)) {
      json_decref(ret);
      return tart_error_kind(err, EPROTO, "malformed guest-file-open reply");
    }
    f->handle = json_integer_value(ret);
    f->open = true;
    json_decref(ret);
  }
  for (;;) {
    json_t *ret = NULL;
    if (request_until(g, "guest-file-read", json_pack("{s:I, s:i}", "handle", f->handle, "count", 65536),
                      qmp_deadline(QGA_REQUEST_TIMEOUT_MS), QGA_REQUEST_TIMEOUT_MS, &ret, err) < 0)
      return -1;
    json_t *count = json_object_get(ret, "count"), *buf = json_object_get(ret, "buf-b64");
    json_t *eof = json_object_get(ret, "eof");
    if (!json_is_integer(count) || !json_is_string(buf)) {
      json_decref(ret);
      return tart_error_kind(err, EPROTO, "malformed guest-file-read reply");
    }
    unsigned char *data = NULL;
    size_t len = 0;
    if (qga_base64_decode(json_string_value(buf), json_string_length(buf), &data, &len, err) < 0) {
      json_decref(ret);
      return -1;
    }
    f->eof = json_is_true(eof);
    json_decref(ret);
    if (len > 0)
      sink(opaque, f->fd, data, len);
    free(data);
    if (len == 0 || f->eof)
      return 0;
  }
}

static void stream_close(struct qga *g, struct stream_file *f)
{
  if (f->open) {
    tart_error_t e = NULL;
    request_until(g, "guest-file-close", json_pack("{s:I}", "handle", f->handle),
                  qmp_deadline(QGA_REQUEST_TIMEOUT_MS), QGA_REQUEST_TIMEOUT_MS, NULL, &e);
    tart_error_release(&e);
    f->open = false;
  }
}

/* The guest side of a streamed stdin: the program reads a FIFO that a
 * feeder loop fills from $0.in, a regular file the host appends to (so the
 * agent never blocks on a pipe the program does not read), until $0.eof
 * exists and everything before it was passed on; the loop ends with the
 * program.  Without stdin the program simply takes the shell's place. */
static const char stream_script[] = "umask 077; b=$1; shift; exec \"$@\" >\"$b.out\" 2>\"$b.err\"";
static const char stream_script_stdin[] =
    "umask 077; b=$1; shift; : >>\"$b.in\"; mkfifo \"$b.fifo\" || exit 125\n"
    "\"$@\" <\"$b.fifo\" >\"$b.out\" 2>\"$b.err\" & pid=$!\n"
    "{ off=0; while :; do e=0; [ -e \"$b.eof\" ] && e=1; n=$(stat -c %s \"$b.in\")\n"
    "  if [ \"$n\" -gt \"$off\" ]; then tail -c +$((off + 1)) \"$b.in\" | head -c $((n - off)) || break; "
    "off=$n; fi\n"
    "  [ $e = 1 ] && break; kill -0 $pid 2>/dev/null || break; sleep 0.05; done; } >\"$b.fifo\" 2>/dev/null\n"
    "wait $pid";

/* Open (creating) a file of the guest for appending or writing. */
static int guest_open(struct qga *g, const char *path, const char *mode, json_int_t *handle,
                      tart_error_t *err)
{
  json_t *ret = NULL;
  if (request_until(g, "guest-file-open", json_pack("{s:s, s:s}", "path", path, "mode", mode),
                    qmp_deadline(QGA_REQUEST_TIMEOUT_MS), QGA_REQUEST_TIMEOUT_MS, &ret, err) < 0)
    return -1;
  if (!json_is_integer(ret)) {
    json_decref(ret);
    return tart_error_kind(err, EPROTO, "malformed guest-file-open reply");
  }
  *handle = json_integer_value(ret);
  json_decref(ret);
  return 0;
}

static void guest_close(struct qga *g, json_int_t handle)
{
  tart_error_t e = NULL;
  request_until(g, "guest-file-close", json_pack("{s:I}", "handle", handle),
                qmp_deadline(QGA_REQUEST_TIMEOUT_MS), QGA_REQUEST_TIMEOUT_MS, NULL, &e);
  tart_error_release(&e);
}

/* Pass on what stdin_fd has now (without waiting); at its end, close the
 * guest's file and make the end marker.  *done once the end was passed. */
static int feed_stdin(struct qga *g, int stdin_fd, json_int_t handle, const char *eof_path, bool *done,
                      tart_error_t *err)
{
  static unsigned char buf[48 * 1024];
  for (int rounds = 0; rounds < 8; rounds++) {
    struct pollfd p = {.fd = stdin_fd, .events = POLLIN};
    if (poll(&p, 1, 0) <= 0)
      return 0;
    ssize_t n = read(stdin_fd, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
      return 0;
    if (n <= 0) {
      guest_close(g, handle);
      json_int_t h;
      if (guest_open(g, eof_path, "w", &h, err) < 0)
        return -1;
      guest_close(g, h);
      *done = true;
      return 0;
    }
    char *b64 = qga_base64_encode(buf, (size_t)n);
    int r = request_until(g, "guest-file-write", json_pack("{s:I, s:s}", "handle", handle, "buf-b64", b64),
                          qmp_deadline(QGA_REQUEST_TIMEOUT_MS), QGA_REQUEST_TIMEOUT_MS, NULL, err);
    free(b64);
    /* The agent writes through stdio: flush, or the feeder sees nothing. */
    if (r < 0 || request_until(g, "guest-file-flush", json_pack("{s:I}", "handle", handle),
                               qmp_deadline(QGA_REQUEST_TIMEOUT_MS), QGA_REQUEST_TIMEOUT_MS, NULL, err) < 0)
      return -1;
  }
  return 0;
}

int qga_exec_stream(struct qga *g, const char *path, char *const argv[], int stdin_fd, qga_sink_fn sink,
                    void *opaque, struct qga_exec_result *out, tart_error_t *err)
{
  memset(out, 0, sizeof(*out));
  unsigned char rnd[8];
  if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
    return tart_error_make(err, errno, "cannot make a random name");
  char base[64];
  snprintf(base, sizeof(base), "/tmp/.tart-exec-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
           rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
  /* sh -c SCRIPT tart-exec BASE PATH ARGS...: the program's own argv, its
   * output in two files only the guest's root (the agent) can read; the
   * shell's name is what its messages start with ("tart-exec: line 1:
   * prog: not found"). */
  size_t n = 0;
  while (argv != NULL && argv[n] != NULL)
    n++;
  char **words = xcalloc(n + 6, sizeof(*words));
  words[0] = "-c";
  words[1] = (char *)(stdin_fd >= 0 ? stream_script_stdin : stream_script);
  words[2] = "tart-exec";
  words[3] = base;
  words[4] = (char *)path;
  for (size_t i = 0; i < n; i++)
    words[5 + i] = argv[i];
  json_int_t pid = 0;
  int r = spawn(g, QGA_STREAM_SHELL, words, NULL, 0, false, -1, &pid, err);
  free(words);
  if (r < 0)
    return -1;

  struct stream_file files[2] = {{.path = xasprintf("%s.out", base), .fd = 1},
                                 {.path = xasprintf("%s.err", base), .fd = 2}};
  _cleanup_free_ char *in_path = xasprintf("%s.in", base), *eof_path = xasprintf("%s.eof", base);
  _cleanup_free_ char *fifo_path = xasprintf("%s.fifo", base);
  json_int_t in_handle = -1;
  bool in_done = stdin_fd < 0;
  int ret = -1;
  if (!in_done && guest_open(g, in_path, "a", &in_handle, err) < 0)
    goto out;
  for (;;) {
    if (!in_done && feed_stdin(g, stdin_fd, in_handle, eof_path, &in_done, err) < 0)
      goto out;
    json_t *st = NULL;
    if (request_until(g, "guest-exec-status", json_pack("{s:I}", "pid", pid),
                      qmp_deadline(QGA_REQUEST_TIMEOUT_MS), QGA_REQUEST_TIMEOUT_MS, &st, err) < 0)
      goto out;
    int pr = qga_parse_exec_status(st, out, err);
    json_decref(st);
    if (pr < 0)
      goto out;
    bool exited = out->exited;
    for (int i = 0; i < 2; i++)
      if (stream_read(g, &files[i], sink, opaque, err) < 0)
        goto out;
    if (exited)
      break;
    qga_exec_result_clear(out);
    poll(NULL, 0, QGA_STREAM_POLL_MS);
  }
  ret = 0;
out:
  for (int i = 0; i < 2; i++)
    stream_close(g, &files[i]);
  if (!in_done && in_handle >= 0)
    guest_close(g, in_handle);
  /* The files go with the program.  Waiting for rm (a second at most)
   * also lets the agent forget the process. */
  char *rm_args[] = {"-f", files[0].path, files[1].path, in_path, eof_path, fifo_path, NULL};
  json_int_t rm_pid = 0;
  tart_error_t e = NULL;
  if (spawn(g, "/bin/rm", rm_args, NULL, 0, false, -1, &rm_pid, &e) == 0) {
    for (int i = 0; i < 50; i++) {
      json_t *st = NULL;
      struct qga_exec_result rm = {0};
      if (request_until(g, "guest-exec-status", json_pack("{s:I}", "pid", rm_pid), qmp_deadline(1000), 1000,
                        &st, &e) < 0 ||
          qga_parse_exec_status(st, &rm, &e) < 0) {
        json_decref(st);
        break;
      }
      json_decref(st);
      bool done = rm.exited;
      qga_exec_result_clear(&rm);
      if (done)
        break;
      poll(NULL, 0, 20);
    }
  }
  tart_error_release(&e);
  free(files[0].path);
  free(files[1].path);
  return ret;
}

int qga_network_first_ipv4(struct qga *g, int timeout_ms, char out[16], tart_error_t *err)
{
  out[0] = '\0';
  json_t *ret = NULL;
  if (qga_execute(g, "guest-network-get-interfaces", NULL, timeout_ms, &ret, err) < 0)
    return -1;
  int r = qga_parse_interfaces(ret, out, err);
  json_decref(ret);
  return r;
}

static int open_chan(struct qga *g, int64_t deadline, int timeout_ms, struct qga **out, tart_error_t *err)
{
  if (sync_until(g, deadline, timeout_ms, err) < 0) {
    qga_close(g);
    return -1;
  }
  *out = g;
  return 0;
}

int qga_open_fd(int fd, int timeout_ms, struct qga **out, tart_error_t *err)
{
  *out = NULL;
  struct qga *g = xcalloc(1, sizeof(*g));
  qmp_chan_init_fd(&g->chan, fd, QGA_MAX_LINE, "guest agent socket");
  return open_chan(g, qmp_deadline(timeout_ms), timeout_ms, out, err);
}

int qga_connect(const char *path, int timeout_ms, struct qga **out, tart_error_t *err)
{
  *out = NULL;
  int64_t deadline = qmp_deadline(timeout_ms);
  struct qga *g = xcalloc(1, sizeof(*g));
  if (qmp_chan_connect(&g->chan, path, deadline, QGA_MAX_LINE, "guest agent socket", err) < 0) {
    qga_close(g);
    return -1;
  }
  return open_chan(g, deadline, timeout_ms, out, err);
}

void qga_close(struct qga *g)
{
  if (g == NULL)
    return;
  qmp_chan_close(&g->chan);
  free(g);
}
