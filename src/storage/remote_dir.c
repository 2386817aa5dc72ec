#include "storage/remote_dir.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "registry/curl_api.h"
#include "tart-version.h"
#include "util/digest.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/util.h"

bool remote_dir_is_url(const char *path)
{
  return path && (strncasecmp(path, "http://", 7) == 0 || strncasecmp(path, "https://", 8) == 0);
}

/* ---- extraction ------------------------------------------------------- */

/* A name that stays inside the destination: relative, no ".." component. */
static bool name_confined(const char *name)
{
  if (name == NULL || *name == '\0' || *name == '/')
    return false;
  for (const char *p = name; *p;) {
    size_t n = strcspn(p, "/");
    if (n == 2 && p[0] == '.' && p[1] == '.')
      return false;
    p += n;
    while (*p == '/')
      p++;
  }
  return true;
}

/* A reader for tar archives, plain or compressed.  In-process
 * decompressors only: support_filter_all would also run external programs
 * (lzop, lrzip, grzip...) on what a server sent. */
static struct archive *tar_reader(void)
{
  struct archive *a = archive_read_new();
  archive_read_support_filter_gzip(a);
  archive_read_support_filter_bzip2(a);
  archive_read_support_filter_xz(a);
  archive_read_support_filter_zstd(a);
  archive_read_support_format_tar(a);
  return a;
}

/* Does a (confined) name denote the root itself: only "." components? */
static bool names_root(const char *name)
{
  for (const char *p = name; *p;) {
    size_t n = strcspn(p, "/");
    if (!(n == 1 && p[0] == '.') && n != 0)
      return false;
    p += n;
    while (*p == '/')
      p++;
  }
  return true;
}

__attribute__((format(printf, 4, 5))) static long extract_fail(struct archive *a, struct archive *w,
                                                               tart_error_t *err, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  tart_error_makev(err, TART_EXIT_FAILURE, 0, fmt, ap);
  va_end(ap);
  archive_read_free(a);
  archive_write_free(w);
  return -1;
}

static const char *why(const char *s)
{
  return s ? s : "unknown error";
}

