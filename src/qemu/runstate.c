#include "qemu/runstate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

enum run_end_kind runstate_classify(const char *status)
{
  if (status == NULL)
    return RUN_END_NONE;
  if (!strcmp(status, "internal-error"))
    return RUN_END_INTERNAL_ERROR;
  if (!strcmp(status, "io-error"))
    return RUN_END_IO_ERROR;
  if (!strcmp(status, "guest-panicked"))
    return RUN_END_PANIC;
  /* A watchdog whose action is pause, and a failed incoming migration,
   * leave a guest that nothing will resume. */
  if (!strcmp(status, "watchdog") || !strcmp(status, "colo"))
    return RUN_END_OTHER_STATE;
  return RUN_END_NONE;
}

static char *see(const char *log)
{
  return log && *log ? xasprintf(" (see %s)", log) : xstrdup("");
}

char *run_end_message(const struct run_end *e)
{
  _cleanup_free_ char *s = see(e->log);
  char q[200] = "";
  switch (e->kind) {
  case RUN_END_INTERNAL_ERROR:
    if (e->detail && *e->detail)
      str_quote(e->detail, 120, q, sizeof(q));
    return xasprintf("QEMU's accelerator could not go on running the guest%s%s%s", q[0] ? ": " : "", q, s);
  case RUN_END_PANIC:
    return xasprintf("the guest's kernel panicked%s", s);
  case RUN_END_IO_ERROR: {
    char path[200] = "a disk";
    if (e->io_path && *e->io_path) {
      char p[180];
      str_quote(e->io_path, 160, p, sizeof(p));
      snprintf(path, sizeof(path), "disk %s", p);
    }
    const char *op = e->io_operation && !strcmp(e->io_operation, "read") ? "reading" : "writing";
    if (e->io_nospace)
      return xasprintf("%s %s failed: the host's file system is full; free space there and run the VM "
                       "again%s",
                       op, path, s);
    if (e->io_reason && *e->io_reason)
      str_quote(e->io_reason, 100, q, sizeof(q));
    return xasprintf("%s %s failed on the host%s%s%s", op, path, q[0] ? ": " : "", q, s);
  }
  case RUN_END_RESET_LOOP:
    return xasprintf("the guest reset %d times within %d s (a triple fault, or a kernel that crashes while "
                     "booting)%s",
                     e->resets, e->reset_seconds, s);
  case RUN_END_NO_BOOT:
    if (e->detail && *e->detail)
      str_quote(e->detail, 120, q, sizeof(q));
    return xasprintf("the firmware found nothing to boot%s%s%s: the disk is empty or has no boot loader for "
                     "this firmware (UEFI or BIOS: tart create --firmware)%s",
                     q[0] ? " (" : "", q, q[0] ? ")" : "", s);
  case RUN_END_OTHER_STATE:
    if (e->status)
      str_quote(e->status, 40, q, sizeof(q));
    return xasprintf("the guest stopped and cannot go on (QEMU run state %s)%s", q[0] ? q : "unknown", s);
  case RUN_END_NONE:
    break;
  }
  return xasprintf("the guest stopped unexpectedly%s", s);
}

/* Markers, most specific first. */
static const struct {
  const char *needle;
  const char *phrase;
} noboot[] = {
    {"No bootable device.", "SeaBIOS: No bootable device"},
    {"No bootable option or device was found", "UEFI: no bootable option or device was found"},
    {"UEFI Interactive Shell", "UEFI: no boot option worked, the firmware started its shell"},
};

const char *firmware_noboot_marker(const char *buf, size_t len)
{
  if (buf == NULL)
    return NULL;
  for (size_t i = 0; i < ARRAY_SIZE(noboot); i++)
    if (memmem(buf, len, noboot[i].needle, strlen(noboot[i].needle)))
      return noboot[i].phrase;
  return NULL;
}

bool reset_window_note(struct reset_window *w, int64_t now_ms)
{
  if (w->n == RESET_LOOP_COUNT) {
    memmove(w->at, w->at + 1, sizeof(w->at[0]) * (RESET_LOOP_COUNT - 1));
    w->n--;
  }
  w->at[w->n++] = now_ms;
  return w->n == RESET_LOOP_COUNT && now_ms - w->at[0] <= RESET_LOOP_MS;
}
