/* Why a guest stopped running without anyone asking, in one line
 * (docs/faq.md, "My VM stopped: what do the messages mean?").
 *
 * The supervisor gathers the facts -- QMP's run state (query-status), the
 * events STOP, BLOCK_IO_ERROR, GUEST_PANICKED, SHUTDOWN and RESET, the
 * firmware's and the console's output -- and ends the run with the message
 * made here.  Everything in this file is pure. */
#ifndef TART_QEMU_RUNSTATE_H
#define TART_QEMU_RUNSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum run_end_kind {
  RUN_END_NONE = 0,
  RUN_END_INTERNAL_ERROR, /* run state internal-error: the accelerator could not go on */
  RUN_END_PANIC,          /* the guest's kernel panicked (pvpanic: GUEST_PANICKED) */
  RUN_END_IO_ERROR,       /* run state io-error: a disk access failed on the host */
  RUN_END_RESET_LOOP,     /* the guest resets over and over (triple fault, crash at boot) */
  RUN_END_NO_BOOT,        /* the firmware found nothing to boot */
  RUN_END_OTHER_STATE,    /* another run state the guest cannot leave by itself */
};

/* What the supervisor knows when it ends a run. */
struct run_end {
  enum run_end_kind kind;
  const char *status; /* QEMU's run state, e.g. "watchdog" (RUN_END_OTHER_STATE) */
  const char *detail; /* internal error: QEMU's log line; no boot: the firmware's words */
  /* io-error, from BLOCK_IO_ERROR */
  const char *io_path;      /* the host file behind the device, or its QEMU id */
  const char *io_operation; /* "read" or "write" */
  const char *io_reason;    /* strerror text, e.g. "No space left on device" */
  bool io_nospace;
  /* reset loop */
  int resets, reset_seconds;
  const char *log; /* the file to read for more */
};

/* How a QEMU run state is to be taken (query-status "status", the STOP
 * event).  RUN_END_NONE for states that are fine or asked for (running,
 * paused by a person or by suspend, migration, guest sleep, shutdown
 * before QEMU exits, ...); unknown names are fine too (a newer QEMU). */
enum run_end_kind runstate_classify(const char *status);

/* The one-line message ("the guest's kernel panicked (see ...)"),
 * malloc'ed.  Caller prefixes it with the VM. */
char *run_end_message(const struct run_end *e);

/* A firmware's words for "nothing to boot" in its output: SeaBIOS's "No
 * bootable device.", edk2's "No bootable option or device was found." and
 * its fallback to the UEFI shell.  Returns the phrase found (static), or
 * NULL.  Any bytes. */
const char *firmware_noboot_marker(const char *buf, size_t len);

/* Guest resets: RESET_LOOP_COUNT within RESET_LOOP_MS is a loop.  Guests
 * that reboot on purpose take longer than that to come back. */
#define RESET_LOOP_COUNT 5
#define RESET_LOOP_MS    30000
struct reset_window {
  int64_t at[RESET_LOOP_COUNT];
  size_t n; /* resets seen, capped at RESET_LOOP_COUNT */
};

/* Note a guest reset at now_ms (monotonic); true when it completes a
 * loop. */
bool reset_window_note(struct reset_window *w, int64_t now_ms);

#endif
