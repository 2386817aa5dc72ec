/* Diagnostics, filtered by level.
 *
 * The level comes from TART_LOG=debug|info|warn|error (default warn) and the
 * global --debug flag.  Messages that pass go to the reporter
 * (util/report.h) as REPORT_DEBUG .. REPORT_ERROR, which the terminal
 * printer shows on stderr with a "tart: <level>: " prefix.
 * Never log credentials. */
#ifndef TART_UTIL_LOG_H
#define TART_UTIL_LOG_H

enum tart_log_level { TART_LOG_DEBUG = 0, TART_LOG_INFO, TART_LOG_WARN, TART_LOG_ERROR };

/* Read TART_LOG; returns -1 and leaves the level unchanged if it holds an
 * unknown value. */
int tart_log_init_from_env(void);
void tart_log_set_level(enum tart_log_level level);
enum tart_log_level tart_log_get_level(void);
static inline int log_debug_enabled(void)
{
  return tart_log_get_level() <= TART_LOG_DEBUG;
}
/* Parse "debug", "info", "warn"/"warning", "error"; -1 if unknown. */
int tart_log_parse_level(const char *s);

void tart_log(enum tart_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) tart_log(TART_LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  tart_log(TART_LOG_INFO, __VA_ARGS__)
#define log_warn(...)  tart_log(TART_LOG_WARN, __VA_ARGS__)
#define log_error(...) tart_log(TART_LOG_ERROR, __VA_ARGS__)

#endif
