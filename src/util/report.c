#include "util/report.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/personality.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static report_fn handler;
static void *handler_data;

void report_set_handler(report_fn fn, void *data)
{
  handler = fn;
  handler_data = data;
}

void vreport(enum report_kind kind, const char *fmt, va_list ap)
{
  if (handler == NULL)
    return;
  char *text = NULL;
  if (vasprintf(&text, fmt, ap) < 0)
    return;
  pthread_mutex_lock(&lock);
  handler(handler_data, kind, text);
  pthread_mutex_unlock(&lock);
  free(text);
}

void report(enum report_kind kind, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vreport(kind, fmt, ap);
  va_end(ap);
}

void report_print(void *data, enum report_kind kind, const char *text)
{
  (void)data;
  static const char *const prefix[] = {
      [REPORT_NOTICE] = "notice", [REPORT_WARNING] = "warning", [REPORT_ERROR] = "error",
      [REPORT_INFO] = "info",     [REPORT_DEBUG] = "debug",
  };
  switch (kind) {
  case REPORT_STATUS:
    printf("%s\n", text);
    fflush(stdout);
    return;
  case REPORT_PROGRESS:
    if (*text)
      printf("\r\033[K%s", text);
    else
      putchar('\n');
    fflush(stdout);
    return;
  case REPORT_NOTICE:
  case REPORT_WARNING:
  case REPORT_ERROR:
  case REPORT_INFO:
  case REPORT_DEBUG:
    /* What the user saw on stdout comes first. */
    fflush(stdout);
    fprintf(stderr, "%s: %s: %s\n", personality()->name, prefix[kind], text);
    fflush(stderr);
    return;
  }
}
