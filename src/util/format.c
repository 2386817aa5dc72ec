#include "util/format.h"

#include <stdlib.h>
#include <string.h>

#include "util/util.h"

void format_relative_time(time_t then, time_t now, char *out, size_t n)
{
  bool future = then > now;
  unsigned long long d = future ? (unsigned long long)(then - now) : (unsigned long long)(now - then);
  static const struct {
    unsigned long long secs;
    const char *name;
  } units[] = {
      {365ULL * 86400, "year"}, {30ULL * 86400, "month"}, {7ULL * 86400, "week"},
      {86400, "day"},           {3600, "hour"},           {60, "minute"},
  };
  unsigned long long v = d;
  const char *unit = "second";
  for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
    if (d >= units[i].secs) {
      v = d / units[i].secs;
      unit = units[i].name;
      break;
    }
  }
  const char *plural = v == 1 ? "" : "s";
  if (future)
    snprintf(out, n, "in %llu %s%s", v, unit, plural);
  else
    snprintf(out, n, "%llu %s%s ago", v, unit, plural);
}

void format_iso8601(time_t t, char *out, size_t n)
{
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void table_init(struct table *t, size_t ncols, const char **headers, const bool *right_align)
{
  memset(t, 0, sizeof(*t));
  t->ncols = ncols;
  t->headers = headers;
  t->right_align = right_align;
}

void table_add_row(struct table *t, const char *const *cells)
{
  t->cells = xrealloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(char *));
  for (size_t c = 0; c < t->ncols; c++)
    t->cells[t->nrows * t->ncols + c] = xstrdup(cells[c] ? cells[c] : "");
  t->nrows++;
}

static void print_row(const struct table *t, const size_t *w, const char *const *row, FILE *f)
{
  /* Build the line first so trailing blanks can be trimmed. */
  size_t cap = 1;
  for (size_t c = 0; c < t->ncols; c++)
    cap += w[c] + 2;
  _cleanup_free_ char *line = xmalloc(cap);
  size_t len = 0;
  for (size_t c = 0; c < t->ncols; c++) {
    size_t l = strlen(row[c]);
    size_t pad = w[c] - l;
    if (c > 0) {
      memcpy(line + len, "  ", 2);
      len += 2;
    }
    if (t->right_align && t->right_align[c]) {
      memset(line + len, ' ', pad);
      len += pad;
    }
    memcpy(line + len, row[c], l);
    len += l;
    if (!(t->right_align && t->right_align[c])) {
      memset(line + len, ' ', pad);
      len += pad;
    }
  }
  while (len > 0 && line[len - 1] == ' ')
    len--;
  line[len] = '\0';
  fprintf(f, "%s\n", line);
}

void table_print(const struct table *t, FILE *f)
{
  _cleanup_free_ size_t *w = xcalloc(t->ncols, sizeof(size_t));
  for (size_t c = 0; c < t->ncols; c++)
    w[c] = strlen(t->headers[c]);
  for (size_t r = 0; r < t->nrows; r++)
    for (size_t c = 0; c < t->ncols; c++) {
      size_t l = strlen(t->cells[r * t->ncols + c]);
      if (l > w[c])
        w[c] = l;
    }
  print_row(t, w, t->headers, f);
  for (size_t r = 0; r < t->nrows; r++)
    print_row(t, w, (const char *const *)&t->cells[r * t->ncols], f);
}

void table_clear(struct table *t)
{
  for (size_t i = 0; i < t->nrows * t->ncols; i++)
    free(t->cells[i]);
  free(t->cells);
  t->cells = NULL;
  t->nrows = 0;
}
