/* tart prune: delete least recently used cached images or VMs (docs/upstream.md, "Pruning"). */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "storage/oci_cache.h"
#include "storage/prune.h"
#include "util/util.h"

const char cmd_prune_help[] =
    "OVERVIEW: Prune OCI caches or local VMs\n"
    "\n"
    "USAGE: tart prune [--entries <entries>] [--older-than <days>] [--space-budget <GB>]\n"
    "                  [--gc]\n"
    "\n"
    "OPTIONS:\n"
    "  --entries <entries>     entries to remove: \"caches\" targets the OCI cache and\n"
    "                          \"vms\" targets local VMs that are not running\n"
    "                          (default: caches)\n"
    "  --older-than <days>     remove entries last accessed at least this many days ago\n"
    "  --space-budget <GB>     remove the least recently used entries that do not fit\n"
    "                          this budget, in gigabytes (1024^3 bytes)\n"
    "  --gc                    remove cached images that no tag refers to\n"
    "  -h, --help              Show help information.\n";

int cmd_prune(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err)
{
  enum { OPT_ENTRIES = 256, OPT_OLDER, OPT_BUDGET, OPT_CACHE_BUDGET, OPT_GC };
  static const struct option longopts[] = {
      {"entries", required_argument, NULL, OPT_ENTRIES},
      {"older-than", required_argument, NULL, OPT_OLDER},
      {"space-budget", required_argument, NULL, OPT_BUDGET},
      {"cache-budget", required_argument, NULL, OPT_CACHE_BUDGET},
      {"gc", no_argument, NULL, OPT_GC},
      {"help", no_argument, NULL, 'h'},
      {0},
  };
  enum prune_entries what = PRUNE_CACHES;
  uint64_t older = 0, budget = 0;
  bool has_older = false, has_budget = false, has_cache_budget = false, gc = false;
  int c;
  while ((c = args_next(argc, argv, "h", longopts, err)) != -1) {
    switch (c) {
    case -2:
      return -1;
    case 'h':
      return args_help(cmd_prune_help);
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
