#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "qemu/qmp.h"
#include "util/log.h"
#include "util/report.h"
#include "util/util.h"

/* ---- A scripted QEMU on the other end of a socket ------------------------
 *
 * A thread reads the client's requests line by line, checks that each is the
 * command the script expects, and answers with the script's raw bytes, where
 * $ID is the request's id and $PREV the previous request's.  cmocka's
 * asserts are not thread-safe, so the thread only records the first failure
 * for srv_join to report. */

struct step {
  const char *expect; /* command the client must send next; NULL: reply at once */
  const char *reply;  /* raw bytes to send, NULL for none */
  bool (*check)(const json_t *req);
  int delay_ms; /* wait before replying */
};

struct server {
  int fd;        /* the server's end */
  int listen_fd; /* >= 0: accept fd from here first */
  const struct step *steps;
  size_t n;
  bool close_after; /* close right after the script instead of waiting for EOF */
  pthread_t thread;
  char failure[512];
};

__attribute__((format(printf, 2, 3))) static void srv_fail(struct server *s, const char *fmt, ...)
{
  if (s->failure[0] != '\0')
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->failure, sizeof(s->failure), fmt, ap);
  va_end(ap);
}

/* 1: a line in buf, 0: end of file, -1: nothing for 5 s or an error. */
static int srv_read_line(struct server *s, char *buf, size_t cap)
{
  size_t len = 0;
  for (;;) {
    struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
    if (poll(&pfd, 1, 5000) <= 0)
      return -1;
    char c;
    ssize_t n = read(s->fd, &c, 1);
    if (n == 0)
      return 0;
    if (n < 0)
      return -1;
    if (c == '\n') {
      buf[len] = '\0';
      return 1;
    }
    if (len + 1 < cap)
      buf[len++] = c;
  }
}

static char *substitute(const char *tmpl, const char *id, const char *prev)
{
  size_t cap = strlen(tmpl) * 4 + 64;
  char *out = xmalloc(cap), *o = out;
  for (const char *p = tmpl; *p != '\0';) {
    if (strncmp(p, "$ID", 3) == 0) {
      o = stpcpy(o, id);
      p += 3;
    } else if (strncmp(p, "$PREV", 5) == 0) {
      o = stpcpy(o, prev);
      p += 5;
    } else {
      *o++ = *p++;
    }
  }
  *o = '\0';
  return out;
}

