/* tart prune: delete least recently used cached images or VMs (docs/upstream.md, "Pruning"). */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "storage/oci_cache.h"
#include "storage/prune.h"
#include "util/util.h"

enum { OPT_ENTRIES = CMD_OPT_LONG, OPT_OLDER, OPT_BUDGET, OPT_CACHE_BUDGET, OPT_GC };

static const struct cmd_option prune_options[] = {
    {OPT_ENTRIES, 0, "entries", "<entries>",
     "entries to remove: \"caches\" targets the OCI cache and\n"
     "\"vms\" targets local VMs that are not running\n"
     "(default: caches)"},
    {OPT_OLDER, 0, "older-than", "<days>", "remove entries last accessed at least this many days ago"},
    {OPT_BUDGET, 0, "space-budget", "<GB>",
     "remove the least recently used entries that do not fit\n"
     "this budget, in gigabytes (1024^3 bytes)"},
    /* Upstream's hidden, deprecated spelling of --space-budget (docs/upstream.md,
     * "Command line and flags"): accepted with a warning, not shown. */
    {OPT_CACHE_BUDGET, 0, "cache-budget", "<GB>", NULL},
    {OPT_GC, 0, "gc", NULL, "remove cached images that no tag refers to"},
    {0},
};

const struct cmd_spec cmd_prune_spec = {
    .name = "prune",
    .abstract = "Prune OCI caches or local VMs",
    .usage = "tart prune [--entries <entries>] [--older-than <days>] [--space-budget <GB>]\n"
             "                  [--gc]",
    .options = prune_options,
};

int cmd_prune(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err)
{
  enum prune_entries what = PRUNE_CACHES;
  uint64_t older = 0, budget = 0;
  bool has_older = false, has_budget = false, has_cache_budget = false, gc = false;
  int c;
  while ((c = cmd_next(argc, argv, &cmd_prune_spec, err)) != -1) {
    switch (c) {
    case -2:
      return -1;
    case 'h':
      return cmd_print_help(&cmd_prune_spec);
    case OPT_ENTRIES:
      if (!strcmp(optarg, "caches"))
        what = PRUNE_CACHES;
      else if (!strcmp(optarg, "vms"))
        what = PRUNE_VMS;
      else
        return args_usage_error(argv, err, "invalid value for --entries: \"%s\" (use caches or vms)", optarg);
      break;
    case OPT_OLDER:
      if (args_u64("--older-than", optarg, 0, 1000000, &older, err) < 0)
        return -1;
      has_older = true;
      break;
    case OPT_CACHE_BUDGET:
      fprintf(stderr, "tart: warning: --cache-budget is deprecated, use --space-budget\n");
      has_cache_budget = true;
      /* fall through */
    case OPT_BUDGET:
      if (has_budget)
        return args_usage_error(argv, err, "--cache-budget and --space-budget cannot be used together");
      if (args_u64(c == OPT_BUDGET ? "--space-budget" : "--cache-budget", optarg, 0, 1ULL << 33, &budget,
                   err) < 0)
        return -1;
      has_budget = true;
      break;
    case OPT_GC:
      gc = true;
      break;
    }
  }
  (void)has_cache_budget;
  if (args_positional(argc, argv, 0, 0, "", err) < 0)
    return -1;
  if (!has_older && !has_budget && !gc)
    return args_usage_error(argv, err, "at least one pruning criteria must be specified");
  struct tart_home *h = &ctx->home;
  if (gc && oci_cache_gc(h, err) < 0)
    return -1;
  if (has_older && prune_older_than(h, what, older, err) < 0)
    return -1;
  if (has_budget && prune_space_budget(h, what, budget << 30, err) < 0)
    return -1;
  return 0;
}
