/* tart delete: local VMs (refused while running) and cached images. */
#include <stddef.h>

#include "cmd/cmd.h"
#include "storage/storage.h"

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

int cmd_delete(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err)
{
  int help = args_no_options(argc, argv, cmd_delete_help, err);
  if (help != 0)
    return help < 0 ? -1 : 0;
  if (args_positional(argc, argv, 1, -1, "<name>", err) < 0)
    return -1;
  /* As upstream: names are deleted in order and the first failure stops. */
  for (int i = optind; i < argc; i++)
    if (storage_delete(&ctx->home, argv[i], err) < 0)
      return -1;
  return 0;
}
