/* tart suspend: save a running VM's state to state.qemusave and stop it;
 * the next `tart run` restores it.  Works for Linux guests (upstream can
 * only suspend macOS guests). */

#include "cmd/cmd.h"
#include "storage/local.h"
#include "util/util.h"
#include "vm/control.h"

const struct cmd_spec cmd_suspend_spec = {
    .name = "suspend",
    .abstract = "Suspend a VM",
    .usage = "tart suspend <name>",
    .arguments = "<name>\tVM name\n",
    .vm_arg = CMD_VM_LOCAL,
};

int cmd_suspend(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err)
{
  int c;
  while ((c = cmd_next(argc, argv, &cmd_suspend_spec, err)) != -1) {
    if (c == -2)
      return -1;
    if (c == 'h')
      return cmd_print_help(&cmd_suspend_spec);
  }
  if (args_positional(argc, argv, 1, 1, "<name>", err) < 0)
    return -1;
  const char *name = argv[optind];
  _cleanup_free_ char *dir = NULL;
  if (local_vm_open(&ctx->home, name, &dir, err) < 0)
    return -1;
  return vm_suspend(dir, name, err);
}
