#include "vm/delete.h"

#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "net/network.h"
#include "storage/local.h"
#include "storage/storage.h"
#include "storage/vmdir.h"
#include "util/util.h"
#include "vmconfig/mac.h"

/* The MAC of local VM name, when it is one. */
static bool local_mac(struct tart_home *h, const char *name, struct mac_addr *mac)
{
  _cleanup_free_ char *dir = NULL;
  if (!local_vm_exists(h, name) || local_vm_open(h, name, &dir, NULL) < 0)
    return false;
  return vm_dir_mac(dir, mac, NULL) == 0;
}

int vm_delete(struct tart_home *h, const char *name, tart_error_t *err)
{
  struct mac_addr mac;
  bool have_mac = local_mac(h, name, &mac);
  if (storage_delete(h, name, err) < 0)
    return -1;
  if (have_mac && geteuid() == 0 && !local_vm_mac_in_use(h, &mac, name)) {
    _cleanup_free_ char *nd = net_dir();
    net_lease_release(nd, &mac, NULL);
  }
  return 0;
}
