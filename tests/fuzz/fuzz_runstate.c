/* libFuzzer target for what tart reads while a VM runs: the per-boot KVM
 * verdict record (src/qemu/accel.c, read from $TART_HOME/cache), the
 * firmware's and console's output (src/qemu/runstate.c), and the texts the
 * run's messages are made of (QEMU's log lines, QMP's run state and
 * BLOCK_IO_ERROR strings).
 *
 * Checks, for every input:
 *   - accel_verdict_parse never reads past the bytes given, returns -1, 0
 *     or 1, gives a reason only with 1, and that reason is one printable
 *     line of at most 300 bytes; a record it writes for that reason parses
 *     back to the same reason;
 *   - firmware_noboot_marker finds a marker exactly when memmem does;
 *   - every message built from the input's text is one line with no
 *     control characters;
 *   - nothing leaks (ASan). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qemu/accel.h"
#include "qemu/runstate.h"
#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_line(const char *s, size_t max)
{
  if (s == NULL || strlen(s) > max)
    abort();
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if (*p < 0x20 || *p == 0x7f)
      abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  /* Exactly size bytes, nothing after them. */
  char *buf = xmalloc(size ? size : 1);
  memcpy(buf, data, size);

  char *reason = NULL;
  int r = accel_verdict_parse(buf, size, "k", &reason);
  if (r < -1 || r > ACCEL_VERDICT_WORKS || (r == ACCEL_VERDICT_CANNOT_RUN) != (reason != NULL))
    abort();
  if (reason) {
    check_line(reason, 300);
    char *again_text = accel_verdict_format("k", reason);
    char *again = NULL;
    /* The record holds sanitised UTF-8: compare the sanitised reason. */
    char *want = utf8_sanitize(reason);
    if (accel_verdict_parse(again_text, strlen(again_text), "k", &again) != ACCEL_VERDICT_CANNOT_RUN ||
        strcmp(again, want) != 0)
      abort();
    free(want);
    free(again);
    free(again_text);
    free(reason);
  }

  const char *m = firmware_noboot_marker(buf, size);
  bool any = memmem(buf, size, "No bootable device.", 19) ||
             memmem(buf, size, "No bootable option or device was found", 38) ||
             memmem(buf, size, "UEFI Interactive Shell", 22);
  if ((m != NULL) != any)
    abort();

  /* The input as text fields of every kind of message. */
  char *text = xmalloc(size + 1);
  memcpy(text, data, size);
  text[size] = '\0';
  for (int k = RUN_END_NONE; k <= RUN_END_OTHER_STATE; k++) {
    struct run_end e = {.kind = (enum run_end_kind)k,
                        .status = text,
                        .detail = text,
                        .io_path = text,
                        .io_operation = text,
                        .io_reason = text,
                        .io_nospace = size & 1,
                        .resets = 5,
                        .reset_seconds = 30,
                        .log = "/v/logs/qemu.log"};
    char *msg = run_end_message(&e);
    check_line(msg, 4096);
    free(msg);
  }
  char *why = accel_kvm_failure_reason(text, size & 2);
  check_line(why, 4096);
  char *notice = accel_fallback_notice(why);
  check_line(notice, 4096);
  free(notice);
  free(why);
  free(text);
  free(buf);
  return 0;
}
