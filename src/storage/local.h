/* Local VMs: the directories of $TART_HOME/vms. */
#ifndef TART_STORAGE_LOCAL_H
#define TART_STORAGE_LOCAL_H

#include <stdbool.h>
#include <stddef.h>

#include "storage/home.h"
#include "util/error.h"
#include "vmconfig/mac.h"

struct vm_entry {
  char *name; /* as the user types it: local name or remote display form */
  char *path; /* the VM directory (for a tag: the symlink's path) */
};

struct vm_list {
  struct vm_entry *items;
  size_t n;
};

void vm_list_clear(struct vm_list *l);
/* Sort by name (byte order, as upstream's String <). */
void vm_list_sort(struct vm_list *l);
void vm_list_add(struct vm_list *l, char *name, char *path); /* takes ownership */

/* vms/<name>; name must already be validated. */
char *local_vm_path(struct tart_home *h, const char *name);

/* Local VMs sorted by name.  With only_initialized, directories missing one
 * of the VM files are left out (callers that stat the files anyway pass
 * false and filter themselves). */
int local_vm_list(struct tart_home *h, bool only_initialized, struct vm_list *out, tart_error_t *err);

bool local_vm_exists(struct tart_home *h, const char *name);

/* Path of an existing, initialized local VM; bumps its access time.
 * Missing: "the specified VM \"<name>\" does not exist" (exit 2). */
int local_vm_open(struct tart_home *h, const char *name, char **path, tart_error_t *err);

/* Delete a local VM.  Takes the run lock first so that a running VM is
 * refused ("VM \"<name>\" is running", exit 1) and no run can start while the
 * directory goes away. */
int local_vm_delete(struct tart_home *h, const char *name, tart_error_t *err);

/* True if some local VM other than `except` (may be NULL) has this MAC. */
bool local_vm_mac_in_use(struct tart_home *h, const struct mac_addr *mac, const char *except);

/* When a VM gets a new MAC (local_vm_unique_mac). */
enum mac_rule {
  MAC_IF_ANY_HAS_IT,     /* a clone or an import: another local VM has it */
  MAC_IF_RUNNING_HAS_IT, /* a start: another running VM has it */
  MAC_ALWAYS_NEW,        /* vetu's clone: every clone gets a new one */
};

/* Upstream's MAC rule, the one place it lives (docs/upstream.md, "Clone
 * and MAC addresses"): the VM in dir gets a fresh random MAC when `rule`
 * says so.  name is the VM's own name for MAC_IF_RUNNING_HAS_IT (NULL
 * otherwise: the VM is not installed yet).  config.json is rewritten
 * atomically.  Call under the global lock (tart_home_lock).  Returns 1
 * when the MAC was changed, 0 when it was kept, -1 on error. */
int local_vm_unique_mac(struct tart_home *h, const char *dir, const char *name, enum mac_rule rule,
                        tart_error_t *err);

#endif