static void *srv_main(void *arg)
{
  struct server *s = arg;
  if (s->listen_fd >= 0) {
    struct pollfd pfd = {.fd = s->listen_fd, .events = POLLIN};
    if (poll(&pfd, 1, 5000) <= 0 || (s->fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
      srv_fail(s, "no client connected");
      return NULL;
    }
  }
  char id[64] = "null", prev[64] = "null";
  size_t cap = 1 << 16;
  char *line = xmalloc(cap);
  for (size_t i = 0; i < s->n; i++) {
    const struct step *st = &s->steps[i];
    if (st->expect != NULL) {
      int r = srv_read_line(s, line, cap);
      if (r <= 0) {
        srv_fail(s, "step %zu: no request (expected %s)", i, st->expect);
        break;
      }
      json_t *req = json_loads(line, 0, NULL);
      const char *cmd = json_string_value(json_object_get(req, "execute"));
      if (cmd == NULL || strcmp(cmd, st->expect) != 0)
        srv_fail(s, "step %zu: expected %s, got %s", i, st->expect, line);
      else if (st->check != NULL && !st->check(req))
        srv_fail(s, "step %zu: unexpected request %s", i, line);
      memcpy(prev, id, sizeof(id));
      char *idtext = json_dumps(json_object_get(req, "id"), JSON_ENCODE_ANY);
      snprintf(id, sizeof(id), "%s", idtext ? idtext : "null");
      free(idtext);
      json_decref(req);
    }
    if (st->delay_ms > 0)
      poll(NULL, 0, st->delay_ms);
    if (st->reply != NULL) {
      char *out = substitute(st->reply, id, prev);
      if (send(s->fd, out, strlen(out), MSG_NOSIGNAL) < 0)
        srv_fail(s, "step %zu: send: %s", i, strerror(errno));
      free(out);
    }
  }
  if (!s->close_after)
    while (srv_read_line(s, line, cap) > 0)
      ;
  free(line);
  close(s->fd);
  s->fd = -1;
  return NULL;
}

/* Start the script; returns the client's end. */
static int srv_start(struct server *s, const struct step *steps, size_t n)
{
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  s->fd = sv[1];
  s->listen_fd = -1;
  s->steps = steps;
  s->n = n;
  s->failure[0] = '\0';
  assert_int_equal(pthread_create(&s->thread, NULL, srv_main, s), 0);
  return sv[0];
}

static void srv_start_listening(struct server *s, int listen_fd, const struct step *steps, size_t n)
{
  s->fd = -1;
  s->listen_fd = listen_fd;
  s->steps = steps;
  s->n = n;
  s->failure[0] = '\0';
  assert_int_equal(pthread_create(&s->thread, NULL, srv_main, s), 0);
}

static void srv_join(struct server *s)
{
  pthread_join(s->thread, NULL);
  if (s->failure[0] != '\0')
    fail_msg("fake QEMU: %s", s->failure);
}

#define GREETING                                                                                             \
  "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, \"package\": "            \
  "\"Debian 1:7.2+dfsg-7+deb12u18+b3\"}, \"capabilities\": [\"oob\"]}}\r\n"
#define HELLO                                                                                                \
  {NULL, GREETING, NULL, 0},                                                                                 \
  {                                                                                                          \
    "qmp_capabilities", "{\"return\": {}, \"id\": $ID}\r\n", NULL, 0                                         \
  }

/* ---- Parsing ------------------------------------------------------------- */

static void test_parse_greeting(void **state)
{
  (void)state;
  struct qmp_msg m;
  assert_int_equal(qmp_parse_line(GREETING, strlen(GREETING), &m, NULL), 0);
  assert_int_equal(m.kind, QMP_MSG_GREETING);
  assert_false(m.has_id);
  assert_non_null(json_object_get(m.data, "version"));
  qmp_msg_clear(&m);
  assert_null(m.root);
}

static void test_parse_return(void **state)
{
  (void)state;
  const char *line = "{\"return\": {\"status\": \"running\", \"running\": true}, \"id\": 7}\r";
  struct qmp_msg m;
  assert_int_equal(qmp_parse_line(line, strlen(line), &m, NULL), 0);
  assert_int_equal(m.kind, QMP_MSG_RETURN);
  assert_true(m.has_id);
  assert_int_equal(m.id, 7);
  assert_string_equal(json_string_value(json_object_get(m.data, "status")), "running");
  qmp_msg_clear(&m);

  /* Any JSON value may be returned; the length bounds the input. */
  line = "{\"return\": 3}garbage";
  assert_int_equal(qmp_parse_line(line, 13, &m, NULL), 0);
  assert_int_equal(m.kind, QMP_MSG_RETURN);
  assert_false(m.has_id);
  assert_int_equal(json_integer_value(m.data), 3);
  qmp_msg_clear(&m);
}

static void test_parse_error(void **state)
{
  (void)state;
  const char *line =
      "{\"id\": 2, \"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command nope has not "
      "been found\"}}";
  struct qmp_msg m;
  assert_int_equal(qmp_parse_line(line, strlen(line), &m, NULL), 0);
  assert_int_equal(m.kind, QMP_MSG_ERROR);
  assert_int_equal(m.id, 2);
  assert_string_equal(m.error_class, "CommandNotFound");
  assert_string_equal(m.error_desc, "The command nope has not been found");
  qmp_msg_clear(&m);

  line = "{\"error\": {\"desc\": \"JSON parse error\"}}";
  assert_int_equal(qmp_parse_line(line, strlen(line), &m, NULL), 0);
  assert_string_equal(m.error_class, "GenericError");
  assert_false(m.has_id);
  qmp_msg_clear(&m);
}

static void test_parse_event(void **state)
{
  (void)state;
  const char *line = "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"SHUTDOWN\", "
                     "\"data\": {\"guest\": false, \"reason\": \"host-qmp-quit\"}}";
  struct qmp_msg m;
  assert_int_equal(qmp_parse_line(line, strlen(line), &m, NULL), 0);
  assert_int_equal(m.kind, QMP_MSG_EVENT);
  assert_string_equal(m.event, "SHUTDOWN");
  assert_string_equal(json_string_value(json_object_get(m.data, "reason")), "host-qmp-quit");
  qmp_msg_clear(&m);

  line = "{\"event\": \"STOP\", \"timestamp\": {}}";
  assert_int_equal(qmp_parse_line(line, strlen(line), &m, NULL), 0);
  assert_string_equal(m.event, "STOP");
  assert_null(m.data);
  qmp_msg_clear(&m);
}

static void test_parse_foreign_ids(void **state)
{
  (void)state;
  static const char *const lines[] = {
      "{\"return\": {}, \"id\": \"abc\"}",
      "{\"return\": {}, \"id\": -4}",
      "{\"return\": {}, \"id\": 1.5}",
      "{\"return\": {}, \"id\": null}",
  };
  for (size_t i = 0; i < ARRAY_SIZE(lines); i++) {
    struct qmp_msg m;
    assert_int_equal(qmp_parse_line(lines[i], strlen(lines[i]), &m, NULL), 0);
    assert_true(m.has_id);
    assert_int_equal(m.id, -1);
    qmp_msg_clear(&m);
  }
}

static void test_parse_malformed(void **state)
{
  (void)state;
  static const char *const lines[] = {
      "",
      "   ",
      "not json",
      "[1,2]",
      "\"return\"",
      "{}",
      "{\"id\": 1}",
      "{\"return\": {}, \"error\": {\"desc\": \"x\"}}",
      "{\"return\": 1, \"return\": 2}",
      "{\"QMP\": 1}",
      "{\"error\": \"boom\"}",
      "{\"error\": {\"class\": \"GenericError\"}}",
      "{\"error\": {\"class\": 3, \"desc\": \"x\"}}",
      "{\"event\": 5}",
      "{\"return\": {}} {\"return\": {}}",
      "{\"return\": \"\\u0000\"}",
      "{\"return\": {}",
  };
  for (size_t i = 0; i < ARRAY_SIZE(lines); i++) {
    struct qmp_msg m;
    tart_error_t err = NULL;
    assert_int_equal(qmp_parse_line(lines[i], strlen(lines[i]), &m, &err), -1);
    assert_non_null(err);
    assert_int_equal(err->errnum, EPROTO);
    assert_true(strncmp(err->msg, "malformed QMP message: ", 23) == 0);
    assert_null(m.root);
    tart_error_release(&err);
  }
  /* Bytes from the peer are not echoed raw into the message. */
  struct qmp_msg m;
  tart_error_t err = NULL;
  assert_int_equal(qmp_parse_line("\x1b[31m", 5, &m, &err), -1);
  assert_null(strchr(err->msg, '\x1b'));
  tart_error_release(&err);
}

static void test_log_text_redacts(void **state)
{
  (void)state;
  json_t *msg = json_pack("{s:s, s:{s:s, s:s, s:[{s:s}]}}", "execute", "set_password", "arguments",
                          "protocol", "vnc", "password", "hunter2", "list", "input-data", "c2VjcmV0");
  char *text = qmp_log_text(msg);
  assert_null(strstr(text, "hunter2"));
  assert_null(strstr(text, "c2VjcmV0"));
  assert_non_null(strstr(text, "\"password\":\"<redacted>\""));
  assert_non_null(strstr(text, "\"protocol\":\"vnc\""));
  /* The message itself is untouched. */
  assert_string_equal(json_string_value(json_object_get(json_object_get(msg, "arguments"), "password")),
                      "hunter2");
  free(text);
  json_decref(msg);
}

/* ---- The channel ---------------------------------------------------------- */

static void pair(int sv[2])
{
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

static void test_chan_lines(void **state)
{
  (void)state;
  int sv[2];
  pair(sv);
  struct qmp_chan c;
  qmp_chan_init_fd(&c, sv[0], 1024, "test socket");
  char *line;
  size_t len;

  /* Nothing yet: a zero deadline returns at once. */
  assert_int_equal(qmp_chan_read_line(&c, qmp_deadline(0), &line, &len, NULL), 0);

  const char *data = "one\r\ntwo\n\nthr";
  assert_int_equal(write(sv[1], data, strlen(data)), (ssize_t)strlen(data));
  assert_int_equal(qmp_chan_read_line(&c, qmp_deadline(1000), &line, &len, NULL), 1);
  assert_string_equal(line, "one\r");
  assert_int_equal(len, 4);
  assert_int_equal(qmp_chan_read_line(&c, qmp_deadline(1000), &line, &len, NULL), 1);
  assert_string_equal(line, "two");
  assert_int_equal(qmp_chan_read_line(&c, qmp_deadline(1000), &line, &len, NULL), 1);
  assert_int_equal(len, 0);
  assert_int_equal(qmp_chan_read_line(&c, qmp_deadline(50), &line, &len, NULL), 0);
  assert_int_equal(write(sv[1], "ee\nfour", 7), 7);
  assert_int_equal(qmp_chan_read_line(&c, qmp_deadline(1000), &line, &len, NULL), 1);
  assert_string_equal(line, "three");

  /* The peer leaves in the middle of "four". */
  close(sv[1]);
  tart_error_t err = NULL;
  assert_int_equal(qmp_chan_read_line(&c, qmp_deadline(1000), &line, &len, &err), -1);
  assert_int_equal(err->errnum, ECONNRESET);
  assert_string_equal(err->msg, "test socket closed the connection in the middle of a message");
  tart_error_release(&err);
  qmp_chan_close(&c);
  qmp_chan_close(&c);
}

static void test_chan_line_limit(void **state)
{
  (void)state;
  int sv[2];
  pair(sv);
  struct qmp_chan c;
  qmp_chan_init_fd(&c, sv[0], 100, "test socket");
  char buf[301];
  memset(buf, 'x', sizeof(buf));
  buf[100] = '\n'; /* exactly max_line is fine */
  assert_int_equal(write(sv[1], buf, 101), 101);
  char *line;
  size_t len;
  assert_int_equal(qmp_chan_read_line(&c, qmp_deadline(1000), &line, &len, NULL), 1);
  assert_int_equal(len, 100);

  /* 200 bytes and no end in sight. */
  buf[100] = 'x';
  assert_int_equal(write(sv[1], buf, 200), 200);
  tart_error_t err = NULL;
  assert_int_equal(qmp_chan_read_line(&c, qmp_deadline(1000), &line, &len, &err), -1);
  assert_int_equal(err->errnum, EMSGSIZE);
  assert_string_equal(err->msg, "test socket sent a message longer than 100 bytes");
  tart_error_release(&err);
  qmp_chan_close(&c);
  close(sv[1]);
}

/* Data arriving one byte at a time, and a line much longer than one read. */
struct dribble {
  int fd;
  size_t n;
};

static void *dribble_main(void *arg)
{
  struct dribble *d = arg;
  for (size_t i = 0; i < 50; i++) {
    if (write(d->fd, "a", 1) != 1)
      return NULL;
    if (i % 10 == 0)
      poll(NULL, 0, 1);
  }
  char *big = xmalloc(d->n + 1);
  memset(big, 'b', d->n);
  big[d->n] = '\n';
  for (size_t off = 0; off <= d->n;) {
    ssize_t w = write(d->fd, big + off, d->n + 1 - off);
    if (w <= 0)
      break;
    off += (size_t)w;
  }
  free(big);
  return NULL;
}

static void test_chan_dribble_and_big_line(void **state)
{
  (void)state;
  int sv[2];
  pair(sv);
  struct qmp_chan c;
  qmp_chan_init_fd(&c, sv[0], 1u << 20, "test socket");
  struct dribble d = {.fd = sv[1], .n = 700000};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, dribble_main, &d), 0);
  char *line;
  size_t len;
  assert_int_equal(qmp_chan_read_line(&c, qmp_deadline(5000), &line, &len, NULL), 1);
  pthread_join(t, NULL);
  assert_int_equal(len, 50 + d.n);
  assert_int_equal(line[0], 'a');
  assert_int_equal(line[49], 'a');
  assert_int_equal(line[50], 'b');
  assert_int_equal(line[len - 1], 'b');
  qmp_chan_close(&c);
  close(sv[1]);
}

