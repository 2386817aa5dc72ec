/* libFuzzer target for the pure parts of src/agent/qga.c: the guest agent's
 * replies come from inside the guest, which tart does not trust.
 *
 * Checks, for every input:
 *   - qga_base64_decode accepts exactly the canonical encodings: whatever it
 *     decodes encodes back to the very input; encoding the input and decoding
 *     that gives the input back; failures are printable EINVAL errors that
 *     leave nothing allocated;
 *   - read as JSON, qga_parse_exec_status either fails with EPROTO and an
 *     empty result, or yields a result consistent with the JSON (decoded
 *     output NUL-terminated, lengths matching a re-decode);
 *   - qga_parse_interfaces returns -1 only for a non-array, and 1 only with a
 *     dotted quad that is neither loopback, 0.0.0.0 nor link-local;
 *   - nothing leaks (ASan).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/qga.h"
#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_printable(const char *s)
{
  for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
    if (*p < 0x20 || *p >= 0x7f)
      abort();
}

static void check_base64(const uint8_t *data, size_t size)
{
  unsigned char *out;
  size_t len;
  tart_error_t err = NULL;
  if (qga_base64_decode((const char *)data, size, &out, &len, &err) == 0) {
    if (err != NULL || out == NULL || out[len] != '\0' ||
        len != size / 4 * 3 - (size && data[size - 1] == '=') - (size > 1 && data[size - 2] == '='))
      abort();
    char *again = qga_base64_encode(out, len);
    if (strlen(again) != size || memcmp(again, data, size) != 0)
      abort();
    free(again);
    free(out);
  } else {
    if (err == NULL || err->errnum != EINVAL || out != NULL || len != 0 ||
        strncmp(err->msg, "invalid base64 data: ", 21) != 0)
      abort();
    check_printable(err->msg);
    tart_error_release(&err);
  }

  char *enc = qga_base64_encode(data, size);
  if (strlen(enc) != (size + 2) / 3 * 4)
    abort();
  if (qga_base64_decode(enc, strlen(enc), &out, &len, NULL) != 0 || len != size ||
      memcmp(out, data, size) != 0)
    abort();
  free(out);
  free(enc);
}

/* The bytes a data member decodes to, for comparison. */
static void check_data(const json_t *ret, const char *key, const unsigned char *got, size_t got_len)
{
  json_t *v = json_object_get(ret, key);
  if (v == NULL) {
    if (got != NULL || got_len != 0)
      abort();
    return;
  }
  unsigned char *want;
  size_t want_len;
  if (got == NULL || got[got_len] != '\0' ||
      qga_base64_decode(json_string_value(v), json_string_length(v), &want, &want_len, NULL) != 0 ||
      want_len != got_len || memcmp(want, got, got_len) != 0)
    abort();
  free(want);
}

static void check_exec_status(const json_t *j)
{
  struct qga_exec_result r;
  tart_error_t err = NULL;
  if (qga_parse_exec_status(j, &r, &err) < 0) {
    if (err == NULL || err->errnum != EPROTO ||
        strncmp(err->msg, "malformed guest-exec-status reply: ", 35) != 0 || r.out_data != NULL ||
        r.err_data != NULL || r.exited)
      abort();
    check_printable(err->msg);
    tart_error_release(&err);
    return;
  }
  if (err != NULL || r.exited != json_is_true(json_object_get(j, "exited")))
    abort();
  if (r.exited) {
    json_t *code = json_object_get(j, "exitcode");
    json_t *sig = json_object_get(j, "signal");
    if ((code == NULL && sig == NULL) || (code != NULL && json_integer_value(code) != r.exit_code) ||
        (code == NULL && r.exit_code != -1) || (sig != NULL && json_integer_value(sig) != r.signal) ||
        (sig == NULL && r.signal != 0))
      abort();
    check_data(j, "out-data", r.out_data, r.out_len);
    check_data(j, "err-data", r.err_data, r.err_len);
    if (r.out_truncated != json_is_true(json_object_get(j, "out-truncated")) ||
        r.err_truncated != json_is_true(json_object_get(j, "err-truncated")))
      abort();
  } else if (r.out_data != NULL || r.err_data != NULL) {
    abort();
  }
  qga_exec_result_clear(&r);
  if (r.out_data != NULL || r.err_data != NULL)
    abort();
}

static void check_interfaces(const json_t *j)
{
  char ip[16];
  memset(ip, 'x', sizeof(ip));
  tart_error_t err = NULL;
  int r = qga_parse_interfaces(j, ip, &err);
  if (r < 0) {
    if (json_is_array(j) || err == NULL || err->errnum != EPROTO || ip[0] != '\0')
      abort();
    tart_error_release(&err);
    return;
  }
  if (!json_is_array(j) || err != NULL)
    abort();
  if (r == 0) {
    if (ip[0] != '\0')
      abort();
    return;
  }
  if (r != 1 || memchr(ip, '\0', sizeof(ip)) == NULL)
    abort();
  struct in_addr a;
  if (inet_pton(AF_INET, ip, &a) != 1)
    abort();
  uint32_t h = ntohl(a.s_addr);
  if ((h >> 24) == 127 || h == 0 || (h >> 16) == 0xa9fe)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  check_base64(data, size);

  json_t *j = json_loadb((const char *)data, size, 0, NULL);
  if (j != NULL) {
    check_exec_status(j);
    check_interfaces(j);
    /* The same value as a reply member: guest-exec-status answers are
     * objects, so wrap arrays and scalars to reach the member checks. */
    json_t *wrapped = json_pack("{s:b, s:i, s:O}", "exited", 1, "exitcode", 0, "out-data", j);
    check_exec_status(wrapped);
    json_t *ifaces = json_pack("[{s:s, s:O}]", "name", "eth0", "ip-addresses", j);
    check_interfaces(ifaces);
    json_decref(ifaces);
    json_decref(wrapped);
    json_decref(j);
  }

  /* The input as a base64 member of a status reply. */
  json_t *s = json_stringn_nocheck((const char *)data, size);
  json_t *st = json_pack("{s:b, s:i, s:o}", "exited", 1, "signal", 9, "err-data", s);
  check_exec_status(st);
  json_decref(st);
  return 0;
}
