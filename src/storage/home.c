#include "storage/home.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fs.h"
#include "util/log.h"
#include "util/personality.h"
#include "util/util.h"

static char *default_home(tart_error_t *err)
{
  const char *home = getenv("HOME");
  if (home == NULL || *home == '\0') {
    struct passwd *pw = getpwuid(getuid());
    if (pw == NULL || pw->pw_dir == NULL) {
      tart_error_make(err, 0, "cannot find the home directory: set HOME or %s", personality()->home_env);
      return NULL;
    }
    home = pw->pw_dir;
  }
  return xasprintf("%s/%s", home, personality()->home_dir);
}

int tart_home_open(struct tart_home *h, tart_error_t *err)
{
  memset(h, 0, sizeof(*h));
  h->lock_fd = -1;

  const char *var = personality()->home_env;
  const char *env = getenv(var);
  char *root = (env && *env) ? xstrdup(env) : default_home(err);
  if (root == NULL)
    return -1;
  size_t len = strlen(root);
  while (len > 1 && root[len - 1] == '/')
    root[--len] = '\0';
  h->root = root;

  struct stat st;
  if (stat(root, &st) == 0 && !S_ISDIR(st.st_mode)) {
    tart_error_make(err, 0, "%s is invalid: %s is not a directory", var, root);
    goto fail;
  }
  if (mkdir_p(root, 0755, err) < 0) {
    tart_error_wrap(err, "%s is invalid: %s does not exist, yet we can't create it", var, root);
    goto fail;
  }

  h->vms = xasprintf("%s/vms", root);
  h->cache_oci = xasprintf("%s/cache/OCIs", root);
  h->tmp = xasprintf("%s/tmp", root);
  if (mkdir_p(h->vms, 0755, err) < 0 || mkdir_p(h->cache_oci, 0755, err) < 0 ||
      mkdir_p(h->tmp, 0755, err) < 0) {
    tart_error_wrap(err, "%s is invalid", var);
    goto fail;
  }
  return 0;

fail:
  tart_home_close(h);
  return -1;
}

void tart_home_close(struct tart_home *h)
{
  tart_home_unlock(h);
  free(h->root);
  free(h->vms);
  free(h->cache_oci);
  free(h->tmp);
  memset(h, 0, sizeof(*h));
  h->lock_fd = -1;
}

int tart_home_lock(struct tart_home *h, tart_error_t *err)
{
  if (h->lock_fd >= 0)
    return 0;
  int fd = open(h->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return tart_error_make(err, errno, "cannot open %s", h->root);
  if (lock_flock(fd, true, true, err) < 0) {
    close(fd);
    return tart_error_wrap(err, "cannot take the global lock on %s", h->root);
  }
  h->lock_fd = fd;
  return 0;
}

void tart_home_unlock(struct tart_home *h)
{
  if (h->lock_fd >= 0) {
    close(h->lock_fd); /* closing releases the flock */
    h->lock_fd = -1;
  }
}

int tart_home_gc_tmp(struct tart_home *h, tart_error_t *err)
{
  _cleanup_close_ int dfd = open(h->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return tart_error_make(err, errno, "cannot open %s", h->tmp);
  DIR *d = fdopendir(dup(dfd));
  if (d == NULL)
    return tart_error_make(err, errno, "cannot read %s", h->tmp);

  int ret = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
      continue;
    _cleanup_close_ int fd = openat(dfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
      continue;
    tart_error_t lerr = NULL;
    int r = lock_flock(fd, true, false, &lerr);
    tart_error_release(&lerr);
    if (r != 0)
      continue; /* in use by its owner */
    log_debug("collecting stale tmp entry %s/%s", h->tmp, de->d_name);
    /* We hold the entry's lock while removing it, so an owner that raced us
     * to lock it will notice the directory is gone (nlink 0) and retry. */
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_nlink == 0)
      continue; /* another GC removed it between our open and our lock */
    if (rm_rf_at(dfd, de->d_name, err) < 0) {
      ret = -1;
      break;
    }
  }
  closedir(d);
  return ret;
}

static int lock_entry(struct tmp_entry *t, bool wait, tart_error_t *err)
{
  int fd = open(t->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  /* Gone already: a concurrent GC took it between our mkdir and open. */
  if (fd < 0 && errno == ENOENT)
    return 1;
  if (fd < 0)
    return tart_error_make(err, errno, "cannot open %s", t->path);
  int r = lock_flock(fd, true, wait, err);
  if (r != 0) {
    close(fd);
    return r < 0 ? -1 : 1;
  }
  struct stat st;
  if (fstat(fd, &st) < 0 || st.st_nlink == 0) {
    /* Collected by a concurrent GC between mkdir and flock. */
    close(fd);
    return 1;
  }
  t->fd = fd;
  return 0;
}

int tmp_entry_create(struct tart_home *h, struct tmp_entry *t, tart_error_t *err)
{
  t->path = NULL;
  t->fd = -1;
  for (int attempt = 0; attempt < 16; attempt++) {
    char uuid[37];
    uuid_random(uuid);
    free(t->path);
    t->path = xasprintf("%s/%s", h->tmp, uuid);
    if (mkdir(t->path, 0755) < 0) {
      if (errno == EEXIST)
        continue;
      int e = errno;
      free(t->path);
      t->path = NULL;
      return tart_error_make(err, e, "cannot create a directory in %s", h->tmp);
    }
    int r = lock_entry(t, false, err);
    if (r == 0)
      return 0;
    if (r < 0)
      break;
  }
  free(t->path);
  t->path = NULL;
  if (err && *err)
    return -1;
  return tart_error_make(err, EAGAIN, "cannot create a working directory in %s", h->tmp);
}

int tmp_entry_open_named(struct tart_home *h, const char *name, struct tmp_entry *t, tart_error_t *err)
{
  t->fd = -1;
  t->path = xasprintf("%s/%s", h->tmp, name);
  for (int attempt = 0; attempt < 16; attempt++) {
    if (mkdir(t->path, 0755) < 0 && errno != EEXIST) {
      int e = errno;
      free(t->path);
      t->path = NULL;
      return tart_error_make(err, e, "cannot create a directory in %s", h->tmp);
    }
    int r = lock_entry(t, true, err);
    if (r == 0)
      return 0;
    if (r < 0)
      break;
  }
  free(t->path);
  t->path = NULL;
  if (err && *err)
    return -1;
  return tart_error_make(err, EAGAIN, "cannot lock a working directory in %s", h->tmp);
}

void tmp_entry_discard(struct tmp_entry *t)
{
  if (t->path != NULL) {
    tart_error_t e = NULL;
    if (rm_rf(t->path, &e) < 0)
      log_warn("cannot remove %s: %s", t->path, e->msg);
    tart_error_release(&e);
  }
  tmp_entry_release(t);
}

void tmp_entry_release(struct tmp_entry *t)
{
  if (t->fd >= 0)
    close(t->fd);
  t->fd = -1;
  free(t->path);
  t->path = NULL;
}