static void test_chan_skip_past(void **state)
{
  (void)state;
  int sv[2];
  pair(sv);
  struct qmp_chan c;
  qmp_chan_init_fd(&c, sv[0], 1024, "test socket");
  assert_int_equal(write(sv[1], "stale\nmore stale", 16), 16);
  assert_int_equal(qmp_chan_skip_past(&c, 0xff, qmp_deadline(30), NULL), 0);
  assert_int_equal(write(sv[1], "junk\xffgood\n", 10), 10);
  assert_int_equal(qmp_chan_skip_past(&c, 0xff, qmp_deadline(1000), NULL), 1);
  char *line;
  size_t len;
  assert_int_equal(qmp_chan_read_line(&c, qmp_deadline(1000), &line, &len, NULL), 1);
  assert_string_equal(line, "good");
  close(sv[1]);
  tart_error_t err = NULL;
  assert_int_equal(qmp_chan_skip_past(&c, 0xff, qmp_deadline(1000), &err), -1);
  assert_int_equal(err->errnum, ECONNRESET);
  tart_error_release(&err);
  qmp_chan_close(&c);
}

static void test_chan_send_no_sigpipe(void **state)
{
  (void)state;
  int sv[2];
  pair(sv);
  close(sv[1]);
  struct qmp_chan c;
  qmp_chan_init_fd(&c, sv[0], 1024, "test socket");
  tart_error_t err = NULL;
  /* Without MSG_NOSIGNAL this would kill the test with SIGPIPE. */
  assert_int_equal(qmp_chan_send(&c, "x\n", 2, qmp_deadline(1000), &err), -1);
  assert_int_equal(err->errnum, EPIPE);
  tart_error_release(&err);
  qmp_chan_close(&c);
}

