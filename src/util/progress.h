/* Transfer progress, reported (util/report.h) for stdout.  On a terminal:
 * one line redrawn at most every 250 ms with bytes, percentage, rate and
 * ETA.  With CI set or when stdout is not a terminal: a plain line each
 * time another 10 % is done.  progress_add may be called from several
 * threads. */
#ifndef TART_UTIL_PROGRESS_H
#define TART_UTIL_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

struct progress;

struct progress *progress_new(const char *label, uint64_t total);
void progress_add(struct progress *p, uint64_t n);
/* Print the final state (if anything was shown) and free. */
void progress_finish(struct progress *p);

/* "1.5 GB" style sizes (1000-based, as upstream prints them). */
void format_bytes(uint64_t n, char *out, size_t len);

#endif
