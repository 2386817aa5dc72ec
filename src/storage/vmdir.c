#include "storage/vmdir.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "storage/proc_locks.h"
#include "util/fs.h"
#include "util/util.h"
#include "vmconfig/config.h"

const char *vm_state_name(enum vm_state s)
{
  switch (s) {
  case VM_STATE_RUNNING:
    return "running";
  case VM_STATE_SUSPENDED:
    return "suspended";
  case VM_STATE_STOPPED:
    break;
  }
  return "stopped";
}

char *vm_dir_file(const char *dir, const char *file)
{
  return xasprintf("%s/%s", dir, file);
}

static bool dir_has(const char *dir, const char *file)
{
  _cleanup_free_ char *p = vm_dir_file(dir, file);
  return access(p, F_OK) == 0;
}

bool vm_dir_initialized(const char *dir)
{
  return dir_has(dir, VM_FILE_CONFIG) && dir_has(dir, VM_FILE_DISK) && dir_has(dir, VM_FILE_NVRAM);
}

int vm_dir_validate(const char *dir, const char *name, tart_error_t *err)
{
  if (!is_directory(dir))
    return tart_error_exit(err, TART_EXIT_VM_STATE, 0, "the specified VM \"%s\" does not exist", name);
  if (!vm_dir_initialized(dir))
    return tart_error_make(err, 0, "VM is missing some of its files (%s, %s or %s)", VM_FILE_CONFIG,
                           VM_FILE_DISK, VM_FILE_NVRAM);
  /* A VM's files are its own: one that is a symbolic link (or a device, a
   * FIFO) would have set, clone, push or run act on whatever it names,
   * outside TART_HOME (docs/security.md, "Files"). */
  static const char *const files[] = {VM_FILE_CONFIG, VM_FILE_DISK, VM_FILE_NVRAM, VM_FILE_STATE,
                                      VM_FILE_STATE_DEVICES};
  for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
    _cleanup_free_ char *p = vm_dir_file(dir, files[i]);
    struct stat st;
    if (lstat(p, &st) < 0) {
      if (errno == ENOENT && i >= 3)
        continue; /* only a suspended VM has a saved state */
      return tart_error_make(err, errno, "VM \"%s\": cannot read %s", name, files[i]);
    }
    if (S_ISLNK(st.st_mode))
      return tart_error_make(err, 0,
                             "VM \"%s\": %s is a symbolic link; VM files are never followed (replace it with "
                             "the file itself)",
                             name, files[i]);
    if (!S_ISREG(st.st_mode))
      return tart_error_make(err, 0, "VM \"%s\": %s is not a regular file", name, files[i]);
  }
  return 0;
}

pid_t vm_dir_running_pid(const char *dir)
{
  _cleanup_free_ char *cfg = vm_dir_file(dir, VM_FILE_CONFIG);
  /* A failed open (a race with delete) counts as "not running", as
   * upstream: a false "stopped" is cheaper than failing `tart list`. */
  _cleanup_close_ int fd = open(cfg, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  return lock_record_owner(fd);
}

enum vm_state vm_dir_state(const char *dir)
{
  if (vm_dir_running_pid(dir) != 0)
    return VM_STATE_RUNNING;
  if (dir_has(dir, VM_FILE_STATE))
    return VM_STATE_SUSPENDED;
  return VM_STATE_STOPPED;
}

bool vm_dir_wait_stopped(const char *dir, long ms)
{
  for (long waited = 0;; waited += 100) {
    if (vm_dir_running_pid(dir) == 0)
      return true;
    if (waited >= ms)
      return false;
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
}

int vm_dir_lock_running(const char *dir, const char *name, int *fd, tart_error_t *err)
{
  _cleanup_free_ char *cfg = vm_dir_file(dir, VM_FILE_CONFIG);
  _cleanup_close_ int lfd = open(cfg, O_RDWR | O_CLOEXEC);
  if (lfd < 0) {
    if (errno == ENOENT)
      return tart_error_exit(err, TART_EXIT_VM_STATE, 0, "the specified VM \"%s\" does not exist", name);
    return tart_error_make(err, errno, "cannot open %s", cfg);
  }
  int r = lock_record_try_write(lfd, err);
  if (r < 0)
    return tart_error_wrap(err, "cannot lock %s", cfg);
  if (r > 0)
    return tart_error_exit(err, TART_EXIT_VM_STATE, 0, "VM \"%s\" is already running!", name);
  *fd = TAKE_FD(lfd);
  return 0;
}

int vm_dir_lock_reading(const char *dir, const char *name, int *fd, tart_error_t *err)
{
  _cleanup_free_ char *cfg = vm_dir_file(dir, VM_FILE_CONFIG);
  _cleanup_close_ int lfd = open(cfg, O_RDONLY | O_CLOEXEC);
  if (lfd < 0)
    return tart_error_make(err, errno, "cannot open %s", cfg);
  /* An open-file-description lock: unlike a POSIX lock it survives this
   * process opening and closing config.json again (reading the config),
   * and it still conflicts with the run lock. */
  struct flock fl = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0, .l_pid = 0};
  if (fcntl(lfd, F_OFD_SETLK, &fl) < 0) {
    if (errno == EACCES || errno == EAGAIN)
      return tart_error_make(err, 0, "VM \"%s\" is running", name);
    return tart_error_make(err, errno, "cannot lock %s", cfg);
  }
  *fd = TAKE_FD(lfd);
  return 0;
}

int vm_dir_touch(const char *dir, tart_error_t *err)
{
  const struct timespec times[2] = {{.tv_nsec = UTIME_NOW}, {.tv_nsec = UTIME_OMIT}};
  if (utimensat(AT_FDCWD, dir, times, 0) < 0)
    return tart_error_make(err, errno, "failed to update the access date of %s", dir);
  return 0;
}

struct timespec vm_dir_access_time(const char *dir)
{
  struct stat st;
  if (stat(dir, &st) < 0)
    return (struct timespec){0};
  return st.st_atim;
}

static unsigned long long sum_files(const char *dir, unsigned long long (*fn)(const char *))
{
  static const char *const files[] = {VM_FILE_CONFIG, VM_FILE_DISK, VM_FILE_NVRAM};
  unsigned long long total = 0;
  for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
    _cleanup_free_ char *p = vm_dir_file(dir, files[i]);
    total += fn(p);
  }
  return total;
}