static void test_chan_send_timeout(void **state)
{
  (void)state;
  int sv[2];
  pair(sv);
  struct qmp_chan c;
  qmp_chan_init_fd(&c, sv[0], 1024, "test socket");
  /* Nobody reads sv[1]: the socket buffers fill up. */
  size_t n = 8 << 20;
  char *big = xcalloc(1, n);
  tart_error_t err = NULL;
  assert_int_equal(qmp_chan_send(&c, big, n, qmp_deadline(100), &err), -1);
  assert_int_equal(err->errnum, ETIMEDOUT);
  assert_string_equal(err->msg, "timed out writing to test socket");
  tart_error_release(&err);
  free(big);
  qmp_chan_close(&c);
  close(sv[1]);
}

/* ---- The client over a socketpair ---------------------------------------- */

static void test_handshake_and_query_status(void **state)
{
  (void)state;
  static const struct step steps[] = {
      HELLO,
      {"query-status",
       "{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}, "
       "\"id\": $ID}\r\n",
       NULL, 0},
  };
  struct server s = {0};
  int fd = srv_start(&s, steps, ARRAY_SIZE(steps));
  struct qmp *q = NULL;
  tart_error_t err = NULL;
  assert_int_equal(qmp_open_fd(fd, 2000, &q, &err), 0);
  assert_null(err);
  assert_true(qmp_fd(q) >= 0);
  json_t *ret = NULL;
  assert_int_equal(qmp_execute(q, "query-status", NULL, 2000, &ret, &err), 0);
  assert_string_equal(json_string_value(json_object_get(ret, "status")), "running");
  assert_true(json_is_true(json_object_get(ret, "running")));
  json_decref(ret);
  json_t *ev = NULL;
  assert_int_equal(qmp_next_event(q, &ev), 0);
  qmp_close(q);
  srv_join(&s);
}

static bool check_migrate_args(const json_t *req)
{
  json_t *args = json_object_get(req, "arguments");
  return json_is_integer(json_object_get(req, "id")) &&
         strcmp(json_string_value(json_object_get(args, "uri")) ?: "", "exec:cat > /x/state.qemusave") == 0;
}

static void test_arguments_sent(void **state)
{
  (void)state;
  static const struct step steps[] = {
      HELLO,
      {"migrate", "{\"return\": {}, \"id\": $ID}\r\n", check_migrate_args, 0},
  };
  struct server s = {0};
  int fd = srv_start(&s, steps, ARRAY_SIZE(steps));
  struct qmp *q = NULL;
  assert_int_equal(qmp_open_fd(fd, 2000, &q, NULL), 0);
  /* ret may be NULL when the caller does not care. */
  assert_int_equal(
      qmp_execute(q, "migrate", json_pack("{s:s}", "uri", "exec:cat > /x/state.qemusave"), 2000, NULL, NULL),
      0);
  qmp_close(q);
  srv_join(&s);
}

static void test_events_before_reply(void **state)
{
  (void)state;
  static const struct step steps[] = {
      {NULL, "{\"event\": \"RTC_CHANGE\", \"data\": {\"offset\": 0}, \"timestamp\": {}}\r\n" GREETING, NULL,
       0},
      {"qmp_capabilities", "{\"return\": {}, \"id\": $ID}\r\n", NULL, 0},
      /* Two events and the reply in one write, then one more event. */
      {"stop",
       "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 5}, \"event\": \"STOP\"}\r\n"
       "{\"event\": \"POWERDOWN\", \"timestamp\": {}}\r\n"
       "{\"return\": {}, \"id\": $ID}\r\n"
       "{\"event\": \"RESUME\", \"timestamp\": {}}\r\n",
       NULL, 0},
  };
  struct server s = {0};
  int fd = srv_start(&s, steps, ARRAY_SIZE(steps));
  struct qmp *q = NULL;
  assert_int_equal(qmp_open_fd(fd, 2000, &q, NULL), 0);
  assert_int_equal(qmp_execute(q, "stop", NULL, 2000, NULL, NULL), 0);

  /* POWERDOWN is taken from the middle of the queue. */
  json_t *ev = NULL;
  assert_int_equal(qmp_wait_event(q, "POWERDOWN", 0, &ev, NULL), 1);
  assert_string_equal(json_string_value(json_object_get(ev, "event")), "POWERDOWN");
  json_decref(ev);
  assert_int_equal(qmp_next_event(q, &ev), 1);
  assert_string_equal(json_string_value(json_object_get(ev, "event")), "RTC_CHANGE");
  json_decref(ev);
  assert_int_equal(qmp_next_event(q, &ev), 1);
  assert_string_equal(json_string_value(json_object_get(ev, "event")), "STOP");
  assert_int_equal(json_integer_value(json_object_get(json_object_get(ev, "timestamp"), "microseconds")), 5);
  json_decref(ev);
  assert_int_equal(qmp_next_event(q, &ev), 0);
  /* RESUME came after the reply: it is read from the socket. */
  assert_int_equal(qmp_wait_event(q, NULL, 1000, &ev, NULL), 1);
  assert_string_equal(json_string_value(json_object_get(ev, "event")), "RESUME");
  json_decref(ev);
  qmp_close(q);
  srv_join(&s);
}

