/* tart import: a .tvm archive (OCI image-layout tar) as a new local VM. */
#include <stddef.h>

#include "cmd/cmd.h"
#include "oci/layout.h"

const char cmd_import_help[] =
    "OVERVIEW: Import VM from a compressed .tvm file\n"
    "\n"
    "USAGE: tart import <path> <name>\n"
    "\n"
    "ARGUMENTS:\n"
    "  <path>                  Path to a file created with \"tart export\" (or any OCI\n"
    "                          image-layout tar of a Tart VM).\n"
    "  <name>                  Destination VM name.\n"
    "\n"
    "OPTIONS:\n"
    "  -h, --help              Show help information.\n";

int cmd_import(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err)
{
  int help = args_no_options(argc, argv, cmd_import_help, err);
  if (help != 0)
    return help < 0 ? -1 : 0;
  if (args_positional(argc, argv, 2, 2, "<path> <name>", err) < 0)
    return -1;
  return oci_import(&ctx->home, argv[optind], argv[optind + 1], err);
}
