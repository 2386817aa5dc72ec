/* tart clone's library half: a new local VM as a copy of a VM directory
 * (a local VM, or a cached image's directory), built in tmp/ and moved
 * into place under the global lock (docs/upstream.md, "Clone and MAC
 * addresses").  The copy keeps holes and uses reflinks where the file
 * system has them (storage/copy.h). */
#ifndef TART_STORAGE_CLONE_H
#define TART_STORAGE_CLONE_H

#include <stdbool.h>
#include <stdint.h>

#include "storage/home.h"
#include "util/error.h"

/* Clone the VM in src (its name or reference as the user gave it, for
 * messages: source) to the local VM new_name (validated by the caller).
 *
 *  - Space: what copy-on-write has not claimed yet is made room for by
 *    automatic pruning, at most prune_limit_gib GiB (docs/upstream.md,
 *    "Pruning"); src itself is never pruned.
 *  - The copy runs outside the global lock, so a long clone blocks no
 *    other clone or start; the MAC decision and the move hold it.
 *  - MAC: a new one when any local VM has this one (local_vm_unique_mac),
 *    or always with new_mac (Vetu's clone), unless src is suspended,
 *    whose saved state is tied to its MAC.
 *  - A running src is refused ("VM ... is running"), as push and export
 *    refuse it: its disk changes under the copy.  With allow_running the
 *    copy is made anyway, crash-consistent at best.  A reading lock on src
 *    holds for the copy, so src cannot start while it is copied.
 *  - new_name existing (before or after the copy): EEXIST, "cannot clone
 *    to ...: a VM with this name already exists (delete it first)".
 * Nothing is left behind on failure. */
/* The EEXIST error above when local VM new_name exists, else 0: callers
 * that must fetch the source first check before they do. */
int local_vm_clone_dest_free(struct tart_home *h, const char *new_name, tart_error_t *err);

struct local_clone_opts {
  uint64_t prune_limit_gib; /* the most automatic pruning may free */
  bool new_mac;             /* always a new MAC (Vetu's clone) */
  bool allow_running;       /* copy a running VM (crash-consistent) instead of refusing */
};

int local_vm_clone(struct tart_home *h, const char *src, const char *source, const char *new_name,
                   const struct local_clone_opts *o, tart_error_t *err);

#endif