static void test_wait_event(void **state)
{
  (void)state;
  static const struct step steps[] = {
      HELLO,
      {"system_powerdown",
       "{\"return\": {}, \"id\": $ID}\r\n{\"event\": \"POWERDOWN\", \"timestamp\": {}}\r\n", NULL, 0},
      {NULL, "{\"event\": \"SHUTDOWN\", \"data\": {\"guest\": true, \"reason\": \"guest-shutdown\"}}\r\n",
       NULL, 80},
  };
  struct server s = {0};
  int fd = srv_start(&s, steps, ARRAY_SIZE(steps));
  struct qmp *q = NULL;
  assert_int_equal(qmp_open_fd(fd, 2000, &q, NULL), 0);
  assert_int_equal(qmp_execute(q, "system_powerdown", NULL, 2000, NULL, NULL), 0);
  json_t *ev = NULL;
  /* Not there yet: a zero timeout polls and returns 0 without an error;
   * POWERDOWN is queued on the way.  Then SHUTDOWN arrives in time, and a
   * second one does not. */
  tart_error_t err = NULL;
  assert_int_equal(qmp_wait_event(q, "SHUTDOWN", 0, &ev, &err), 0);
  assert_null(ev);
  assert_null(err);
  assert_int_equal(qmp_wait_event(q, "SHUTDOWN", 1000, &ev, &err), 1);
  assert_true(json_is_true(json_object_get(json_object_get(ev, "data"), "guest")));
  json_decref(ev);
  assert_int_equal(qmp_wait_event(q, "SHUTDOWN", 30, &ev, &err), 0);
  assert_int_equal(qmp_next_event(q, &ev), 1);
  assert_string_equal(json_string_value(json_object_get(ev, "event")), "POWERDOWN");
  json_decref(ev);
  qmp_close(q);
  srv_join(&s);
}

static void test_error_reply(void **state)
{
  (void)state;
  static const struct step steps[] = {
      HELLO,
      {"migrate",
       "{\"id\": $ID, \"error\": {\"class\": \"GenericError\", \"desc\": \"There's a migration process in "
       "progress\"}}\r\n",
       NULL, 0},
      {"frobnicate",
       "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command frobnicate has not been "
       "found\"}, \"id\": $ID}\r\n",
       NULL, 0},
      /* QEMU's answer to a request it cannot parse carries no id. */
      {"cont", "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error\"}}\r\n", NULL, 0},
  };
  struct server s = {0};
  int fd = srv_start(&s, steps, ARRAY_SIZE(steps));
  struct qmp *q = NULL;
  assert_int_equal(qmp_open_fd(fd, 2000, &q, NULL), 0);
  tart_error_t err = NULL;
  json_t *ret = (json_t *)1;
  assert_int_equal(qmp_execute(q, "migrate", json_pack("{s:s}", "uri", "exec:true"), 2000, &ret, &err), -1);
  assert_null(ret);
  assert_string_equal(err->msg, "QMP migrate failed: There's a migration process in progress");
  assert_int_equal(err->errnum, EREMOTEIO);
  tart_error_release(&err);
  assert_int_equal(qmp_execute(q, "frobnicate", NULL, 2000, NULL, &err), -1);
  assert_int_equal(err->errnum, ENOTSUP);
  assert_string_equal(err->msg, "QMP frobnicate failed: The command frobnicate has not been found");
  tart_error_release(&err);
  assert_int_equal(qmp_execute(q, "cont", NULL, 2000, NULL, &err), -1);
  assert_string_equal(err->msg, "QMP cont failed: JSON parse error");
  tart_error_release(&err);
  qmp_close(q);
  srv_join(&s);
}

static void test_other_id_dropped(void **state)
{
  (void)state;
  static const struct step steps[] = {
      HELLO,
      {"query-status",
       "{\"return\": {\"status\": \"stale\"}, \"id\": 12345}\r\n"
       "{\"return\": {\"status\": \"odd\"}, \"id\": \"x\"}\r\n"
       "{\"return\": {\"status\": \"paused\"}, \"id\": $ID}\r\n",
       NULL, 0},
  };
  struct server s = {0};
  int fd = srv_start(&s, steps, ARRAY_SIZE(steps));
  struct qmp *q = NULL;
  assert_int_equal(qmp_open_fd(fd, 2000, &q, NULL), 0);
  json_t *ret = NULL;
  assert_int_equal(qmp_execute(q, "query-status", NULL, 2000, &ret, NULL), 0);
  assert_string_equal(json_string_value(json_object_get(ret, "status")), "paused");
  json_decref(ret);
  qmp_close(q);
  srv_join(&s);
}

static void test_late_reply_after_timeout(void **state)
{
  (void)state;
  static const struct step steps[] = {
      HELLO,
      {"query-migrate", NULL, NULL, 0},
      /* The late answer to query-migrate arrives before cont's. */
      {"cont",
       "{\"return\": {\"status\": \"completed\"}, \"id\": $PREV}\r\n{\"return\": {}, \"id\": $ID}\r\n", NULL,
       0},
  };
  struct server s = {0};
  int fd = srv_start(&s, steps, ARRAY_SIZE(steps));
  struct qmp *q = NULL;
  assert_int_equal(qmp_open_fd(fd, 2000, &q, NULL), 0);
  tart_error_t err = NULL;
  json_t *ret = NULL;
  assert_int_equal(qmp_execute(q, "query-migrate", NULL, 100, &ret, &err), -1);
  assert_int_equal(err->errnum, ETIMEDOUT);
  assert_string_equal(err->msg, "QEMU did not answer query-migrate within 100 ms");
  tart_error_release(&err);
  assert_int_equal(qmp_execute(q, "cont", NULL, 2000, &ret, &err), 0);
  assert_true(json_is_object(ret));
  assert_int_equal(json_object_size(ret), 0);
  json_decref(ret);
  qmp_close(q);
  srv_join(&s);
}

