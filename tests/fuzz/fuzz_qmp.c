/* libFuzzer target for src/qemu/qmp.c: what QEMU (or anything listening on
 * the socket) sends.
 *
 * Checks, for every input:
 *   - qmp_parse_line on the whole input either fails with a printable
 *     "malformed QMP message: ..." (EPROTO) and nothing allocated, or yields
 *     a message whose fields agree with its JSON;
 *   - the same bytes streamed through a socket into qmp_chan_read_line come
 *     back as lines that, joined with "\n", are a prefix of the input, none
 *     longer than the limit, and reading ends with a clean error (end of
 *     stream, or a line too long);
 *   - skipping to a 0xFF byte first (the guest agent's sync) resumes right
 *     after the first 0xFF;
 *   - qmp_log_text gives JSON in which a planted password is redacted;
 *   - nothing leaks (ASan).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "qemu/qmp.h"
#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_LINE 512
/* Stays below a socketpair's buffer, so one write never blocks. */
#define MAX_STREAM 65536

static void check_printable(const char *s)
{
  for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
    if (*p < 0x20 || *p >= 0x7f)
      abort();
}

static void check_parse(const char *line, size_t len)
{
  struct qmp_msg m;
  tart_error_t err = NULL;
  if (qmp_parse_line(line, len, &m, &err) < 0) {
    if (err == NULL || err->errnum != EPROTO || strncmp(err->msg, "malformed QMP message: ", 23) != 0)
      abort();
    check_printable(err->msg);
    if (m.root != NULL || m.data != NULL || m.event != NULL)
      abort();
    tart_error_release(&err);
    return;
  }
  if (err != NULL || !json_is_object(m.root))
    abort();
  json_t *id = json_object_get(m.root, "id");
  if (m.has_id != (id != NULL) || m.id < -1 || (m.id >= 0 && json_integer_value(id) != m.id))
    abort();
  switch (m.kind) {
  case QMP_MSG_GREETING:
    if (!json_is_object(m.data) || m.data != json_object_get(m.root, "QMP"))
      abort();
    break;
  case QMP_MSG_RETURN:
    if (m.data == NULL || m.data != json_object_get(m.root, "return"))
      abort();
    break;
  case QMP_MSG_ERROR:
    if (m.error_class == NULL || m.error_desc == NULL)
      abort();
    break;
  case QMP_MSG_EVENT:
    if (m.event == NULL || strcmp(m.event, json_string_value(json_object_get(m.root, "event"))) != 0 ||
        m.data != json_object_get(m.root, "data"))
      abort();
    break;
  default:
    abort();
  }

  /* Plant a secret and make sure the log text hides it. */
  json_object_set_new(m.root, "password", json_string("fuzz-secret-value"));
  char *text = qmp_log_text(m.root);
  json_t *back = text ? json_loads(text, 0, NULL) : NULL;
  if (back == NULL || strcmp(json_string_value(json_object_get(back, "password")) ?: "", "<redacted>") != 0)
    abort();
  json_decref(back);
  free(text);
  qmp_msg_clear(&m);
  if (m.root != NULL)
    abort();
}

/* Stream the input through a socket; with skip, first skip past 0xFF. */
static void check_stream(const uint8_t *data, size_t size, int skip)
{
  if (size > MAX_STREAM)
    size = MAX_STREAM;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    abort();
  if (size > 0 && write(sv[1], data, size) != (ssize_t)size)
    abort();
  close(sv[1]);

  struct qmp_chan c;
  qmp_chan_init_fd(&c, sv[0], MAX_LINE, "fuzz socket");
  size_t off = 0;
  tart_error_t err = NULL;
  if (skip) {
    const uint8_t *ff = memchr(data, 0xff, size);
    int r = qmp_chan_skip_past(&c, 0xff, qmp_deadline(1000), &err);
    if ((ff != NULL) != (r == 1))
      abort();
    if (r == 1) {
      off = (size_t)(ff - data) + 1;
    } else {
      if (r != -1 || err == NULL || err->errnum != ECONNRESET)
        abort();
      tart_error_release(&err);
      qmp_chan_close(&c);
      return;
    }
  }
  for (;;) {
    char *line;
    size_t len;
    int r = qmp_chan_read_line(&c, qmp_deadline(1000), &line, &len, &err);
    if (r == 1) {
      if (len > MAX_LINE || off + len >= size || memcmp(line, data + off, len) != 0 ||
          data[off + len] != '\n' || line[len] != '\0')
        abort();
      off += len + 1;
      check_parse(line, len);
      continue;
    }
    /* The socket is closed and every byte is already there: no timeout. */
    if (r != -1 || err == NULL)
      abort();
    if (err->errnum == ECONNRESET) {
      /* Only when no full line is left. */
      if (memchr(data + off, '\n', size - off) != NULL)
        abort();
    } else if (err->errnum == EMSGSIZE) {
      const uint8_t *nl = memchr(data + off, '\n', size - off);
      if ((nl != NULL && (size_t)(nl - (data + off)) <= MAX_LINE) || (nl == NULL && size - off <= MAX_LINE))
        abort();
    } else {
      abort();
    }
    check_printable(err->msg);
    tart_error_release(&err);
    break;
  }
  qmp_chan_close(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  check_parse((const char *)data, size);
  check_stream(data, size, 0);
  check_stream(data, size, 1);
  return 0;
}
