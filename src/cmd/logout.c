/* tart logout: forget the credentials `tart login` stored for a host. */
#include <stddef.h>

#include "cmd/cmd.h"
#include "registry/credentials.h"

const char cmd_logout_help[] = "OVERVIEW: Logout from a registry\n"
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
  int help = args_no_options(argc, argv, cmd_logout_help, err);
  if (help != 0)
    return help < 0 ? -1 : 0;
  if (args_positional(argc, argv, 1, 1, "<host>", err) < 0)
    return -1;
  if (tart_home_lock(&ctx->home, err) < 0)
    return -1;
  int r = credentials_remove(ctx->home.root, argv[optind], err);
  tart_home_unlock(&ctx->home);
  return r;
}
