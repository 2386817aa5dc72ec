/* A client for the QEMU guest agent (qemu-ga) over the host side of its
 * virtio-serial channel (a QEMU chardev socket).
 *
 * The protocol is QMP's newline-delimited JSON without greeting, events or
 * capabilities.  The channel outlives its clients: replies to requests a
 * previous client sent but never read stay queued and reach the next client
 * first (seen with QEMU 7.2), and a request a killed client wrote only in
 * part stays in the agent's parser.  So every conversation starts with a 0xFF
 * byte (which resets the agent's parser) and guest-sync-delimited with a
 * random id: the agent answers with a 0xFF byte and {"return": id}, and
 * everything before is dropped.  A request that times out leaves the channel
 * out of step, so the next request syncs again first.
 *
 * Requests carry an "id"; a reply with another id (a late answer) is dropped,
 * one without an id is taken as the answer (agents that do not echo ids).
 *
 * Timeouts are in milliseconds, negative meaning forever.  Errors follow
 * src/qemu/qmp.h: ETIMEDOUT for timeouts, ECONNRESET when QEMU closed the
 * socket, EREMOTEIO for an error reply, EPROTO for a malformed one.  With
 * TART_LOG=debug every request and reply is logged ("QGA -> ...", "QGA <-
 * ..."), input-data redacted and long lines cut.  Not thread-safe.
 */
#ifndef TART_AGENT_QGA_H
#define TART_AGENT_QGA_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "util/error.h"

struct qga;

/* Connect to the agent's chardev socket (any path length, see qmp_connect)
 * and sync, all within timeout_ms.  When the guest has no agent running (or
 * another client holds the channel: QEMU serves one at a time), this fails
 * after timeout_ms with ETIMEDOUT and "the guest agent is not answering". */
int qga_connect(const char *path, int timeout_ms, struct qga **out, tart_error_t *err);

/* Same over an already connected stream socket; takes fd, also on failure. */
int qga_open_fd(int fd, int timeout_ms, struct qga **out, tart_error_t *err);

/* Send a 0xFF byte and guest-sync-delimited with a random id, discard input
 * up to the 0xFF byte the agent sends in front of its answer, then drop every
 * reply whose return value is not the id.  Fails with ETIMEDOUT "the guest agent is not
 * answering" when timeout_ms passes first. */
int qga_sync(struct qga *g, int timeout_ms, tart_error_t *err);

/* Run one agent command (guest-ping, guest-get-osinfo, ...).  args is stolen
 * (also on failure) and may be NULL.  On success *ret (if not NULL) gets a
 * new reference to the "return" value.  An error reply fails with "guest
 * agent <command> failed: <desc>". */
int qga_execute(struct qga *g, const char *command, json_t *args, int timeout_ms, json_t **ret,
                tart_error_t *err);

struct qga_exec_result {
  bool exited;   /* false: still running (only seen by qga_parse_exec_status) */
  int exit_code; /* exit status when it exited normally, -1 when killed */
  int signal;    /* number of the signal that killed it, 0 if none */
  /* Captured output, base64-decoded; each buffer is NUL-terminated (not
   * counted in the length), or NULL when the agent sent none. */
  unsigned char *out_data;
  size_t out_len;
  unsigned char *err_data;
  size_t err_len;
  /* The agent keeps at most 16 MiB of each stream and says so. */
  bool out_truncated, err_truncated;
};
void qga_exec_result_clear(struct qga_exec_result *r);

/* Largest stdin qga_exec sends: the agent refuses a request whose JSON
 * tokens add up to more than 64 MiB, and base64 grows data by 4/3. */
#define QGA_MAX_STDIN (32u << 20)

/* Run path in the guest with the arguments argv (the words after the program
 * name; NULL-terminated; argv itself may be NULL), capturing its output.
 * When stdin_data is not NULL its stdin_len bytes become the program's stdin
 * (then end of file); otherwise the program's stdin is the agent's (usually
 * /dev/null).  Polls guest-exec-status every 10 ms, backing off to 200 ms,
 * until the program exits.  timeout_ms bounds the whole run (negative: wait
 * as long as the program runs; each request is still bounded by 60 s); after
 * it the program keeps running in the guest and this fails with ETIMEDOUT.
 * On success *out holds the result (clear it with qga_exec_result_clear). */
