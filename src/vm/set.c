/* vm_set (vm/set.h): `tart set`'s changes, checked first, then made. */
#include "vm/set.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/copy.h"
#include "storage/local.h"
#include "storage/vmdir.h"
#include "util/fs.h"
#include "util/util.h"

#define GB  1000000000ULL
#define MIB (1024ULL * 1024ULL)
/* Virtualization.framework's floor, kept so configs stay portable. */
#define MIN_MEMORY (128ULL * MIB)

static void human_bytes(unsigned long long b, char *out, size_t n)
{
  if (b % GB == 0)
    snprintf(out, n, "%llu GB", b / GB);
  else
    snprintf(out, n, "%.2f GB", (double)b / (double)GB);
}

static int replace_disk(struct tart_home *h, const char *vm, const char *from, tart_error_t *err)
{
  char uuid[37];
  uuid_random(uuid);
  /* A plain file in tmp/ (as upstream's set-disk-<UUID>) locked while we
   * work, so tmp GC leaves it alone and reaps it after a crash. */
  _cleanup_free_ char *tmp = xasprintf("%s/set-disk-%s", h->tmp, uuid);
  _cleanup_free_ char *disk = vm_dir_file(vm, VM_FILE_DISK);
  struct stat st;
  if (stat(from, &st) < 0)
    return tart_error_make(err, errno, "cannot read --disk %s", from);
  if (!S_ISREG(st.st_mode))
    return tart_error_make(err, 0, "--disk %s is not a regular file", from);

  _cleanup_close_ int src = open(from, O_RDONLY | O_CLOEXEC);
  if (src < 0)
    return tart_error_make(err, errno, "cannot open %s", from);
  _cleanup_close_ int dst = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (dst < 0)
    return tart_error_make(err, errno, "cannot create %s", tmp);
  if (lock_flock(dst, true, false, err) != 0 || copy_fd_sparse(src, dst, NULL, err) < 0 ||
      rename(tmp, disk) < 0) {
    int e = errno;
    unlink(tmp);
    if (err && *err)
      return tart_error_wrap(err, "cannot replace the disk");
    return tart_error_make(err, e, "cannot replace %s", disk);
  }
  return fsync_parent(disk, err);
}

static int check_shrink(unsigned long long cur, uint64_t size_gb, tart_error_t *err)
{
  unsigned long long want = size_gb * GB;
  if (want >= cur)
    return 0;
  char a[32], b[32];
  human_bytes(want, a, sizeof(a));
  human_bytes(cur, b, sizeof(b));
  return tart_error_make(err, 0, "new disk size of %s should be larger than the current disk size of %s", a,
                         b);
}

static int grow_disk(const char *vm, uint64_t size_gb, tart_error_t *err)
{
  _cleanup_free_ char *disk = vm_dir_file(vm, VM_FILE_DISK);
  _cleanup_close_ int fd = open(disk, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return tart_error_make(err, errno, "cannot open %s", disk);
  struct stat st;
  if (fstat(fd, &st) < 0)
    return tart_error_make(err, errno, "cannot stat %s", disk);
  unsigned long long cur = (unsigned long long)st.st_size, want = size_gb * GB;
  if (check_shrink(cur, size_gb, err) < 0)
    return -1;
  if (want > cur && (ftruncate(fd, (off_t)want) < 0 || fsync(fd) < 0))
    return tart_error_make(err, errno, "cannot resize %s", disk);
  return 0;
}

int vm_set(struct tart_home *h, const char *name, const struct vm_set_opts *o, tart_error_t *err)
{
  _cleanup_free_ char *vm = NULL;
  if (local_vm_open(h, name, &vm, err) < 0)
    return -1;
  /* The run lock lives on config.json's inode, and every change here
   * replaces that file atomically: a running VM would look stopped
   * afterwards.  Its settings only matter at the next start anyway. */
  _cleanup_close_ int lock_fd = -1;
  if (vm_dir_lock_running(vm, name, &lock_fd, err) < 0) {
    if (vm_dir_running_pid(vm) != 0)
      return tart_error_make(err, 0, "VM \"%s\" is running: stop it before changing its configuration", name);
    return -1;
  }

  /* Refuse a shrink before changing anything, so a failed `set` leaves the
   * VM exactly as it was. */
  if (o->disk_size_gb != 0) {
    _cleanup_free_ char *cur_disk = o->disk ? xstrdup(o->disk) : vm_dir_file(vm, VM_FILE_DISK);
    if (check_shrink(file_apparent_bytes(cur_disk), o->disk_size_gb, err) < 0)
      return -1;
  }

  _cleanup_free_ char *cfg_path = vm_dir_file(vm, VM_FILE_CONFIG);
  struct vm_config cfg;
  if (vm_dir_config(vm, &cfg, err) < 0)
    return -1;
  int r = 0;
  if (o->cpu && cfg.os == VM_OS_DARWIN && (int64_t)o->cpu < cfg.cpu_count_min)
    r = tart_error_make(err, 0, "VM should have %lld CPU cores at minimum (requested %llu)",
                        (long long)cfg.cpu_count_min, (unsigned long long)o->cpu);
  uint64_t mem_bytes = o->memory_mib * MIB;
  if (r == 0 && o->memory_mib && cfg.os == VM_OS_DARWIN && mem_bytes < cfg.memory_size_min)
    r = tart_error_make(err, 0, "VM should have %llu bytes of memory at minimum (requested %llu)",
                        (unsigned long long)cfg.memory_size_min, (unsigned long long)mem_bytes);
  if (r == 0 && o->memory_mib && mem_bytes < MIN_MEMORY)
    r = tart_error_make(err, 0, "VM should have %llu bytes of memory at minimum (requested %llu)",
                        (unsigned long long)MIN_MEMORY, (unsigned long long)mem_bytes);
  if (r == 0) {
    if (o->cpu)
      vm_config_set_cpu(&cfg, (int64_t)o->cpu);
    if (o->memory_mib)
      vm_config_set_memory(&cfg, mem_bytes);
    if (o->display)
      vm_config_set_display(&cfg, o->display_width, o->display_height, o->display_unit);
    /* Unlike upstream, leave displayRefit alone unless asked: resetting it
     * on every `set` is a known upstream quirk nobody relies on. */
    if (o->refit != VM_REFIT_UNSET)
      vm_config_set_display_refit(&cfg, o->refit);
    if (o->random_mac) {
      struct mac_addr mac;
      mac_random(&mac);
      vm_config_set_mac(&cfg, &mac);
    }
    r = vm_config_save(&cfg, cfg_path, err);
  }
  vm_config_clear(&cfg);
  if (r < 0)
    return -1;

  if (o->disk != NULL && replace_disk(h, vm, o->disk, err) < 0)
    return -1;
  if (o->disk_size_gb != 0 && grow_disk(vm, o->disk_size_gb, err) < 0)
    return -1;
  return 0;
}
