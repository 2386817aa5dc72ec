/* `tart delete`: a local VM or a cached image goes (storage_delete, which
 * refuses a running VM), and a local VM's DHCP lease on the NAT network
 * with it (docs/design.md, "Networking model"): `tart run` releases it
 * when the VM stops, but not after a crash.  The lease is released only
 * as root (dnsmasq's lease file is root's) and only when no other local
 * VM has the same MAC. */
#ifndef TART_VM_DELETE_H
#define TART_VM_DELETE_H

#include "storage/home.h"
#include "util/error.h"

int vm_delete(struct tart_home *h, const char *name, tart_error_t *err);

#endif
