/* A client for the QEMU Machine Protocol (QMP) over an AF_UNIX stream socket.
 *
 * QMP is newline-delimited JSON: QEMU greets with {"QMP":{...}}, the client
 * answers qmp_capabilities, then sends {"execute":..., "arguments":...,
 * "id":N} and gets {"return":...,"id":N} or {"error":{"class","desc"},"id":N}.
 * Asynchronous events ({"event":..., "data":..., "timestamp":...}) may arrive
 * between any two replies; they are queued for qmp_next_event and
 * qmp_wait_event.  QEMU serves one client per QMP socket at a time: a second
 * client connects (into the listen backlog) but is not greeted until the first
 * one goes away, which shows up here as a greeting timeout.
 *
 * With TART_LOG=debug every command and every line QEMU sends is logged
 * ("QMP -> ...", "QMP <- ..."), with password arguments redacted and long
 * lines cut.
 *
 * Timeouts are in milliseconds; a negative timeout waits forever.  Timeouts
 * fail with errnum ETIMEDOUT, a closed connection with ECONNRESET, a QMP error
 * reply with EREMOTEIO (ENOTSUP for class CommandNotFound); the messages say
 * everything themselves (tart_error_kind).
 *
 * A struct qmp is not thread-safe: one thread talks to it at a time.
 *
 * The second half of this header is the socket plumbing (connect to a path of
 * any length, bounded line reads with poll) that the guest agent client
 * (src/agent/qga.c) shares.
 */
#ifndef TART_QEMU_QMP_H
#define TART_QEMU_QMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "util/error.h"

/* ---- Pure parsing ------------------------------------------------------- */

enum qmp_msg_kind {
  QMP_MSG_GREETING, /* {"QMP": {...}} */
  QMP_MSG_RETURN,   /* {"return": <any>, "id": ...} */
  QMP_MSG_ERROR,    /* {"error": {"class": "...", "desc": "..."}, "id": ...} */
  QMP_MSG_EVENT,    /* {"event": "NAME", "data": {...}, "timestamp": {...}} */
};

struct qmp_msg {
  enum qmp_msg_kind kind;
  json_t *root; /* the whole message; owned, released by qmp_msg_clear */
  /* "id" member: has_id is true when present.  id holds it when it is an
   * integer >= 0; any other id (string, negative, ...) gives id == -1, which
   * never matches the ids this client sends. */
  bool has_id;
  json_int_t id;
  /* Borrowed from root: QMP_MSG_RETURN: the return value; QMP_MSG_EVENT: the
   * event's "data" (NULL when absent); QMP_MSG_GREETING: the "QMP" object. */
  json_t *data;
  const char *event;       /* QMP_MSG_EVENT: event name */
  const char *error_class; /* QMP_MSG_ERROR: "GenericError" when absent */
  const char *error_desc;  /* QMP_MSG_ERROR */
};

/* Parse one line QEMU sent (len bytes, need not be NUL-terminated; trailing
 * "\r" and blanks are fine) and classify it.  The message must be one JSON
 * object holding exactly one of "QMP", "return", "error", "event", with the
 * types above.  On failure returns -1 with EPROTO and "malformed QMP message:
 * ...", and *out is zeroed.  On success the caller owns out->root and must
 * call qmp_msg_clear. */
int qmp_parse_line(const char *line, size_t len, struct qmp_msg *out, tart_error_t *err);
void qmp_msg_clear(struct qmp_msg *m);

/* The text logged for a message: compact JSON with the values of keys that
 * may hold secrets or bulk data ("password", "secret", "input-data") replaced
 * by "<redacted>" at any depth.  Returns a malloc'ed string. */
char *qmp_log_text(const json_t *msg);

/* ---- The client --------------------------------------------------------- */

struct qmp;

/* Connect to the QMP socket at path, read the greeting and negotiate
 * capabilities, all within timeout_ms.
 *
 * A path longer than sockaddr_un.sun_path (108 bytes) is reached without
 * chdir: its directory is opened with O_PATH and the socket is addressed as
 * "/proc/self/fd/<dirfd>/<basename>" (the basename must then fit in about 90
 * bytes; needs /proc).
 *
 * A missing socket fails at once with errnum ENOENT and a refused connection
 * with ECONNREFUSED, so a caller that has just started QEMU can retry. */
