/* tart delete: local VMs (refused while running) and cached images. */
#include <stddef.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "net/network.h"
#include "storage/local.h"
#include "storage/storage.h"
#include "storage/vmdir.h"
#include "util/util.h"
#include "vmconfig/config.h"

const char cmd_delete_help[] =
    "OVERVIEW: Delete a VM\n"
    "\n"
    "USAGE: tart delete <name> ...\n"
    "\n"
    "ARGUMENTS:\n"
    "  <name>                  VM name (local, or a remote name of a cached image)\n"
    "\n"
    "OPTIONS:\n"
    "  -h, --help              Show help information.\n";

/* The MAC of local VM name, if it is one with a readable config. */
static bool local_vm_mac(struct tart_home *h, const char *name, struct mac_addr *mac)
{
  if (!local_vm_exists(h, name))
    return false;
  _cleanup_free_ char *dir = NULL;
  if (local_vm_open(h, name, &dir, NULL) < 0)
    return false;
  _cleanup_free_ char *p = vm_dir_file(dir, VM_FILE_CONFIG);
  struct vm_config cfg;
  if (vm_config_load(p, &cfg, NULL) < 0)
    return false;
  *mac = cfg.mac;
  vm_config_clear(&cfg);
  return true;
}

int cmd_delete(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err)
{
  int help = args_no_options(argc, argv, cmd_delete_help, err);
  if (help != 0)
    return help < 0 ? -1 : 0;
  if (args_positional(argc, argv, 1, -1, "<name>", err) < 0)
    return -1;
  /* As upstream: names are deleted in order and the first failure stops. */
  for (int i = optind; i < argc; i++) {
    /* A local VM's DHCP lease goes with it (docs/design.md, "Networking model"): normally `run`
     * released it at stop, but not after a crash. */
    struct mac_addr mac;
    bool have_mac = local_vm_mac(&ctx->home, argv[i], &mac);
    if (storage_delete(&ctx->home, argv[i], err) < 0)
      return -1;
    if (have_mac && geteuid() == 0 && !local_vm_mac_in_use(&ctx->home, &mac, argv[i])) {
      _cleanup_free_ char *nd = net_dir();
      net_lease_release(nd, &mac, NULL);
    }
  }
  return 0;
}
