#include "util/progress.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/report.h"
#include "util/util.h"

struct progress {
  pthread_mutex_t lock;
  char *label;
  uint64_t total, done;
  bool tty;
  int last_decile;
  double start, last_draw;
  bool drawn;
};

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void format_bytes(uint64_t n, char *out, size_t len)
{
  static const char *const units[] = {"B", "KB", "MB", "GB", "TB"};
  double v = (double)n;
  size_t u = 0;
  while (v >= 1000 && u + 1 < ARRAY_SIZE(units)) {
    v /= 1000;
    u++;
  }
  if (u == 0)
    snprintf(out, len, "%llu B", (unsigned long long)n);
  else
    snprintf(out, len, "%.1f %s", v, units[u]);
}

struct progress *progress_new(const char *label, uint64_t total)
{
  struct progress *p = xcalloc(1, sizeof(*p));
  pthread_mutex_init(&p->lock, NULL);
  p->label = xstrdup(label);
  p->total = total;
  p->tty = isatty(STDOUT_FILENO) && getenv("CI") == NULL;
  p->last_decile = -1;
  p->start = now_s();
  return p;
}

static void draw(struct progress *p, double t, bool final)
{
  unsigned pct = p->total ? (unsigned)(p->done * 100 / p->total) : 100;
  if (p->tty) {
    char done[32], total[32], rate[32] = "", eta[32] = "";
    format_bytes(p->done, done, sizeof(done));
    format_bytes(p->total, total, sizeof(total));
    double el = t - p->start;
    if (el > 0.5) {
      double r = (double)p->done / el;
      format_bytes((uint64_t)r, rate, sizeof(rate));
      strcat(rate, "/s");
      if (r > 0 && !final && p->total > p->done)
        snprintf(eta, sizeof(eta), " ETA %.0fs", (double)(p->total - p->done) / r);
    }
    report(REPORT_PROGRESS, "%s %3u%% %s / %s %s%s", p->label, pct, done, total, rate, eta);
    if (final)
      report(REPORT_PROGRESS, "%s", "");
    p->drawn = true;
  } else {
    int decile = (int)(pct / 10);
    if (decile != p->last_decile) {
      p->last_decile = decile;
      report(REPORT_STATUS, "%s %u%%", p->label, decile * 10);
      p->drawn = true;
    }
  }
  p->last_draw = t;
}

void progress_add(struct progress *p, uint64_t n)
{
  if (p == NULL)
    return;
  pthread_mutex_lock(&p->lock);
  p->done += n;
  if (p->done > p->total)
    p->done = p->total;
  double t = now_s();
  if (!p->tty || t - p->last_draw >= 0.25)
    draw(p, t, false);
  pthread_mutex_unlock(&p->lock);
}

void progress_finish(struct progress *p)
{
  if (p == NULL)
    return;
  p->done = p->total;
  draw(p, now_s(), true);
  pthread_mutex_destroy(&p->lock);
  free(p->label);
  free(p);
}
