#include "storage/oci_cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/vmdir.h"
#include "util/fs.h"
#include "util/util.h"

char *oci_cache_host_encode(const char *host)
{
  char *out = xmalloc(strlen(host) * 3 + 1), *o = out;
  for (const char *p = host; *p; p++) {
    if (*p == ':') {
      memcpy(o, "%3A", 3);
      o += 3;
    } else {
      *o++ = *p;
    }
  }
  *o = '\0';
  return out;
}

char *oci_cache_host_decode(const char *enc)
{
  char *out = xstrdup(enc), *o = out;
  for (const char *p = enc; *p; p++) {
    if (p[0] == '%' && p[1] == '3' && (p[2] == 'A' || p[2] == 'a')) {
      *o++ = ':';
      p += 2;
    } else {
      *o++ = *p;
    }
  }
  *o = '\0';
  return out;
}

char *oci_cache_host_dir(struct tart_home *h, const char *host)
{
  _cleanup_free_ char *enc = oci_cache_host_encode(host);
  return xasprintf("%s/%s", h->cache_oci, enc);
}

char *oci_cache_ns_dir(struct tart_home *h, const char *host, const char *ns)
{
  _cleanup_free_ char *enc = oci_cache_host_encode(host);
  return xasprintf("%s/%s/%s", h->cache_oci, enc, ns);
}

int oci_cache_link_tag(const char *ns_dir, const char *tag, const char *target, tart_error_t *err)
{
  char suffix[37];
  uuid_random(suffix);
  _cleanup_free_ char *tmp = xasprintf("%s/.%s.%s", ns_dir, tag, suffix);
  _cleanup_free_ char *link = xasprintf("%s/%s", ns_dir, tag);
  if (symlink(target, tmp) < 0)
    return tart_error_make(err, errno, "cannot create %s", tmp);
  if (rename(tmp, link) < 0) {
    int e = errno;
    unlink(tmp);
    return tart_error_make(err, e, "cannot link %s", link);
  }
  return fsync_path(ns_dir, err);
}

char *oci_cache_entry_path(struct tart_home *h, const struct oci_reference *ref)
{
  _cleanup_free_ char *host = oci_cache_host_encode(ref->host);
  return xasprintf("%s/%s/%s/%s", h->cache_oci, host, ref->namespace, ref->digest ? ref->digest : ref->tag);
}

static bool is_digest_name(const char *n)
{
  return strncmp(n, "sha256:", 7) == 0;
}

/* Walk a namespace directory: `prefix` is "host/ns" so far. */
static void walk(const char *dir, const char *prefix, bool init_only, struct vm_list *out)
{
  DIR *d = opendir(dir);
  if (d == NULL)
    return;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    const char *n = de->d_name;
    if (n[0] == '.')
      continue;
    char *path = xasprintf("%s/%s", dir, n);
    struct stat st;
    if (lstat(path, &st) < 0) {
      free(path);
      continue;
    }
    if (S_ISLNK(st.st_mode)) {
      if (!init_only || vm_dir_initialized(path)) {
        vm_list_add(out, xasprintf("%s:%s", prefix, n), path);
        continue;
      }
    } else if (S_ISDIR(st.st_mode)) {
      if (is_digest_name(n)) {
        if (!init_only || vm_dir_initialized(path)) {
          vm_list_add(out, xasprintf("%s@%s", prefix, n), path);
          continue;
        }
      } else {
        _cleanup_free_ char *sub = xasprintf("%s/%s", prefix, n);
        walk(path, sub, init_only, out);
      }
    }
    free(path);
  }
  closedir(d);
}

int oci_cache_list(struct tart_home *h, bool only_initialized, struct vm_list *out, tart_error_t *err)
{
  out->items = NULL;
  out->n = 0;
  DIR *d = opendir(h->cache_oci);
  if (d == NULL) {
    if (errno == ENOENT)
      return 0;
    return tart_error_make(err, errno, "cannot read %s", h->cache_oci);
  }
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.')
      continue;
    _cleanup_free_ char *host = oci_cache_host_decode(de->d_name);
    _cleanup_free_ char *path = xasprintf("%s/%s", h->cache_oci, de->d_name);
    /* The first level holds hosts; namespaces start below, so "host/ns". */
    DIR *hd = opendir(path);
    if (hd == NULL)
      continue;
    struct dirent *ne;
    while ((ne = readdir(hd)) != NULL) {
      if (ne->d_name[0] == '.')
        continue;
      _cleanup_free_ char *nspath = xasprintf("%s/%s", path, ne->d_name);
      _cleanup_free_ char *prefix = xasprintf("%s/%s", host, ne->d_name);
      if (is_directory(nspath))
        walk(nspath, prefix, only_initialized, out);
    }
    closedir(hd);
  }
  closedir(d);
  vm_list_sort(out);
  return 0;
}

