/* tart pull: fetch an image into the OCI cache, verified and resumable. */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "oci/pull.h"
#include "registry/reference.h"
#include "storage/local.h"
#include "util/util.h"

enum { OPT_INSECURE = CMD_OPT_LONG, OPT_CONCURRENCY, OPT_DEDUP };

static const struct cmd_option pull_options[] = {
    {OPT_INSECURE, 0, "insecure", NULL, "connect to the OCI registry via insecure HTTP protocol"},
    {OPT_CONCURRENCY, 0, "concurrency", "<n>",
     "network concurrency to use when pulling a remote VM from\n"
     "the OCI-compatible registry (default: 4)"},
    /* docs/upstream.md, "Command line and flags": accepted, no effect. */
    {OPT_DEDUP, 0, "deduplicate", NULL,
     "accepted for compatibility; no effect: layers are always\n"
     "reused by digest"},
    {0},
};

const struct cmd_spec cmd_pull_spec = {
    .name = "pull",
    .abstract = "Pull a VM from a registry",
    .discussion = "Pulls a virtual machine from a remote OCI-compatible registry into the local\n"
                  "cache. Every blob and every disk chunk is verified against its digest; an\n"
                  "interrupted pull resumes where it stopped when run again.\n",
    .usage = "tart pull <remote-name> [--insecure] [--concurrency <n>]",
    .arguments = "<remote-name>\tremote VM name, e.g. ghcr.io/org/image:tag or\n"
                 "\tghcr.io/org/image@sha256:<digest>\n",
    .options = pull_options,
};

int cmd_pull(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err)
{
  struct pull_opts o = {.concurrency = 4};
  int c;
  while ((c = cmd_next(argc, argv, &cmd_pull_spec, err)) != -1) {
    uint64_t v;
    switch (c) {
    case -2:
      return -1;
    case 'h':
      return cmd_print_help(&cmd_pull_spec);
    case OPT_INSECURE:
      o.insecure = true;
      break;
    case OPT_CONCURRENCY:
      if (args_u64("--concurrency", optarg, 1, 64, &v, err) < 0)
        return -1;
      o.concurrency = (unsigned)v;
      break;
    default:
      break;
    }
  }
  if (args_positional(argc, argv, 1, 1, "<remote-name>", err) < 0)
    return -1;
  const char *name = argv[optind];

  struct oci_reference ref;
  tart_error_t perr = NULL;
  if (oci_reference_parse(name, &ref, &perr) < 0) {
    if (local_vm_exists(&ctx->home, name)) {
      tart_error_release(&perr);
      printf("\"%s\" is a local image, nothing to pull here!\n", name);
      return 0;
    }
    *err = perr;
    return -1;
  }
  int r = oci_pull(&ctx->home, &ref, name, &o, NULL, err);
  oci_reference_clear(&ref);
  return r;
}
