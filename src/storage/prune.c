#include "storage/prune.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "storage/local.h"
#include "storage/oci_cache.h"
#include "storage/vmdir.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/util.h"

struct prunable {
  char *name;
  char *path; /* real path */
  time_t accessed;
  uint64_t size; /* allocated bytes */
};

struct prunables {
  struct prunable *items;
  size_t n;
};

static void prunables_clear(struct prunables *p)
{
  for (size_t i = 0; i < p->n; i++) {
    free(p->items[i].name);
    free(p->items[i].path);
  }
  free(p->items);
  p->items = NULL;
  p->n = 0;
}

static int collect(struct tart_home *h, enum prune_entries what, struct prunables *out, tart_error_t *err)
{
  struct vm_list l;
  memset(out, 0, sizeof(*out));
  if (what == PRUNE_CACHES ? oci_cache_list(h, false, &l, err) < 0 : local_vm_list(h, true, &l, err) < 0)
    return -1;
  for (size_t i = 0; i < l.n; i++) {
    /* Caches: digest directories only; a tag is just a name for one. */
    if (what == PRUNE_CACHES && strchr(l.items[i].name, '@') == NULL)
      continue;
    struct vm_dir_info info;
    vm_dir_info(l.items[i].path, NULL, &info);
    if (what == PRUNE_VMS && info.state == VM_STATE_RUNNING)
      continue;
    char *real = realpath(l.items[i].path, NULL);
    if (real == NULL)
      continue;
    out->items = xrealloc(out->items, (out->n + 1) * sizeof(*out->items));
    out->items[out->n++] = (struct prunable){.name = xstrdup(l.items[i].name),
                                             .path = real,
                                             .accessed = info.accessed.tv_sec,
                                             .size = info.allocated};
  }
  vm_list_clear(&l);
  return 0;
}

static int by_age_oldest_first(const void *a, const void *b)
{
  const struct prunable *x = a, *y = b;
  return x->accessed < y->accessed ? -1 : x->accessed > y->accessed;
}

static int remove_one(struct tart_home *h, enum prune_entries what, const struct prunable *p,
                      tart_error_t *err)
{
  log_info("pruning %s (%llu bytes)", p->name, (unsigned long long)p->size);
  if (what == PRUNE_VMS)
    return local_vm_delete(h, p->name, err);
  return rm_rf(p->path, err);
}

static int finish(struct tart_home *h, enum prune_entries what, tart_error_t *err)
{
  return what == PRUNE_CACHES ? oci_cache_gc(h, err) : 0;
}

int prune_auto(struct tart_home *h, uint64_t required, const char *initiator, tart_error_t *err)
{
  if (getenv("TART_NO_AUTO_PRUNE") != NULL)
    return 0;
  struct statvfs sv;
  if (statvfs(h->cache_oci, &sv) < 0)
    return 0; /* cannot tell: leave the cache alone */
  uint64_t avail = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
  if (avail == 0 || required < avail)
    return 0;
  uint64_t need = required - avail;

  struct prunables p;
  if (collect(h, PRUNE_CACHES, &p, err) < 0)
    return -1;
  qsort(p.items, p.n, sizeof(*p.items), by_age_oldest_first);
  uint64_t total = 0;
  for (size_t i = 0; i < p.n; i++)
    if (initiator == NULL || strcmp(p.items[i].path, initiator) != 0)
      total += p.items[i].size;
  int ret = 0;
  if (total >= need) {
    uint64_t reclaimed = 0;
    for (size_t i = 0; i < p.n && reclaimed <= need; i++) {
      if (initiator != NULL && !strcmp(p.items[i].path, initiator))
        continue;
      if (remove_one(h, PRUNE_CACHES, &p.items[i], err) < 0) {
        ret = -1;
        break;
      }
      reclaimed += p.items[i].size;
    }
    if (ret == 0)
      ret = finish(h, PRUNE_CACHES, err);
  } else {
    log_info("auto-prune: %llu bytes needed but the cache holds only %llu; leaving it",
             (unsigned long long)need, (unsigned long long)total);
  }
  prunables_clear(&p);
  return ret;
}

int prune_older_than(struct tart_home *h, enum prune_entries what, uint64_t days, tart_error_t *err)
{
  struct prunables p;
  if (collect(h, what, &p, err) < 0)
    return -1;
  time_t limit = time(NULL) - (time_t)(days * 86400);
  int ret = 0;
  for (size_t i = 0; i < p.n && ret == 0; i++)
    if (p.items[i].accessed <= limit)
      ret = remove_one(h, what, &p.items[i], err);
  prunables_clear(&p);
  return ret < 0 ? -1 : finish(h, what, err);
}

int prune_space_budget(struct tart_home *h, enum prune_entries what, uint64_t budget, tart_error_t *err)
{
  struct prunables p;
  if (collect(h, what, &p, err) < 0)
    return -1;
  qsort(p.items, p.n, sizeof(*p.items), by_age_oldest_first);
  int ret = 0;
  /* Newest first: greedy, so a later small entry can still fit. */
  for (size_t k = p.n; k-- > 0 && ret == 0;) {
    if (p.items[k].size <= budget)
      budget -= p.items[k].size;
    else
      ret = remove_one(h, what, &p.items[k], err);
  }
  prunables_clear(&p);
  return ret < 0 ? -1 : finish(h, what, err);
}