static int missing(const char *name, tart_error_t *err)
{
  return tart_error_exit(err, TART_EXIT_VM_STATE, 0, "the specified VM \"%s\" does not exist", name);
}

int oci_cache_open(struct tart_home *h, const struct oci_reference *ref, const char *name, char **path,
                   tart_error_t *err)
{
  _cleanup_free_ char *entry = oci_cache_entry_path(h, ref);
  char *real = realpath(entry, NULL);
  if (real == NULL)
    return missing(name, err);
  if (vm_dir_validate(real, name, err) < 0 || vm_dir_touch(real, err) < 0) {
    free(real);
    return -1;
  }
  *path = real;
  return 0;
}

int oci_cache_digest(struct tart_home *h, const struct oci_reference *ref, const char *name, char **digest,
                     tart_error_t *err)
{
  _cleanup_free_ char *path = NULL;
  if (oci_cache_open(h, ref, name, &path, err) < 0)
    return -1;
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  if (!is_digest_name(base))
    return tart_error_make(err, 0, "OCI storage error: %s does not resolve to a digest", name);
  *digest = xstrdup(base);
  return 0;
}

int oci_cache_delete(struct tart_home *h, const struct oci_reference *ref, const char *name,
                     tart_error_t *err)
{
  _cleanup_free_ char *entry = oci_cache_entry_path(h, ref);
  struct stat st;
  if (lstat(entry, &st) < 0)
    return missing(name, err);
  if (S_ISLNK(st.st_mode)) {
    if (unlink(entry) < 0)
      return tart_error_make(err, errno, "cannot delete %s", name);
  } else if (rm_rf(entry, err) < 0) {
    return tart_error_wrap(err, "cannot delete %s", name);
  }
  return oci_cache_gc(h, err);
}

struct gc_state {
  struct vm_list links;   /* name = resolved target */
  struct vm_list digests; /* path = digest dir */
};

static void gc_walk(const char *dir, struct gc_state *s, tart_error_t *err)
{
  DIR *d = opendir(dir);
  if (d == NULL)
    return;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
      continue;
    char *path = xasprintf("%s/%s", dir, de->d_name);
    struct stat st;
    if (lstat(path, &st) < 0) {
      free(path);
      continue;
    }
    if (S_ISLNK(st.st_mode)) {
      char *target = realpath(path, NULL);
      if (target == NULL) {
        unlink(path); /* dangling tag */
        free(path);
      } else {
        vm_list_add(&s->links, target, path);
      }
    } else if (S_ISDIR(st.st_mode) && is_digest_name(de->d_name)) {
      vm_list_add(&s->digests, realpath(path, NULL), path);
    } else if (S_ISDIR(st.st_mode)) {
      gc_walk(path, s, err);
      free(path);
    } else {
      free(path);
    }
  }
  closedir(d);
}

static int cmp_name(const void *a, const void *b)
{
  return strcmp(((const struct vm_entry *)a)->name, ((const struct vm_entry *)b)->name);
}

int oci_cache_gc(struct tart_home *h, tart_error_t *err)
{
  struct gc_state s = {0};
  gc_walk(h->cache_oci, &s, err);
  vm_list_sort(&s.links);
  int ret = 0;
  for (size_t i = 0; i < s.digests.n; i++) {
    const char *real = s.digests.items[i].name;
    const char *path = s.digests.items[i].path;
    if (real == NULL)
      continue;
    struct vm_entry key = {.name = (char *)real};
    bool referenced = s.links.n > 0 && bsearch(&key, s.links.items, s.links.n, sizeof(key), cmp_name) != NULL;
    _cleanup_free_ char *marker = xasprintf("%s/%s", path, OCI_CACHE_EXPLICITLY_PULLED);
    if (referenced || access(marker, F_OK) == 0)
      continue;
    if (rm_rf(path, err) < 0) {
      ret = -1;
      break;
    }
  }
  vm_list_clear(&s.links);
  vm_list_clear(&s.digests);
  return ret;
}
