/* $TART_HOME: where everything lives (docs/upstream.md, "Storage layout").
 *
 *   $TART_HOME/vms/<name>/            local VMs
 *   $TART_HOME/cache/OCIs/<host>/...  pulled images
 *   $TART_HOME/tmp/<entry>            work in progress, flock'ed by its owner
 *
 * The global lock is an flock on the $TART_HOME directory itself; it
 * serializes the steps that must see a consistent set of VMs (clone's MAC
 * check and move, import, the start of run). */
#ifndef TART_STORAGE_HOME_H
#define TART_STORAGE_HOME_H

#include <stdbool.h>

#include "util/error.h"

struct tart_home {
  char *root;      /* $TART_HOME */
  char *vms;       /* root/vms */
  char *cache_oci; /* root/cache/OCIs */
  char *tmp;       /* root/tmp */
  int lock_fd;     /* root opened for the global flock, -1 when unlocked */
};

/* Resolve $TART_HOME (default ~/.tart), create it and vms/, cache/OCIs/,
 * tmp/ as needed.  Errors read "TART_HOME is invalid: ...". */
int tart_home_open(struct tart_home *h, tart_error_t *err);
void tart_home_close(struct tart_home *h);

/* Take / drop the global lock (blocking). */
int tart_home_lock(struct tart_home *h, tart_error_t *err);
void tart_home_unlock(struct tart_home *h);

/* Remove every tmp/ entry whose owner no longer holds its flock.  Errors
 * are reported but not fatal to the caller (upstream prints them and goes
 * on). */
int tart_home_gc_tmp(struct tart_home *h, tart_error_t *err);

/* An entry of tmp/: a directory flock'ed by us for as long as we work in it,
 * so that a concurrent tmp GC leaves it alone and a crashed owner's leftovers
 * are collected later. */
struct tmp_entry {
  char *path;
  int fd; /* the directory, holding the flock */
};

/* Create tmp/<UUID> and lock it. */
int tmp_entry_create(struct tart_home *h, struct tmp_entry *t, tart_error_t *err);
/* Create or reuse tmp/<name> (deterministic, e.g. for resumable pulls) and
 * lock it, waiting if another process holds it. */
int tmp_entry_open_named(struct tart_home *h, const char *name, struct tmp_entry *t, tart_error_t *err);
/* Remove the entry's directory (if still there) and drop the lock. */
void tmp_entry_discard(struct tmp_entry *t);
/* Drop the lock without removing (after the directory was moved away). */
void tmp_entry_release(struct tmp_entry *t);

#endif