static void test_greeting_timeout(void **state)
{
  (void)state;
  struct server s = {0};
  int fd = srv_start(&s, NULL, 0);
  struct qmp *q = (struct qmp *)1;
  tart_error_t err = NULL;
  int64_t t0 = qmp_now_ms();
  assert_int_equal(qmp_open_fd(fd, 150, &q, &err), -1);
  int64_t took = qmp_now_ms() - t0;
  assert_null(q);
  assert_int_equal(err->errnum, ETIMEDOUT);
  assert_non_null(strstr(err->msg, "QEMU sent no QMP greeting within 150 ms"));
  assert_true(took >= 140 && took < 2000);
  tart_error_release(&err);
  srv_join(&s);
}

static void test_capabilities_timeout(void **state)
{
  (void)state;
  static const struct step steps[] = {{NULL, GREETING, NULL, 0}};
  struct server s = {0};
  int fd = srv_start(&s, steps, ARRAY_SIZE(steps));
  struct qmp *q = NULL;
  tart_error_t err = NULL;
  assert_int_equal(qmp_open_fd(fd, 120, &q, &err), -1);
  assert_int_equal(err->errnum, ETIMEDOUT);
  assert_string_equal(err->msg, "QEMU did not answer qmp_capabilities within 120 ms");
  tart_error_release(&err);
  srv_join(&s);
}

static void test_not_a_greeting(void **state)
{
  (void)state;
  static const struct step steps[] = {{NULL, "{\"return\": {}}\r\n", NULL, 0}};
  struct server s = {0};
  int fd = srv_start(&s, steps, ARRAY_SIZE(steps));
  struct qmp *q = NULL;
  tart_error_t err = NULL;
  assert_int_equal(qmp_open_fd(fd, 1000, &q, &err), -1);
  assert_int_equal(err->errnum, EPROTO);
  tart_error_release(&err);
  srv_join(&s);

  static const struct step garbage[] = {{NULL, "Welcome to the machine\r\n", NULL, 0}};
  fd = srv_start(&s, garbage, ARRAY_SIZE(garbage));
  assert_int_equal(qmp_open_fd(fd, 1000, &q, &err), -1);
  assert_int_equal(err->errnum, EPROTO);
  assert_true(strncmp(err->msg, "QMP greeting: malformed QMP message: ", 36) == 0);
  tart_error_release(&err);
  srv_join(&s);
}

static void test_quit_then_closed(void **state)
{
  (void)state;
  static const struct step steps[] = {
      HELLO,
      {"quit",
       "{\"return\": {}, \"id\": $ID}\r\n{\"timestamp\": {}, \"event\": \"SHUTDOWN\", \"data\": {\"guest\": "
       "false, "
       "\"reason\": \"host-qmp-quit\"}}\r\n",
       NULL, 0},
  };
  struct server s = {.close_after = true};
  int fd = srv_start(&s, steps, ARRAY_SIZE(steps));
  struct qmp *q = NULL;
  assert_int_equal(qmp_open_fd(fd, 2000, &q, NULL), 0);
  assert_int_equal(qmp_execute(q, "quit", NULL, 2000, NULL, NULL), 0);
  json_t *ev = NULL;
  tart_error_t err = NULL;
  assert_int_equal(qmp_wait_event(q, "SHUTDOWN", 2000, &ev, &err), 1);
  json_decref(ev);
  assert_int_equal(qmp_wait_event(q, "SHUTDOWN", 2000, &ev, &err), -1);
  assert_int_equal(err->errnum, ECONNRESET);
  assert_string_equal(err->msg, "QMP socket closed the connection");
  tart_error_release(&err);
  srv_join(&s);
  /* QEMU is gone: the next command fails, with EPIPE or ECONNRESET, and
   * no SIGPIPE. */
  assert_int_equal(qmp_execute(q, "query-status", NULL, 2000, NULL, &err), -1);
  assert_true(err->errnum == EPIPE || err->errnum == ECONNRESET);
  assert_true(strncmp(err->msg, "QMP query-status: ", 18) == 0);
  tart_error_release(&err);
  qmp_close(q);
}

static void test_closed_mid_command(void **state)
{
  (void)state;
  static const struct step steps[] = {HELLO, {"stop", "{\"return\": ", NULL, 0}};
  struct server s = {.close_after = true};
  int fd = srv_start(&s, steps, ARRAY_SIZE(steps));
  struct qmp *q = NULL;
  assert_int_equal(qmp_open_fd(fd, 2000, &q, NULL), 0);
  tart_error_t err = NULL;
  assert_int_equal(qmp_execute(q, "stop", NULL, 2000, NULL, &err), -1);
  assert_int_equal(err->errnum, ECONNRESET);
  assert_string_equal(err->msg, "QMP stop: QMP socket closed the connection in the middle of a message");
  tart_error_release(&err);
  qmp_close(q);
  srv_join(&s);
}

static void test_null_command(void **state)
{
  (void)state;
  static const struct step steps[] = {HELLO};
  struct server s = {0};
  int fd = srv_start(&s, steps, ARRAY_SIZE(steps));
  struct qmp *q = NULL;
  assert_int_equal(qmp_open_fd(fd, 2000, &q, NULL), 0);
  tart_error_t err = NULL;
  /* args is released even then (ASan would see a leak). */
  assert_int_equal(qmp_execute(q, NULL, json_object(), 100, NULL, &err), -1);
  assert_int_equal(err->errnum, EINVAL);
  tart_error_release(&err);
  qmp_close(q);
  qmp_close(NULL);
  srv_join(&s);
}

