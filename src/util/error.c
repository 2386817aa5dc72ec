#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/personality.h"

__attribute__((format(printf, 1, 0))) static char *xvasprintf(const char *fmt, va_list ap)
{
  char *s = NULL;
  if (vasprintf(&s, fmt, ap) < 0)
    return NULL;
  return s;
}

int tart_error_makev(tart_error_t *err, int exit_code, int errnum, const char *fmt, va_list ap)
{
  if (err == NULL)
    return -1;
  tart_error_release(err);

  struct tart_error *e = calloc(1, sizeof(*e));
  if (e == NULL)
    abort();
  e->errnum = errnum;
  e->exit_code = exit_code;

  char *base = xvasprintf(fmt, ap);
  if (base == NULL)
    abort();
  if (errnum != 0) {
    char *full = NULL;
    if (asprintf(&full, "%s: %s", base, strerror(errnum)) < 0)
      abort();
    free(base);
    base = full;
  }
  e->msg = base;
  *err = e;
  return -1;
}

int tart_error_make(tart_error_t *err, int errnum, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  tart_error_makev(err, TART_EXIT_FAILURE, errnum, fmt, ap);
  va_end(ap);
  return -1;
}

int tart_error_kind(tart_error_t *err, int errnum, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  tart_error_makev(err, TART_EXIT_FAILURE, 0, fmt, ap);
  va_end(ap);
  if (err && *err)
    (*err)->errnum = errnum;
  return -1;
}

int tart_error_exit(tart_error_t *err, int exit_code, int errnum, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  tart_error_makev(err, exit_code, errnum, fmt, ap);
  va_end(ap);
  return -1;
}

int tart_error_wrap(tart_error_t *err, const char *fmt, ...)
{
  if (err == NULL || *err == NULL)
    return -1;
  va_list ap;
  va_start(ap, fmt);
  char *ctx = xvasprintf(fmt, ap);
  va_end(ap);
  if (ctx == NULL)
    abort();
  char *full = NULL;
  if (asprintf(&full, "%s: %s", ctx, (*err)->msg) < 0)
    abort();
  free(ctx);
  free((*err)->msg);
  (*err)->msg = full;
  return -1;
}

void tart_error_release(tart_error_t *err)
{
  if (err == NULL || *err == NULL)
    return;
  free((*err)->msg);
  free(*err);
  *err = NULL;
}

int tart_error_print(tart_error_t err)
{
  if (err == NULL)
    return TART_EXIT_FAILURE;
  /* Orchestrators show only the first stderr line, so the whole message must
   * fit on it. */
  for (char *p = err->msg; *p; p++)
    if (*p == '\n' || *p == '\r')
      *p = ' ';
  fprintf(stderr, "%s: error: %s\n", personality()->name, err->msg);
  return err->exit_code ? err->exit_code : TART_EXIT_FAILURE;
}
