/* tart stop: ask the guest to power off, then force it (docs/design.md, "Run control"). */
#include <stdio.h>

#include "cmd/cmd.h"
#include "storage/local.h"
#include "util/util.h"
#include "vm/control.h"

const char cmd_stop_help[] =
    "OVERVIEW: Stop a VM\n"
    "\n"
    "Asks the guest to power off (ACPI power button), waits up to --timeout seconds,\n"
    "then stops it hard. A suspended VM's saved state is discarded.\n"
    "\n"
    "USAGE: tart stop <name> [--timeout <seconds>]\n"
    "\n"
    "ARGUMENTS:\n"
    "  <name>                  VM name\n"
    "\n"
    "OPTIONS:\n"
    "  -t, --timeout <seconds> Seconds to wait for the guest to power off; 0 stops it at\n"
    "                          once (default: 30)\n"
    "  -h, --help              Show help information.\n";

int cmd_stop(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err)
{
  static const struct option longopts[] = {
      {"timeout", required_argument, NULL, 't'},
      {"help", no_argument, NULL, 'h'},
      {0},
  };
  uint64_t timeout = 30;
  int c;
  while ((c = args_next(argc, argv, "ht:", longopts, err)) != -1) {
    if (c == -2)
      return -1;
    if (c == 'h')
      return args_help(cmd_stop_help);
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