static void test_event_queue_bounded(void **state)
{
  (void)state;
  /* 1100 events, then the reply: the queue keeps the newest 1024. */
  size_t n = 1100;
  char *burst = xmalloc(n * 64 + 64);
  char *o = burst;
  for (size_t i = 0; i < n; i++)
    o += sprintf(o, "{\"event\": \"E%zu\", \"timestamp\": {}}\r\n", i);
  strcpy(o, "{\"return\": {}, \"id\": $ID}\r\n");
  struct step steps[] = {HELLO, {"stop", burst, NULL, 0}};
  struct server s = {0};
  int fd = srv_start(&s, steps, ARRAY_SIZE(steps));
  struct qmp *q = NULL;
  assert_int_equal(qmp_open_fd(fd, 5000, &q, NULL), 0);
  assert_int_equal(qmp_execute(q, "stop", NULL, 5000, NULL, NULL), 0);
  json_t *ev;
  size_t count = 0;
  char first[16] = "";
  while (qmp_next_event(q, &ev) == 1) {
    if (count++ == 0)
      snprintf(first, sizeof(first), "%s", json_string_value(json_object_get(ev, "event")));
    json_decref(ev);
  }
  assert_int_equal(count, 1024);
  assert_string_equal(first, "E76");
  qmp_close(q);
  srv_join(&s);
  free(burst);
}

/* With TART_LOG=debug every exchange is logged, secrets are not, and long
 * lines are cut. */
