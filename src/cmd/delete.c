/* tart delete: local VMs (refused while running) and cached images. */
#include "cmd/cmd.h"
#include "vm/delete.h"

const struct cmd_spec cmd_delete_spec = {
    .name = "delete",
    .abstract = "Delete a VM",
    .usage = "tart delete <name> ...",
    .arguments = "<name>\tVM name (local, or a remote name of a cached image)\n",
    .vm_arg = CMD_VM_ANY,
};

int cmd_delete(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err)
{
  int c;
  while ((c = cmd_next(argc, argv, &cmd_delete_spec, err)) != -1) {
    if (c == -2)
      return -1;
    if (c == 'h')
      return cmd_print_help(&cmd_delete_spec);
  }
  if (args_positional(argc, argv, 1, -1, "<name>", err) < 0)
    return -1;
  /* As upstream: names are deleted in order and the first failure stops. */
  for (int i = optind; i < argc; i++) {
    if (vm_delete(&ctx->home, argv[i], err) < 0)
      return -1;
  }
  return 0;
}
