/* Output formatting shared by list/get: upstream's plain text table, its
 * relative dates ("3 minutes ago") and ISO-8601 timestamps.  Pure. */
#ifndef TART_UTIL_FORMAT_H
#define TART_UTIL_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

/* "N <unit>[s] ago" (or "in N <unit>[s]" for a future date) using the largest
 * unit that fits, like Foundation's RelativeDateTimeFormatter (.full). */
void format_relative_time(time_t then, time_t now, char *out, size_t n);

/* "2024-01-02T03:04:05Z" (UTC). */
void format_iso8601(time_t t, char *out, size_t n);

/* A plain table: a header row, columns separated by two spaces, each column
 * as wide as its widest cell, numbers right-aligned, trailing blanks
 * trimmed.  Cells are copied. */
struct table {
  size_t ncols;
  const char **headers;
  const bool *right_align;
  char **cells; /* rows * ncols */
  size_t nrows;
};

void table_init(struct table *t, size_t ncols, const char **headers, const bool *right_align);
void table_add_row(struct table *t, const char *const *cells);
void table_print(const struct table *t, FILE *f);
void table_clear(struct table *t);

#endif
