/* Bounded exponential backoff between attempts of a registry operation.
 * Delays: base, 2x, 4x, ... capped at 8 s; a 429's Retry-After (capped at
 * 30 s) wins.  The base is 500 ms, or TART_RETRY_DELAY_MS (tests shorten
 * it). */
#ifndef TART_REGISTRY_RETRY_H
#define TART_REGISTRY_RETRY_H

#define RETRY_MAX_ATTEMPTS 6

void retry_backoff(unsigned attempt, unsigned retry_after_s);

#endif
