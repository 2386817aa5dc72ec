/* Pruning (docs/upstream.md, "Pruning"): making room by deleting least recently used images.
 *
 * Prunable "caches" are the digest directories of the OCI cache (tags are
 * only links; dangling ones are collected afterwards).  Prunable "vms" are
 * local VMs that are not running.  Age is the directory's access time. */
#ifndef TART_STORAGE_PRUNE_H
#define TART_STORAGE_PRUNE_H

#include <stdint.h>

#include "storage/home.h"
#include "util/error.h"

enum prune_entries { PRUNE_CACHES, PRUNE_VMS };

/* Before pull and clone: unless TART_NO_AUTO_PRUNE is set (any value), if
 * the volume holding cache/ has fewer than `required` bytes available
 * (statvfs f_bavail), delete cache entries oldest first until enough is
 * reclaimed.  When even deleting all of them would not be enough, nothing is
 * deleted.  `initiator` (a real path, may be NULL) is never deleted. */
int prune_auto(struct tart_home *h, uint64_t required, const char *initiator, tart_error_t *err);

/* tart prune --older-than: delete entries last accessed at or before
 * now - days. */
int prune_older_than(struct tart_home *h, enum prune_entries what, uint64_t days, tart_error_t *err);

/* tart prune --space-budget: newest first, keep each entry that still fits
 * in the remaining budget (bytes), delete the rest. */
int prune_space_budget(struct tart_home *h, enum prune_entries what, uint64_t budget, tart_error_t *err);

#endif