static void test_debug_log(void **state)
{
  (void)state;
  char big[5000];
  memset(big, 'y', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  char *reply = xasprintf("{\"return\": \"%s\", \"id\": $ID}\r\n", big);
  struct step steps[] = {
      HELLO,
      {"set_password", "{\"return\": {}, \"id\": $ID}\r\n", NULL, 0},
      {"query-qmp-schema", reply, NULL, 0},
  };
  struct server s = {0};
  int fd = srv_start(&s, steps, ARRAY_SIZE(steps));

  char logpath[] = "/tmp/tart-test-qmp-log-XXXXXX";
  int logfd = mkstemp(logpath);
  assert_true(logfd >= 0);
  fflush(stderr);
  int saved = dup(2);
  dup2(logfd, 2);
  enum tart_log_level level = tart_log_get_level();
  tart_log_set_level(TART_LOG_DEBUG);

  struct qmp *q = NULL;
  int r1 = qmp_open_fd(fd, 2000, &q, NULL);
  int r2 = r1 < 0 ? -1
                  : qmp_execute(q, "set_password",
                                json_pack("{s:s, s:s}", "protocol", "vnc", "password", "s3cr3t"), 2000, NULL,
                                NULL);
  json_t *ret = NULL;
  int r3 = r1 < 0 ? -1 : qmp_execute(q, "query-qmp-schema", NULL, 2000, &ret, NULL);

  tart_log_set_level(level);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  assert_int_equal(r1, 0);
  assert_int_equal(r2, 0);
  assert_int_equal(r3, 0);
  assert_int_equal(strlen(json_string_value(ret)), sizeof(big) - 1);
  json_decref(ret);
  qmp_close(q);
  srv_join(&s);
  free(reply);

  char *log = NULL;
  size_t len = 0;
  FILE *f = fdopen(logfd, "r");
  rewind(f);
  assert_true(getdelim(&log, &len, '\0', f) > 0);
  fclose(f);
  unlink(logpath);
  assert_non_null(strstr(log, "tart: debug: QMP <- {\"QMP\": {"));
  assert_non_null(strstr(log, "tart: debug: QMP -> {\"execute\":\"qmp_capabilities\",\"id\":1}"));
  assert_non_null(strstr(log, "\"password\":\"<redacted>\""));
  assert_null(strstr(log, "s3cr3t"));
  assert_non_null(strstr(log, "... (5022 bytes)"));
  assert_null(strchr(log, '\r'));
  free(log);
}

/* ---- qmp_connect with real paths ----------------------------------------- */

/* A listening socket at path; long paths through the directory fd, as the
 * client does. */
static int listen_at(const char *path)
{
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  int dirfd = -1;
  if (strlen(path) < sizeof(sa.sun_path)) {
    strcpy(sa.sun_path, path);
  } else {
    char *dir = xstrdup(path);
    *strrchr(dir, '/') = '\0';
    dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    assert_true(dirfd >= 0);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dirfd, strrchr(path, '/') + 1);
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  assert_int_equal(listen(fd, 4), 0);
  if (dirfd >= 0)
    close(dirfd);
  return fd;
}

static char *make_tmpdir(void)
{
  char *d = xstrdup("/tmp/tart-test-qmp-XXXXXX");
  assert_non_null(mkdtemp(d));
  return d;
}

static void connect_and_query(const char *path)
{
  static const struct step steps[] = {
      HELLO,
      {"query-status", "{\"return\": {\"status\": \"prelaunch\", \"running\": false}, \"id\": $ID}\r\n", NULL,
       0},
  };
  int lfd = listen_at(path);
  struct server s = {0};
  srv_start_listening(&s, lfd, steps, ARRAY_SIZE(steps));
  struct qmp *q = NULL;
  tart_error_t err = NULL;
  int r = qmp_connect(path, 2000, &q, &err);
  if (r < 0)
    fail_msg("qmp_connect: %s", err->msg);
  json_t *ret = NULL;
  assert_int_equal(qmp_execute(q, "query-status", NULL, 2000, &ret, NULL), 0);
  assert_string_equal(json_string_value(json_object_get(ret, "status")), "prelaunch");
  json_decref(ret);
  qmp_close(q);
  srv_join(&s);
  close(lfd);
  unlink(path);
}

static void test_connect_short_path(void **state)
{
  (void)state;
  char *dir = make_tmpdir();
  char *path = xasprintf("%s/qmp.sock", dir);
  connect_and_query(path);
  free(path);
  rmdir(dir);
  free(dir);
}

static void test_connect_long_path(void **state)
{
  (void)state;
  char *dir = make_tmpdir();
  char long_name[121];
  memset(long_name, 'd', 120);
  long_name[120] = '\0';
  char *sub = xasprintf("%s/%s", dir, long_name);
  assert_int_equal(mkdir(sub, 0700), 0);
  char *path = xasprintf("%s/qmp.sock", sub);
  assert_true(strlen(path) > sizeof(((struct sockaddr_un *)0)->sun_path));
  connect_and_query(path);

  /* A last component too long even for the /proc route. */
  char *bad = xasprintf("%s/%s.sock", sub, long_name);
  struct qmp *q = NULL;
  tart_error_t err = NULL;
  assert_int_equal(qmp_connect(bad, 500, &q, &err), -1);
  assert_int_equal(err->errnum, ENAMETOOLONG);
  tart_error_release(&err);
  free(bad);
  free(path);
  rmdir(sub);
  free(sub);
  rmdir(dir);
  free(dir);
}

static void test_connect_missing_and_refused(void **state)
{
  (void)state;
  char *dir = make_tmpdir();
  char *path = xasprintf("%s/qmp.sock", dir);
  struct qmp *q = NULL;
  tart_error_t err = NULL;
  int64_t t0 = qmp_now_ms();
  assert_int_equal(qmp_connect(path, 5000, &q, &err), -1);
  assert_true(qmp_now_ms() - t0 < 1000); /* at once, not after the timeout */
  assert_int_equal(err->errnum, ENOENT);
  assert_non_null(strstr(err->msg, "cannot connect to QMP socket"));
  tart_error_release(&err);

  /* A socket file nobody listens on (QEMU died without removing it). */
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  strcpy(sa.sun_path, path);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  close(fd);
  assert_int_equal(qmp_connect(path, 5000, &q, &err), -1);
  assert_int_equal(err->errnum, ECONNREFUSED);
  tart_error_release(&err);
  assert_null(q);

  /* The long-path route reports a missing directory too. */
  char long_name[121];
  memset(long_name, 'e', 120);
  long_name[120] = '\0';
  char *lp = xasprintf("%s/%s/qmp.sock", dir, long_name);
  assert_int_equal(qmp_connect(lp, 500, &q, &err), -1);
  assert_int_equal(err->errnum, ENOENT);
  tart_error_release(&err);
  free(lp);

  unlink(path);
  free(path);
  rmdir(dir);
  free(dir);
}

static void test_connect_backlog_full(void **state)
{
  (void)state;
  char *dir = make_tmpdir();
  char *path = xasprintf("%s/qmp.sock", dir);
  int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  strcpy(sa.sun_path, path);
  assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  /* Backlog 0 holds one pending connection; the next one gets EAGAIN,
   * which is retried until the deadline. */
  assert_int_equal(listen(lfd, 0), 0);
  int first = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_int_equal(connect(first, (struct sockaddr *)&sa, sizeof(sa)), 0);
  struct qmp *q = NULL;
  tart_error_t err = NULL;
  int64_t t0 = qmp_now_ms();
  assert_int_equal(qmp_connect(path, 150, &q, &err), -1);
  int64_t took = qmp_now_ms() - t0;
  assert_int_equal(err->errnum, ETIMEDOUT);
  assert_true(took >= 140 && took < 2000);
  tart_error_release(&err);
  close(first);
  close(lfd);
  unlink(path);
  free(path);
  rmdir(dir);
  free(dir);
}

int main(void)
{
  /* Debug lines are checked as the terminal shows them. */
  report_set_handler(report_print, NULL);
  signal(SIGPIPE, SIG_DFL);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_greeting),
      cmocka_unit_test(test_parse_return),
      cmocka_unit_test(test_parse_error),
      cmocka_unit_test(test_parse_event),
      cmocka_unit_test(test_parse_foreign_ids),
      cmocka_unit_test(test_parse_malformed),
      cmocka_unit_test(test_log_text_redacts),
      cmocka_unit_test(test_chan_lines),
      cmocka_unit_test(test_chan_line_limit),
      cmocka_unit_test(test_chan_dribble_and_big_line),
      cmocka_unit_test(test_chan_skip_past),
      cmocka_unit_test(test_chan_send_no_sigpipe),
      cmocka_unit_test(test_chan_send_timeout),
      cmocka_unit_test(test_handshake_and_query_status),
      cmocka_unit_test(test_arguments_sent),
      cmocka_unit_test(test_events_before_reply),
      cmocka_unit_test(test_wait_event),
      cmocka_unit_test(test_error_reply),
      cmocka_unit_test(test_other_id_dropped),
      cmocka_unit_test(test_late_reply_after_timeout),
      cmocka_unit_test(test_greeting_timeout),
      cmocka_unit_test(test_capabilities_timeout),
      cmocka_unit_test(test_not_a_greeting),
      cmocka_unit_test(test_quit_then_closed),
      cmocka_unit_test(test_closed_mid_command),
      cmocka_unit_test(test_null_command),
      cmocka_unit_test(test_event_queue_bounded),
      cmocka_unit_test(test_debug_log),
      cmocka_unit_test(test_connect_short_path),
      cmocka_unit_test(test_connect_long_path),
      cmocka_unit_test(test_connect_missing_and_refused),
      cmocka_unit_test(test_connect_backlog_full),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
