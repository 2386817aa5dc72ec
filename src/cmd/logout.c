/* tart logout: forget the credentials `tart login` stored for a host. */
#include <stddef.h>

#include "cmd/cmd.h"
#include "registry/credentials.h"

const struct cmd_spec cmd_logout_spec = {
    .name = "logout",
    .abstract = "Logout from a registry",
    .usage = "tart logout <host>",
    .arguments = "<host>\thost[:port] of the registry\n",
};

int cmd_logout(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err)
{
  int c;
  while ((c = cmd_next(argc, argv, &cmd_logout_spec, err)) != -1) {
    if (c == -2)
      return -1;
    if (c == 'h')
      return cmd_print_help(&cmd_logout_spec);
  }
  if (args_positional(argc, argv, 1, 1, "<host>", err) < 0)
    return -1;
  if (tart_home_lock(&ctx->home, err) < 0)
    return -1;
  int r = credentials_remove(ctx->home.root, argv[optind], err);
  tart_home_unlock(&ctx->home);
  return r;
}
