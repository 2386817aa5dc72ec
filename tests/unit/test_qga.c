#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent/qga.h"
#include "qemu/qmp.h"
#include "util/log.h"
#include "util/report.h"
#include "util/util.h"

/* ---- A scripted guest agent on the other end of a socket -----------------
 *
 * As in test_qmp.c: a thread checks each request against the script and
 * answers with raw bytes, where $ID is the request's id, $PREV the previous
 * request's and $SYNC the id of a guest-sync-delimited request.  A step with
 * repeat answers every further request until the client leaves. */

struct step {
  const char *expect; /* command the client must send next; NULL: reply at once */
  const char *reply;  /* raw bytes to send, NULL for none */
  bool (*check)(const json_t *req);
  int delay_ms;
  bool repeat;
};

struct server {
  int fd;
  int listen_fd;
  const struct step *steps;
  size_t n;
  bool close_after;
  pthread_t thread;
  char failure[512];
  int requests; /* requests answered by a repeat step */
  int resets;   /* requests that came after a 0xFF byte */
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

static char *substitute(const char *tmpl, const char *id, const char *prev, const char *sync)
{
  size_t cap = strlen(tmpl) * 8 + 64;
  char *out = xmalloc(cap), *o = out;
  for (const char *p = tmpl; *p != '\0';) {
    if (strncmp(p, "$ID", 3) == 0) {
      o = stpcpy(o, id);
      p += 3;
    } else if (strncmp(p, "$PREV", 5) == 0) {
      o = stpcpy(o, prev);
      p += 5;
    } else if (strncmp(p, "$SYNC", 5) == 0) {
      o = stpcpy(o, sync);
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
  char id[64] = "null", prev[64] = "null", sync[64] = "null";
  size_t cap = 1 << 20;
  char *line = xmalloc(cap);
  for (size_t i = 0; i < s->n;) {
    const struct step *st = &s->steps[i];
    if (st->expect != NULL) {
      int r = srv_read_line(s, line, cap);
      if (r == 0 && st->repeat)
        break;
      if (r <= 0) {
        srv_fail(s, "step %zu: no request (expected %s)", i, st->expect);
        break;
      }
      const char *text = line;
      if (text[0] == '\xff') {
        s->resets++;
        text++;
      }
      json_t *req = json_loads(text, 0, NULL);
      const char *cmd = json_string_value(json_object_get(req, "execute"));
      if (cmd == NULL || strcmp(cmd, st->expect) != 0)
        srv_fail(s, "step %zu: expected %s, got %s", i, st->expect, line);
      else if (st->check != NULL && !st->check(req))
        srv_fail(s, "step %zu: unexpected request %s", i, line);
      memcpy(prev, id, sizeof(id));
      char *dump = json_dumps(json_object_get(req, "id"), JSON_ENCODE_ANY);
      snprintf(id, sizeof(id), "%s", dump ? dump : "null");
      free(dump);
      dump = json_dumps(json_object_get(json_object_get(req, "arguments"), "id"), JSON_ENCODE_ANY);
      if (dump != NULL)
        snprintf(sync, sizeof(sync), "%s", dump);
      free(dump);
      json_decref(req);
    }
    if (st->delay_ms > 0)
      poll(NULL, 0, st->delay_ms);
    if (st->reply != NULL) {
      char *out = substitute(st->reply, id, prev, sync);
      /* A client that gave up on a repeated request may be gone. */
      if (send(s->fd, out, strlen(out), MSG_NOSIGNAL) < 0 &&
          !(st->repeat && (errno == EPIPE || errno == ECONNRESET)))
        srv_fail(s, "step %zu: send: %s", i, strerror(errno));
      free(out);
    }
    if (st->repeat)
      s->requests++;
    else
      i++;
  }
  if (!s->close_after)
    while (srv_read_line(s, line, cap) > 0)
      ;
  free(line);
  close(s->fd);
  s->fd = -1;
  return NULL;
}

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

static void srv_join(struct server *s)
{
  pthread_join(s->thread, NULL);
  if (s->failure[0] != '\0')
    fail_msg("fake agent: %s", s->failure);
}

#define SYNC_OK                                                                                              \
  {                                                                                                          \
    "guest-sync-delimited", "\xff{\"return\": $SYNC}\n", NULL, 0, false                                      \
  }

/* ---- Base64 --------------------------------------------------------------- */

static void test_base64_vectors(void **state)
{
  (void)state;
  /* RFC 4648 section 10, plus what the agent sent for "hi\n". */
  static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar", "hi\n"};
  static const char *const coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy", "aGkK"};
  for (size_t i = 0; i < ARRAY_SIZE(plain); i++) {
    unsigned char *out = NULL;
    size_t len = 99;
    assert_int_equal(qga_base64_decode(coded[i], strlen(coded[i]), &out, &len, NULL), 0);
    assert_int_equal(len, strlen(plain[i]));
    assert_memory_equal(out, plain[i], len);
    assert_int_equal(out[len], '\0');
    free(out);
    char *enc = qga_base64_encode(plain[i], strlen(plain[i]));
    assert_string_equal(enc, coded[i]);
    free(enc);
  }
}

static void test_base64_invalid(void **state)
{
  (void)state;
  static const char *const bad[] = {
      "Z",      "Zg",   "Zg=",  "Zm9vY",            /* lengths */
      "Z===",   "====", "=Zg=", "Zg==Zg==", "Zm=v", /* padding in the wrong place */
      "Zh==",   "Zm9=",                             /* non-zero padding bits */
      "Zm9v\n", "Zm 9", "Zm-_", "Zm9\xff",          /* foreign bytes */
  };
  for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
    unsigned char *out = (unsigned char *)1;
    size_t len = 99;
    tart_error_t err = NULL;
    assert_int_equal(qga_base64_decode(bad[i], strlen(bad[i]), &out, &len, &err), -1);
    assert_null(out);
    assert_int_equal(len, 0);
    assert_int_equal(err->errnum, EINVAL);
    assert_true(strncmp(err->msg, "invalid base64 data: ", 21) == 0);
    assert_null(strchr(err->msg, '\xff'));
    tart_error_release(&err);
  }
  /* An embedded NUL is data, not an end. */
  unsigned char *out = NULL;
  size_t len;
  assert_int_equal(qga_base64_decode("Zg==\0AAA", 8, &out, &len, NULL), -1);
  assert_null(out);
}

static void test_base64_roundtrip(void **state)
{
  (void)state;
  unsigned char data[300];
  for (size_t i = 0; i < sizeof(data); i++)
    data[i] = (unsigned char)(i * 37 + 11);
  for (size_t n = 0; n <= sizeof(data); n++) {
    char *enc = qga_base64_encode(data, n);
    assert_int_equal(strlen(enc), (n + 2) / 3 * 4);
    unsigned char *out = NULL;
    size_t len = 0;
    assert_int_equal(qga_base64_decode(enc, strlen(enc), &out, &len, NULL), 0);
    assert_int_equal(len, n);
    if (n > 0)
      assert_memory_equal(out, data, n);
    free(out);
    free(enc);
  }
}

/* ---- guest-exec-status ---------------------------------------------------- */

static int parse_status(const char *text, struct qga_exec_result *r, tart_error_t *err)
{
  json_t *j = json_loads(text, 0, NULL);
  assert_non_null(j);
  int rc = qga_parse_exec_status(j, r, err);
  json_decref(j);
  return rc;
}

static void test_exec_status_running(void **state)
{
  (void)state;
  struct qga_exec_result r;
  assert_int_equal(parse_status("{\"exited\": false}", &r, NULL), 0);
  assert_false(r.exited);
  assert_null(r.out_data);
  qga_exec_result_clear(&r);
}

static void test_exec_status_exited(void **state)
{
  (void)state;
  struct qga_exec_result r;
  assert_int_equal(
      parse_status("{\"exitcode\": 3, \"out-data\": \"aGkK\", \"err-data\": \"ZXJyCg==\", \"exited\": "
                   "true, \"future-member\": [1]}",
                   &r, NULL),
      0);
  assert_true(r.exited);
  assert_int_equal(r.exit_code, 3);
  assert_int_equal(r.signal, 0);
  assert_int_equal(r.out_len, 3);
  assert_string_equal((char *)r.out_data, "hi\n");
  assert_int_equal(r.err_len, 4);
  assert_string_equal((char *)r.err_data, "err\n");
  assert_false(r.out_truncated);
  assert_false(r.err_truncated);
  qga_exec_result_clear(&r);
  assert_null(r.out_data);

  /* No output at all, and an empty one. */
  assert_int_equal(parse_status("{\"exited\": true, \"exitcode\": 0, \"err-data\": \"\"}", &r, NULL), 0);
  assert_int_equal(r.exit_code, 0);
  assert_null(r.out_data);
  assert_int_equal(r.out_len, 0);
  assert_non_null(r.err_data);
  assert_int_equal(r.err_len, 0);
  qga_exec_result_clear(&r);
}

static void test_exec_status_signal_truncated(void **state)
{
  (void)state;
  struct qga_exec_result r;
  assert_int_equal(
      parse_status("{\"exited\": true, \"signal\": 9, \"out-truncated\": true, \"err-truncated\": "
                   "false, \"out-data\": \"eA==\"}",
                   &r, NULL),
      0);
  assert_int_equal(r.exit_code, -1);
  assert_int_equal(r.signal, 9);
  assert_true(r.out_truncated);
  assert_false(r.err_truncated);
  assert_string_equal((char *)r.out_data, "x");
  qga_exec_result_clear(&r);
}

static void test_exec_status_malformed(void **state)
{
  (void)state;
  static const char *const bad[] = {
      "[]",
      "{}",
      "{\"exited\": 1}",
      "{\"exited\": \"yes\"}",
      "{\"exited\": true}",
      "{\"exited\": true, \"exitcode\": \"3\"}",
      "{\"exited\": true, \"exitcode\": 1.5}",
      "{\"exited\": true, \"exitcode\": 4294967296}",
      "{\"exited\": true, \"signal\": null}",
      "{\"exited\": true, \"exitcode\": 0, \"out-data\": 5}",
      "{\"exited\": true, \"exitcode\": 0, \"out-data\": \"aGkK\", \"err-data\": \"a\"}",
      "{\"exited\": true, \"exitcode\": 0, \"out-truncated\": 1}",
      "{\"exited\": true, \"exitcode\": 0, \"out-data\": \"aGkK\", \"err-truncated\": \"no\"}",
  };
  for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
    struct qga_exec_result r;
    tart_error_t err = NULL;
    assert_int_equal(parse_status(bad[i], &r, &err), -1);
    assert_int_equal(err->errnum, EPROTO);
    assert_true(strncmp(err->msg, "malformed guest-exec-status reply: ", 35) == 0);
    assert_null(r.out_data);
    assert_null(r.err_data);
    tart_error_release(&err);
  }
  struct qga_exec_result r;
  assert_int_equal(qga_parse_exec_status(NULL, &r, NULL), -1);
}

/* ---- guest-network-get-interfaces ----------------------------------------- */

static int parse_ifaces(const char *text, char out[16])
{
  json_t *j = json_loads(text, 0, NULL);
  assert_non_null(j);
  int r = qga_parse_interfaces(j, out, NULL);
  json_decref(j);
  return r;
}

static void test_interfaces(void **state)
{
  (void)state;
  char ip[16];
  /* What qga 7.2 answered in the recipe's guest. */
  assert_int_equal(
      parse_ifaces(
          "[{\"name\": \"lo\", \"ip-addresses\": [{\"ip-address-type\": \"ipv4\", \"ip-address\": "
          "\"127.0.0.1\", \"prefix\": 8}, {\"ip-address-type\": \"ipv6\", \"ip-address\": \"::1\", "
          "\"prefix\": 128}], \"statistics\": {}, \"hardware-address\": \"00:00:00:00:00:00\"}, "
          "{\"name\": \"eth0\", \"ip-addresses\": [{\"ip-address-type\": \"ipv6\", \"ip-address\": "
          "\"fe80::5054:ff:fe12:3456\", \"prefix\": 64}, {\"ip-address-type\": \"ipv4\", \"ip-address\": "
          "\"10.0.2.15\", \"prefix\": 24}], \"hardware-address\": \"52:54:00:12:34:56\"}]",
          ip),
      1);
  assert_string_equal(ip, "10.0.2.15");

  /* Only loopback, only IPv6, no addresses yet, link-local only. */
  assert_int_equal(parse_ifaces("[{\"name\": \"lo\", \"ip-addresses\": [{\"ip-address-type\": \"ipv4\", "
                                "\"ip-address\": \"127.0.0.1\"}]}]",
                                ip),
                   0);
  assert_string_equal(ip, "");
  assert_int_equal(parse_ifaces("[{\"name\": \"eth0\", \"ip-addresses\": [{\"ip-address-type\": \"ipv6\", "
                                "\"ip-address\": \"2001:db8::1\"}]}]",
                                ip),
                   0);
  assert_int_equal(parse_ifaces("[{\"name\": \"eth0\", \"hardware-address\": \"52:54:00:12:34:56\"}]", ip),
                   0);
  assert_int_equal(parse_ifaces("[{\"name\": \"eth0\", \"ip-addresses\": [{\"ip-address-type\": \"ipv4\", "
                                "\"ip-address\": \"169.254.3.4\"}]}, {\"name\": \"eth1\", \"ip-addresses\": "
                                "[{\"ip-address-type\": \"ipv4\", \"ip-address\": \"192.168.64.22\"}]}]",
                                ip),
                   1);
  assert_string_equal(ip, "192.168.64.22");
  assert_int_equal(parse_ifaces("[]", ip), 0);

  /* Junk entries are skipped, not fatal; loopback under another name is
   * still loopback. */
  assert_int_equal(
      parse_ifaces("[1, \"x\", null, {\"ip-addresses\": 3}, {\"ip-addresses\": [7, {}, "
                   "{\"ip-address-type\": \"ipv4\"}, {\"ip-address-type\": \"ipv4\", \"ip-address\": "
                   "\"10.0.2.300\"}, {\"ip-address-type\": \"ipv4\", \"ip-address\": \"127.0.0.2\"}, "
                   "{\"ip-address-type\": \"ipv4\", \"ip-address\": \"0.0.0.0\"}, "
                   "{\"ip-address-type\": \"ipv4\", \"ip-address\": \" 10.1.2.3\"}, "
                   "{\"ip-address-type\": \"ipv4\", \"ip-address\": \"10.1.2.3\"}]}]",
                   ip),
      1);
  assert_string_equal(ip, "10.1.2.3");

  tart_error_t err = NULL;
  json_t *obj = json_object();
  assert_int_equal(qga_parse_interfaces(obj, ip, &err), -1);
  assert_int_equal(err->errnum, EPROTO);
  tart_error_release(&err);
  json_decref(obj);
}

/* ---- Conversations -------------------------------------------------------- */

static void test_sync_discards_stale(void **state)
{
  (void)state;
  static const struct step steps[] = {
      /* Replies a previous client never read, one of them to its own sync
       * (with its own 0xFF), then ours. */
      {"guest-sync-delimited",
       "{\"return\": {\"pid\": 812}}\n{\"return\": 12}\n\xff{\"return\": 5}\n{\"return\": {}}\n"
       "{\"error\": {\"class\": \"GenericError\", \"desc\": \"old\"}}\nnot json\n\xff{\"return\": $SYNC}\n",
       NULL, 0, false},
      {"guest-ping", "{\"return\": {}, \"id\": $ID}\n", NULL, 0, false},
  };
  struct server s = {0};
  int fd = srv_start(&s, steps, ARRAY_SIZE(steps));
  struct qga *g = NULL;
  tart_error_t err = NULL;
  assert_int_equal(qga_open_fd(fd, 2000, &g, &err), 0);
  json_t *ret = NULL;
  assert_int_equal(qga_execute(g, "guest-ping", NULL, 2000, &ret, &err), 0);
  assert_true(json_is_object(ret));
  json_decref(ret);
  qga_close(g);
  srv_join(&s);
  /* The sync, and only the sync, resets the agent's parser first. */
  assert_int_equal(s.resets, 1);
}

static void test_sync_split_writes(void **state)
{
  (void)state;
  /* The 0xFF and the answer arrive in separate pieces. */
  static const struct step steps[] = {
      {"guest-sync-delimited", "{\"return\": 1}\n", NULL, 0, false},
      {NULL, "\xff", NULL, 30, false},
      {NULL, "{\"retu", NULL, 30, false},
      {NULL, "rn\": $SYNC}\n", NULL, 30, false},
  };
  struct server s = {0};
  int fd = srv_start(&s, steps, ARRAY_SIZE(steps));
  struct qga *g = NULL;
  assert_int_equal(qga_open_fd(fd, 2000, &g, NULL), 0);
  qga_close(g);
  srv_join(&s);
}

static void test_sync_timeout(void **state)
{
  (void)state;
  struct server s = {0};
  int fd = srv_start(&s, NULL, 0);
  struct qga *g = (struct qga *)1;
  tart_error_t err = NULL;
  int64_t t0 = qmp_now_ms();
  assert_int_equal(qga_open_fd(fd, 150, &g, &err), -1);
  int64_t took = qmp_now_ms() - t0;
  assert_null(g);
  assert_int_equal(err->errnum, ETIMEDOUT);
  assert_string_equal(err->msg, "the guest agent is not answering (no reply within 150 ms)");
  assert_true(took >= 140 && took < 2000);
  tart_error_release(&err);
  srv_join(&s);

  /* Stale bytes and a wrong id do not count as an answer. */
  static const struct step steps[] = {
      {"guest-sync-delimited", "{\"return\": 1}\n\xff{\"return\": 2}\n", NULL, 0, false},
  };
  fd = srv_start(&s, steps, ARRAY_SIZE(steps));
  assert_int_equal(qga_open_fd(fd, 150, &g, &err), -1);
  assert_int_equal(err->errnum, ETIMEDOUT);
  tart_error_release(&err);
  srv_join(&s);
}

static void test_sync_closed(void **state)
{
  (void)state;
  static const struct step steps[] = {{"guest-sync-delimited", "{\"return\": 1}\n", NULL, 0, false}};
  struct server s = {.close_after = true};
  int fd = srv_start(&s, steps, ARRAY_SIZE(steps));
  struct qga *g = NULL;
  tart_error_t err = NULL;
  assert_int_equal(qga_open_fd(fd, 2000, &g, &err), -1);
  assert_int_equal(err->errnum, ECONNRESET);
  assert_string_equal(err->msg, "guest agent socket closed the connection");
  tart_error_release(&err);
  srv_join(&s);
}

static bool check_exec_args(const json_t *req)
{
  json_t *a = json_object_get(req, "arguments");
  json_t *arg = json_object_get(a, "arg");
  return strcmp(json_string_value(json_object_get(a, "path")) ?: "", "/bin/sh") == 0 &&
         json_array_size(arg) == 2 && strcmp(json_string_value(json_array_get(arg, 0)), "-c") == 0 &&
         strcmp(json_string_value(json_array_get(arg, 1)), "echo hi; exit 3") == 0 &&
         json_is_true(json_object_get(a, "capture-output")) && json_object_get(a, "input-data") == NULL &&
         json_is_integer(json_object_get(req, "id"));
}

static bool check_status_args(const json_t *req)
{
  return json_integer_value(json_object_get(json_object_get(req, "arguments"), "pid")) == 4242;
}

static void test_exec_polls_until_exited(void **state)
{
  (void)state;
  static const struct step steps[] = {
      SYNC_OK,
      {"guest-exec", "{\"return\": {\"pid\": 4242}, \"id\": $ID}\n", check_exec_args, 0, false},
      {"guest-exec-status", "{\"return\": {\"exited\": false}, \"id\": $ID}\n", check_status_args, 0, false},
      {"guest-exec-status", "{\"return\": {\"exited\": false}, \"id\": $ID}\n", check_status_args, 0, false},
      {"guest-exec-status",
       "{\"return\": {\"exitcode\": 3, \"out-data\": \"aGkK\", \"exited\": true}, \"id\": $ID}\n",
       check_status_args, 0, false},
  };
  struct server s = {0};
  int fd = srv_start(&s, steps, ARRAY_SIZE(steps));
  struct qga *g = NULL;
  tart_error_t err = NULL;
  assert_int_equal(qga_open_fd(fd, 2000, &g, &err), 0);
  char *const argv[] = {"-c", "echo hi; exit 3", NULL};
  struct qga_exec_result r;
  int64_t t0 = qmp_now_ms();
  assert_int_equal(qga_exec(g, "/bin/sh", argv, NULL, 0, 5000, &r, &err), 0);
  int64_t took = qmp_now_ms() - t0;
  assert_true(r.exited);
  assert_int_equal(r.exit_code, 3);
  assert_int_equal(r.signal, 0);
  assert_int_equal(r.out_len, 3);
  assert_memory_equal(r.out_data, "hi\n", 3);
  assert_null(r.err_data);
  /* Two sleeps between three polls: 10 ms, then 20 ms. */
  assert_true(took >= 30 && took < 2000);
  qga_exec_result_clear(&r);
  qga_close(g);
  srv_join(&s);
}

static bool check_stdin(const json_t *req)
{
  json_t *a = json_object_get(req, "arguments");
  return strcmp(json_string_value(json_object_get(a, "input-data")) ?: "", "aW5wdXQAYnl0ZXMK") == 0 &&
         json_array_size(json_object_get(a, "arg")) == 0;
}

static bool check_empty_stdin(const json_t *req)
{
  json_t *a = json_object_get(req, "arguments");
  return strcmp(json_string_value(json_object_get(a, "input-data")) ?: "x", "") == 0;
}

static void test_exec_stdin_and_signal(void **state)
{
  (void)state;
  static const struct step steps[] = {
      SYNC_OK,
      {"guest-exec", "{\"return\": {\"pid\": 7}, \"id\": $ID}\n", check_stdin, 0, false},
      {"guest-exec-status",
       "{\"return\": {\"exited\": true, \"signal\": 15, \"err-data\": \"a2lsbGVkCg==\", \"err-truncated\": "
       "true}, "
       "\"id\": $ID}\n",
       NULL, 0, false},
      {"guest-exec", "{\"return\": {\"pid\": 8}, \"id\": $ID}\n", check_empty_stdin, 0, false},
      {"guest-exec-status", "{\"return\": {\"exited\": true, \"exitcode\": 0}, \"id\": $ID}\n", NULL, 0,
       false},
  };
  struct server s = {0};
  int fd = srv_start(&s, steps, ARRAY_SIZE(steps));
  struct qga *g = NULL;
  assert_int_equal(qga_open_fd(fd, 2000, &g, NULL), 0);
  struct qga_exec_result r;
  /* NULL argv; stdin holds a NUL byte. */
  assert_int_equal(qga_exec(g, "/bin/cat", NULL, "input\0bytes\n", 12, -1, &r, NULL), 0);
  assert_int_equal(r.exit_code, -1);
  assert_int_equal(r.signal, 15);
  assert_string_equal((char *)r.err_data, "killed\n");
  assert_true(r.err_truncated);
  assert_false(r.out_truncated);
  qga_exec_result_clear(&r);
  /* Empty stdin is still stdin (the program sees end of file at once). */
  assert_int_equal(qga_exec(g, "/bin/cat", NULL, "", 0, 2000, &r, NULL), 0);
  assert_int_equal(r.exit_code, 0);
  qga_exec_result_clear(&r);
  qga_close(g);
  srv_join(&s);
}

static bool check_stream_exec(const json_t *req)
{
  json_t *a = json_object_get(req, "arguments");
  json_t *arg = json_object_get(a, "arg");
  const char *base = json_string_value(json_array_get(arg, 3));
  return strcmp(json_string_value(json_object_get(a, "path")) ?: "", "/bin/sh") == 0 &&
         json_array_size(arg) == 6 && strcmp(json_string_value(json_array_get(arg, 0)), "-c") == 0 &&
         strcmp(json_string_value(json_array_get(arg, 2)), "tart-exec") == 0 && base != NULL &&
         strncmp(base, "/tmp/.tart-exec-", 16) == 0 && strlen(base) == 32 &&
         strcmp(json_string_value(json_array_get(arg, 4)), "/bin/echo") == 0 &&
         strcmp(json_string_value(json_array_get(arg, 5)), "x") == 0 &&
         json_is_false(json_object_get(a, "capture-output"));
}

static bool check_rm(const json_t *req)
{
  json_t *a = json_object_get(req, "arguments");
  return strcmp(json_string_value(json_object_get(a, "path")) ?: "", "/bin/rm") == 0 &&
         json_array_size(json_object_get(a, "arg")) == 6;
}

struct sunk {
  char out[64], err[64];
  size_t n_out, n_err;
};

static void sink_collect(void *opaque, int fd, const unsigned char *data, size_t len)
{
  struct sunk *k = opaque;
  char *b = fd == 1 ? k->out : k->err;
  size_t *n = fd == 1 ? &k->n_out : &k->n_err;
  if (*n + len < sizeof(k->out)) {
    memcpy(b + *n, data, len);
    *n += len;
  }
}

/* Output arrives while the program runs: what the files hold is read
 * before the program has exited, the rest after; then the files go. */
static void test_exec_stream(void **state)
{
  (void)state;
  static const struct step steps[] = {
      SYNC_OK,
      {"guest-exec", "{\"return\": {\"pid\": 5}, \"id\": $ID}\n", check_stream_exec, 0, false},
      {"guest-exec-status", "{\"return\": {\"exited\": false}, \"id\": $ID}\n", NULL, 0, false},
      {"guest-file-open", "{\"return\": 11, \"id\": $ID}\n", NULL, 0, false},
      {"guest-file-read",
       "{\"return\": {\"count\": 6, \"buf-b64\": \"Zmlyc3QK\", \"eof\": false}, \"id\": $ID}\n", NULL, 0,
       false},
      {"guest-file-read", "{\"return\": {\"count\": 0, \"buf-b64\": \"\", \"eof\": false}, \"id\": $ID}\n",
       NULL, 0, false},
      {"guest-file-open",
       "{\"error\": {\"class\": \"GenericError\", \"desc\": \"No such file\"}, \"id\": $ID}\n", NULL, 0,
       false},
      {"guest-exec-status", "{\"return\": {\"exited\": true, \"exitcode\": 4}, \"id\": $ID}\n", NULL, 0,
       false},
      {"guest-file-read",
       "{\"return\": {\"count\": 7, \"buf-b64\": \"c2Vjb25kCg==\", \"eof\": true}, \"id\": $ID}\n", NULL, 0,
       false},
      {"guest-file-open", "{\"return\": 12, \"id\": $ID}\n", NULL, 0, false},
      {"guest-file-read",
       "{\"return\": {\"count\": 4, \"buf-b64\": \"b29wcw==\", \"eof\": true}, \"id\": $ID}\n", NULL, 0,
       false},
      {"guest-file-close", "{\"return\": {}, \"id\": $ID}\n", NULL, 0, false},
      {"guest-file-close", "{\"return\": {}, \"id\": $ID}\n", NULL, 0, false},
      {"guest-exec", "{\"return\": {\"pid\": 6}, \"id\": $ID}\n", check_rm, 0, false},
      {"guest-exec-status", "{\"return\": {\"exited\": true, \"exitcode\": 0}, \"id\": $ID}\n", NULL, 0,
       false},
  };
  struct server s = {0};
  int fd = srv_start(&s, steps, ARRAY_SIZE(steps));
  struct qga *g = NULL;
  tart_error_t err = NULL;
  assert_int_equal(qga_open_fd(fd, 2000, &g, &err), 0);
  char *const argv[] = {"x", NULL};
  struct qga_exec_result r;
  struct sunk k = {0};
  assert_int_equal(qga_exec_stream(g, "/bin/echo", argv, -1, sink_collect, &k, &r, &err), 0);
  assert_true(r.exited);
  assert_int_equal(r.exit_code, 4);
  assert_int_equal(k.n_out, 13);
  assert_memory_equal(k.out, "first\nsecond\n", 13);
  assert_int_equal(k.n_err, 4);
  assert_memory_equal(k.err, "oops", 4);
  qga_exec_result_clear(&r);
  qga_close(g);
  srv_join(&s);
}

static void test_exec_error_reply(void **state)
{
  (void)state;
  static const struct step steps[] = {
      SYNC_OK,
      {"guest-exec",
       "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Guest agent command failed, error was 'Failed "
       "to "
       "execute child process \\u201cnope\\u201d (No such file or directory)'\"}, \"id\": $ID}\n",
       NULL, 0, false},
      {"guest-exec", "{\"return\": {\"pid\": 1}, \"id\": $ID}\n", NULL, 0, false},
      {"guest-exec-status", "{\"return\": {\"exited\": true}, \"id\": $ID}\n", NULL, 0, false},
      {"guest-exec", "{\"return\": {\"no-pid\": 1}, \"id\": $ID}\n", NULL, 0, false},
  };
  struct server s = {0};
  int fd = srv_start(&s, steps, ARRAY_SIZE(steps));
  struct qga *g = NULL;
  assert_int_equal(qga_open_fd(fd, 2000, &g, NULL), 0);
  struct qga_exec_result r;
  tart_error_t err = NULL;
  assert_int_equal(qga_exec(g, "nope", NULL, NULL, 0, 2000, &r, &err), -1);
  assert_int_equal(err->errnum, EREMOTEIO);
  assert_string_equal(err->msg,
                      "guest agent guest-exec failed: Guest agent command failed, error was 'Failed to "
                      "execute child process \xe2\x80\x9cnope\xe2\x80\x9d (No such file or directory)'");
  tart_error_release(&err);
  /* A malformed status and a reply without pid are errors, not hangs. */
  assert_int_equal(qga_exec(g, "/bin/true", NULL, NULL, 0, 2000, &r, &err), -1);
  assert_int_equal(err->errnum, EPROTO);
  assert_null(r.out_data);
  tart_error_release(&err);
  assert_int_equal(qga_exec(g, "/bin/true", NULL, NULL, 0, 2000, &r, &err), -1);
  assert_int_equal(err->errnum, EPROTO);
  tart_error_release(&err);
  /* Refused before anything is sent. */
  assert_int_equal(qga_exec(g, "", NULL, NULL, 0, 2000, &r, &err), -1);
  assert_int_equal(err->errnum, EINVAL);
  tart_error_release(&err);
  assert_int_equal(qga_exec(g, "/bin/cat", NULL, "x", (size_t)QGA_MAX_STDIN + 1, 2000, &r, &err), -1);
  assert_int_equal(err->errnum, EFBIG);
  tart_error_release(&err);
  qga_close(g);
  srv_join(&s);
}

static void test_exec_timeout(void **state)
{
  (void)state;
  static const struct step steps[] = {
      SYNC_OK,
      {"guest-exec", "{\"return\": {\"pid\": 99}, \"id\": $ID}\n", NULL, 0, false},
      {"guest-exec-status", "{\"return\": {\"exited\": false}, \"id\": $ID}\n", NULL, 0, true},
  };
  struct server s = {0};
  int fd = srv_start(&s, steps, ARRAY_SIZE(steps));
  struct qga *g = NULL;
  assert_int_equal(qga_open_fd(fd, 2000, &g, NULL), 0);
  struct qga_exec_result r;
  tart_error_t err = NULL;
  int64_t t0 = qmp_now_ms();
  assert_int_equal(qga_exec(g, "/bin/sleep", (char *const[]){"100", NULL}, NULL, 0, 300, &r, &err), -1);
  int64_t took = qmp_now_ms() - t0;
  assert_int_equal(err->errnum, ETIMEDOUT);
  assert_string_equal(err->msg, "/bin/sleep did not finish within 300 ms in the guest (pid 99)");
  assert_true(took >= 290 && took < 2000);
  tart_error_release(&err);
  qga_close(g);
  srv_join(&s);
  /* Backoff: 10, 20, 40, 80, 160 ms sleeps fit in 300 ms; at most a few
   * more polls at the end. */
  assert_true(s.requests >= 4 && s.requests <= 8);
}

static void test_request_timeout_resyncs(void **state)
{
  (void)state;
  static const struct step steps[] = {
      SYNC_OK,
      {"guest-get-osinfo", NULL, NULL, 0, false},
      /* The late osinfo answer sits before the next sync's 0xFF. */
      {"guest-sync-delimited", "{\"return\": {\"id\": \"debian\"}, \"id\": $PREV}\n\xff{\"return\": $SYNC}\n",
       NULL, 0, false},
      {"guest-ping", "{\"return\": {}, \"id\": $ID}\n", NULL, 0, false},
  };
  struct server s = {0};
  int fd = srv_start(&s, steps, ARRAY_SIZE(steps));
  struct qga *g = NULL;
  assert_int_equal(qga_open_fd(fd, 2000, &g, NULL), 0);
  tart_error_t err = NULL;
  json_t *ret = NULL;
  assert_int_equal(qga_execute(g, "guest-get-osinfo", NULL, 100, &ret, &err), -1);
  assert_null(ret);
  assert_int_equal(err->errnum, ETIMEDOUT);
  assert_string_equal(err->msg, "the guest agent did not answer guest-get-osinfo within 100 ms");
  tart_error_release(&err);
  assert_int_equal(qga_execute(g, "guest-ping", NULL, 2000, &ret, &err), 0);
  assert_int_equal(json_object_size(ret), 0);
  json_decref(ret);
  qga_close(g);
  srv_join(&s);
  assert_int_equal(s.resets, 2);
}

static void test_reply_ids(void **state)
{
  (void)state;
  static const struct step steps[] = {
      SYNC_OK,
      /* A reply with another id is dropped; one without id is taken. */
      {"guest-info",
       "{\"return\": {\"version\": \"stale\"}, \"id\": 999}\n{\"return\": {\"version\": \"7.2.22\"}}\n", NULL,
       0, false},
      {"guest-get-host-name", "{\"return\": {\"host-name\": \"guest\"}, \"id\": $ID}\n", NULL, 0, false},
      {"guest-nope",
       "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command guest-nope has not been "
       "found\"}, \"id\": $ID}\n",
       NULL, 0, false},
  };
  struct server s = {0};
  int fd = srv_start(&s, steps, ARRAY_SIZE(steps));
  struct qga *g = NULL;
  assert_int_equal(qga_open_fd(fd, 2000, &g, NULL), 0);
  json_t *ret = NULL;
  assert_int_equal(qga_execute(g, "guest-info", NULL, 2000, &ret, NULL), 0);
  assert_string_equal(json_string_value(json_object_get(ret, "version")), "7.2.22");
  json_decref(ret);
  assert_int_equal(qga_execute(g, "guest-get-host-name", NULL, 2000, &ret, NULL), 0);
  assert_string_equal(json_string_value(json_object_get(ret, "host-name")), "guest");
  json_decref(ret);
  tart_error_t err = NULL;
  assert_int_equal(qga_execute(g, "guest-nope", json_object(), 2000, NULL, &err), -1);
  assert_int_equal(err->errnum, ENOTSUP);
  tart_error_release(&err);
  qga_close(g);
  qga_close(NULL);
  srv_join(&s);
}

static void test_network_first_ipv4(void **state)
{
  (void)state;
  static const struct step steps[] = {
      SYNC_OK,
      {"guest-network-get-interfaces",
       "{\"return\": [{\"name\": \"eth0\", \"ip-addresses\": [{\"ip-address-type\": \"ipv4\", "
       "\"ip-address\": "
       "\"169.254.9.9\", \"prefix\": 16}]}], \"id\": $ID}\n",
       NULL, 0, false},
      {"guest-network-get-interfaces",
       "{\"return\": [{\"name\": \"lo\", \"ip-addresses\": [{\"ip-address-type\": \"ipv4\", \"ip-address\": "
       "\"127.0.0.1\", \"prefix\": 8}]}, {\"name\": \"eth0\", \"ip-addresses\": [{\"ip-address-type\": "
       "\"ipv4\", "
       "\"ip-address\": \"10.0.2.15\", \"prefix\": 24}]}], \"id\": $ID}\n",
       NULL, 0, false},
      {"guest-network-get-interfaces", "{\"return\": {}, \"id\": $ID}\n", NULL, 0, false},
  };
  struct server s = {0};
  int fd = srv_start(&s, steps, ARRAY_SIZE(steps));
  struct qga *g = NULL;
  assert_int_equal(qga_open_fd(fd, 2000, &g, NULL), 0);
  char ip[16] = "junk";
  assert_int_equal(qga_network_first_ipv4(g, 2000, ip, NULL), 0);
  assert_string_equal(ip, "");
  assert_int_equal(qga_network_first_ipv4(g, 2000, ip, NULL), 1);
  assert_string_equal(ip, "10.0.2.15");
  tart_error_t err = NULL;
  assert_int_equal(qga_network_first_ipv4(g, 2000, ip, &err), -1);
  assert_int_equal(err->errnum, EPROTO);
  tart_error_release(&err);
  qga_close(g);
  srv_join(&s);
}

/* The debug log shows the exchange without stdin and without the 0xFF. */
static void test_debug_log(void **state)
{
  (void)state;
  static const struct step steps[] = {
      {"guest-sync-delimited", "{\"return\": 1}\n\xff{\"return\": $SYNC}\n", NULL, 0, false},
      {"guest-exec", "{\"return\": {\"pid\": 5}, \"id\": $ID}\n", NULL, 0, false},
      {"guest-exec-status", "{\"return\": {\"exited\": true, \"exitcode\": 0}, \"id\": $ID}\n", NULL, 0,
       false},
  };
  struct server s = {0};
  int fd = srv_start(&s, steps, ARRAY_SIZE(steps));
  char logpath[] = "/tmp/tart-test-qga-log-XXXXXX";
  int logfd = mkstemp(logpath);
  assert_true(logfd >= 0);
  fflush(stderr);
  int saved = dup(2);
  dup2(logfd, 2);
  enum tart_log_level level = tart_log_get_level();
  tart_log_set_level(TART_LOG_DEBUG);

  struct qga *g = NULL;
  int r1 = qga_open_fd(fd, 2000, &g, NULL);
  struct qga_exec_result r = {0};
  int r2 = r1 < 0 ? -1 : qga_exec(g, "/bin/sh", NULL, "password=hunter2\n", 17, 2000, &r, NULL);

  tart_log_set_level(level);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  assert_int_equal(r1, 0);
  assert_int_equal(r2, 0);
  qga_exec_result_clear(&r);
  qga_close(g);
  srv_join(&s);

  char *log = NULL;
  size_t len = 0;
  FILE *f = fdopen(logfd, "r");
  rewind(f);
  assert_true(getdelim(&log, &len, '\0', f) > 0);
  fclose(f);
  unlink(logpath);
  assert_non_null(strstr(log, "tart: debug: QGA -> 0xFF {\"execute\":\"guest-sync-delimited\""));
  assert_non_null(strstr(log, "\"input-data\":\"<redacted>\""));
  assert_non_null(strstr(log, "tart: debug: QGA <- {\"return\": {\"exited\": true, \"exitcode\": 0}"));
  assert_null(strstr(log, "cGFzc3dvcmQ9aHVudGVyMgo="));
  assert_null(strchr(log, '\xff'));
  free(log);
}

/* ---- qga_connect with real paths ----------------------------------------- */

static void connect_and_ping(const char *path)
{
  static const struct step steps[] = {
      SYNC_OK,
      {"guest-ping", "{\"return\": {}, \"id\": $ID}\n", NULL, 0, false},
  };
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
  int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  assert_int_equal(listen(lfd, 1), 0);
  if (dirfd >= 0)
    close(dirfd);

  struct server s = {0};
  s.fd = -1;
  s.listen_fd = lfd;
  s.steps = steps;
  s.n = ARRAY_SIZE(steps);
  assert_int_equal(pthread_create(&s.thread, NULL, srv_main, &s), 0);
  struct qga *g = NULL;
  tart_error_t err = NULL;
  if (qga_connect(path, 2000, &g, &err) < 0)
    fail_msg("qga_connect: %s", err->msg);
  assert_int_equal(qga_execute(g, "guest-ping", NULL, 2000, NULL, NULL), 0);
  qga_close(g);
  srv_join(&s);
  close(lfd);
  unlink(path);
}

static void test_connect_paths(void **state)
{
  (void)state;
  char dir[] = "/tmp/tart-test-qga-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char *path = xasprintf("%s/qga.sock", dir);
  connect_and_ping(path);

  char long_name[121];
  memset(long_name, 'g', 120);
  long_name[120] = '\0';
  char *sub = xasprintf("%s/%s", dir, long_name);
  assert_int_equal(mkdir(sub, 0700), 0);
  char *lpath = xasprintf("%s/qga.sock", sub);
  assert_true(strlen(lpath) > 108);
  connect_and_ping(lpath);

  /* Missing socket: at once, with ENOENT. */
  struct qga *g = NULL;
  tart_error_t err = NULL;
  assert_int_equal(qga_connect(lpath, 2000, &g, &err), -1);
  assert_int_equal(err->errnum, ENOENT);
  assert_non_null(strstr(err->msg, "cannot connect to guest agent socket"));
  tart_error_release(&err);

  free(lpath);
  rmdir(sub);
  free(sub);
  free(path);
  rmdir(dir);
}

int main(void)
{
  /* Debug lines are checked as the terminal shows them. */
  report_set_handler(report_print, NULL);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_base64_vectors),
      cmocka_unit_test(test_base64_invalid),
      cmocka_unit_test(test_base64_roundtrip),
      cmocka_unit_test(test_exec_status_running),
      cmocka_unit_test(test_exec_status_exited),
      cmocka_unit_test(test_exec_status_signal_truncated),
      cmocka_unit_test(test_exec_status_malformed),
      cmocka_unit_test(test_interfaces),
      cmocka_unit_test(test_sync_discards_stale),
      cmocka_unit_test(test_sync_split_writes),
      cmocka_unit_test(test_sync_timeout),
      cmocka_unit_test(test_sync_closed),
      cmocka_unit_test(test_exec_polls_until_exited),
      cmocka_unit_test(test_exec_stdin_and_signal),
      cmocka_unit_test(test_exec_error_reply),
      cmocka_unit_test(test_exec_stream),
      cmocka_unit_test(test_exec_timeout),
      cmocka_unit_test(test_request_timeout_resyncs),
      cmocka_unit_test(test_reply_ids),
      cmocka_unit_test(test_network_first_ipv4),
      cmocka_unit_test(test_debug_log),
      cmocka_unit_test(test_connect_paths),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