int qga_exec(struct qga *g, const char *path, char *const argv[], const void *stdin_data, size_t stdin_len,
             int timeout_ms, struct qga_exec_result *out, tart_error_t *err);

/* Where qga_exec_stream's output goes as it comes: fd is 1 (stdout) or 2. */
typedef void (*qga_sink_fn)(void *opaque, int fd, const unsigned char *data, size_t len);

/* The shell qga_exec_stream runs the program under, and how often it reads
 * the program's output while it runs (the latency `tart exec --help`
 * states). */
#define QGA_STREAM_SHELL   "/bin/sh"
#define QGA_STREAM_POLL_MS 100

/* Like qga_exec, but the output reaches sink while the program runs: the
 * agent captures only at the end, so the program runs under
 * QGA_STREAM_SHELL with stdout and stderr redirected into two files of the
 * guest's /tmp (mode 0600, random names), read every QGA_STREAM_POLL_MS with
 * guest-file-read and removed when it ends.  A program that cannot start
 * exits as the shell says (127: not found, 126: cannot run).  No /bin/sh
 * in the guest: the guest-exec error "Failed to execute child process"
 * naming it (the caller then uses qga_exec).  No deadline: it waits as long
 * as the program runs.  *out gets the exit status (no captured data).
 * stdin_fd >= 0: the program's stdin is what stdin_fd gives, passed on as
 * it comes (read without blocking between polls) through a file of the
 * guest that a shell loop feeds into a FIFO the program reads, so that the
 * agent never blocks on a program that does not read; the program sees
 * the end when stdin_fd ends.  -1: the agent's stdin (/dev/null). */
int qga_exec_stream(struct qga *g, const char *path, char *const argv[], int stdin_fd, qga_sink_fn sink,
                    void *opaque, struct qga_exec_result *out, tart_error_t *err);

/* The first IPv4 address of the guest that is not loopback (127/8),
 * unspecified (0.0.0.0) or link-local (169.254/16, what an interface holds
 * before DHCP answers), via guest-network-get-interfaces, in dotted-quad form.
 * Returns 1 with out filled, 0 when the guest has none yet (out is ""), -1 on
 * error. */
int qga_network_first_ipv4(struct qga *g, int timeout_ms, char out[16], tart_error_t *err);

/* Close the connection.  Safe on NULL. */
void qga_close(struct qga *g);

/* ---- Pure functions ------------------------------------------------------ */

/* Interpret the return value of guest-exec-status.  "exited" must be a
 * boolean; once it is true, "exitcode" or "signal" (integers) must be there,
 * "out-data"/"err-data" are valid base64 strings when present and
 * "out-truncated"/"err-truncated" booleans.  Unknown members are ignored.  On
 * failure returns -1 with EPROTO "malformed guest-exec-status reply: ..." and
 * *out cleared. */
int qga_parse_exec_status(const json_t *ret, struct qga_exec_result *out, tart_error_t *err);

/* Interpret the return value of guest-network-get-interfaces (an array of
 * {"name", "ip-addresses": [{"ip-address-type", "ip-address", "prefix"}]}),
 * choosing as qga_network_first_ipv4 does.  Entries of an unexpected shape
 * are skipped; only a non-array is an error (EPROTO).  Returns 1, 0 or -1 as
 * qga_network_first_ipv4. */
int qga_parse_interfaces(const json_t *ret, char out[16], tart_error_t *err);

/* Strict RFC 4648 base64 (standard alphabet, padded to a multiple of 4, no
 * whitespace, zero padding bits), as the agent's g_base64_encode writes it.
 * *out is malloc'ed, NUL-terminated (not counted in *out_len); "" decodes to
 * an empty buffer.  Fails with EINVAL "invalid base64 data: ...". */
int qga_base64_decode(const char *in, size_t len, unsigned char **out, size_t *out_len, tart_error_t *err);

/* The padded base64 form of len bytes, malloc'ed and NUL-terminated. */
char *qga_base64_encode(const void *data, size_t len);

#endif
