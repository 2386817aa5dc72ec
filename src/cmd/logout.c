/* tart logout: forget the credentials `tart login` stored for a host. */
#include <stddef.h>

#include "cmd/cmd.h"
#include "registry/credentials.h"

const char cmd_logout_help[] =
    "OVERVIEW: Logout from a registry\n"
    "\n"
    "USAGE: tart logout <host>\n"
    "\n"
    "ARGUMENTS:\n"
    "  <host>                  host[:port] of the registry\n"
    "\n"
    "OPTIONS:\n"
    "  -h, --help              Show help information.\n";

int cmd_logout(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err)
{
  static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {0}};
  int c;
  while ((c = args_next(argc, argv, "h", longopts, err)) != -1) {
    if (c == -2)
      return -1;
    if (c == 'h')
      return args_help(cmd_logout_help);
  }
  if (args_positional(argc, argv, 1, 1, "<host>", err) < 0)
    return -1;
  if (tart_home_lock(&ctx->home, err) < 0)
    return -1;
  int r = credentials_remove(ctx->home.root, argv[optind], err);
  tart_home_unlock(&ctx->home);
  return r;
}
