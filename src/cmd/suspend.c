/* tart suspend: save a running VM's state to state.qemusave and stop it;
 * the next `tart run` restores it.  Works for Linux guests (upstream can
 * only suspend macOS guests). */

#include "cmd/cmd.h"
#include "storage/local.h"
#include "util/util.h"
#include "vm/control.h"

const char cmd_suspend_help[] = "OVERVIEW: Suspend a VM\n"
                                "\n"
                                "USAGE: tart suspend <name>\n"
                                "\n"
                                "ARGUMENTS:\n"
                                "  <name>                  VM name\n"
                                "\n"
                                "OPTIONS:\n"
                                "  -h, --help              Show help information.\n";

int cmd_suspend(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err)
{
  int help = args_no_options(argc, argv, cmd_suspend_help, err);
  if (help != 0)
    return help < 0 ? -1 : 0;
  if (args_positional(argc, argv, 1, 1, "<name>", err) < 0)
    return -1;
  const char *name = argv[optind];
  _cleanup_free_ char *dir = NULL;
  if (local_vm_open(&ctx->home, name, &dir, err) < 0)
    return -1;
  return vm_suspend(dir, name, err);
}
