/* Items 0..n-1 processed by up to `concurrency` threads, each taking the
 * next item until none is left or one has failed.  Per-thread state (a
 * connection, buffers) comes from thread_init and goes to thread_fini.
 * The first failure's error is returned; items not yet started are then
 * skipped.  If no thread can be created, the caller's thread does the work. */
#ifndef TART_UTIL_PARALLEL_H
#define TART_UTIL_PARALLEL_H

#include <stddef.h>

#include "util/error.h"

struct parallel_ops {
  void *(*thread_init)(void *ctx);             /* may be NULL */
  void (*thread_fini)(void *ctx, void *state); /* may be NULL */
  int (*item)(void *ctx, void *state, size_t i, tart_error_t *err);
};

int parallel_for(size_t n, unsigned concurrency, const struct parallel_ops *ops, void *ctx,
                 tart_error_t *err);

#endif
