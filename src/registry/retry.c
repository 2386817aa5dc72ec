#include "registry/retry.h"

#include <stdlib.h>
#include <time.h>

void retry_backoff(unsigned attempt, unsigned retry_after_s)
{
  unsigned long base = 500;
  const char *env = getenv("TART_RETRY_DELAY_MS");
  if (env != NULL && *env != '\0') {
    char *end;
    unsigned long v = strtoul(env, &end, 10);
    if (*end == '\0' && v <= 60000)
      base = v;
  }
  unsigned long ms = base << (attempt < 5 ? attempt : 5);
  if (ms > 8000)
    ms = 8000;
  if (retry_after_s > 0)
    ms = (retry_after_s < 30 ? retry_after_s : 30) * 1000UL;
  struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0)
    ;
}