long remote_dir_extract(const char *archive, const char *dest, tart_error_t *err)
{
  char real[PATH_MAX];
  /* libarchive refuses paths through symlinks, the destination's own
   * components included: give it a path without any. */
  if (realpath(dest, real) == NULL)
    return tart_error_make(err, errno, "cannot resolve %s", dest);
  struct archive *a = tar_reader();
  struct archive *w = archive_write_disk_new();
  archive_write_disk_set_options(w, ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM |
                                        ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS);
  if (archive_read_open_filename(a, archive, 256 * 1024) != ARCHIVE_OK)
    return extract_fail(a, w, err, "cannot read %s: %s", archive, why(archive_error_string(a)));
  long count = 0;
  for (;;) {
    struct archive_entry *e;
    int r = archive_read_next_header(a, &e);
    if (r == ARCHIVE_EOF)
      break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
      return extract_fail(a, w, err, "cannot read %s: %s", archive, why(archive_error_string(a)));
    const char *name = archive_entry_pathname(e);
    const char *link = archive_entry_hardlink(e);
    /* ".", "./", "./." ... name the destination itself (`tar -C dir .`
     * writes one): its mode is ours to keep. */
    if (name && names_root(name))
      continue;
    if (!name_confined(name) || (link && !name_confined(link)))
      return extract_fail(a, w, err, "refusing %s: entry \"%s\" points outside the directory", archive,
                          name ? name : "");
    mode_t type = archive_entry_filetype(e);
    if (!link && type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK)
      return extract_fail(a, w, err, "refusing %s: entry \"%s\" is a device, FIFO or socket", archive, name);
    /* No setuid/setgid; directories stay ours to fill and remove (a 0555
     * one would make the copy unremovable for a non-root user). */
    archive_entry_set_perm(e, (archive_entry_perm(e) & 01777) | (type == AE_IFDIR ? 0700 : 0));
    if (type == AE_IFREG && !link && archive_entry_size_is_set(e)) {
      struct statvfs vfs;
      uint64_t size = (uint64_t)archive_entry_size(e);
      if (statvfs(real, &vfs) == 0 && size + REMOTE_DIR_SPACE_RESERVE > (uint64_t)vfs.f_bavail * vfs.f_frsize)
        return extract_fail(a, w, err,
                            "cannot unpack %s: entry \"%s\" (%llu bytes) would fill the file system", archive,
                            name, (unsigned long long)size);
    }
    _cleanup_free_ char *full = xasprintf("%s/%s", real, name);
    archive_entry_set_pathname(e, full);
    if (link) {
      _cleanup_free_ char *full_link = xasprintf("%s/%s", real, link);
      archive_entry_set_hardlink(e, full_link);
    }
    if (archive_write_header(w, e) != ARCHIVE_OK)
      return extract_fail(a, w, err, "cannot unpack %s: %s", archive, why(archive_error_string(w)));
    const void *buf;
    size_t len;
    la_int64_t off;
    while ((r = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK)
      if (archive_write_data_block(w, buf, len, off) != ARCHIVE_OK)
        return extract_fail(a, w, err, "cannot unpack %s: %s", archive, why(archive_error_string(w)));
    if (r != ARCHIVE_EOF)
      return extract_fail(a, w, err, "cannot read %s: %s", archive, why(archive_error_string(a)));
    if (archive_write_finish_entry(w) != ARCHIVE_OK)
      return extract_fail(a, w, err, "cannot unpack %s: %s", archive, why(archive_error_string(w)));
    count++;
  }
  /* Directory modes and times are applied at close. */
  if (archive_write_close(w) != ARCHIVE_OK)
    return extract_fail(a, w, err, "cannot unpack %s: %s", archive, why(archive_error_string(w)));
  archive_read_free(a);
  archive_write_free(w);
  return count;
}

/* ---- the URL cache ---------------------------------------------------- */

struct cache_item {
  char *base; /* "<hex>" */
  time_t mtime;
  uint64_t bytes;
};

static int by_mtime(const void *x, const void *y)
{
  const struct cache_item *a = x, *b = y;
  return (a->mtime > b->mtime) - (a->mtime < b->mtime);
}

void remote_dir_cache_trim(const char *cache_dir, uint64_t max_bytes, const char *keep)
{
  DIR *d = opendir(cache_dir);
  if (d == NULL)
    return;
  struct cache_item *items = NULL;
  size_t n = 0, cap = 0;
  uint64_t total = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    size_t l = strlen(de->d_name);
    /* <hex>.tar.gz.<pid>.partial of a download that was interrupted. */
    if (l > 8 && strcmp(de->d_name + l - 8, ".partial") == 0) {
      const char *dot = memrchr(de->d_name, '.', l - 8);
      long pid = dot ? strtol(dot + 1, NULL, 10) : 0;
      if (pid > 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH)
        unlinkat(dirfd(d), de->d_name, 0);
      continue;
    }
    if (l <= 7 || strcmp(de->d_name + l - 7, ".tar.gz") != 0)
      continue;
    struct stat st;
    if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
      continue;
    if (n == cap) {
      cap = cap ? 2 * cap : 16;
      items = xrealloc(items, cap * sizeof(*items));
    }
    items[n].base = xasprintf("%.*s", (int)(l - 7), de->d_name);
    items[n].mtime = st.st_mtime;
    items[n].bytes = (uint64_t)st.st_blocks * 512;
    total += items[n].bytes;
    n++;
  }
  closedir(d);
  qsort(items, n, sizeof(*items), by_mtime);
  for (size_t i = 0; i < n && total > max_bytes; i++) {
    _cleanup_free_ char *archive = xasprintf("%s/%s.tar.gz", cache_dir, items[i].base);
    if (keep && !strcmp(archive, keep))
      continue;
    _cleanup_free_ char *meta = xasprintf("%s/%s.json", cache_dir, items[i].base);
    if (unlink(archive) == 0) {
      unlink(meta);
      total -= items[i].bytes;
      log_debug("URL cache: removed %s", archive);
    }
  }
  for (size_t i = 0; i < n; i++)
    free(items[i].base);
  free(items);
}

struct download {
  FILE *out;
  char *etag;
  char *last_modified;
};

static size_t on_header(char *buf, size_t size, size_t n, void *ud)
{
  struct download *d = ud;
  size_t len = size * n;
  /* A redirect's headers come first; the last response's win. */
  if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
    free(d->etag);
    free(d->last_modified);
    d->etag = d->last_modified = NULL;
  }
  char *v;
  if ((v = curl_header_value(buf, len, "ETag")) != NULL) {
    free(d->etag);
    d->etag = v;
  } else if ((v = curl_header_value(buf, len, "Last-Modified")) != NULL) {
    free(d->last_modified);
    d->last_modified = v;
  }
  return len;
}

static size_t on_body(char *buf, size_t size, size_t n, void *ud)
{
  struct download *d = ud;
  return fwrite(buf, size, n, d->out) * size;
}

/* Is the file a tar archive we can read to its end?  Headers only. */
static int check_archive(const char *path, const char *url, tart_error_t *err)
{
  struct archive *a = tar_reader();
  int r = archive_read_open_filename(a, path, 256 * 1024);
  struct archive_entry *e;
  while (r == ARCHIVE_OK || r == ARCHIVE_WARN) {
    r = archive_read_next_header(a, &e);
    if (r == ARCHIVE_OK || r == ARCHIVE_WARN)
      r = archive_read_data_skip(a);
  }
  int ret = 0;
  if (r != ARCHIVE_EOF)
    ret = tart_error_make(err, 0, "%s is not a tar archive (.tar.gz): %s", url, why(archive_error_string(a)));
  archive_read_free(a);
  return ret;
}

