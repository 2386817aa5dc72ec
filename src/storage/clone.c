#include "storage/clone.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/copy.h"
#include "storage/local.h"
#include "storage/prune.h"
#include "storage/storage.h"
#include "storage/vmdir.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/util.h"

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

static int exists(const char *new_name, tart_error_t *err)
{
  return tart_error_kind(
      err, EEXIST, "cannot clone to \"%s\": a VM with this name already exists (delete it first)", new_name);
}

int local_vm_clone_dest_free(struct tart_home *h, const char *new_name, tart_error_t *err)
{
  _cleanup_free_ char *dest = local_vm_path(h, new_name);
  return path_exists(dest) ? exists(new_name, err) : 0;
}

int local_vm_clone(struct tart_home *h, const char *src, const char *source, const char *new_name,
                   const struct local_clone_opts *o, tart_error_t *err)
{
  if (local_vm_clone_dest_free(h, new_name, err) < 0)
    return -1;
  _cleanup_free_ char *dest = local_vm_path(h, new_name);
  _cleanup_free_ char *real_src = realpath(src, NULL);
  unsigned long long apparent = vm_dir_size_bytes(src), allocated = vm_dir_allocated_bytes(src);
  uint64_t want = apparent > allocated ? apparent - allocated : 0;
  if (want > o->prune_limit_gib * (1ULL << 30))
    want = o->prune_limit_gib * (1ULL << 30);
  if (want > 0 && prune_auto(h, want, real_src, err) < 0)
    return -1;
  bool suspended = vm_dir_state(src) == VM_STATE_SUSPENDED;
  _cleanup_close_ int read_lock = -1;
  tart_error_t lock_err = NULL;
  if (vm_dir_lock_reading(src, source, &read_lock, &lock_err) < 0) {
    bool running = lock_err->errnum == 0;
    if (!running) {
      *err = lock_err;
      return -1;
    }
    tart_error_release(&lock_err);
    if (!o->allow_running)
      return tart_error_make(err, 0,
                             "VM \"%s\" is running: stop it before cloning it, or clone with --allow-running "
                             "for a crash-consistent copy",
                             source);
    log_info("cloning running VM \"%s\": the copy is crash-consistent", source);
  }

  struct tmp_entry t;
  if (tmp_entry_create(h, &t, err) < 0)
    return -1;
  if (copy_vm_files(src, t.path, err) < 0) {
    tart_error_wrap(err, "cannot clone \"%s\"", source);
    goto fail;
  }
  if (tart_home_lock(h, err) < 0)
    goto fail;
  int r = suspended
              ? 0
              : local_vm_unique_mac(h, t.path, NULL, o->new_mac ? MAC_ALWAYS_NEW : MAC_IF_ANY_HAS_IT, err);
  if (r == 1) {
    /* A state saved with the old MAC cannot come back with the new one. */
    _cleanup_free_ char *state = vm_dir_file(t.path, VM_FILE_STATE);
    _cleanup_free_ char *devices = vm_dir_file(t.path, VM_FILE_STATE_DEVICES);
    if (unlink(state) < 0 && errno != ENOENT)
      r = tart_error_make(err, errno, "cannot remove %s", state);
    unlink(devices);
  }
  if (r < 0)
    goto fail;
  if (rename_noreplace(t.path, dest, err) < 0) {
    if ((*err)->errnum == EEXIST)
      exists(new_name, err);
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
