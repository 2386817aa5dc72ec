/* An index of the inodes that carry POSIX record locks, read from
 * /proc/locks once, so that `list` asks F_GETLK only for VMs that may be
 * running instead of opening every config.json.  The index is a hint: a
 * match is confirmed with F_GETLK, and without /proc/locks every VM is
 * checked. */
#ifndef TART_STORAGE_PROC_LOCKS_H
#define TART_STORAGE_PROC_LOCKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lock_index {
  bool valid;       /* false: no /proc/locks, check everything */
  uint64_t *inodes; /* sorted */
  size_t n;
};

/* Parse the text of /proc/locks: lines such as
 *   "1: POSIX  ADVISORY  WRITE 1234 fd:01:5678 0 EOF"
 *   "2: OFDLCK ADVISORY  READ  -1 00:1b:42 0 EOF"
 *   "3: -> POSIX  ADVISORY  WRITE 99 fd:01:5678 0 EOF"   (a blocked waiter)
 * and collect the inode of every POSIX lock (waiters and other kinds are
 * ignored).  Malformed lines are skipped.  Pure; always leaves a valid
 * index (possibly empty). */
void lock_index_parse(const char *text, size_t len, struct lock_index *out);

/* Read /proc/locks; on failure the index is marked invalid. */
void lock_index_load(struct lock_index *out);

/* True if ino may be locked (or the index is invalid). */
bool lock_index_maybe_locked(const struct lock_index *idx, uint64_t ino);

void lock_index_clear(struct lock_index *idx);

#endif
