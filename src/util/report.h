/* What the library tells the user while it works, as opposed to what went
 * wrong (util/error.h).
 *
 * The library never writes to the terminal: it calls report(), and the
 * command layer decides where that goes by installing a handler
 * (report_set_handler; main installs report_print, the terminal printer).
 * With no handler, reports are dropped, so library code in unit tests is
 * silent unless a test asks to see it.
 *
 * Kinds, and how report_print shows them:
 *   REPORT_STATUS    a step of the work or what it hands out ("pulling
 *                    manifest...", "Successfully open pty /dev/pts/3"):
 *                    a line on stdout, the words upstream prints
 *   REPORT_PROGRESS  a transfer's state, redrawn in place on a terminal:
 *                    "\r\033[K" + text on stdout, no newline; an empty
 *                    text ends the line
 *   REPORT_NOTICE    a choice made for the user ("tart: notice: ..." on
 *                    stderr)
 *   REPORT_WARNING   "tart: warning: ..." on stderr
 *   REPORT_ERROR     an error the work goes on after (a failed suspend
 *                    of a VM that keeps running): "tart: error: ..."; an
 *                    error that ends the command is a tart_error_t instead
 *   REPORT_INFO, REPORT_DEBUG  diagnostics from util/log.h, filtered by
 *                    TART_LOG before they get here
 *
 * Texts are one line without a trailing newline (prefixes are the
 * printer's).  report() may be called from several threads; a handler is
 * called under a lock, so lines do not interleave. */
#ifndef TART_UTIL_REPORT_H
#define TART_UTIL_REPORT_H

#include <stdarg.h>

enum report_kind {
  REPORT_STATUS,
  REPORT_PROGRESS,
  REPORT_NOTICE,
  REPORT_WARNING,
  REPORT_ERROR,
  REPORT_INFO,
  REPORT_DEBUG,
};

typedef void (*report_fn)(void *data, enum report_kind kind, const char *text);

/* Install fn (NULL: drop reports).  Not thread-safe against report(): set
 * it before work starts. */
void report_set_handler(report_fn fn, void *data);

void report(enum report_kind kind, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void vreport(enum report_kind kind, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* The terminal printer (see above); data is unused.  Flushes after each
 * line, so the order of stdout and stderr lines is kept. */
void report_print(void *data, enum report_kind kind, const char *text);

#endif