int qmp_connect(const char *path, int timeout_ms, struct qmp **out, tart_error_t *err);

/* Same over an already connected stream socket (socketpair, fd passing);
 * takes ownership of fd, also on failure. */
int qmp_open_fd(int fd, int timeout_ms, struct qmp **out, tart_error_t *err);

/* Run one command.  args (stolen, also on failure; may be NULL) becomes
 * "arguments".  Events arriving before the reply are queued; replies carrying
 * another id (late answers to commands that timed out) are dropped.  On
 * success *ret (if ret is not NULL) receives a new reference to the "return"
 * value.  A QMP error reply fails with "QMP <command> failed: <desc>". */
int qmp_execute(struct qmp *q, const char *command, json_t *args, int timeout_ms, json_t **ret,
                tart_error_t *err);

/* Wait for an event named name (any event when name is NULL).  Queued events
 * are searched first (the one returned leaves the queue, the others stay, in
 * order).  Returns 1 with *event (a new reference to the whole message) set,
 * 0 when timeout_ms passed without one (timeout 0 polls what is already
 * readable), -1 on error (connection closed: ECONNRESET). */
int qmp_wait_event(struct qmp *q, const char *name, int timeout_ms, json_t **event, tart_error_t *err);

/* Pop the oldest queued event without reading the socket: 1 and *event set,
 * or 0 when the queue is empty. */
int qmp_next_event(struct qmp *q, json_t **event);

/* The socket, for callers that poll it along with other descriptors (then
 * call qmp_wait_event(q, NULL, 0, ...) when it is readable).  Do not read
 * from it directly. */
int qmp_fd(const struct qmp *q);

/* Close the connection and free everything.  Safe on NULL. */
void qmp_close(struct qmp *q);

/* ---- Socket plumbing shared with the guest agent client ----------------- */

/* Milliseconds on CLOCK_MONOTONIC. */
int64_t qmp_now_ms(void);
/* The deadline timeout_ms from now, or -1 (never) for a negative timeout. */
int64_t qmp_deadline(int timeout_ms);

/* A connected stream socket with a receive buffer that yields '\n'-terminated
 * lines of at most max_line bytes.  All I/O uses MSG_DONTWAIT and poll, so the
 * descriptor's own O_NONBLOCK flag does not matter and is left alone. */
struct qmp_chan {
  int fd;
  char *buf;
  size_t start, end, cap; /* unread bytes are buf[start..end) */
  size_t max_line;
  bool eof;
  char *what; /* "QMP socket <path>", for messages */
};

/* Connect a non-blocking AF_UNIX stream socket to path (any length, as
 * qmp_connect explains).  A full listen backlog is retried until the
 * deadline.  what names the peer in error messages. */
int qmp_chan_connect(struct qmp_chan *c, const char *path, int64_t deadline, size_t max_line,
                     const char *what, tart_error_t *err);
/* Wrap an already connected socket; takes fd. */
void qmp_chan_init_fd(struct qmp_chan *c, int fd, size_t max_line, const char *what);

/* Send all len bytes (MSG_NOSIGNAL: a peer that went away gives EPIPE, not
 * SIGPIPE).  Returns 0, or -1 (ETIMEDOUT when the deadline passes). */
int qmp_chan_send(struct qmp_chan *c, const void *data, size_t len, int64_t deadline, tart_error_t *err);

/* Next line without its "\n" (a "\r" before it is kept; JSON parsers treat it
 * as blank).  *line points into the buffer, NUL-terminated, valid until the
 * next call.  Returns 1 with a line, 0 when the deadline passed first, -1 on
 * error: the peer closed the connection (ECONNRESET, also mid-line), a line
 * longer than max_line (EMSGSIZE), or a socket error. */
int qmp_chan_read_line(struct qmp_chan *c, int64_t deadline, char **line, size_t *len, tart_error_t *err);

/* Discard input up to and including the first byte equal to `byte`.  Returns
 * 1 when found, 0 when the deadline passed first, -1 on error. */
int qmp_chan_skip_past(struct qmp_chan *c, unsigned char byte, int64_t deadline, tart_error_t *err);

/* Close the socket and free the buffer.  Safe to call twice. */
void qmp_chan_close(struct qmp_chan *c);

#endif
