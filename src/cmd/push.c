/* tart push: upload a VM (or re-tag a cached image) to registry tags. */
#include <jansson.h>
#include <string.h>

#include "cmd/cmd.h"
#include "oci/push.h"
#include "util/util.h"

enum { OPT_INSECURE = CMD_OPT_LONG, OPT_CONCURRENCY, OPT_CHUNK, OPT_LABEL, OPT_POPULATE };

static const struct cmd_option push_options[] = {
    {OPT_INSECURE, 0, "insecure", NULL, "connect to the OCI registry via insecure HTTP protocol"},
    {OPT_CONCURRENCY, 0, "concurrency", "<n>",
     "network concurrency to use when pushing a local VM to the\n"
     "OCI-compatible registry (default: 4)"},
    {OPT_CHUNK, 0, "chunk-size", "<MB>",
     "upload blobs in chunks of this many megabytes (10^6\n"
     "bytes); 0 uploads each blob in one request (default: 0).\n"
     "ECR needs more than 5 MB, GHCR less than 4 MB; GCR does\n"
     "not support chunked uploads."},
    {OPT_LABEL, 0, "label", "<key=value>",
     "additional metadata to attach to the OCI image\n"
     "configuration (repeatable)"},
    {OPT_POPULATE, 0, "populate-cache", NULL, "cache pushed images locally, as if pulled"},
    {0},
};

const struct cmd_spec cmd_push_spec = {
    .name = "push",
    .abstract = "Push a VM to a registry",
    .usage = "tart push <local-or-remote-name> <remote-name> ... [--insecure]\n"
             "                 [--concurrency <n>] [--chunk-size <MB>] [--label <key=value> ...]\n"
             "                 [--populate-cache]",
    .arguments = "<local-or-remote-name>\tlocal or remote (cached) VM name\n"
                 "<remote-name>\tremote VM name(s), e.g. ghcr.io/org/image:tag\n",
    .options = push_options,
    .vm_arg = CMD_VM_ANY,
};

int cmd_push(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err)
{
  struct push_opts o = {.concurrency = 4};
  json_t *labels = json_object();
  int ret = -1, c;
  while ((c = cmd_next(argc, argv, &cmd_push_spec, err)) != -1) {
    uint64_t v;
    switch (c) {
    case -2:
      goto out;
    case 'h':
      ret = cmd_print_help(&cmd_push_spec);
      goto out;
    case OPT_INSECURE:
      o.insecure = true;
      break;
    case OPT_CONCURRENCY:
      if (args_u64("--concurrency", optarg, 1, 64, &v, err) < 0)
        goto out;
      o.concurrency = (unsigned)v;
      break;
    case OPT_CHUNK:
      if (args_u64("--chunk-size", optarg, 0, 1000000, &v, err) < 0)
        goto out;
      o.chunk_size = v * 1000000ULL;
      break;
    case OPT_LABEL: {
      const char *eq = strchr(optarg, '=');
      if (eq == NULL) {
        args_usage_error(argv, err, "invalid value for --label: \"%s\" (use key=value)", optarg);
        goto out;
      }
      /* As upstream: an empty key is ignored, an empty value allowed. */
      if (eq != optarg) {
        _cleanup_free_ char *key = strndup(optarg, (size_t)(eq - optarg));
        json_object_set_new(labels, key, json_string(eq + 1));
      }
      break;
    }
    case OPT_POPULATE:
      o.populate_cache = true;
      break;
    }
  }
  if (args_positional(argc, argv, 2, -1, "<local-or-remote-name> <remote-name>", err) < 0)
    goto out;
  o.labels = labels;
  ret = oci_push(&ctx->home, argv[optind], argv + optind + 1, (size_t)(argc - optind - 1), &o, err);
out:
  json_decref(labels);
  return ret;
}
