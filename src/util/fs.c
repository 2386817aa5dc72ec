#include "util/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"

int mkdir_p(const char *path, mode_t mode, tart_error_t *err)
{
  _cleanup_free_ char *p = xstrdup(path);
  size_t len = strlen(p);
  while (len > 1 && p[len - 1] == '/')
    p[--len] = '\0';

  /* Walk forward one component at a time so that the first missing component
   * that cannot be made is the one named in the error. */
  for (char *s = p + 1;; s++) {
    char c = *s;
    if (c != '/' && c != '\0')
      continue;
    *s = '\0';
    if (mkdir(p, mode) < 0) {
      int e = errno;
      struct stat st;
      if (e == EEXIST) {
        if (stat(p, &st) < 0)
          return tart_error_make(err, errno, "cannot access %s", p);
        if (!S_ISDIR(st.st_mode))
          return tart_error_make(err, ENOTDIR, "cannot create directory %s", p);
      } else if (!(e == EACCES && stat(p, &st) == 0 && S_ISDIR(st.st_mode))) {
        return tart_error_make(err, e, "cannot create directory %s", p);
      }
    }
    *s = c;
    if (c == '\0')
      break;
  }
  return 0;
}

static int rm_rf_fd(int dirfd, tart_error_t *err);

int rm_rf_at(int dirfd, const char *name, tart_error_t *err)
{
  if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
    return 0;
  if (errno != EISDIR && errno != EPERM)
    return tart_error_make(err, errno, "cannot remove %s", name);

  int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return 0;
    return tart_error_make(err, errno, "cannot open %s", name);
  }
  if (rm_rf_fd(fd, err) < 0) /* closes fd */
    return tart_error_wrap(err, "cannot remove %s", name);
  if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
    return tart_error_make(err, errno, "cannot remove directory %s", name);
  return 0;
}

/* Remove the contents of the directory open at fd; closes fd. */
static int rm_rf_fd(int fd, tart_error_t *err)
{
  DIR *d = fdopendir(fd);
  if (d == NULL) {
    close(fd);
    return tart_error_make(err, errno, "cannot read directory");
  }
  int ret = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
      continue;
    if (rm_rf_at(dirfd(d), de->d_name, err) < 0) {
      ret = -1;
      break;
    }
  }
  closedir(d);
  return ret;
}

int rm_rf(const char *path, tart_error_t *err)
{
  return rm_rf_at(AT_FDCWD, path, err);
}

int read_file(const char *path, size_t max, char **out, size_t *len, tart_error_t *err)
{
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return tart_error_make(err, errno, "cannot open %s", path);
  struct stat st;
  if (fstat(fd, &st) < 0)
    return tart_error_make(err, errno, "cannot stat %s", path);
  if (!S_ISREG(st.st_mode))
    return tart_error_make(err, EINVAL, "%s is not a regular file", path);
  if ((unsigned long long)st.st_size > max)
    return tart_error_make(err, EFBIG, "%s is larger than %zu bytes", path, max);

  size_t cap = (size_t)st.st_size + 1, n = 0;
  _cleanup_free_ char *buf = xmalloc(cap);
  for (;;) {
    if (n + 1 >= cap) {
      if (cap > max + 1)
        return tart_error_make(err, EFBIG, "%s is larger than %zu bytes", path, max);
      cap *= 2;
      buf = xrealloc(buf, cap);
    }
    ssize_t r = read(fd, buf + n, cap - n - 1);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return tart_error_make(err, errno, "cannot read %s", path);
    }
    if (r == 0)
      break;
    n += (size_t)r;
  }
  buf[n] = '\0';
  *out = TAKE_PTR(buf);
  if (len)
    *len = n;
  return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
  const char *p = data;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

int fsync_path(const char *path, tart_error_t *err)
{
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return tart_error_make(err, errno, "cannot open %s", path);
  if (fsync(fd) < 0 && errno != EINVAL)
    return tart_error_make(err, errno, "cannot sync %s", path);
  return 0;
}

int fsync_parent(const char *path, tart_error_t *err)
{
  _cleanup_free_ char *copy = xstrdup(path);
  return fsync_path(dirname(copy), err);
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, tart_error_t *err)
{
  _cleanup_free_ char *copy = xstrdup(path);
  const char *base = basename(copy);
  _cleanup_free_ char *dir_copy = xstrdup(path);
  const char *dir = dirname(dir_copy);
  _cleanup_free_ char *tmp = xasprintf("%s/.%s.tmp-XXXXXX", dir, base);

  int fd = mkostemp(tmp, O_CLOEXEC);
  if (fd < 0)
    return tart_error_make(err, errno, "cannot create a temporary file next to %s", path);
  if (fchmod(fd, mode) < 0 || write_all(fd, data, len) < 0 || fsync(fd) < 0) {
    int e = errno;
    close(fd);
    unlink(tmp);
    return tart_error_make(err, e, "cannot write %s", path);
  }
  if (close(fd) < 0) {
    int e = errno;
    unlink(tmp);
    return tart_error_make(err, e, "cannot write %s", path);
  }
  if (rename(tmp, path) < 0) {
    int e = errno;
    unlink(tmp);
    return tart_error_make(err, e, "cannot replace %s", path);
  }
  return fsync_path(dir, err);
}

int rename_noreplace(const char *oldpath, const char *newpath, tart_error_t *err)
{
  if (renameat2(AT_FDCWD, oldpath, AT_FDCWD, newpath, RENAME_NOREPLACE) < 0) {
    int e = errno;
    /* Some file systems (overlay on old kernels) lack RENAME_NOREPLACE; a
     * link-less directory rename onto a missing name is equivalent there
     * because the caller holds the lock that serializes creators. */
    if (e == EINVAL || e == ENOSYS) {
      if (access(newpath, F_OK) == 0)
        return tart_error_make(err, EEXIST, "cannot move %s to %s", oldpath, newpath);
      if (rename(oldpath, newpath) == 0)
        return fsync_parent(newpath, err);
      e = errno;
    }
    return tart_error_make(err, e, "cannot move %s to %s", oldpath, newpath);
  }
  return fsync_parent(newpath, err);
}

int lock_flock(int fd, bool exclusive, bool wait, tart_error_t *err)
{
  int op = (exclusive ? LOCK_EX : LOCK_SH) | (wait ? 0 : LOCK_NB);
  while (flock(fd, op) < 0) {
    if (errno == EINTR)
      continue;
    if (errno == EWOULDBLOCK && !wait)
      return 1;
    return tart_error_make(err, errno, "cannot lock");
  }
  return 0;
}

int lock_record_try_write(int fd, tart_error_t *err)
{
  struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
  if (fcntl(fd, F_SETLK, &fl) < 0) {
    if (errno == EACCES || errno == EAGAIN)
      return 1;
    return tart_error_make(err, errno, "cannot lock");
  }
  return 0;
}

pid_t lock_record_owner(int fd)
{
  struct flock fl = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
  if (fcntl(fd, F_GETLK, &fl) < 0)
    return 0;
  if (fl.l_type == F_UNLCK)
    return 0;
  return fl.l_pid;
}

unsigned long long file_allocated_bytes(const char *path)
{
  struct stat st;
  if (stat(path, &st) < 0)
    return 0;
  return (unsigned long long)st.st_blocks * 512ULL;
}

unsigned long long file_apparent_bytes(const char *path)
{
  struct stat st;
  if (stat(path, &st) < 0)
    return 0;
  return (unsigned long long)st.st_size;
}

bool path_exists(const char *path)
{
  struct stat st;
  return lstat(path, &st) == 0;
}

bool is_directory(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}
