/* tart import: a .tvm archive (OCI image-layout tar) as a new local VM. */
#include <stddef.h>

#include "cmd/cmd.h"
#include "oci/layout.h"

const struct cmd_spec cmd_import_spec = {
    .name = "import",
    .abstract = "Import VM from a compressed .tvm file",
    .usage = "tart import <path> <name>",
    .arguments = "<path>\tPath to a file created with \"tart export\" (or any OCI\n"
                 "\timage-layout tar of a Tart VM).\n"
                 "<name>\tDestination VM name.\n",
};

int cmd_import(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err)
{
  int c;
  while ((c = cmd_next(argc, argv, &cmd_import_spec, err)) != -1) {
    if (c == -2)
      return -1;
    if (c == 'h')
      return cmd_print_help(&cmd_import_spec);
  }
  if (args_positional(argc, argv, 2, 2, "<path> <name>", err) < 0)
    return -1;
  return oci_import(&ctx->home, argv[optind], argv[optind + 1], err);
}
