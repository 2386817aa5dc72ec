#include "util/parallel.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "util/util.h"

struct pool {
  const struct parallel_ops *ops;
  void *ctx;
  size_t n;
  pthread_mutex_t lock;
  size_t next;
  bool failed;
  tart_error_t err;
};

static void *worker(void *arg)
{
  struct pool *p = arg;
  void *state = p->ops->thread_init ? p->ops->thread_init(p->ctx) : NULL;
  for (;;) {
    pthread_mutex_lock(&p->lock);
    size_t i = p->next++;
    bool stop = p->failed || i >= p->n;
    pthread_mutex_unlock(&p->lock);
    if (stop)
      break;
    tart_error_t e = NULL;
    if (p->ops->item(p->ctx, state, i, &e) < 0) {
      pthread_mutex_lock(&p->lock);
      if (!p->failed) {
        p->failed = true;
        p->err = e;
        e = NULL;
      }
      pthread_mutex_unlock(&p->lock);
      tart_error_release(&e);
      break;
    }
  }
  if (p->ops->thread_fini)
    p->ops->thread_fini(p->ctx, state);
  return NULL;
}

int parallel_for(size_t n, unsigned concurrency, const struct parallel_ops *ops, void *ctx, tart_error_t *err)
{
  struct pool p = {.ops = ops, .ctx = ctx, .n = n};
  pthread_mutex_init(&p.lock, NULL);
  if (concurrency > n)
    concurrency = (unsigned)n;
  if (concurrency == 0)
    concurrency = 1;
  pthread_t *threads = xcalloc(concurrency, sizeof(*threads));
  unsigned started = 0;
  for (; started < concurrency; started++)
    if (pthread_create(&threads[started], NULL, worker, &p) != 0)
      break;
  if (started == 0)
    worker(&p);
  for (unsigned i = 0; i < started; i++)
    pthread_join(threads[i], NULL);
  free(threads);
  pthread_mutex_destroy(&p.lock);
  if (p.failed) {
    if (err)
      *err = p.err;
    else
      tart_error_release(&p.err);
    return -1;
  }
  return 0;
}
