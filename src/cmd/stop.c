/* tart stop: ask the guest to power off, then force it (docs/design.md, "Run control"). */
#include <stdio.h>

#include "cmd/cmd.h"
#include "cmd/options.h"
#include "storage/local.h"
#include "util/util.h"
#include "vm/control.h"

static const struct cmd_option stop_options[] = {
    {'t', 't', "timeout", "<seconds>",
     "Seconds to wait for the guest to power off; 0 stops it at\n"
     "once (default: 30)"},
    {0},
};

const struct cmd_spec cmd_stop_spec = {
    .name = "stop",
    .abstract = "Stop a VM",
    .discussion = "Asks the guest to power off (ACPI power button), waits up to --timeout seconds,\n"
                  "then stops it hard. A suspended VM's saved state is discarded.\n",
    .usage = "tart stop <name> [--timeout <seconds>]",
    .arguments = "<name>\tVM name\n",
    .options = stop_options,
    .vm_arg = CMD_VM_LOCAL,
};

int cmd_stop(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err)
{
  uint64_t timeout = 30;
  int c;
  while ((c = cmd_next(argc, argv, &cmd_stop_spec, err)) != -1) {
    if (c == -2)
      return -1;
    if (c == 'h')
      return cmd_print_help(&cmd_stop_spec);
    if (c == 't' && args_u64("--timeout", optarg, 0, 86400, &timeout, err) < 0)
      return -1;
  }
  if (args_positional(argc, argv, 1, 1, "<name>", err) < 0)
    return -1;
  const char *name = argv[optind];
  _cleanup_free_ char *dir = NULL;
  if (local_vm_open(&ctx->home, name, &dir, err) < 0)
    return -1;

  return vm_stop(dir, name, timeout, err);
}
