/* tart pull: fetch an image into the OCI cache, verified and resumable. */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "oci/pull.h"
#include "oci/reference.h"
#include "storage/local.h"
#include "util/util.h"

const char cmd_pull_help[] =
    "OVERVIEW: Pull a VM from a registry\n"
    "\n"
    "Pulls a virtual machine from a remote OCI-compatible registry into the local\n"
    "cache. Every blob and every disk chunk is verified against its digest; an\n"
    "interrupted pull resumes where it stopped when run again.\n"
    "\n"
    "USAGE: tart pull <remote-name> [--insecure] [--concurrency <n>]\n"
    "\n"
    "ARGUMENTS:\n"
    "  <remote-name>           remote VM name, e.g. ghcr.io/org/image:tag or\n"
    "                          ghcr.io/org/image@sha256:<digest>\n"
    "\n"
    "OPTIONS:\n"
    "  --insecure              connect to the OCI registry via insecure HTTP protocol\n"
    "  --concurrency <n>       network concurrency to use when pulling a remote VM from\n"
    "                          the OCI-compatible registry (default: 4)\n"
    "  -h, --help              Show help information.\n";

int cmd_pull(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err)
{
  enum { OPT_INSECURE = 256, OPT_CONCURRENCY, OPT_DEDUP };
  static const struct option longopts[] = {
      {"insecure", no_argument, NULL, OPT_INSECURE},
      {"concurrency", required_argument, NULL, OPT_CONCURRENCY},
      {"deduplicate", no_argument, NULL, OPT_DEDUP},
      {"help", no_argument, NULL, 'h'},
      {0},
  };
  struct pull_opts o = {.concurrency = 4};
  int c;
  while ((c = args_next(argc, argv, "h", longopts, err)) != -1) {
    uint64_t v;
    switch (c) {
    case -2:
      return -1;
    case 'h':
      return args_help(cmd_pull_help);
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
