/* tart clone: a new local VM from a local VM or a cached image, copying only
 * the data (reflinks where possible, holes kept otherwise), built in tmp/ and
 * moved into place under the global lock (docs/upstream.md, "Clone and MAC addresses"). */
#include <string.h>

#include "cmd/cmd.h"
#include "oci/pull.h"
#include "registry/reference.h"
#include "storage/clone.h"
#include "storage/local.h"
#include "storage/name.h"
#include "storage/oci_cache.h"
#include "util/personality.h"
#include "util/util.h"

enum { OPT_INSECURE = CMD_OPT_LONG, OPT_CONCURRENCY, OPT_PRUNE_LIMIT, OPT_DEDUP, OPT_ALLOW_RUNNING };

static const struct cmd_option clone_options[] = {
    {OPT_INSECURE, 0, "insecure", NULL, "connect to the OCI registry via insecure HTTP protocol"},
    {OPT_CONCURRENCY, 0, "concurrency", "<n>",
     "network concurrency to use when pulling a remote VM from\n"
     "the OCI-compatible registry (default: 4)"},
    {OPT_PRUNE_LIMIT, 0, "prune-limit", "<GB>", "limit automatic pruning to n gigabytes (default: 100)"},
    /* docs/upstream.md, "Command line and flags": accepted, no effect. */
    {OPT_DEDUP, 0, "deduplicate", NULL,
     "accepted for compatibility; no effect: layers are always\n"
     "reused by digest"},
    {OPT_ALLOW_RUNNING, 0, "allow-running", NULL,
     "clone a running local VM anyway: its disk changes during\n"
     "the copy, which is then crash-consistent at best (as after\n"
     "a power loss)"},
    {0},
};

const struct cmd_spec cmd_clone_spec = {
    .name = "clone",
    .abstract = "Clone a VM",
    .discussion = "Creates a local virtual machine by cloning either a remote (cached) or another\n"
                  "local virtual machine. Only the data of the disk is copied: holes stay holes,\n"
                  "and on file systems with reflinks (btrfs, xfs) the copy shares extents.\n",
    .usage = "tart clone <source-name> <new-name> [--insecure] [--concurrency <n>] [--prune-limit <GB>]\n"
             "                                      [--allow-running]",
    .arguments = "<source-name>\tsource VM name\n"
                 "<new-name>\tnew VM name\n",
    .options = clone_options,
    .vm_arg = CMD_VM_ANY,
};

int cmd_clone(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err)
{
  uint64_t concurrency = 4, prune_limit = 100;
  bool insecure = false, allow_running = false;
  int c;
  while ((c = cmd_next(argc, argv, &cmd_clone_spec, err)) != -1) {
    switch (c) {
    case -2:
      return -1;
    case 'h':
      return cmd_print_help(&cmd_clone_spec);
    case OPT_INSECURE:
      insecure = true;
      break;
    case OPT_CONCURRENCY:
      if (args_u64("--concurrency", optarg, 1, 64, &concurrency, err) < 0)
        return -1;
      break;
    case OPT_ALLOW_RUNNING:
      allow_running = true;
      break;
    case OPT_PRUNE_LIMIT:
      if (args_u64("--prune-limit", optarg, 0, UINT64_MAX / (1ULL << 30), &prune_limit, err) < 0)
        return -1;
      break;
    default:
      break;
    }
  }
  if (args_positional(argc, argv, 2, 2, "<source-name> <new-name>", err) < 0)
    return -1;
  const char *source = argv[optind], *new_name = argv[optind + 1];
  if (strchr(new_name, '/') != NULL)
    return args_usage_error(argv, err, "<new-name> should be a local name");
  if (vm_name_validate_local(new_name, err) < 0)
    return -1;

  struct tart_home *h = &ctx->home;
  if (local_vm_clone_dest_free(h, new_name, err) < 0)
    return -1; /* before a pull that would be for nothing */
  _cleanup_free_ char *src = NULL;
  struct oci_reference ref;
  if (oci_reference_parse(source, &ref, NULL) == 0) {
    /* A remote source is pulled first unless it is cached (docs/upstream.md, "Clone and MAC addresses"). */
    struct pull_opts po = {.insecure = insecure, .concurrency = (unsigned)concurrency};
    int r = oci_cache_open(h, &ref, source, &src, NULL);
    if (r < 0)
      r = oci_pull(h, &ref, source, &po, &src, err);
    oci_reference_clear(&ref);
    if (r < 0)
      return -1;
  } else if (local_vm_open(h, source, &src, err) < 0) {
    return -1;
  }
  struct local_clone_opts co = {.prune_limit_gib = prune_limit,
                                .new_mac = personality()->clone_new_mac,
                                .allow_running = allow_running};
  return local_vm_clone(h, src, source, new_name, &co, err);
}
