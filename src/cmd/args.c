#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "util/util.h"

int args_usage_error(char **argv, tart_error_t *err, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  char *msg = NULL;
  if (vasprintf(&msg, fmt, ap) < 0)
    msg = NULL;
  va_end(ap);
  tart_error_exit(err, TART_EXIT_USAGE, 0, "%s (see 'tart %s --help')", msg ? msg : "usage error", argv[0]);
  free(msg);
  return -1;
}

int args_next(int argc, char **argv, const char *shortopts, const struct option *longopts, tart_error_t *err)
{
  /* A leading ':' makes getopt report a missing value as ':' and stay quiet. */
  char optstring[64];
  /* A leading '+' (stop at the first non-option) must stay first. */
  if (shortopts[0] == '+')
    snprintf(optstring, sizeof(optstring), "+:%s", shortopts + 1);
  else
    snprintf(optstring, sizeof(optstring), ":%s", shortopts);
  opterr = 0;
  int c = getopt_long(argc, argv, optstring, longopts, NULL);
  if (c == '?') {
    const char *bad = argv[optind - 1];
    if (optopt != 0 && (bad == NULL || bad[0] != '-' || bad[1] == '-'))
      return args_usage_error(argv, err, "unknown option '-%c'", optopt), -2;
    if (optopt != 0 && bad[1] != '-')
      return args_usage_error(argv, err, "unknown option '-%c'", optopt), -2;
    return args_usage_error(argv, err, "unknown option '%s'", bad ? bad : "?"), -2;
  }
  if (c == ':') {
    const char *bad = argv[optind - 1];
    if (bad && bad[0] == '-' && bad[1] == '-') {
      /* "--opt" without "=value" at the end of the line. */
      size_t l = strcspn(bad, "=");
      return args_usage_error(argv, err, "missing value for option '%.*s'", (int)l, bad), -2;
    }
    return args_usage_error(argv, err, "missing value for option '-%c'", optopt), -2;
  }
  return c;
}

int args_positional(int argc, char **argv, int min, int max, const char *names, tart_error_t *err)
{
  int n = argc - optind;
  if (n < min)
    return args_usage_error(argv, err, "missing expected argument: %s", names);
  if (max >= 0 && n > max)
    return args_usage_error(argv, err, "unexpected argument '%s'", argv[optind + max]);
  return 0;
}

int args_u64(const char *flag, const char *value, uint64_t min, uint64_t max, uint64_t *out,
             tart_error_t *err)
{
  char what[64];
  snprintf(what, sizeof(what), "invalid value for %s", flag);
  return parse_u64(value, min, max, out, what, err);
}
