/* Name-based access to any VM, local or cached from a registry: a name that
 * parses as a remote reference (docs/upstream.md, "References and names") is looked up in the OCI cache,
 * anything else in vms/. */
#ifndef TART_STORAGE_STORAGE_H
#define TART_STORAGE_STORAGE_H

#include <stdbool.h>

#include "storage/home.h"
#include "util/error.h"

/* Directory of the VM called name; bumps its access time.  *remote tells
 * which storage it came from (may be NULL). */
int storage_open(struct tart_home *h, const char *name, char **path, bool *remote, tart_error_t *err);

/* Delete a local VM (refused while running) or a cache entry (then GC). */
int storage_delete(struct tart_home *h, const char *name, tart_error_t *err);

#endif