int remote_dir_fetch(struct tart_home *h, const char *url, char **archive, tart_error_t *err)
{
  *archive = NULL;
  if (curl_api_load(err) < 0)
    return -1;
  char digest[DIGEST_STR_LEN];
  sha256_of(url, strlen(url), digest);
  const char *hex = digest + strlen("sha256:");
  _cleanup_free_ char *dir = xasprintf("%s/cache/%s", h->root, REMOTE_DIR_CACHE);
  if (mkdir_p(dir, 0755, err) < 0)
    return -1;
  _cleanup_free_ char *path = xasprintf("%s/%s.tar.gz", dir, hex);
  _cleanup_free_ char *meta_path = xasprintf("%s/%s.json", dir, hex);
  _cleanup_free_ char *partial = xasprintf("%s/%s.tar.gz.%d.partial", dir, hex, (int)getpid());

  bool cached = path_exists(path);
  json_t *meta = cached ? json_load_file(meta_path, 0, NULL) : NULL;
  const char *etag = json_string_value(json_object_get(meta, "etag"));
  const char *lm = json_string_value(json_object_get(meta, "last_modified"));

  struct download d = {.out = fopen(partial, "we")};
  if (d.out == NULL) {
    json_decref(meta);
    return tart_error_make(err, errno, "cannot write %s", partial);
  }
  CURL *c = curl_easy_init();
  struct curl_slist *hdrs = NULL;
  _cleanup_free_ char *inm = etag ? xasprintf("If-None-Match: %s", etag) : NULL;
  _cleanup_free_ char *ims = lm ? xasprintf("If-Modified-Since: %s", lm) : NULL;
  if (inm)
    hdrs = curl_slist_append(hdrs, inm);
  if (ims)
    hdrs = curl_slist_append(hdrs, ims);
  _cleanup_free_ char *agent = xasprintf("tart/%s (Linux)", TART_VERSION);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_USERAGENT, agent);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &d);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &d);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  if (curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
      curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK) {
    curl_easy_setopt(c, TART_CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    curl_easy_setopt(c, TART_CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
  }
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_api_set_ca(c);
  log_debug("GET %s%s", url, cached ? " (revalidating the cached copy)" : "");
  CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(c);
  curl_slist_free_all(hdrs);
  json_decref(meta);
  int closed = fclose(d.out);
  log_debug("GET %s: %ld", url, status);

  int ret = -1;
  if (rc != CURLE_OK && cached) {
    log_warn("cannot reach %s (%s): using the cached copy", url, curl_easy_strerror(rc));
    ret = 0;
  } else if (rc != CURLE_OK) {
    tart_error_make(err, 0, "cannot download %s: %s", url, curl_easy_strerror(rc));
  } else if (status == 304 && cached) {
    utimensat(AT_FDCWD, path, NULL, 0); /* recently used */
    ret = 0;
  } else if (status != 200) {
    tart_error_make(err, 0, "cannot download %s: HTTP %ld", url, status);
  } else if (closed != 0) {
    tart_error_make(err, errno, "cannot write %s", partial);
  } else if (check_archive(partial, url, err) < 0) {
    /* Not a tar archive: the good cached copy, if any, stays. */
  } else if (fsync_path(partial, err) < 0 || rename(partial, path) < 0) {
    if (err && *err == NULL)
      tart_error_make(err, errno, "cannot store %s", path);
  } else {
    /* 0600: URLs may carry tokens.  Bytes that are not UTF-8 become
     * U+FFFD: a validator that does not match is only a full download. */
    _cleanup_free_ char *u = utf8_sanitize(url);
    _cleanup_free_ char *et = d.etag ? utf8_sanitize(d.etag) : NULL;
    _cleanup_free_ char *lmod = d.last_modified ? utf8_sanitize(d.last_modified) : NULL;
    json_t *m = json_pack("{s:s, s:s?, s:s?}", "url", u, "etag", et, "last_modified", lmod);
    _cleanup_free_ char *text = m ? json_dumps(m, JSON_INDENT(2)) : NULL;
    json_decref(m);
    tart_error_t e = NULL;
    if (text == NULL || write_file_atomic(meta_path, text, strlen(text), 0600, &e) < 0) {
      unlink(meta_path); /* a stale record would revalidate the wrong copy */
      tart_error_release(&e);
    }
    remote_dir_cache_trim(dir, REMOTE_DIR_CACHE_MAX, path);
    ret = 0;
  }
  unlink(partial);
  free(d.etag);
  free(d.last_modified);
  if (ret == 0)
    *archive = xstrdup(path);
  return ret;
}
