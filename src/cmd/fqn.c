/* tart fqn: the digest-pinned name of a cached image; a local name is
 * printed unchanged.  Orchard uses it to pin what it runs. */
#include <stdio.h>
#include <stdlib.h>

#include "cmd/cmd.h"
#include "registry/reference.h"
#include "storage/oci_cache.h"
#include "util/util.h"

const struct cmd_spec cmd_fqn_spec = {
    .name = "fqn",
    .abstract = "Get a fully-qualified VM name",
    .usage = "tart fqn <name>",
    .arguments = "<name>\tVM name\n",
    .vm_arg = CMD_VM_ANY,
};

int cmd_fqn(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err)
{
  int c;
  while ((c = cmd_next(argc, argv, &cmd_fqn_spec, err)) != -1) {
    if (c == -2)
      return -1;
    if (c == 'h')
      return cmd_print_help(&cmd_fqn_spec);
  }
  if (args_positional(argc, argv, 1, 1, "<name>", err) < 0)
    return -1;
  const char *name = argv[optind];
  struct oci_reference ref;
  if (oci_reference_parse(name, &ref, NULL) < 0) {
    printf("%s\n", name);
    return 0;
  }
  char *digest = NULL;
  int r = oci_cache_digest(&ctx->home, &ref, name, &digest, err);
  if (r == 0) {
    free(ref.tag);
    ref.tag = NULL;
    free(ref.digest);
    ref.digest = digest;
    _cleanup_free_ char *s = oci_reference_format(&ref);
    printf("%s\n", s);
  }
  oci_reference_clear(&ref);
  return r;
}
