#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/report.h"

static enum tart_log_level current = TART_LOG_WARN;

int tart_log_parse_level(const char *s)
{
  if (s == NULL)
    return -1;
  if (!strcasecmp(s, "debug"))
    return TART_LOG_DEBUG;
  if (!strcasecmp(s, "info"))
    return TART_LOG_INFO;
  if (!strcasecmp(s, "warn") || !strcasecmp(s, "warning"))
    return TART_LOG_WARN;
  if (!strcasecmp(s, "error"))
    return TART_LOG_ERROR;
  return -1;
}

int tart_log_init_from_env(void)
{
  const char *v = getenv("TART_LOG");
  if (v == NULL || *v == '\0')
    return 0;
  int l = tart_log_parse_level(v);
  if (l < 0)
    return -1;
  current = (enum tart_log_level)l;
  return 0;
}

void tart_log_set_level(enum tart_log_level level)
{
  current = level;
}

enum tart_log_level tart_log_get_level(void)
{
  return current;
}

void tart_log(enum tart_log_level level, const char *fmt, ...)
{
  static const enum report_kind kinds[] = {REPORT_DEBUG, REPORT_INFO, REPORT_WARNING, REPORT_ERROR};
  if (level < current)
    return;
  va_list ap;
  va_start(ap, fmt);
  vreport(kinds[level], fmt, ap);
  va_end(ap);
}