void vm_dir_info(const char *dir, const struct lock_index *idx, struct vm_dir_info *out)
{
  static const char *const files[] = {VM_FILE_CONFIG, VM_FILE_DISK, VM_FILE_NVRAM};
  memset(out, 0, sizeof(*out));
  struct stat st;
  if (stat(dir, &st) == 0)
    out->accessed = st.st_atim;
  out->initialized = true;
  size_t dlen = strlen(dir);
  char path[PATH_MAX];
  if (dlen + 32 > sizeof(path)) {
    out->initialized = vm_dir_initialized(dir);
    out->size = vm_dir_size_bytes(dir);
    out->allocated = vm_dir_allocated_bytes(dir);
    out->state = vm_dir_state(dir);
    return;
  }
  memcpy(path, dir, dlen);
  path[dlen] = '/';
  uint64_t config_ino = 0;
  for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
    strcpy(path + dlen + 1, files[i]);
    if (stat(path, &st) < 0) {
      out->initialized = false;
      continue;
    }
    if (i == 0)
      config_ino = (uint64_t)st.st_ino;
    out->size += (unsigned long long)st.st_size;
    out->allocated += (unsigned long long)st.st_blocks * 512ULL;
  }
  if (!out->initialized)
    return;
  strcpy(path + dlen + 1, VM_FILE_CONFIG);
  int fd = (idx == NULL || lock_index_maybe_locked(idx, config_ino)) ? open(path, O_RDONLY | O_CLOEXEC) : -1;
  if (fd >= 0) {
    if (lock_record_owner(fd) != 0)
      out->state = VM_STATE_RUNNING;
    close(fd);
  }
  if (out->state != VM_STATE_RUNNING) {
    strcpy(path + dlen + 1, VM_FILE_STATE);
    if (access(path, F_OK) == 0)
      out->state = VM_STATE_SUSPENDED;
  }
}

unsigned long long vm_dir_size_bytes(const char *dir)
{
  return sum_files(dir, file_apparent_bytes);
}

unsigned long long vm_dir_allocated_bytes(const char *dir)
{
  return sum_files(dir, file_allocated_bytes);
}

int vm_dir_config(const char *dir, struct vm_config *cfg, tart_error_t *err)
{
  _cleanup_free_ char *path = vm_dir_file(dir, VM_FILE_CONFIG);
  return vm_config_load(path, cfg, err);
}

int vm_dir_mac(const char *dir, struct mac_addr *mac, tart_error_t *err)
{
  struct vm_config cfg;
  if (vm_dir_config(dir, &cfg, err) < 0)
    return -1;
  *mac = cfg.mac;
  vm_config_clear(&cfg);
  return 0;
}
