/* Small helpers shared by every part of tart: scope-bound cleanup, strict
 * number parsing, random bytes. */
#ifndef TART_UTIL_UTIL_H
#define TART_UTIL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/error.h"

/* Scope-bound cleanup (as in crun/systemd): the variable is released when it
 * goes out of scope, on every path. */
void tart_freep(void *p);
void tart_closep(int *fd);
void tart_fclosep(FILE **f);
#define _cleanup_free_   __attribute__((cleanup(tart_freep)))
#define _cleanup_close_  __attribute__((cleanup(tart_closep)))
#define _cleanup_fclose_ __attribute__((cleanup(tart_fclosep)))
#define _cleanup_error_  __attribute__((cleanup(tart_error_release)))

/* Hand the value out of a cleanup-managed variable. */
#define TAKE_PTR(p)                                                                                          \
  ({                                                                                                         \
    __typeof__(p) _tmp = (p);                                                                                \
    (p) = NULL;                                                                                              \
    _tmp;                                                                                                    \
  })
#define TAKE_FD(fd)                                                                                          \
  ({                                                                                                         \
    int _tmp = (fd);                                                                                         \
    (fd) = -1;                                                                                               \
    _tmp;                                                                                                    \
  })

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Allocation that cannot fail (aborts on OOM, as git's xmalloc). */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Strict decimal parse of an unsigned integer: digits only (no sign, no
 * spaces, no suffix), no overflow, value within [min, max].  On failure
 * returns -1 with a usage error (exit 64) naming `what`. */
int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out, const char *what, tart_error_t *err);

/* Fill buf with n cryptographically random bytes (getrandom). */
void random_bytes(void *buf, size_t n);

/* A random RFC 4122 version 4 UUID, upper case like Foundation's UUID
 * (36 characters + NUL). */
void uuid_random(char out[37]);

/* True if s is non-empty and made of characters c with isprint(c) && c < 0x7f
 * or any byte >= 0x80 (UTF-8); false for control characters. */
bool str_has_control_chars(const char *s);

/* In place: ASCII control characters, DEL and the C1 controls (UTF-8
 * U+0080..U+009F, e.g. CSI) become spaces, so that text from a log or a
 * guest prints as one inert line.  Returns s. */
char *str_scrub_controls(char *s);

/* Quote s for a one-line message: in double quotes, '"' and '\\' escaped,
 * everything but printable ASCII as \xNN (no escape sequence reaches a
 * terminal), cut with "..." after max_shown characters or when out (n
 * bytes, at least 16) is nearly full. */
void str_quote(const char *s, size_t max_shown, char *out, size_t n);

/* True if s is well-formed UTF-8 (no overlongs, no surrogates). */
bool utf8_valid(const char *s);

/* A copy of s with every byte that is not part of well-formed UTF-8
 * replaced by U+FFFD, for JSON output of names made by other tools. */
char *utf8_sanitize(const char *s);

#endif
