/* The one error type of tart.
 *
 * Every fallible function takes `tart_error_t *err` as its last argument and
 * returns a negative value on failure after filling *err; success leaves *err
 * untouched.  A caller may add context with tart_error_wrap().  Only main()
 * prints an error, as a single line "tart: error: <message>", and exits with
 * the error's exit code.
 */
#ifndef TART_UTIL_ERROR_H
#define TART_UTIL_ERROR_H

#include <stdarg.h>

/* Exit codes (docs/design.md, "Exit codes"). */
enum {
  TART_EXIT_OK = 0,
  TART_EXIT_FAILURE = 1,
  TART_EXIT_VM_STATE = 2, /* VM does not exist / is not running / is already running */
  TART_EXIT_USAGE = 64,   /* EX_USAGE: bad command line */
};

struct tart_error {
  int errnum;    /* errno of the failure, 0 if none */
  int exit_code; /* process exit code this error maps to */
  char *msg;     /* one line, no trailing newline */
};
typedef struct tart_error *tart_error_t;

/* Fill *err with a message built from fmt; if errnum is not zero,
 * ": <strerror(errnum)>" is appended.  Returns -1 so that callers can write
 * `return tart_error_make(err, errno, "...")`.  If *err is already set, the
 * previous error is released first. */
int tart_error_make(tart_error_t *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like tart_error_make, but errnum only classifies the error for callers
 * (EAGAIN: retry, ENOENT: missing, ...): nothing is appended to the
 * message, which must say everything itself. */
int tart_error_kind(tart_error_t *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Same, with an explicit exit code (TART_EXIT_VM_STATE, TART_EXIT_USAGE). */
int tart_error_exit(tart_error_t *err, int exit_code, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

int tart_error_makev(tart_error_t *err, int exit_code, int errnum, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

/* Prefix the message of *err with context: "<context>: <old message>".
 * Keeps errnum and exit code.  Returns -1. */
int tart_error_wrap(tart_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Free *err and set it to NULL.  Safe on NULL. */
void tart_error_release(tart_error_t *err);

/* Print "tart: error: <msg>" as one line on stderr (newlines in the message
 * are folded into spaces) and return the exit code to use. */
int tart_error_print(tart_error_t err);

#endif
