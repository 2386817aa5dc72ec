/* tart clone: a new local VM from a local VM or a cached image, copying only
 * the data (reflinks where possible, holes kept otherwise), built in tmp/ and
 * moved into place under the global lock (docs/upstream.md, "Clone and MAC addresses"). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "oci/pull.h"
#include "oci/reference.h"
#include "storage/oci_cache.h"
#include "storage/prune.h"
#include "storage/copy.h"
#include "storage/local.h"
#include "storage/name.h"
#include "storage/storage.h"
#include "storage/vmdir.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/util.h"
#include "vmconfig/config.h"

const char cmd_clone_help[] =
    "OVERVIEW: Clone a VM\n"
    "\n"
    "Creates a local virtual machine by cloning either a remote (cached) or another\n"
    "local virtual machine. Only the data of the disk is copied: holes stay holes,\n"
    "and on file systems with reflinks (btrfs, xfs) the copy shares extents.\n"
    "\n"
    "USAGE: tart clone <source-name> <new-name> [--insecure] [--concurrency <n>] [--prune-limit <GB>]\n"
    "\n"
    "ARGUMENTS:\n"
    "  <source-name>           source VM name\n"
    "  <new-name>              new VM name\n"
    "\n"
    "OPTIONS:\n"
    "  --insecure              connect to the OCI registry via insecure HTTP protocol\n"
    "  --concurrency <n>       network concurrency to use when pulling a remote VM from\n"
    "                          the OCI-compatible registry (default: 4)\n"
    "  --prune-limit <GB>      limit automatic pruning to n gigabytes (default: 100)\n"
    "  -h, --help              Show help information.\n";

static const char *const clone_files[] = {VM_FILE_CONFIG, VM_FILE_NVRAM, VM_FILE_DISK, VM_FILE_STATE,
                                          VM_FILE_STATE_DEVICES};

static int copy_vm_files(const char *src, const char *dst, tart_error_t *err)
{
  for (size_t i = 0; i < ARRAY_SIZE(clone_files); i++) {
    _cleanup_free_ char *from = vm_dir_file(src, clone_files[i]);
    _cleanup_free_ char *to = vm_dir_file(dst, clone_files[i]);
    if ((!strcmp(clone_files[i], VM_FILE_STATE) || !strcmp(clone_files[i], VM_FILE_STATE_DEVICES)) &&
        access(from, F_OK) < 0)
      continue; /* only suspended VMs have them */
    struct copy_stats st = {0};
    if (copy_file_sparse(from, to, 0644, &st, err) < 0)
      return -1;
    log_debug("cloned %s with %s (%llu bytes copied)", clone_files[i], copy_method_name(st.method),
              st.bytes_copied);
  }
  return fsync_path(dst, err);
}

int cmd_clone(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err)
{
  enum { OPT_INSECURE = 256, OPT_CONCURRENCY, OPT_PRUNE_LIMIT, OPT_DEDUP };
  static const struct option longopts[] = {
      {"insecure", no_argument, NULL, OPT_INSECURE},
      {"concurrency", required_argument, NULL, OPT_CONCURRENCY},
      {"prune-limit", required_argument, NULL, OPT_PRUNE_LIMIT},
      {"deduplicate", no_argument, NULL, OPT_DEDUP},
      {"help", no_argument, NULL, 'h'},
      {0},
  };
  uint64_t concurrency = 4, prune_limit = 100;
  bool insecure = false;
  int c;
  while ((c = args_next(argc, argv, "h", longopts, err)) != -1) {
    switch (c) {
    case -2:
      return -1;
    case 'h':
      return args_help(cmd_clone_help);
    case OPT_INSECURE:
      insecure = true;
      break;
    case OPT_CONCURRENCY:
      if (args_u64("--concurrency", optarg, 1, 64, &concurrency, err) < 0)
        return -1;
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
  _cleanup_free_ char *dest = local_vm_path(h, new_name);
  if (path_exists(dest))
    return tart_error_kind(err, EEXIST,
                           "cannot clone to \"%s\": a VM with this name already exists (delete it first)",
                           new_name);

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
  /* Room for what copy-on-write has not claimed yet, bounded by
   * --prune-limit (docs/upstream.md, "Pruning"). */
  _cleanup_free_ char *real_src = realpath(src, NULL);
  unsigned long long apparent = vm_dir_size_bytes(src), allocated = vm_dir_allocated_bytes(src);
  uint64_t want = apparent > allocated ? apparent - allocated : 0;
  if (want > prune_limit * (1ULL << 30))
    want = prune_limit * (1ULL << 30);
  if (want > 0 && prune_auto(h, want, real_src, err) < 0)
    return -1;
  enum vm_state src_state = vm_dir_state(src);

  struct tmp_entry t;
  if (tmp_entry_create(h, &t, err) < 0)
    return -1;
  _cleanup_free_ char *cfg_path = vm_dir_file(t.path, VM_FILE_CONFIG);
  /* The copy runs outside the global lock so a long clone never blocks other
   * clones or VM starts; only the MAC decision and the move need it. */
  if (copy_vm_files(src, t.path, err) < 0) {
    tart_error_wrap(err, "cannot clone \"%s\"", source);
    goto fail;
  }
  if (tart_home_lock(h, err) < 0)
    goto fail;

  struct vm_config cfg;
  if (vm_config_load(cfg_path, &cfg, err) < 0)
    goto fail;
  /* Upstream's rule (docs/upstream.md, "Clone and MAC addresses"): a new MAC when any local VM already has
   * this one (so local->local always changes it), unless the source is suspended, whose saved state is tied
   * to its MAC. */
  bool regenerate = src_state != VM_STATE_SUSPENDED && local_vm_mac_in_use(h, &cfg.mac, NULL);
  int r = 0;
  if (regenerate) {
    struct mac_addr mac;
    mac_random(&mac);
    vm_config_set_mac(&cfg, &mac);
    r = vm_config_save(&cfg, cfg_path, err);
    _cleanup_free_ char *state = vm_dir_file(t.path, VM_FILE_STATE);
    _cleanup_free_ char *devices = vm_dir_file(t.path, VM_FILE_STATE_DEVICES);
    if (r == 0 && unlink(state) < 0 && errno != ENOENT)
      r = tart_error_make(err, errno, "cannot remove %s", state);
    unlink(devices);
  }
  vm_config_clear(&cfg);
  if (r < 0)
    goto fail;
  if (rename_noreplace(t.path, dest, err) < 0) {
    if ((*err)->errnum == EEXIST)
      tart_error_kind(err, EEXIST,
                      "cannot clone to \"%s\": a VM with this name already exists (delete it first)",
                      new_name);
    goto fail;
  }
  tart_home_unlock(h);
  tmp_entry_release(&t);
  return 0;

fail:
  tart_home_unlock(h);
  tmp_entry_discard(&t);
  return -1;
}
