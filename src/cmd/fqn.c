/* tart fqn: the digest-pinned name of a cached image; a local name is
 * printed unchanged.  Orchard uses it to pin what it runs. */
#include <stdio.h>
#include <stdlib.h>

#include "cmd/cmd.h"
#include "oci/reference.h"
#include "storage/oci_cache.h"
#include "util/util.h"

const char cmd_fqn_help[] = "OVERVIEW: Get a fully-qualified VM name\n"
                            "\n"
                            "USAGE: tart fqn <name>\n"
                            "\n"
                            "ARGUMENTS:\n"
                            "  <name>                  VM name\n"
                            "\n"
                            "OPTIONS:\n"
                            "  -h, --help              Show help information.\n";

int cmd_fqn(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err)
{
  int help = args_no_options(argc, argv, cmd_fqn_help, err);
  if (help != 0)
    return help < 0 ? -1 : 0;
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
