#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "util/parallel.h"
#include "util/util.h"

struct ctx {
  int *seen;
  size_t fail_at; /* SIZE_MAX: never */
  int inits, finis;
  pthread_mutex_t lock;
};

static void *init(void *c)
{
  struct ctx *x = c;
  pthread_mutex_lock(&x->lock);
  x->inits++;
  pthread_mutex_unlock(&x->lock);
  return xcalloc(1, sizeof(int)); /* per-thread state */
}

static void fini(void *c, void *state)
{
  struct ctx *x = c;
  pthread_mutex_lock(&x->lock);
  x->finis++;
  pthread_mutex_unlock(&x->lock);
  free(state);
}

static int item(void *c, void *state, size_t i, tart_error_t *err)
{
  struct ctx *x = c;
  (*(int *)state)++;
  __atomic_add_fetch(&x->seen[i], 1, __ATOMIC_SEQ_CST);
  if (i == x->fail_at)
    return tart_error_make(err, 0, "item %zu failed", i);
  return 0;
}

static const struct parallel_ops ops = {init, fini, item};

static void test_every_item_once(void **state)
{
  for (unsigned conc = 0; conc <= 8; conc++) {
    struct ctx x = {.seen = xcalloc(100, sizeof(int)), .fail_at = SIZE_MAX};
    pthread_mutex_init(&x.lock, NULL);
    assert_int_equal(parallel_for(100, conc, &ops, &x, NULL), 0);
    for (size_t i = 0; i < 100; i++)
      assert_int_equal(x.seen[i], 1);
    assert_true(x.inits >= 1 && x.inits <= (conc ? (int)conc : 1));
    assert_int_equal(x.inits, x.finis);
    free(x.seen);
  }
}

static void test_first_error_stops(void **state)
{
  struct ctx x = {.seen = xcalloc(1000, sizeof(int)), .fail_at = 3};
  pthread_mutex_init(&x.lock, NULL);
  tart_error_t err = NULL;
  assert_int_equal(parallel_for(1000, 1, &ops, &x, &err), -1);
  assert_string_equal(err->msg, "item 3 failed");
  /* One thread: nothing after the failure was started. */
  assert_int_equal(x.seen[4], 0);
  assert_int_equal(x.inits, x.finis);
  tart_error_release(&err);
  free(x.seen);
}

static void test_no_items(void **state)
{
  struct ctx x = {.seen = NULL, .fail_at = SIZE_MAX};
  pthread_mutex_init(&x.lock, NULL);
  assert_int_equal(parallel_for(0, 4, &ops, &x, NULL), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_item_once),
      cmocka_unit_test(test_first_error_stops),
      cmocka_unit_test(test_no_items),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
